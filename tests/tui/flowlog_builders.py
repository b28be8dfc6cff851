"""Builders for the FlowLog and ThreadScreen tests: a router, events at fixed times, a host app.

Plain functions and classes, not fixtures: the fixtures built on them are in conftest.py."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.message import Message

from flowview.model.router import Router
from flowview.model.store import ConversationStore
from flowview.protocol.events import parse_event
from flowview.tui.widgets.flow_log import FlowLog

FLOW = "f1"
KEY = ("flow", FLOW)
ME = "9"
# Tuesday 3 March 2026 09:00:00 UTC
T0 = 1772528400000
MINUTE = 60_000


def make_router() -> Router:
    router = Router(me_id=ME, me_nick="me")
    router.add_users(
        [
            {"id": ME, "nick": "me"},
            {"id": "2", "nick": "alice"},
            {"id": "3", "nick": "bob"},
            {"id": "4", "nick": "carol"},
        ]
    )
    router.add_flows(
        [{"id": FLOW, "name": "Main", "organization": "o", "parameterized_name": "main"}]
    )
    router.open_flow(FLOW)
    return router


def ev(mid: int, content: Any = "hi", *, user: str = "2", minute: int = 0, **kw: Any) -> Any:
    obj = {
        "event": "message",
        "id": mid,
        "flow": FLOW,
        "user": user,
        "content": content,
        "sent": T0 + minute * MINUTE,
        "tags": [],
        **kw,
    }
    return parse_event(obj)


def fill(router: Router, n: int, *, start: int = 1, text: str = "message {i}") -> None:
    for i in range(start, start + n):
        router.route(ev(i, text.format(i=i), user=("2", "3", "4")[i % 3], minute=i % 600))


def every_event_type(router: Router) -> None:
    """One of each kind of line, as the snapshot shows them."""
    rows: list[dict[str, Any]] = [
        {"event": "message", "content": "good morning @@team, deploy at 10 #release"},
        {
            "event": "message",
            "user": "3",
            "content": "@me can you check https://ci.example/build/42 ?",
            "tags": [":user:9", ":unread:9"],
        },
        {"event": "message", "user": "4", "content": "[bold]not bold[/] [@click=app.quit]x[/]"},
        {
            "event": "comment",
            "content": {"title": "Inbox item", "text": "looks fine"},
            "tags": ["influx:3"],
        },
        {"event": "status", "user": "3", "content": "at lunch"},
        {"event": "line", "user": "4", "content": "waves"},
        {
            "event": "file",
            "content": {
                "file_name": "report.pdf",
                "file_size": 15557,
                "content_type": "application/pdf",
                "path": "/files/1/abc/report.pdf",
            },
        },
        {
            "event": "action",
            "user": "3",
            "content": {"type": "add_people", "message": ["dave", "erin"]},
        },
        {
            "event": "activity",
            "user": "0",
            "content": None,
            "thread_id": "CI",
            "title": "<b>Build #42</b> failed",
            "body": "<p>unit tests failed</p>",
            "author": {"name": "CI"},
        },
        {
            "event": "discussion",
            "user": "0",
            "content": None,
            "thread_id": "CI",
            "title": "Comment on #42",
            "body": "flaky?",
            "author": {"name": "GitHub"},
        },
        {
            "event": "message",
            "user": "3",
            "content": "thread start",
            "thread_id": "T",
            "thread": {"title": "Release plan", "initial_message": 110},
        },
        {
            "event": "message",
            "user": "4",
            "content": "first reply",
            "thread_id": "T",
            "thread": {"title": "Release plan", "initial_message": 110},
        },
        {
            "event": "message",
            "user": "2",
            "content": "second reply",
            "thread_id": "T",
            "thread": {"title": "Release plan", "initial_message": 110},
        },
        {"event": "message", "user": "3", "content": "to be edited"},
        {"event": "message", "user": "4", "content": "to be deleted"},
        {"event": "mail", "content": {"subject": "x"}},
    ]
    for i, row in enumerate(rows):
        obj = {"flow": FLOW, "id": 100 + i, "user": "2", "sent": T0 + i * MINUTE, "tags": [], **row}
        router.route(parse_event(obj))
    store = router.stores[KEY]
    ids = {m.text: m.id for m in store}
    router.route(
        parse_event(
            {
                "event": "message-edit",
                "flow": FLOW,
                "id": 200,
                "user": "3",
                "content": {"message": ids["to be edited"], "updated_content": "was edited"},
            }
        )
    )
    router.route(
        parse_event(
            {
                "event": "message-edit",
                "flow": FLOW,
                "id": 201,
                "user": "4",
                "content": {"message": ids["to be deleted"], "updated_content": ""},
            }
        )
    )
    router.route(
        parse_event(
            {
                "event": "emoji-reaction",
                "flow": FLOW,
                "id": 202,
                "user": "4",
                "content": {"message": ids["thread start"], "emoji": "grinning", "type": "add"},
            }
        )
    )
    router.route(
        parse_event(
            {
                "event": "emoji-reaction",
                "flow": FLOW,
                "id": 203,
                "user": "2",
                "content": {"message": ids["thread start"], "emoji": "grinning", "type": "add"},
            }
        )
    )
    router.route(
        parse_event(
            {
                "event": "backend.user.join",
                "flow": FLOW,
                "id": 204,
                "user": "2",
                "sent": T0 + 20 * MINUTE,
                "content": {"user": {"id": 5, "nick": "dave"}},
            }
        )
    )
    router.insert_gap(KEY, backfilled=3)
    router.route(
        parse_event(
            {
                "event": "message",
                "flow": FLOW,
                "id": 300,
                "user": "2",
                "sent": T0 + 86_400_000,
                "content": "next day",
                "tags": [],
            }
        )
    )


class LogHost(App[None]):
    """Composes only a FlowLog over the router's store of KEY."""

    def __init__(
        self, router: Router, store: ConversationStore | None = None, api_url: str | None = None
    ) -> None:
        super().__init__()
        self.router = router
        self.store = store or router.stores[KEY]
        self.api_url = api_url
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield FlowLog(self.store, self.router, id="log", api_url=self.api_url)

    def on_mount(self) -> None:
        self.query_one(FlowLog).focus()

    def on_flow_log_reached_top(self, message: FlowLog.ReachedTop) -> None:
        self.seen.append(message)

    def on_flow_log_scrolled_to_end(self, message: FlowLog.ScrolledToEnd) -> None:
        self.seen.append(message)

    def on_flow_log_thread_requested(self, message: FlowLog.ThreadRequested) -> None:
        self.seen.append(message)

    def on_flow_log_link_requested(self, message: FlowLog.LinkRequested) -> None:
        self.seen.append(message)


def screen_rows(log: FlowLog) -> list[str]:
    return [log.render_line(y).text for y in range(log.scrollable_content_region.height)]
