"""tail's printer alone, two trees side by side in one process: CPU time per event.

The batches come from this tree's real pipeline (bench_tail_inproc: StreamClient on a mock
transport, simulator events); each tree's ``flowview/tail.py`` is loaded as its own module and
its ``_Printer`` prints every batch to a sink that discards, alternating the trees' order each
round. Medians, and in how many rounds the second tree was faster.

    uv run python bench/bench_tail_printer.py --before /tmp/main-tree [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_tail_inproc  # noqa: E402

from flowview import tail  # noqa: E402


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _batches(count: int, content_type: str) -> list[list[Any]]:
    """The batches tail's printer gets for ``count`` simulator events."""
    seen: list[list[Any]] = []
    batch = tail._Printer.batch

    def keep(self: Any, items: list[Any]) -> int | None:
        seen.append(list(items))
        return batch(self, items)

    tail._Printer.batch = keep  # type: ignore[method-assign,assignment]
    try:
        body = bench_tail_inproc._body(count, content_type)
        asyncio.run(bench_tail_inproc._run_once(body, count, content_type))
    finally:
        tail._Printer.batch = batch  # type: ignore[method-assign]
    return seen


def _load(tree: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, tree / "flowview" / "tail.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time(module: ModuleType, batches: list[list[Any]]) -> float:
    printer = module._Printer(_Discard(), sys.maxsize, None)
    started = time.process_time()
    for items in batches:
        printer.batch(items)
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other source tree")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--content-type", nargs="+", default=["json", "sse"])
    args = parser.parse_args()
    trees = {"before": _load(args.before.resolve(), "tail_before"), "this tree": tail}
    tail._settle_gc()
    for content_type in args.content_type:
        batches = _batches(args.count, content_type)
        events = sum(len(b) for b in batches)
        times: dict[str, list[float]] = {name: [] for name in trees}
        for round_no in range(args.rounds):
            order = list(trees.items())
            for name, module in order if round_no % 2 == 0 else order[::-1]:
                times[name].append(_time(module, batches) * 1e6 / events)
        faster = sum(a < b for a, b in zip(times["this tree"], times["before"], strict=True))
        print(
            f"{content_type}: printer "
            + ", ".join(f"{n} {statistics.median(t):.2f}" for n, t in times.items())
            + f" us/event (medians of {args.rounds}); this tree faster in {faster} rounds"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
