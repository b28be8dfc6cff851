"""`flowview search` and `flowview export`: the archive from the command line (no Textual).

Exit codes: 0 found/exported, 1 nothing matched, 2 a bad query or no usable archive.  Output to
the terminal is sanitised (no control or bidi characters); JSON Lines are ASCII-escaped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Final

from flowview.archive.archive import Archive, ArchivedMessage
from flowview.archive.paths import FILE_MODE, ArchiveError, data_dir, list_archives
from flowview.archive.query import QueryError, parse_date, parse_query
from flowview.archive.search import search
from flowview.model.sanitize import clean_name, clean_text

log = logging.getLogger(__name__)

PROG: Final = "flowview"


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query",
        nargs="+",
        metavar="QUERY",
        help="words to find; also from:NICK, #tag, in:ORG/FLOW, since:DATE, until:DATE, -word",
    )
    parser.add_argument("--flow", metavar="ORG/FLOW", help="only this flow")
    parser.add_argument("--from", dest="nick", metavar="NICK", help="only messages by NICK")
    parser.add_argument("--since", metavar="DATE", help="only from DATE on (YYYY-MM-DD, 7d, ...)")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="at most N hits (20)")
    parser.add_argument("--json", action="store_true", help="JSON Lines with the stored fields")
    parser.add_argument("--archive", type=Path, metavar="FILE", help=argparse.SUPPRESS)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow", metavar="ORG/FLOW", help="the archived flow to export")
    parser.add_argument("--since", metavar="DATE", help="only from DATE on (YYYY-MM-DD, 7d, ...)")
    parser.add_argument(
        "--format", choices=("jsonl", "text"), default="jsonl", help="output format (jsonl)"
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE (0600)")
    parser.add_argument("--archive", type=Path, metavar="FILE", help=argparse.SUPPRESS)


def _error(message: str) -> int:
    print(f"{PROG}: error: {clean_name(message, max_chars=300)}", file=sys.stderr)
    return 2


def _configured_api_url() -> str | None:
    try:
        from flowview.config import ENV_API_URL, load_settings

        env = os.environ.get(ENV_API_URL)
        if env:
            return env
        settings = load_settings()
    except Exception:
        log.exception("cannot read the settings to choose an archive")
        return None
    return settings.api_url if settings is not None else None


def open_archive(explicit: Path | None = None) -> Archive:
    """The archive to read: `explicit`, else the one of the configured server (the most
    recently written when there are several), else the most recently written one."""
    if explicit is not None:
        return Archive.open(explicit, writable=False)
    found = list_archives()
    if not found:
        raise ArchiveError(f"no archive in {data_dir()} yet: the viewer creates it")
    if len(found) > 1:
        api_url = _configured_api_url()
        for path in found:
            with Archive.open(path, writable=False) as candidate:
                if api_url and candidate.meta().get("api_url") == api_url:
                    return Archive.open(path, writable=False)
    return Archive.open(found[0], writable=False)


def _when(sent: int | None) -> str:
    if sent is None:
        return "????-??-?? ??:??"
    return datetime.fromtimestamp(sent / 1000).strftime("%Y-%m-%d %H:%M")


def _json_line(value: dict[str, Any]) -> str:
    # ASCII escapes: no control or bidi character reaches a terminal even through JSON.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def main_search(args: argparse.Namespace) -> int:
    text = " ".join(args.query)
    extra = [f"from:{args.nick}" if args.nick else "", f"in:{args.flow}" if args.flow else ""]
    if args.since:
        extra.append(f"since:{args.since}")
    if args.limit < 1:
        return _error("--limit must be at least 1")
    try:
        query = parse_query(" ".join([text, *extra]).strip())
    except QueryError as exc:
        return _error(f"bad query: {exc}")
    try:
        archive = open_archive(args.archive)
    except ArchiveError as exc:
        return _error(str(exc))
    try:
        hits = search(archive, query, limit=args.limit)
    except QueryError as exc:
        return _error(f"bad query: {exc}")
    finally:
        archive.close()
    out = sys.stdout
    for hit in hits:
        if args.json:
            out.write(_json_line(hit.to_json()) + "\n")
        else:
            when = _when(hit.message.sent)
            out.write(f"{when}  {hit.conversation}  {hit.nick}  {hit.snippet.text}\n")
    out.flush()
    return 0 if hits else 1


def _export_lines(
    archive: Archive, messages: Iterator[ArchivedMessage], fmt: str, label: str
) -> Iterator[str]:
    users = archive.users()
    for message in messages:
        nick = users.get(message.user or "", (message.user or "", ""))[0]
        if fmt == "jsonl":
            yield _json_line({**message.to_json(), "flow": label, "nick": nick}) + "\n"
            continue
        body = "(deleted)" if message.deleted else clean_text(message.text)
        head = f"{_when(message.sent)}  {clean_name(nick, max_chars=32)}  "
        lines = body.split("\n")
        yield head + lines[0] + "\n"
        for line in lines[1:]:
            yield " " * len(head) + line + "\n"


def _open_output(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8")


def main_export(args: argparse.Namespace) -> int:
    since_ms = None
    if args.since:
        try:
            since_ms = parse_date(args.since, date.today(), end=False)
        except QueryError as exc:
            return _error(str(exc))
    try:
        archive = open_archive(args.archive)
    except ArchiveError as exc:
        return _error(str(exc))
    try:
        wanted = args.flow.lower()
        match = [
            f
            for f in archive.flows().values()
            if wanted in (f.slug.lower(), f.id.lower(), f.parameterized_name.lower())
        ]
        if not match:
            return _error(f"no archived flow named {args.flow}")
        flow = match[0]
        messages = archive.iter_conversation(("flow", flow.id), since_ms=since_ms)
        lines = _export_lines(archive, messages, args.format, flow.slug)
        try:
            out = _open_output(args.output) if args.output else sys.stdout
        except OSError as exc:
            return _error(f"cannot write {args.output}: {exc.strerror}")
        try:
            out.writelines(lines)
        finally:
            if out is not sys.stdout:
                out.close()
            else:
                out.flush()
    finally:
        archive.close()
    return 0
