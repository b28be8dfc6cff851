"""`flowview tail`: print every stream event as one JSON object per line.

Events go to stdout exactly as received: the record's own bytes when it is one line of plain
ASCII, otherwise re-encoded as compact ASCII-escaped JSON, so no control or bidi character can
ever reach a terminal.  Connection states, skipped input and back-fill notices
go to stderr as short human lines.  Output is written and flushed per batch as it arrives, so
`flowview tail ... | jq` shows each message at once.

This module imports neither Textual nor httpx at import time: `flowview tail --help` and the
CLI's parser setup stay fast.  The heavy imports happen inside run_tail().
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from flowview.protocol.defaults import DEFAULT_API_URL, DEFAULT_STREAM_URL
from flowview.protocol.text import printable

if TYPE_CHECKING:
    from flowview.archive import Archive
    from flowview.protocol.auth import Token

log = logging.getLogger(__name__)

PROG = "flowview"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # also: credentials rejected (401/403)
EXIT_INTERRUPTED = 130

_ENV_TOKEN = "FLOWDOCK_TOKEN"
_ENV_STREAM = "FLOWDOCK_STREAM_URL"
_ENV_API = "FLOWDOCK_API_URL"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def add_tail_arguments(parser: argparse.ArgumentParser) -> None:
    """The `flowview tail` arguments (flows and options may come in any order when parsed
    with parse_intermixed_args, as the CLI does)."""
    parser.add_argument(
        "flows",
        nargs="*",
        metavar="FLOW",
        help="flow to follow, as org/flow or a flow id (several allowed)",
    )
    parser.add_argument("--private", action="store_true", help="include private messages")
    parser.add_argument(
        "--content-type",
        choices=("json", "sse"),
        default="json",
        dest="content_type",
        help="stream format to request (default: json)",
    )
    parser.add_argument(
        "--presence",
        choices=("active", "idle", "offline"),
        default="active",
        help="how you appear to others while tailing (default: active)",
    )
    parser.add_argument("--count", type=_positive_int, metavar="N", help="exit after N events")
    parser.add_argument(
        "--stall-timeout",
        type=_positive_float,
        default=90.0,
        metavar="SECONDS",
        dest="stall_timeout",
        help="reconnect when no byte arrives for this long (default: 90)",
    )
    parser.add_argument(
        "--stream-url",
        dest="stream_url",
        metavar="URL",
        help=f"streaming API base URL (default: ${_ENV_STREAM}, saved "
        f"settings, or {DEFAULT_STREAM_URL})",
    )
    parser.add_argument(
        "--api-url",
        dest="api_url",
        metavar="URL",
        help=f"REST API base URL, used to fill gaps after a reconnect "
        f"(default: ${_ENV_API}, saved settings, or {DEFAULT_API_URL})",
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help="also store every printed event in the local archive (read by `flowview search`)",
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"API token (default: ${_ENV_TOKEN} or the saved token); "
        "prefer the variable: command lines are visible to other users",
    )


def build_tail_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} tail", description="Print stream events as JSON lines."
    )
    add_tail_arguments(parser)
    return parser


def _clean(text: str, limit: int = 300) -> str:
    """One printable line: reasons can carry server-provided bytes."""
    return printable(text, limit)


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"{PROG}: {_clean(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _skip_httpx_cli() -> None:
    """Keep httpx from importing its optional command-line tool.

    httpx's __init__ imports ``httpx._main`` (click, rich, pygments: about 0.3-0.4 s) whenever
    those packages are installed, and they are (Textual depends on rich).  A None entry in
    sys.modules makes that import fail, and httpx then falls back to a stub `main`.  No effect
    once httpx has been imported.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _resolve(args: argparse.Namespace) -> tuple[Token | None, str, str]:
    """(token, stream URL, API URL): flag > environment > saved configuration > public."""
    from flowview.config import resolve_connection

    return resolve_connection(args.token, args.stream_url, args.api_url)


