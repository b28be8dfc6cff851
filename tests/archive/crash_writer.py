"""Child process of the kill -9 test: writes bursts into an archive as fast as it can and
prints "ACK <id>" each time everything up to that message id is committed.

Usage: python crash_writer.py PATH
"""

from __future__ import annotations

import sys
from concurrent.futures import Future
from pathlib import Path

from flowview.archive import Archive

BURST = 500


def main() -> None:
    archive = Archive.open(Path(sys.argv[1]), batch_max=2000)
    print("READY", flush=True)
    next_id = 1
    while True:
        for i in range(next_id, next_id + BURST):
            archive.ingest(
                {
                    "event": "message",
                    "id": i,
                    "flow": "f1",
                    "user": "u1",
                    "sent": 1_780_000_000_000 + i,
                    "content": f"burst message {i} " + "lorem ipsum " * 10,
                    "tags": ["crash"],
                }
            )
        next_id += BURST
        acked = next_id - 1

        def report(_done: Future[None], acked: int = acked) -> None:
            print(f"ACK {acked}", flush=True)

        assert archive.writer is not None
        archive.writer.barrier().add_done_callback(report)


if __name__ == "__main__":
    main()
