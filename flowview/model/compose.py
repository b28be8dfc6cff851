"""What the input line means: commands parsed into actions, and Tab completion candidates.

Pure functions over strings; no I/O, no textual.  A leading ``/`` always starts a command, so a
mistyped command is an error shown to the user, never text posted to the flow; ``//`` escapes a
leading slash (``//etc/hosts`` posts ``/etc/hosts``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

__all__ = [
    "COMMANDS",
    "EMOJI",
    "MAX_MESSAGE_CHARS",
    "Action",
    "Completion",
    "ComposeError",
    "DeleteSelected",
    "EditLast",
    "Join",
    "PrivateMessage",
    "React",
    "Retag",
    "SendText",
    "ShowHelp",
    "complete",
    "parse",
]

# Flowdock's limit for chat message content.
MAX_MESSAGE_CHARS = 8096

TextEvent = Literal["message", "status", "line"]


@dataclass(frozen=True, slots=True)
class SendText:
    """Post `text` to the current conversation (``line`` is how Flowdock sent /me)."""

    text: str
    event: TextEvent = "message"


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    nick: str  # without the @
    text: str


@dataclass(frozen=True, slots=True)
class React:
    emoji: str  # shortcode without colons, e.g. "thumbsup"
    add: bool = True  # False: take one's own reaction away (/unreact)


@dataclass(frozen=True, slots=True)
class EditLast:
    """Edit one's last message: with `text` replace it, without put it in the input."""

    text: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteSelected:
    """Delete the selected own message (the UI asks first)."""


@dataclass(frozen=True, slots=True)
class Retag:
    """Add tags to (or, `remove`, take them off) the selected message; names without "#"."""

    tags: tuple[str, ...]
    remove: bool = False


@dataclass(frozen=True, slots=True)
class ShowHelp:
    topic: str | None = None  # a command name without the slash


@dataclass(frozen=True, slots=True)
class Join:
    flow: str  # as matched among the known flows (their own spelling)


@dataclass(frozen=True, slots=True)
class ComposeError:
    """Nothing is sent; `message` is shown in place."""

    message: str


Action = (
    SendText
    | PrivateMessage
    | React
    | Retag
    | EditLast
    | DeleteSelected
    | ShowHelp
    | Join
    | ComposeError
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    summary: str


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("me", "/me text", "say what you are doing (shown as an action)"),
        Command("status", "/status text", "set your status in this flow"),
        Command("msg", "/msg nick text", "send a private message"),
        Command("react", "/react :emoji:", "react to the selected message"),
        Command("unreact", "/unreact :emoji:", "take your reaction off the selected message"),
        Command("tag", "/tag #tag [#tag …]", "tag the selected message"),
        Command("untag", "/untag #tag [#tag …]", "take tags off the selected message"),
        Command("edit", "/edit [text]", "edit your last message (or press up on an empty line)"),
        Command("delete", "/delete", "delete your selected message (asks first)"),
        Command("join", "/join flow", "open a flow"),
        Command("help", "/help [command]", "list the commands, or explain one"),
    )
}

# A small built-in table: enough for the common reactions, not a full emoji database.
EMOJI: dict[str, str] = {
    "+1": "👍",
    "-1": "👎",
    "100": "💯",
    "beer": "🍺",
    "bug": "🐛",
    "clap": "👏",
    "coffee": "☕",
    "confused": "😕",
    "cry": "😢",
    "eyes": "👀",
    "fire": "🔥",
    "grin": "😁",
    "heart": "❤️",
    "joy": "😂",
    "laughing": "😆",
    "ok_hand": "👌",
    "pray": "🙏",
    "rocket": "🚀",
    "slightly_smiling_face": "🙂",
    "smile": "😄",
    "sparkles": "✨",
    "sweat_smile": "😅",
    "tada": "🎉",
    "thinking": "🤔",
    "thumbsdown": "👎",
    "thumbsup": "👍",
    "warning": "⚠️",
    "wave": "👋",
    "white_check_mark": "✅",
    "wink": "😉",
    "x": "❌",
}

BROADCAST_NICKS = ("team", "everyone")
_SHORTCODE = re.compile(r"[a-z0-9_+\-]{1,64}")
_NICK = re.compile(r"@?([^\s@]{1,64})")


def _usage(name: str) -> ComposeError:
    return ComposeError(f"usage: {COMMANDS[name].usage}")


def _checked(text: str, event: TextEvent = "message") -> Action:
    if not text.strip():
        return ComposeError("nothing to send")
    if len(text) > MAX_MESSAGE_CHARS:
        return ComposeError(f"message too long ({len(text)} > {MAX_MESSAGE_CHARS} characters)")
    return SendText(text, event)


def _match_flow(name: str, flows: Iterable[str]) -> str | None:
    """A known flow by exact spelling, else case-insensitively, else by the part after '/'."""
    known = list(flows)
    if name in known:
        return name
    folded = name.casefold().lstrip("#")
    for flow in known:
        if flow.casefold() == folded:
            return flow
    tails = [f for f in known if f.casefold().rpartition("/")[2] == folded]
    return tails[0] if len(tails) == 1 else None