async def run_tail(args: argparse.Namespace) -> int:
    flows = tuple(f for f in (getattr(args, "flows", None) or ()) if f.strip())
    if not flows and not args.private:
        _say("tail: error: name at least one FLOW (org/flow or flow id) or use --private")
        return EXIT_USAGE
    _skip_httpx_cli()
    try:
        token, stream_base, api_base = _resolve(args)
    except Exception as exc:  # ConfigError or a bad --token: one line, never a traceback
        log.exception("tail: resolving the connection settings failed")
        _say(f"tail: error: {exc}")
        return EXIT_USAGE
    if token is None:
        _say(
            f"tail: error: no token: pass --token, set {_ENV_TOKEN}, or log in with `{PROG}` first"
        )
        return EXIT_USAGE

    from flowview.protocol.client import StreamConfig
    from flowview.protocol.urls import stream_url

    try:
        stream_url(stream_base, flows, private=args.private, presence=args.presence)
    except ValueError as exc:
        _say(f"tail: error: {exc}")
        return EXIT_USAGE
    config = StreamConfig(
        stream_url=stream_base,
        token=token,
        flows=flows,
        private=bool(args.private),
        presence=args.presence,
        content_type=args.content_type,
        api_url=api_base,
        stall_timeout=float(args.stall_timeout),
    )
    limit: int = args.count if args.count is not None else sys.maxsize
    archive: Archive | None = None
    if getattr(args, "archive", False):
        archive = await _open_archive(api_base, token)
        if archive is None:
            return EXIT_ERROR
    try:
        return await _tail_loop(config, limit, archive)
    finally:
        if archive is not None:
            await _close_archive(archive)


async def _open_archive(api_base: str, token: Token) -> Archive | None:
    """The archive of the token's user on this server (the viewer's file), or None after
    saying why on stderr."""
    import asyncio

    from flowview.archive import Archive, ArchiveError
    from flowview.protocol.rest import ApiError, RestClient

    try:
        async with RestClient(api_base, token) as rest:
            user = await rest.user()
            names = await _archive_names(rest)
    except ApiError as exc:
        log.exception("tail: asking the server who the token belongs to failed")
        _say(f"tail: error: cannot open the archive: {exc}")
        return None
    except Exception as exc:  # network errors: one line, never a traceback
        log.exception("tail: asking the server who the token belongs to failed")
        _say(f"tail: error: cannot open the archive: {type(exc).__name__}")
        return None
    try:
        archive = await asyncio.to_thread(Archive.for_account, api_base, str(user.id))
    except ArchiveError as exc:
        log.exception("tail: opening the archive failed")
        _say(f"tail: error: {exc}")
        return None
    # Users and flows, as the viewer stores them: `flowview search` shows names offline.
    users, flows = names
    archive.set_users([user, *users])
    archive.set_flows(flows)
    return archive


async def _archive_names(rest: Any) -> tuple[list[Any], list[Any]]:
    """(users, flows) from the server for the archive; ([], []) after a warning when the
    server does not give them (tail runs on: search then shows ids instead of names)."""
    try:
        return await rest.users(), await rest.flows()
    except Exception as exc:  # ApiError or a network error: one line, never a traceback
        log.exception("tail: fetching users and flows for the archive failed")
        _say(f"tail: warning: names of users and flows not archived: {type(exc).__name__}")
        return [], []


async def _close_archive(archive: Archive) -> None:
    import asyncio

    try:
        if not await asyncio.to_thread(archive.close):
            _say("tail: warning: the archive did not write everything before closing")
    except Exception:
        log.exception("tail: closing the archive failed")
        _say("tail: warning: closing the archive failed")


# Automatic collections every this many new container objects (the default is 700).
GC_GEN0_THRESHOLD = 20_000


