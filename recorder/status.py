"""Recorder counters and the periodic status line."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Counters:
    """Everything the recorder counts. ``l2_updates_received == l2_updates_applied + l2_updates_in_gap``."""

    frames: int = 0
    bytes_in: int = 0
    connections: int = 0
    reconnects: int = 0
    seq_gaps: int = 0  # sequence_num jumps on a connection
    book_gaps: int = 0  # per-product book invalidations (each leads to an after_gap row)
    resyncs: int = 0  # level2 unsubscribe+subscribe requests
    snapshots: int = 0
    snapshot_levels: int = 0
    l2_updates_received: int = 0
    l2_updates_applied: int = 0
    l2_updates_in_gap: int = 0  # received while the product's book was invalid (not applied)
    unknown_deletes: int = 0
    crossed_resyncs: int = 0
    trades: int = 0
    trades_duplicate: int = 0
    trades_snapshot_skipped: int = 0  # history replayed on subscribe; times are not ours to stamp
    heartbeats: int = 0
    tickers_checked: int = 0
    ticker_mismatches: int = 0
    malformed: int = 0
    errors: int = 0  # {"type": "error"} messages from the venue
    subscribe_errors: int = 0  # ... of which while subscribes were pending (refusals)
    unknown_messages: int = 0  # channels we do not handle (ignored, as the venue's docs ask)
    products_refused: int = 0  # given up for the session: refused, or no snapshot after retries
    silence_resyncs: int = 0  # level2 resubscribes because one product's stream went quiet
    stale_books: int = 0  # ... whose snapshot differed from the book (its quiet rows were dropped)
    clock_steps: int = 0  # wall-clock steps beyond --clock-step-ms (each a gap)
    watchdog_timeouts: int = 0
    book_rows: int = 0  # rows handed to the writer
    files_written: int = 0
    bytes_written: int = 0
    book_rows_lost: int = 0  # handed to the writer but not written (disk failure)
    trades_lost: int = 0
    raw_frames_lost: int = 0
    status_file_errors: int = 0
    queue_depth: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def status_line(now: Counters, before: dict[str, int], dt_s: float) -> str:
    """One human line: rates since ``before`` plus running totals."""
    rate = (now.frames - before.get("frames", 0)) / dt_s if dt_s > 0 else 0.0
    upd = (now.l2_updates_received - before.get("l2_updates_received", 0)) / dt_s if dt_s > 0 else 0.0
    return (f"msgs/s {rate:7.1f} | upd/s {upd:8.1f} | updates {now.l2_updates_applied} "
            f"(in gaps {now.l2_updates_in_gap}) | trades {now.trades} | rows {now.book_rows} | "
            f"gaps {now.book_gaps} | reconnects {now.reconnects} | resyncs {now.resyncs} | "
            f"errors {now.errors} | refused {now.products_refused} | clock steps {now.clock_steps} | "
            f"written {now.bytes_written / 1e6:.2f} MB in {now.files_written} files | queue {now.queue_depth}")


def write_status_file(path: str | os.PathLike, counters: Counters, extra: dict | None = None) -> None:
    """Atomically replace a JSON status file (for dashboards and monitoring)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps({**counters.as_dict(), **(extra or {})}, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a partial file behind on a full disk
        raise
