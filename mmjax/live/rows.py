"""One book row and one interval's trades in ticks, exactly as the loader builds `MarketData`. No jax.

The loader (`mmjax.data.loader.level_ticks`, `mmjax.data.fill_inputs.trade_reach`) converts a whole
recording at once; the paper trader needs the same numbers one row at a time, in microseconds.
These are the loader's rules rewritten for one row (tests/test_live_rows.py checks them bit for bit):

- a price becomes ``rint(price / tick) - anchor``; an empty level (NaN) gets the previous level's
  price one tick further from the touch (its size stays as recorded, 0);
- an interval's trades become its **trade reach** per side: the furthest price taker flow traded
  at (lowest taker sell, highest taker buy, however many prices the sweep crossed) and the lots
  traded exactly there (each trade rounded to whole lots and capped, summed exactly, capped), as
  a size of whole lots times the lot, as `mmjax.env.reference.ReplayData.trades` hands it to sim_np.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mmjax import schema
from mmjax.data.layout import LOT_CAP
from mmjax.env.sim_np import NO_TRADES, Book, Trades

MAX_TICKS_FROM_ANCHOR = 2**24  # the loader's int32 limit (`level_ticks`)
TAKER_BUY, TAKER_SELL = schema.TAKER_BUY, schema.TAKER_SELL


class TickRows:
    """Row converter for one session: prices in $ -> ticks from ``anchor_ticks``, sizes -> lots of ``lot_size``."""

    def __init__(self, tick_size: float, anchor_ticks: int, levels: int, lot_size: float):
        if not tick_size > 0 or levels < 1 or not lot_size > 0:
            raise ValueError(f"TickRows: bad tick_size={tick_size}, levels={levels}, lot_size={lot_size}")
        self.tick_size, self.anchor, self.levels, self.lot = float(tick_size), int(anchor_ticks), levels, float(lot_size)
        self._buf = np.empty(2 * levels, np.float64)  # [2L] bid then ask
        self._tick = np.array(self.tick_size)  # 0-d divisor: np.divide skips the scalar conversion

    def book(self, bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray) -> Book:
        """One book row ([L] prices $, NaN on empty levels; [L] sizes) -> `Book` in ticks from the anchor."""
        L, buf = self.levels, self._buf
        buf[:L] = bid_px
        buf[L:] = ask_px
        np.divide(buf, self._tick, out=buf)
        np.rint(buf, out=buf)
        np.subtract(buf, self.anchor, out=buf)
        dot = buf.dot(buf)
        if dot == dot:  # no NaN: exact integers (< 2^53), as ints: the rules compare them with int quotes
            r = buf.astype(np.int64).tolist()
            bid, ask = r[:L], r[L:]
        else:  # an empty level (rare)
            r = buf.tolist()
            bid = [int(x) for x in _fill_empty(r[:L], -1.0)]
            ask = [int(x) for x in _fill_empty(r[L:], +1.0)]
        # the loader's int32 guard; a (sorted) book's lowest and highest prices are its deepest levels
        if bid[-1] < -MAX_TICKS_FROM_ANCHOR or ask[-1] > MAX_TICKS_FROM_ANCHOR:
            raise ValueError(f"book row: prices move more than 2^24 ticks from the anchor {self.anchor} "
                             f"(best bid {bid[0]:+d}, best ask {ask[0]:+d} ticks from it)")
        return Book(bid, np.asarray(bid_sz, np.float64).tolist(), ask, np.asarray(ask_sz, np.float64).tolist())

    def trades(self, trades: Iterable) -> Trades:
        """One interval's trades (objects with price $, size, taker_side) -> per side its reach and the size there.

        Only the furthest price per side matters to a resting order (tests/test_live_rows.py):
        flow beyond its price emptied its level, only flow at it can stop inside its queue.
        """
        tick, anchor, lot = self.tick_size, self.anchor, self.lot
        sell_px = buy_px = None  # ticks from the anchor: lowest taker sell, highest taker buy
        sell_lots = buy_lots = 0  # exact int sums of per-trade whole lots
        for tr in trades:
            px = round(tr.price / tick) - anchor  # round() is round-half-even, as np.rint
            n = round(tr.size / lot)  # the loader's to_lots: nearest lot, capped
            if n > LOT_CAP:
                n = LOT_CAP
            if tr.taker_side == TAKER_BUY:
                if buy_px is None or px > buy_px:
                    buy_px, buy_lots = px, n
                elif px == buy_px:
                    buy_lots += n
            elif tr.taker_side == TAKER_SELL:
                if sell_px is None or px < sell_px:
                    sell_px, sell_lots = px, n
                elif px == sell_px:
                    sell_lots += n
        if sell_px is None and buy_px is None:
            return NO_TRADES
        sell = ((sell_px,), (min(sell_lots, LOT_CAP) * lot,)) if sell_px is not None else ((), ())
        buy = ((buy_px,), (min(buy_lots, LOT_CAP) * lot,)) if buy_px is not None else ((), ())
        return Trades(*sell, *buy)


def _fill_empty(ticks: list[float], direction: float) -> list[float]:
    """Each NaN level -> the previous level's price one tick further from the touch (``direction``)."""
    for i in range(1, len(ticks)):
        if ticks[i] != ticks[i]:
            ticks[i] = ticks[i - 1] + direction
    return ticks