def parse(text: str, *, flows: Iterable[str] = ()) -> Action:
    """What submitting `text` means.  `flows`: names or slugs a ``/join`` may name."""
    if text.startswith("//"):
        return _checked(text[1:])
    if not text.startswith("/"):
        return _checked(text)
    head, _, rest = text[1:].partition("\n")
    name, _, arg_line = head.partition(" ")
    args = (arg_line + ("\n" + rest if rest else "")).strip(" ")
    name = name.strip().lower()
    if name not in COMMANDS:
        shown = name[:20] or "/"
        return ComposeError(
            f"unknown command /{shown} (type /help for the list, // to send text starting with /)"
        )
    return _PARSERS[name](name, args, list(flows))


def _say(name: str, args: str, flows: list[str]) -> Action:
    if not args.strip():
        return _usage(name)
    return _checked(args, "line" if name == "me" else "status")


def _msg(name: str, args: str, flows: list[str]) -> Action:
    nick_part, _, body = args.partition(" ")
    m = _NICK.fullmatch(nick_part.strip())
    if m is None or not body.strip():
        return _usage(name)
    checked = _checked(body.lstrip(" "))
    if isinstance(checked, ComposeError):
        return checked
    return PrivateMessage(m.group(1), body.lstrip(" "))


def _react(name: str, args: str, flows: list[str]) -> Action:
    code = args.strip().strip(":").lower()
    if not code or not _SHORTCODE.fullmatch(code):
        return _usage(name)
    return React(code, add=name != "unreact")


_TAG = re.compile(r"#?([^\s#:@][^\s#]{0,199})")


def _tag(name: str, args: str, flows: list[str]) -> Action:
    words = args.split()
    matches = [_TAG.fullmatch(word) for word in words]
    if not words or any(m is None for m in matches):
        return _usage(name)
    tags = tuple(dict.fromkeys(m.group(1) for m in matches if m is not None))
    return Retag(tags, remove=name == "untag")


def _edit(name: str, args: str, flows: list[str]) -> Action:
    if not args.strip():
        return EditLast(None)
    checked = _checked(args)
    return checked if isinstance(checked, ComposeError) else EditLast(args)


def _delete(name: str, args: str, flows: list[str]) -> Action:
    return DeleteSelected() if not args.strip() else _usage(name)


def _help(name: str, args: str, flows: list[str]) -> Action:
    topic = args.strip().lstrip("/").lower() or None
    if topic is not None and topic not in COMMANDS:
        return ComposeError(f"no command /{topic[:20]}")
    return ShowHelp(topic)


def _join(name: str, args: str, flows: list[str]) -> Action:
    wanted = args.strip()
    if not wanted:
        return _usage(name)
    flow = _match_flow(wanted, flows)
    if flow is None:
        return ComposeError(f"no flow named {wanted[:60]}")
    return Join(flow)


# One parser per command (name, arguments, known flows): the arguments' meaning per command.
_PARSERS: dict[str, Callable[[str, str, list[str]], Action]] = {
    "me": _say,
    "status": _say,
    "msg": _msg,
    "react": _react,
    "unreact": _react,
    "tag": _tag,
    "untag": _tag,
    "edit": _edit,
    "delete": _delete,
    "help": _help,
    "join": _join,
}


def help_lines(topic: str | None = None) -> list[str]:
    """Plain text lines for /help (the caller renders them without markup)."""
    cmds = [COMMANDS[topic]] if topic else list(COMMANDS.values())
    lines = [f"{c.usage:<18} {c.summary}" for c in cmds]
    if topic is None:
        lines.append("//text             send text that starts with /")
    return lines


# --------------------------------------------------------------------------- completion


@dataclass(frozen=True, slots=True)
class Completion:
    """Replace ``text[start:end]`` with one of `candidates` (best first)."""

    start: int
    end: int
    candidates: tuple[str, ...]


def _prefixed(prefix: str, options: Iterable[str]) -> tuple[str, ...]:
    """Options starting with `prefix`, case-insensitively; exact-case matches first."""
    folded = prefix.casefold()
    seen: set[str] = set()
    hits: list[str] = []
    for option in options:
        if option.casefold().startswith(folded) and option not in seen:
            seen.add(option)
            hits.append(option)
    return tuple(sorted(hits, key=lambda o: (not o.startswith(prefix), o.casefold(), o)))


def complete(
    text: str,
    cursor: int,
    *,
    nicks: Iterable[str] = (),
    tags: Iterable[str] = (),
    flows: Iterable[str] = (),
    emoji: Mapping[str, str] = EMOJI,
) -> Completion | None:
    """Candidates for the word that ends at `cursor`, or None when nothing fits."""
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:cursor]
    if not word:
        return None
    before = text[:start]
    found: tuple[str, ...] = ()
    if start == 0 and word.startswith("/") and not word.startswith("//"):
        found = _prefixed(word, (f"/{name}" for name in COMMANDS))
    elif re.fullmatch(r"/join\s+", before):
        found = _prefixed(word.lstrip("#"), flows)
    elif re.fullmatch(r"/msg\s+", before):
        found = _prefixed(word.lstrip("@"), nicks)
    elif word.startswith("@"):
        found = _prefixed(word, (f"@{n}" for n in (*nicks, *BROADCAST_NICKS)))
    elif word.startswith("#") and len(word) > 1:
        found = _prefixed(word, (f"#{t.lstrip('#')}" for t in tags if ":" not in t))
    elif word.startswith(":") and len(word) > 2 and not word.endswith(":"):
        found = _prefixed(word, (f":{code}:" for code in emoji))
    if not found:
        return None
    return Completion(start, cursor, found)
