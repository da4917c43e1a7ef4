"""The `mmjax import-dbn` record loop: checked MBO records -> L3 book -> grid rows, trades and orders.

Rules (docs/data.md, "Databento MBO"):

- the grid runs on the receive clock (``ts_recv``): the row at grid time ``g`` is the book after every
  record with ``ts_recv <= g`` (records sharing a ``ts_recv`` are one message; the book is sampled
  only between messages);
- a snapshot is a run of ``F_SNAPSHOT`` records; it replaces the book (a clear, then its adds) and is
  complete at its record flagged ``F_LAST`` or at the first record without ``F_SNAPSHOT``; ``R`` clears
  the book at any time. Before the first snapshot or clear the book is unknown: no row is written;
- a new snapshot or a clear after increments, a crossed, locked or one-sided book, and a silence
  longer than ``max_silence_s`` are gaps: no row there, and the next row has ``after_gap``;
- a trade is a ``T`` record; its ``side`` is the aggressor's (B: a buy, A: a sell; N: unknown,
  counted and dropped). ``F`` records (the resting side of each fill) change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import databento_dbn as dbn
import numpy as np

from mmjax import schema
from mmjax.data.dbn_book import ASK, BID, BookError, L3Book
from mmjax.data.dbn_read import PRICE_SCALE, DbnFormatError, Mbo
from mmjax.data.tardis_book import BookWriter
from mmjax.data.tardis_csv import HOUR_US

HOUR_NS = HOUR_US * 1000
ORDER_COLUMNS = ("ts_exchange_ns", "ts_recv_ns", "sequence", "order_id", "side", "price", "size", "action", "flags")


class _Hourly:
    """Rows of one dataset, written one UTC hour per file once the recording's metadata is fixed."""

    def __init__(self, out: Path, dataset: str, columns: tuple[str, ...], table: Callable, meta: Callable,
                 can_write: Callable[[], bool]):
        self.out, self.dataset, self.columns, self.table, self.meta, self.can_write = (
            out, dataset, columns, table, meta, can_write)
        self.rows: list[tuple] = []
        self.hour: int | None = None
        self.files = self.written = 0

    def add(self, row: tuple, ts_recv_ns: int) -> None:
        hour = ts_recv_ns // HOUR_NS
        if hour != self.hour and self.can_write():
            self.flush()
        self.hour = hour
        self.rows.append(row)

    def flush(self) -> None:
        if not self.rows:
            return
        cols = dict(zip(self.columns, map(list, zip(*self.rows, strict=True)), strict=True))
        table = self.table(cols)
        part = str(cols["ts_recv_ns"][0])
        self.files += len(schema.write_dataset(table, self.out, self.dataset, self.meta(), part))
        self.written += len(self.rows)
        self.rows = []


def _orders_table(cols: dict[str, list]):
    import pyarrow as pa

    return pa.table({name: pa.array(cols[name], type=schema.ORDERS_SCHEMA.field(name).type) for name in ORDER_COLUMNS})


def _trades_table(cols: dict[str, list]):
    return schema.trades_table_from_arrays(cols["ts_exchange_ns"], cols["ts_recv_ns"], cols["trade_id"],
                                           np.asarray(cols["price"]), np.asarray(cols["size"]), cols["taker_side"])