def _settle_gc() -> None:
    """Make the cyclic GC cheap for a pass-through process.

    What tail keeps alive is built at start-up (modules, httpx, SSL, the loop): frozen, the
    automatic full collections no longer walk it. Per event tail allocates a parsed record
    (acyclic: reclaimed by reference counting as soon as its batch is printed), so frequent
    young-generation passes find nothing; a higher threshold still bounds what cycles
    (tracebacks of reconnects) can pile up.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


async def _tail_loop(config: Any, limit: int, archive: Archive | None) -> int:
    from flowview.protocol.client import StreamClient

    printer = _Printer(sys.stdout.buffer, limit, archive)
    async with StreamClient(config, raw_events=True) as client:
        async for batch in client.batches():
            result = printer.batch(batch)
            if result is not None:
                return result
    return EXIT_OK


def _ascii_encoder() -> Callable[[Any], bytes]:
    """Compact, ASCII-escaped JSON of a decoded value, byte for byte what
    ``json.JSONEncoder(separators=(",", ":")).encode(value).encode("ascii")`` gives.

    For a dict (every event) the stdlib's C encoder is called directly: `JSONEncoder.encode`
    builds a new one per call (plus a circular-reference dict, useless for parsed JSON), which
    costs about a fifth of the encoding of a typical record.
    """
    import json
    from json import encoder as stdlib

    encode = json.JSONEncoder(separators=(",", ":")).encode
    # Not in the type stubs: None where the C accelerator is missing.
    make: Callable[..., Any] | None = getattr(stdlib, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator

        def slow(value: Any) -> bytes:
            return encode(value).encode("ascii")

        return slow

    def unsupported(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # Arguments as JSONEncoder.iterencode passes them, minus the circular-reference markers.
    chunks = make(
        None, unsupported, stdlib.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    join = "".join

    def fast(value: Any) -> bytes:
        if type(value) is dict:
            return join(chunks(value, 0)).encode("ascii")
        return encode(value).encode("ascii")

    return fast


# Default-ignorable code points that str.isprintable() lets through (categories Mn and Lo:
# U+034F, U+115F-1160, U+17B4-17B5, U+180B-180D, U+180F, U+3164, U+FE00-FE0F, U+FFA0,
# U+E0100-E01EF), found by the UTF-8 bytes they start with. A wider prefix than needed (all of
# Hangul Jamo, Khmer, Mongolian, U+FE00-FE3F, U+E0000-E0FFF) costs only an escaped line, and a
# few substring searches cost far less than a regular expression over the record.
_INVISIBLE_PREFIXES = (
    b"\xcd\x8f",
    b"\xe1\x85",
    b"\xe1\x9e",
    b"\xe1\xa0",
    b"\xe3\x85\xa4",
    b"\xef\xb8",
    b"\xef\xbe\xa0",
    b"\xf3\xa0",
    # Not invisible: U+FFFD, the decoders' stand-in for invalid UTF-8. The event-stream decoder
    # hands some events over decoded (U+FFFD in their text) and others as the bytes received
    # (invalid, so escaped): escaping U+FFFD too keeps the output independent of the path.
    b"\xef\xbf\xbd",
)

# Every byte but the first bytes of _INVISIBLE_PREFIXES: translate(None, this) keeps only those,
# one pass over the record (a substring search costs about as much as that, each).
_NOT_INVISIBLE_LEAD = bytes(b for b in range(256) if b not in {p[0] for p in _INVISIBLE_PREFIXES})


# Printable ASCII (space to tilde): deleted from a non-ASCII record before the Unicode checks,
# which then run over what is left (its non-ASCII characters, ~16 bytes of a ~640-byte record
# of the simulator's mix, and any ASCII control) instead of over every character.
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _safe_as_is(text: bytes) -> bool:
    """True when ``text`` can reach a terminal as it is: valid UTF-8, one line, and every
    character printable (no control, format, bidi, separator other than the ASCII space,
    private-use, surrogate or unassigned code point: str.isprintable()) and visible (no
    default-ignorable code point).

    Such a record is printed as the bytes received, so a non-ASCII record costs a decode and
    a few scans instead of a re-encoding (two to three times as much).
    """
    try:
        # Validity of the whole record first: deleting the ASCII bytes below could join the
        # pieces of a sequence broken by one (b"\xc3a\xa9") into a valid character.
        text.decode()
    except UnicodeDecodeError:  # the decoder replaced it with U+FFFD: re-encode that
        return False
    # Valid UTF-8 keeps each character's bytes together and no non-ASCII byte is ASCII, so the
    # rest holds exactly the record's non-ASCII characters and its ASCII controls, in order.
    rest = text.translate(None, _PRINTABLE_ASCII)
    if not rest.decode().isprintable():
        return False
    if not rest.translate(None, _NOT_INVISIBLE_LEAD):
        return True  # the common case: no byte that starts one of them
    return all(prefix not in rest for prefix in _INVISIBLE_PREFIXES)


class _Printer:
    """Turns the client's batches into stdout lines (and stderr notices), in order."""

    def __init__(self, out: Any, limit: int, archive: Archive | None) -> None:
        from flowview.protocol.events import Event
        from flowview.protocol.items import RawEvent

        self.out = out
        self.limit = limit
        self.archive = archive
        self.printed = 0
        self._encode = _ascii_encoder()
        self._raw_event = RawEvent
        self._event = Event

    def batch(self, batch: list[Any]) -> int | None:
        """Print one batch; an exit code when the tail should end."""
        lines: list[bytes] = []
        stored: list[dict[str, Any]] | None = [] if self.archive is not None else None
        add = lines.append
        encode = self._encode
        safe_as_is = _safe_as_is
        raw_event = self._raw_event
        printed, limit = self.printed, self.limit
        result: int | None = None
        for item in batch:
            # The hot loop: one iteration per event, kept free of calls where possible.
            if type(item) is raw_event:
                text = item.text
                # The record as received when every character of it is safe on a terminal
                # (_safe_as_is; for ASCII, 63 % of records, inlined: it parsed as JSON, so
                # its only possible raw controls are JSON whitespace - tab, newline; CR ends
                # records - and DEL, which a string may hold); otherwise an ASCII-escaped
                # re-encoding.
                if text is None:
                    add(encode(item.raw))
                elif text.isascii():
                    if b"\n" in text or b"\t" in text or b"\x7f" in text:
                        add(encode(item.raw))
                    else:
                        add(text)
                elif safe_as_is(text):
                    add(text)
                else:
                    add(encode(item.raw))
            elif isinstance(item, self._event):
                add(encode(item.raw))
            else:
                if lines:  # keep stdout and stderr in a sensible order
                    if not _write(self.out, lines):
                        return EXIT_OK
                    lines = []
                    add = lines.append
                result = _notice(item)
                if result is not None:
                    break
                continue
            if stored is not None:
                stored.append(item.raw)
            printed += 1
            if printed >= limit:
                result = EXIT_OK
                break
        self.printed = printed
        if stored and self.archive is not None:
            # Queued to the writer thread (blocks only when it is far behind).
            self.archive.ingest_many(stored)
        if lines and not _write(self.out, lines):
            return EXIT_OK
        return result


