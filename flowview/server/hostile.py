"""Content a viewer must survive, shared by the simulator (``--hostile``) and by tests.

Each payload is plain text as it would arrive in a message's ``content`` (after JSON decoding).
None of it is dangerous to the server; it is dangerous to a terminal or a markup parser that
renders it without sanitising: escape sequences that set the clipboard or window title, forge
hyperlinks or clear the screen, Rich/Textual markup that would style text or bind actions,
bidi controls that reorder what is displayed, and sheer size.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"

#: Terminal escape sequences: OSC (title, clipboard, hyperlinks), CSI, DCS/APC, C1 controls.
ESCAPE_PAYLOADS: list[str] = [
    f"clipboard {ESC}]52;c;cm0gLXJmIH4K{BEL} hijack",
    f"window title {ESC}]0;pwned by flowview-sim{BEL}!",
    f"{ESC}]8;;file:///etc/passwd{ST}innocent link{ESC}]8;;{ST}",
    f"{ESC}[31mred{ESC}[0m {ESC}[1;5;7mblink{ESC}[0m {ESC}[2J{ESC}[Hscreen cleared?",
    "C1 CSI \x9b31mred via U+009B\x9b0m and C1 OSC \x9d0;title\x9c done",
    f"report cursor {ESC}[6n and device attributes {ESC}[c please",
    f"DCS {ESC}P+q544e{ST} APC {ESC}_payload{ST} PM {ESC}^privacy{ST}",
    "controls: NUL[\x00] BEL[\x07] BS[\x08] VT[\x0b] FF[\x0c] DEL[\x7f] SUB[\x1a]",
    "carriage\rreturn overwrite and\r\nCRLF inside one message",
]

#: Text that looks like Rich / Textual markup and must be shown literally.
MARKUP_PAYLOADS: list[str] = [
    "[bold]not bold[/bold] and [/] closing nothing",
    "[@click=app.quit]click me to quit[/]",
    "[link=file:///etc/passwd]your password file[/link]",
    '[link="https://evil.example/"]quoted link[/] [red on white]colours[/]',
    "[@click=app.bell()]bell[/] [@click=screen.dismiss]x[/] \\[escaped] [[double]]",
    ":smile: :thumbsup: {{template}} %s %n %x ${HOME} $(id)",
    "<script>alert('xss')</script> <b>html</b> &amp; &lt;",
]

#: Bidirectional controls, invisible and joining characters, exotic line separators.
UNICODE_PAYLOADS: list[str] = [
    "file name: invoice\u202egnp.exe\u202c (RLO trick)",
    "isolates \u2066left\u2069 \u2067right\u2069 \u2068first\u2069 marks \u200e\u200f\u061c",
    "embeddings \u202aLRE\u202c \u202bRLE\u202c \u202dLRO\u202c",
    "zero width: a\u200bb\u200cc\u200dd\u2060e\ufefff",
    "ZWJ emoji: 👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👩🏽\u200d💻 🧑\u200d🤝\u200d🧑",
    "line separators: A\u2028B\u2029C NEL\x85D",
    "Z̷̢̛̠a̵̡͚l̸̰̈́g̷̛̮o̶̩͑ combining marks and \u0301 a lone one",
    "wide: 全角テキスト 한국어 العربية עברית",
]

#: All small hostile payloads, in a fixed order (the simulator emits each once, early).
HOSTILE_PAYLOADS: list[str] = ESCAPE_PAYLOADS + MARKUP_PAYLOADS + UNICODE_PAYLOADS

#: Nicks and names a hostile server can hand out (nick changes, file names).
HOSTILE_NICKS: list[str] = [
    f"ev{ESC}[31mil",
    "admin\u202e",
    "[b]boss[/b]",
    "ghost\u200b",
]

HUGE_MESSAGE_CHARS = 1_000_000


def huge_message(chars: int = HUGE_MESSAGE_CHARS) -> str:
    """A single message of ``chars`` characters (ASCII, so about as many UTF-8 bytes).

    It has lines and words so a viewer can wrap it, and an escape sequence in the middle and at
    the end so truncation is not a substitute for sanitising.
    """
    unit = "The quick brown fox jumps over the lazy dog 0123456789. "
    body = (unit * (chars // len(unit) + 1))[:chars]
    mid = chars // 2
    marker = f"{ESC}]0;huge{BEL}"
    body = body[:mid] + marker + body[mid + len(marker) :]
    return body[: chars - 4] + f"{ESC}[2J"
