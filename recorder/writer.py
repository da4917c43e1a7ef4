"""Writer thread: rows and trades from a queue into rotated, atomic, hive-partitioned Parquet parts.

The socket reader only ever calls ``put_*`` (a non-blocking put on an unbounded queue), so a slow
disk can delay files but never stalls reading. Every flush writes *new* part files with
``mmjax.schema.write_dataset`` (temp file, fsync, rename): a SIGKILL loses at most the rows since the
last flush and never leaves a half-written file under a ``.parquet`` name.

A failed write (disk full, permissions) is final: the partial temporary file is removed, what was
already written stays complete and readable, ``on_failure`` is called at once (the client stops),
and everything not written is counted (``*_lost`` counters, `lost_summary`) until ``close``.
Per product, trades are written before book rows, so a failure can leave trades after the last
row (outside the grid, unused) but never a row whose trade interval lost its trades.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmjax import schema
from recorder.status import Counters

_STOP = object()
_FLUSH = object()


class WriterError(RuntimeError):
    """The writer thread failed (disk full, permissions...); recording cannot continue safely."""


class Writer:
    """Owns the output directory. Start with ``start()``, feed with ``put_*``, finish with ``close()``."""

    def __init__(self, out_dir: str | os.PathLike, metas: dict[str, schema.RecordingMeta],
                 flush_s: float = 5.0, raw: bool = False, counters: Counters | None = None):
        if flush_s <= 0:
            raise ValueError(f"flush_s must be positive, got {flush_s}")
        self.out_dir = Path(out_dir)
        self.metas = metas
        self.flush_s = flush_s
        self.raw = raw
        self.c = counters if counters is not None else Counters()
        self.run_id = uuid.uuid4().hex[:8]
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self._book: dict[str, list] = {p: [] for p in metas}
        self._trades: dict[str, list] = {p: [] for p in metas}
        self._raw_lines: list[bytes] = []
        self._raw_first_ns: int | None = None
        self._flushes = 0
        self._stopping = False  # _STOP taken off the queue
        self.error: BaseException | None = None
        self.on_failure: Callable[[BaseException], None] | None = None  # called from the writer thread
        self.lost_first_ns: int | None = None  # receive time of the earliest item not written
        self.paths: list[Path] = []
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)

    # ---- producer side (called from the reader; never blocks) ----------------------------

    def put_book(self, product, ts_exchange_ns, ts_recv_ns, after_gap, bid_px, bid_sz, ask_px, ask_sz) -> None:
        """Queue one book row ([L] arrays are not modified afterwards by the engine)."""
        self.q.put(("b", product, (ts_exchange_ns, ts_recv_ns, after_gap, bid_px, bid_sz, ask_px, ask_sz)))

    def put_trade(self, product, ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side) -> None:
        """Queue one trade (taker side already converted)."""
        self.q.put(("t", product, (ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side)))

    def put_raw(self, recv_ns: int, direction: str, frame: str) -> None:
        """Queue one raw frame for the gzip JSONL archive (only when ``raw`` is on)."""
        if self.raw:
            self.q.put(("r", recv_ns, (direction, frame)))

    def request_flush(self) -> None:
        self.q.put(_FLUSH)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout_s: float | None = None) -> None:
        """Flush everything still queued, stop the thread; raise `WriterError` if writing failed."""
        self.q.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise WriterError(f"writer did not finish within {timeout_s} s")
        if self.error is not None:
            raise WriterError(f"writing to {self.out_dir} failed: {self.error!r}; {self.lost_summary()}; "
                              "the files already written are complete") from self.error

    @property
    def failed(self) -> bool:
        return self.error is not None

    def lost_summary(self) -> str:
        c = self.c
        since = f" (received from {self.lost_first_ns} ns)" if self.lost_first_ns is not None else ""
        return (f"not written: {c.book_rows_lost} book rows, {c.trades_lost} trades, "
                f"{c.raw_frames_lost} raw frames{since}")

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        try:
            while True:
                try:
                    item = self.q.get(timeout=max(0.0, next_flush - time.monotonic()))
                except queue.Empty:
                    item = _FLUSH
                if item is _STOP:
                    self._stopping = True
                    self._drain()
                    self.flush()
                    return
                if item is _FLUSH or time.monotonic() >= next_flush:
                    if item is not _FLUSH:
                        self._take(item)
                    self._drain()
                    self.flush()
                    next_flush = time.monotonic() + self.flush_s
                    continue
                self._take(item)
        except BaseException as exc:  # surfaced by close(), `failed` and on_failure
            self.error = exc
            self._count_lost_buffers()
            if self.on_failure is not None:
                self.on_failure(exc)
            self._count_lost_queue()

    def _drain(self) -> None:
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                self.q.put(_STOP)  # keep it for the main loop
                return
            if item is not _FLUSH:
                self._take(item)

    def _take(self, item) -> None:
        kind, key, payload = item
        if kind == "b":
            self._book[key].append(payload)
        elif kind == "t":
            self._trades[key].append(payload)
        else:
            direction, frame = payload
            if self._raw_first_ns is None:
                self._raw_first_ns = key
            line = json.dumps({"recv_ts": key / 1e9, "recv_ns": key, "dir": direction, "frame": frame})
            self._raw_lines.append(line.encode() + b"\n")

    # ---- what a failure cost --------------------------------------------------------------

    def _lost(self, kind: str, n: int, first_ns: int) -> None:
        if kind == "b":
            self.c.book_rows_lost += n
        elif kind == "t":
            self.c.trades_lost += n
        else:
            self.c.raw_frames_lost += n
        if n and (self.lost_first_ns is None or first_ns < self.lost_first_ns):
            self.lost_first_ns = first_ns

    def _count_lost_buffers(self) -> None:
        for kind, buffers in (("b", self._book), ("t", self._trades)):
            for product, rows in buffers.items():
                if rows:
                    self._lost(kind, len(rows), min(r[1] for r in rows))
                buffers[product] = []
        if self._raw_lines:
            self._lost("r", len(self._raw_lines), self._raw_first_ns)
            self._raw_lines, self._raw_first_ns = [], None

    def _count_lost_queue(self) -> None:
        """After a failure: count what still arrives, until close(), instead of holding it."""
        while True:
            try:
                item = self.q.get_nowait() if self._stopping else self.q.get()
            except queue.Empty:
                return
            if item is _STOP:
                return
            if item is not _FLUSH:
                kind, key, payload = item
                self._lost(kind, 1, key if kind == "r" else payload[1])

    # ---- files ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every buffered row as new part files (per product: trades, then book; one per UTC date)."""
        self.c.queue_depth = self.q.qsize()
        for product in self.metas:
            for kind, buffers, dataset, build in (("t", self._trades, schema.TRADES_DIR, self._trades_table),
                                                  ("b", self._book, schema.BOOK_DIR, self._book_table)):
                rows = buffers[product]
                if not rows:
                    continue
                buffers[product] = []
                try:
                    self._write(build(rows), dataset, product, rows[0][1])
                except BaseException:
                    self._lost(kind, len(rows), rows[0][1])
                    raise
        if self._raw_lines:
            self._write_raw()
        self._flushes += 1

    def _part(self, first_ns: int) -> str:
        # zero-padded start time first: parts sort by time within a partition, across runs too
        return f"{first_ns:019d}-{self.run_id}-{self._flushes:06d}"

    def _write(self, table, dataset: str, product: str, first_ns: int) -> None:
        paths = schema.write_dataset(table, self.out_dir, dataset, self.metas[product], self._part(first_ns))
        self._account(paths)

    def _account(self, paths: list[Path]) -> None:
        self.paths += paths
        self.c.files_written += len(paths)
        self.c.bytes_written += sum(p.stat().st_size for p in paths)

    def _book_table(self, rows: list) -> object:
        ts_ex, ts_recv, gap, bp, bs, ap, az = zip(*rows, strict=True)
        return schema.book_table_from_arrays(
            np.array(ts_ex, np.int64), np.array(ts_recv, np.int64), np.array(gap, bool),
            np.stack(bp), np.stack(bs), np.stack(ap), np.stack(az))

    def _trades_table(self, rows: list) -> object:
        ts_ex, ts_recv, tid, px, sz, side = zip(*rows, strict=True)
        return schema.trades_table_from_arrays(
            np.array(ts_ex, np.int64), np.array(ts_recv, np.int64), list(tid),
            np.array(px, np.float64), np.array(sz, np.float64), np.array(side, np.int8))

    def _write_raw(self) -> None:
        first = self._raw_first_ns
        lines, self._raw_lines, self._raw_first_ns = self._raw_lines, [], None
        path = (self.out_dir / "raw" / f"date={schema.utc_date(first)}"
                / f"part-{self._part(first)}.jsonl.gz")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            data = gzip.compress(b"".join(lines), compresslevel=6)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            self._lost("r", len(lines), first)
            raise
        self._account([path])