def _notice(item: Any) -> int | None:
    """Say a non-event item on stderr; an exit code when it ends the tail."""
    from flowview.protocol.items import Gap, GapClosed, GapOpened, Skipped, StateChange

    if isinstance(item, StateChange):
        return _report_state(item)
    if isinstance(item, Skipped):
        _say(f"skipped: {item.reason}")
    elif isinstance(item, Gap):
        kind, ident = item.key
        _say(f"filled a gap of {item.backfilled} message(s) in {kind} {ident} from history")
    elif isinstance(item, GapOpened):
        _say(
            f"gap: {_conversation(item.key)}: messages after id "
            f"{_after(item.after_id)} may be missing ({item.reason}); "
            "still fetching them"
        )
    elif isinstance(item, GapClosed):
        _say(
            f"gap filled: {_conversation(item.key)}: after id "
            f"{_after(item.after_id)}, {item.recovered} message(s) recovered"
        )
    return None


def _conversation(key: tuple[str, str]) -> str:
    kind, ident = key
    return f"flow {ident}" if kind == "flow" else f"private conversation {ident}"


def _after(after_id: int | None) -> str:
    return "(start)" if after_id is None else str(after_id)


def _write(out: Any, lines: list[bytes]) -> bool:
    """Write and flush; False when the reader went away (`tail | head`)."""
    try:
        lines.append(b"")
        out.write(b"\n".join(lines))
        out.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return False
    return True


def _report_state(state: Any) -> int | None:
    """Print a state change; return an exit code when it ends the tail."""
    name = state.state
    if name == "connecting":
        _say("connecting" if not state.attempt else f"connecting (attempt {state.attempt + 1})")
    elif name == "live":
        _say("live" + (f" ({state.reason})" if state.reason else ""))
    elif name == "reconnecting":
        _say(f"reconnecting in {state.delay or 0.0:.1f} s ({state.reason})")
    elif name == "failed":
        if state.status in (401, 403):
            _say(f"failed: {state.reason}: check --token, ${_ENV_TOKEN} or the saved token")
            return EXIT_USAGE
        _say(f"failed: {state.reason}")
        return EXIT_ERROR
    elif name == "stopped":
        _say("stopped" + (f" ({state.reason})" if state.reason else ""))
        return EXIT_OK
    return None


def end_process(code: int) -> NoReturn:
    """Exit the process with ``code`` now, without the interpreter's finalisation.

    Tearing down the interpreter (collecting and freeing every module, httpx, the SSL
    context, the parsed records' allocator arenas) cost tail 30-50 ms of CPU at the end of a
    30,000-event burst, 5-8 % of its work. Nothing is lost by skipping it: the atexit handlers
    (logging's flush and close among them) still run here, then stdout and stderr are flushed;
    the archive was closed by run_tail. When another thread is still alive the ordinary exit
    (which waits for it) is kept. Only for the process's own entry points, never in process.
    """
    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # A reader gone away (`tail | head`) or a closed stream: nothing left to deliver.
            log.debug("flushing %s at exit failed", getattr(stream, "name", "?"))
    os._exit(code)


def main_tail(args: argparse.Namespace) -> int:
    """Run `flowview tail`; Ctrl-C exits with 130 and no traceback."""
    import asyncio

    _settle_gc()  # here, not in run_tail: a whole-process setting, not for in-process callers
    _skip_httpx_cli()
    try:
        return asyncio.run(run_tail(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m flowview.tail`), flows and options in any order."""
    args = build_tail_parser().parse_intermixed_args(argv)
    return main_tail(args)


if __name__ == "__main__":
    end_process(main())
