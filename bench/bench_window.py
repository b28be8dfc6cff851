"""Model-level benchmark of the store as a window over the archive (issue 11).

Run: ``uv run python bench/bench_window.py [--pages 300]``

A full store (cap 10,000) is scrolled back page by page (100 older messages a page, merged as
the loaders do with ``Router.merge_older``) while 10 live lines a page arrive below the now
detached window.  Reported: the time to merge one older page (median, p99), the store's
length after every page (must never exceed the cap) and the memory allocated meanwhile
(tracemalloc: what the scrolling keeps, which must not grow with the number of pages).
"""

from __future__ import annotations

import argparse
import logging
import time
import tracemalloc

from flowview.model.router import Router
from flowview.protocol.events import Event, parse_event

log = logging.getLogger(__name__)

FLOW = "bench"
KEY = ("flow", FLOW)
CAP = 10_000
PAGE = 100


def event(mid: int) -> Event:
    return parse_event(
        {
            "event": "message",
            "id": mid,
            "flow": FLOW,
            "user": "2",
            "content": f"line {mid} with a few words in it",
            "sent": 1_700_000_000_000 + mid,
            "tags": [],
        }
    )


def run(pages: int) -> str:
    router = Router(me_id="1", me_nick="me", cap=CAP)
    base = 10_000_000
    for mid in range(base, base + CAP):
        router.route(event(mid))
    store = router.stores[KEY]
    tracemalloc.start()
    low, times, longest = base, [], 0
    for n in range(pages):
        page = [event(mid) for mid in range(low - PAGE, low)]
        low -= PAGE
        start = time.perf_counter()
        router.merge_older(KEY, page)
        times.append(time.perf_counter() - start)
        for j in range(10):
            router.route(event(20_000_000 + n * 10 + j))
        longest = max(longest, len(store))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times.sort()
    return (
        f"{pages} older pages of {PAGE} into a full store of {CAP}: merge median "
        f"{times[len(times) // 2] * 1e3:.1f} ms, p99 {times[int(len(times) * 0.99)] * 1e3:.1f}"
        f" ms; longest store {longest} (cap {CAP}); allocated and kept {current / 1e6:.1f} MB"
        f" (peak {peak / 1e6:.1f} MB); detached={store.detached}, unread={store.unread}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    print(run(parser.parse_args().pages))


if __name__ == "__main__":
    main()
