"""A fixed quoter run twice over one day: on mmjax's fill rules, and in the true FIFO queue of the L3 stream.

The quoter (as `mmjax backtest --policy fixed --fixed-ticks K`): at every grid row s it wants a bid K
ticks below the best bid and an ask K ticks above the best ask of row s; a side whose wanted price
is the known order's sends nothing (the order keeps its queue place), any other price sends a
cancel/replace that reaches the venue ``latency_steps`` rows later, post-only; the inventory is not
limited (every fill counts). A gap cancels everything.

- **Model** (`ModelVenue`): the NumPy twin of the fill rules (`mmjax.env.sim_np.arrive` and
  ``settle_order``) over the recording's rows, exactly as the env runs them.
- **Truth** (`TruthVenue`): the order-by-order stream. An order arriving at grid time g joins the back
  of its price's FIFO queue in the L3 book after every record with ``ts_recv <= g``; the orders ahead
  are known by id. They leave the queue ahead when cancelled, filled, or modified to another price
  or a larger size (which loses priority). The order fills when the stream fills (``F``) a resting
  order of its side at its price that is NOT ahead of it (that flow would have reached it first), or
  at a price beyond it (the sweep went through its level: the whole order), or when an opposite
  order rests at or through its price (it would have traded with it).

Both record each fill on the grid (a record in (g_s, g_s+1] fills at row s+1) and, at every row, the
queue ahead of each live order with the true level size, so the model's queue estimate can be compared
with the true queue of the same order (same side, price and arrival row).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mmjax import schema
from mmjax.data.dbn_book import BookError, L3Book
from mmjax.env import sim_np

SIDES = (sim_np.BID, sim_np.ASK)
SIGN = {sim_np.BID: 1, sim_np.ASK: -1}  # L3Book side codes
F_SNAPSHOT, F_LAST = 32, 128  # Databento flags (orders/ dataset ``flags``)


@dataclass
class Log:
    """What one run recorded: fills and queue samples, keyed so model and truth can be matched."""

    fills: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # (side, row) -> (lots, arrival row)
    queue: dict[tuple[str, int, int, int], tuple[int, int]] = field(default_factory=dict)
    # (side, price ticks, arrival row, row) -> (lots ahead, level lots at the price)
    rejected: int = 0
    placed: int = 0
    fifo_breaks: int = 0  # truth only: fills of an order behind ours at our price while orders were still ahead


class ModelVenue:
    """mmjax's fill rules (the NumPy twin) over the recording's rows."""

    def __init__(self, replay, params: sim_np.SimParams):
        self.rd, self.p = replay, params
        self.orders: dict[str, sim_np.Order | None] = {s: None for s in SIDES}

    def reset(self) -> None:
        self.orders = {s: None for s in SIDES}

    def settle(self, s: int) -> dict[str, int]:
        """Fills over (s, s+1], lots per side."""
        book_s, book_s1, trades = self.rd.book(s), self.rd.book(s + 1), self.rd.trades(s)
        out = {}
        for side in SIDES:
            self.orders[side], fill = sim_np.settle_order(side, self.orders[side], book_s, book_s1, trades, self.p)
            out[side] = fill.lots
        return out

    def arrive(self, row: int, side: str, px: int | None) -> bool:
        self.orders[side], rejected = sim_np.arrive(side, self.orders[side], px, self.rd.book(row), self.p)
        return rejected

    def queue(self, row: int, side: str) -> tuple[int, int] | None:
        o = self.orders[side]
        if o is None or o.remaining <= 0:
            return None
        book = self.rd.book(row)
        levels = (book.bid_px, book.bid_sz) if side == sim_np.BID else (book.ask_px, book.ask_sz)
        shown = sim_np.displayed_size(*levels, o.price)
        return o.queue_ahead, 0 if shown is None else self.p.lots(shown)

    def live(self, side: str) -> bool:
        o = self.orders[side]
        return o is not None and o.remaining > 0


def read_orders(rec: Path, product: str, tick: float, anchor: int) -> dict[str, np.ndarray]:
    """The orders/ dataset as arrays, in file order; prices in ticks from the recording's anchor (0 where none)."""
    files = sorted((rec / schema.ORDERS_DIR / f"product={product}").glob("date=*/part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{rec}: no {schema.ORDERS_DIR}/ dataset of product {product!r} (import with --orders)")
    tables = [pq.read_table(f) for f in files]
    col = lambda name: np.concatenate([t.column(name).to_numpy(zero_copy_only=False) for t in tables])  # noqa: E731
    price = col("price").astype(np.float64)
    ticks = np.where(np.isfinite(price), np.rint(np.nan_to_num(price) / tick) - anchor, 0).astype(np.int64)
    return {"ts_recv": col("ts_recv_ns"), "action": col("action").tolist(), "side": col("side"), "px_ticks": ticks,
            "size": col("size"), "order_id": col("order_id"), "flags": col("flags")}


class _Virtual:
    """A virtual order in the L3 book: its price (ticks), remaining lots and the ids ahead of it."""

    __slots__ = ("px", "remaining", "ahead", "ahead_sz")

    def __init__(self, px: int, remaining: int, ahead: dict[int, None], ahead_sz: int):
        self.px, self.remaining, self.ahead, self.ahead_sz = px, remaining, ahead, ahead_sz


class TruthVenue:
    """The true FIFO queue: the L3 stream (the orders/ dataset as arrays, prices in ticks from the anchor).

    A venue sends an event's fills (``F``) first, then the cancels and modifies that take the filled
    size off the book; ``filled`` holds, per resting order, what was filled and is not yet off. A
    modify to a size above what is left after those fills is a size increase and loses priority: an
    iceberg's refresh (CME: fill the shown 1, then ``M`` back to 1) goes to the back of the queue.
    """

    def __init__(self, ts_recv: np.ndarray, action: list[str], side: np.ndarray, px_ticks: np.ndarray,
                 size: np.ndarray, order_id: np.ndarray, flags: np.ndarray, lot: float, quote_lots: int):
        self.ts = ts_recv.tolist()
        self.rec = list(zip(action, side.tolist(), px_ticks.tolist(), size.tolist(), order_id.tolist(),
                            flags.tolist(), strict=True))
        self.lot, self.quote_lots = lot, quote_lots
        self.book, self.i, self.in_snap = L3Book(), 0, False
        self.orders: dict[str, _Virtual | None] = {s: None for s in SIDES}
        self.filled: dict[int, int] = {}  # order id -> size filled and not yet taken off the book
        self.fill_now = {s: 0 for s in SIDES}
        self.fifo_breaks = 0

    def reset(self) -> None:
        self.orders = {s: None for s in SIDES}

    def lots(self, size: int) -> int:
        return round(size / self.lot)

    def advance(self, t_ns: int) -> dict[str, int]:
        """Apply every record with ts_recv <= t_ns; returns the virtual orders' fills (lots per side)."""
        self.fill_now = {s: 0 for s in SIDES}
        ts, rec = self.ts, self.rec
        while self.i < len(ts) and ts[self.i] <= t_ns:
            self._record(*rec[self.i])
            self.i += 1
        return self.fill_now

    def _fill(self, side: str, lots: int) -> None:
        o = self.orders[side]
        n = min(o.remaining, lots)
        o.remaining -= n
        self.fill_now[side] += n
        if o.remaining <= 0:
            self.orders[side] = None

    def _record(self, action: str, side: int, px: int, size: int, oid: int, flags: int) -> None:
        snap = bool(flags & F_SNAPSHOT)
        if snap and not self.in_snap or action == "R":
            self.book.clear()
            self.filled.clear()
            for o in self.orders.values():
                if o is not None:
                    o.ahead.clear()
                    o.ahead_sz = 0
        self.in_snap = snap and not flags & F_LAST
        if action == "F" and side:
            if oid in self.book.orders:
                self.filled[oid] = self.filled.get(oid, 0) + size
            self._on_fill(sim_np.BID if side == 1 else sim_np.ASK, px, size, oid)
        elif action in "AM":
            opp = sim_np.ASK if side == 1 else sim_np.BID
            o = self.orders[opp]
            if o is not None and (px <= o.px if opp == sim_np.BID else px >= o.px):
                self._fill(opp, self.lots(size))  # it rests at or through our price: it would have traded with us
        if action in "ACM":
            self._book_change(action, side, px, size, oid)

    def _on_fill(self, side: str, px: int, size: int, oid: int) -> None:
        o = self.orders[side]
        if o is None:
            return
        if px < o.px if side == sim_np.BID else px > o.px:
            self._fill(side, o.remaining)  # the sweep went through our level
        elif px == o.px and oid not in o.ahead:
            # strict FIFO fills the orders ahead first: count where the stream says otherwise
            self.fifo_breaks += int(o.ahead_sz > sum(self.filled.get(a, 0) for a in o.ahead))
            self._fill(side, self.lots(size))  # flow that reached an order behind us reached us first

    def _book_change(self, action: str, side: int, px: int, size: int, oid: int) -> None:
        book = self.book
        held = book.orders.get(oid)
        before = held[2] if held else 0
        filled = self.filled.pop(oid, 0)
        mine = None
        if held is not None:
            o = self.orders[sim_np.BID if held[0] == 1 else sim_np.ASK]
            mine = o if o is not None and oid in o.ahead else None
        try:
            if action == "A":
                book.add(oid, side, px, size)
                return
            if action == "C":
                book.cancel(oid, size)
                kept = oid in book.orders
            elif held is not None and px == held[1] and size > before - filled:  # a refresh: to the back
                book.cancel(oid, before)
                book.add(oid, side, px, size)
                kept = False
            else:
                kept = book.modify(oid, side, px, size)
        except BookError:
            return  # the import checked the stream; a record before the first snapshot is ignored here
        after = book.orders[oid][2] if kept and oid in book.orders else 0
        if kept and filled > before - after:
            self.filled[oid] = filled - (before - after)  # part of the fill is still to come off
        if mine is not None:
            mine.ahead_sz -= before - after
            if after == 0:
                del mine.ahead[oid]

    def arrive(self, side: str, px: int | None) -> bool:
        """A cancel/replace reaches the venue now: the new order joins the back of its level (post-only)."""
        if px is None:
            self.orders[side] = None
            return False
        opp = self.book.best(-SIGN[side])
        if opp is not None and (opp <= px if side == sim_np.BID else opp >= px):
            self.orders[side] = None
            return True
        s = SIGN[side]
        ids = dict(self.book.level_ids[s].get(px, {}))
        self.orders[side] = _Virtual(px, self.quote_lots, ids, self.book.level_sz[s].get(px, 0))
        return False

    def queue(self, side: str) -> tuple[int, int] | None:
        o = self.orders[side]
        if o is None:
            return None
        return self.lots(o.ahead_sz), self.lots(self.book.level_sz[SIGN[side]].get(o.px, 0))

    def live(self, side: str) -> bool:
        return self.orders[side] is not None


def run_quoter(venue, k: int, bid0: np.ndarray, ask0: np.ndarray, after_gap: np.ndarray, grid_ts: np.ndarray | None,
               latency_steps: int = 1, rows: int | None = None) -> Log:
    """Drive one venue with the fixed quoter K ticks behind each touch; ``grid_ts`` (ns) for the truth venue."""
    log, T = Log(), min(len(bid0), rows or len(bid0))
    truth = grid_ts is not None
    known: dict[str, int | None] = {s: None for s in SIDES}
    arrived: dict[str, int] = {s: -1 for s in SIDES}
    pipeline: deque = deque()  # (arrival row, side, price or None)
    for s in range(T - 1):
        if after_gap[s]:
            venue.reset()
            known = {side: None for side in SIDES}
            pipeline.clear()
        want = {sim_np.BID: int(bid0[s]) - k, sim_np.ASK: int(ask0[s]) + k}
        for side in SIDES:
            if want[side] != known[side]:
                pipeline.append((s + latency_steps, side, want[side]))
                known[side] = want[side]
        if after_gap[s + 1]:  # a gap: the orders are cancelled before it (the stream still moves the book)
            venue.reset()
            if truth:
                venue.advance(int(grid_ts[s + 1]))
            continue
        fills = venue.advance(int(grid_ts[s + 1])) if truth else venue.settle(s)
        for side in SIDES:
            if fills[side]:
                log.fills[(side, s + 1)] = (fills[side], arrived[side])
        while pipeline and pipeline[0][0] == s + 1:
            _, side, px = pipeline.popleft()
            rejected = venue.arrive(side, px) if truth else venue.arrive(s + 1, side, px)
            log.rejected += int(rejected)
            log.placed += int(not rejected and px is not None)
            arrived[side] = s + 1
        for side in SIDES:
            in_flight = any(m[1] == side for m in pipeline)
            if not venue.live(side) and not in_flight:
                known[side] = None  # the order ended (filled or rejected): the quoter sends a new one
            q = venue.queue(side) if truth else venue.queue(s + 1, side)
            if q is not None:
                log.queue[(side, _price(venue, side), arrived[side], s + 1)] = q
    log.fifo_breaks = getattr(venue, "fifo_breaks", 0)
    return log


def _price(venue, side: str) -> int:
    o = venue.orders[side]
    return o.px if isinstance(o, _Virtual) else o.price


def compare(model: Log, truth: Log, dt_s: float) -> dict[str, float | int]:
    """Fill counts, median fill delays and the queue-ahead error of the same orders (model vs truth)."""
    def delays(log: Log) -> list[float]:
        return [(row - arr) * dt_s for (_, row), (_, arr) in log.fills.items()]

    common = model.queue.keys() & truth.queue.keys()
    err = np.array([model.queue[k][0] - truth.queue[k][0] for k in sorted(common)], np.float64)
    level = np.array([max(truth.queue[k][1], 1) for k in sorted(common)], np.float64)
    med = lambda a: float(np.median(a)) if len(a) else None  # noqa: E731 - None: no sample (JSON null)
    return {
        "fills_truth": len(truth.fills), "fills_model": len(model.fills),
        "fill_lots_truth": int(sum(v[0] for v in truth.fills.values())),
        "fill_lots_model": int(sum(v[0] for v in model.fills.values())),
        "fill_delay_median_s_truth": med(delays(truth)), "fill_delay_median_s_model": med(delays(model)),
        "queue_ahead_mae_lots": med(np.abs(err)), "queue_ahead_mae_frac": med(np.abs(err) / level),
        "queue_ahead_bias_lots": med(err), "queue_samples": len(common),
        "queue_ahead_p90_frac": float(np.quantile(np.abs(err) / level, 0.9)) if len(err) else None,
        "queue_ahead_exact_share": float(np.mean(err == 0)) if len(err) else None,
        "placed_truth": truth.placed, "placed_model": model.placed,
        "rejected_truth": truth.rejected, "rejected_model": model.rejected, "truth_fifo_breaks": truth.fifo_breaks,
    }