class DbnStream:
    """Feeds checked records through the book and the writers; ``report`` counts everything."""

    def __init__(self, out: Path, levels: int, grid_ms: int, max_silence_s: float, write_orders: bool,
                 report, meta: Callable[[], schema.RecordingMeta]):
        grid_us = grid_ms * 1000
        if levels < 1 or grid_us <= 0 or HOUR_US % grid_us:
            raise ValueError(f"levels must be >= 1 and grid_ms must divide an hour; got {levels}, {grid_ms}")
        self.L, self.grid_ns, self.silence_ns = levels, grid_us * 1000, int(max_silence_s * 1e9)
        self.report, self.book = report, L3Book()
        self.writer = BookWriter(out, levels, grid_us, meta)
        has_rows = lambda: report.grid_rows_written > 0  # noqa: E731 - nothing is written before a book row is
        self.trades = _Hourly(out, schema.TRADES_DIR, ("ts_exchange_ns", "ts_recv_ns", "trade_id", "price", "size",
                                                       "taker_side"), _trades_table, meta, has_rows)
        self.orders = _Hourly(out, schema.ORDERS_DIR, ORDER_COLUMNS, _orders_table, meta, has_rows) if write_orders else None
        self.ready = self.in_snap = self.had_increments = False
        self.pending_gap = True
        self.cur_ts: int | None = None
        self.ts_event = 0  # exchange clock of the last record applied (ns)
        self.instrument: int | None = None
        self.prices: set[int] = set()  # price and size samples for the tick and lot, until the metadata is fixed
        self.sizes: set[int] = set()

    def feed(self, path: Path, r: Mbo) -> None:
        """One MBO record, in file order."""
        rep = self.report
        rep.records_read += 1
        if self.instrument is None:
            self.instrument = r.instrument_id
        elif r.instrument_id != self.instrument:
            raise DbnFormatError(f"{path}: record {r.index}, field 'instrument_id': {r.instrument_id} differs from "
                                 f"{self.instrument}; import one instrument per run")
        snap = bool(r.flags & dbn.F_SNAPSHOT)
        if r.ts_recv != self.cur_ts:
            if self.cur_ts is not None and r.ts_recv < self.cur_ts:
                raise DbnFormatError(f"{path}: record {r.index}, field 'ts_recv': {r.ts_recv} goes back in time "
                                     f"(previous record {self.cur_ts})")
            if self.in_snap and not snap:
                self.in_snap, self.ready = False, True
            if self.cur_ts is not None:
                self._boundary(r.ts_recv)
            self.cur_ts = r.ts_recv
        if self.orders is not None:
            px = None if r.price == dbn.UNDEF_PRICE else r.price / PRICE_SCALE
            self.orders.add((r.ts_event, r.ts_recv, r.sequence, r.order_id, r.side, px, r.size, r.action, r.flags),
                            r.ts_recv)
        if snap and not self.in_snap:  # a snapshot begins: it replaces the book
            rep.snapshots += 1
            if self.had_increments:
                rep.snapshot_resets += 1
                self.pending_gap = True
            self.book.clear()
            self.in_snap, self.ready, self.had_increments = True, False, False
        elif not snap:
            if self.in_snap:
                self.in_snap, self.ready = False, True
            self.had_increments = True
        if r.flags & dbn.F_LAST:
            rep.events += 1
        self._apply(path, r)
        self.ts_event = r.ts_event
        if snap and r.flags & dbn.F_LAST:
            self.in_snap, self.ready = False, True

    def _apply(self, path: Path, r: Mbo) -> None:
        rep, a = self.report, r.action
        if a == "T":
            self._trade(r)
            return
        if a == "F":
            rep.fills_read += 1
            return
        if a == "N":
            rep.none_records += 1
            return
        if a == "R":
            self.book.clear()
            rep.clears += 1
            if not self.in_snap:
                self.ready, self.pending_gap = True, True
            return
        if not (self.ready or self.in_snap):
            rep.records_before_book += 1
            return
        if len(self.prices) < 100_000 and a in "AM":
            self.prices.add(r.price), self.sizes.add(r.size)
        try:
            if a == "A":
                self.book.add(r.order_id, r.side, r.price, r.size)
            elif a == "C":
                self.book.cancel(r.order_id, r.size)
            else:
                self.book.modify(r.order_id, r.side, r.price, r.size)
        except BookError as exc:
            raise DbnFormatError(f"{path}: record {r.index}, field {exc.field!r}: {exc}") from None

    def _trade(self, r: Mbo) -> None:
        rep = self.report
        rep.trades_read += 1
        if r.side == 0:
            rep.trades_unknown_side += 1
            return
        taker = schema.TAKER_BUY if r.side == BID else schema.TAKER_SELL
        self.trades.add((r.ts_event, r.ts_recv, f"{r.sequence}.{r.index}", r.price / PRICE_SCALE, float(r.size), taker),
                        r.ts_recv)

    def _boundary(self, next_ts: int) -> None:
        """The message at ``cur_ts`` is complete: write grid rows in [cur_ts, next_ts)."""
        rep, g = self.report, self.grid_ns
        rep.messages += 1
        g0 = -(-self.cur_ts // g) * g
        if g0 >= next_ts or not self.ready:
            return
        n = (next_ts - 1 - g0) // g + 1
        bid, ask = self.book.best(BID), self.book.best(ASK)
        if next_ts - self.cur_ts > self.silence_ns:
            rep.silences += 1
            rep.silent_rows_skipped += n
        elif bid is None or ask is None:
            rep.one_sided_rows_skipped += n
        elif bid >= ask:
            rep.crossed_rows_skipped += n
        else:
            rows = {}
            for name, side in (("bid", BID), ("ask", ASK)):
                px, sz = self.book.top(side, self.L)
                rows[name] = ([p / PRICE_SCALE for p in px], [float(s) for s in sz])
            self.writer.append(g0 // 1000, n, self.ts_event, self.pending_gap, rows)
            rep.grid_rows_written += n
            rep.after_gap_rows += int(self.pending_gap)
            self.pending_gap = False
            return
        self.pending_gap = True

    def finish(self) -> None:
        """After the last record: nothing is written after the last message (the feed ended)."""
        if self.cur_ts is not None:
            self.report.messages += 1
        if self.report.grid_rows_written == 0:
            return
        self.writer.flush()
        self.trades.flush()
        if self.orders is not None:
            self.orders.flush()
        rep = self.report
        rep.book_files, rep.trade_files, rep.trades_written = self.writer.files, self.trades.files, self.trades.written
        if self.orders is not None:
            rep.order_files, rep.orders_written = self.orders.files, self.orders.written
