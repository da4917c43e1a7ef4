"""One book row and one interval's trades in ticks, exactly as the loader builds `MarketData`. No jax.

The loader (`mmjax.data.loader.level_ticks`, `aggregate_trade_slots`) converts a whole recording
at once; the paper trader needs the same numbers one row at a time, in microseconds. These are
the loader's rules rewritten for one row (tests/test_live_rows.py checks them bit for bit):

- a price becomes ``rint(price / tick) - anchor``; an empty level (NaN) gets the previous level's
  price one tick further from the touch (its size stays as recorded, 0);
- an interval's trades are summed per side and price (float64, arrival order), the distinct prices
  nearest the touch get one slot each (float32 volume), and the volume of prices deeper than
  ``slots`` is added (float32) into the last slot at the ``slots``-th price.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mmjax import schema
from mmjax.data.layout import DEFAULT_TRADE_SLOTS
from mmjax.env.sim_np import NO_TRADES, Book, Trades, f32

MAX_TICKS_FROM_ANCHOR = 2**24  # the loader's int32 limit (`level_ticks`)
TAKER_BUY, TAKER_SELL = schema.TAKER_BUY, schema.TAKER_SELL


class TickRows:
    """Row converter for one session: prices in $ -> ticks from ``anchor_ticks``."""

    def __init__(self, tick_size: float, anchor_ticks: int, levels: int, trade_slots: int = DEFAULT_TRADE_SLOTS):
        if not tick_size > 0 or levels < 1 or trade_slots < 1:
            raise ValueError(f"TickRows: bad tick_size={tick_size}, levels={levels}, trade_slots={trade_slots}")
        self.tick_size, self.anchor, self.levels, self.slots = float(tick_size), int(anchor_ticks), levels, trade_slots
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
        """One interval's trades (objects with price $, size, taker_side) -> per-side price slots."""
        sells: dict[int, float] = {}
        buys: dict[int, float] = {}
        tick, anchor = self.tick_size, self.anchor
        for tr in trades:
            px = round(tr.price / tick) - anchor  # round() is round-half-even, as np.rint
            if tr.taker_side == TAKER_BUY:
                buys[px] = buys.get(px, 0.0) + tr.size
            elif tr.taker_side == TAKER_SELL:
                sells[px] = sells.get(px, 0.0) + tr.size
        if not sells and not buys:
            return NO_TRADES
        sell_px = sorted(sells, reverse=True)  # nearest the touch first
        buy_px = sorted(buys)
        slots = self.slots
        if len(sell_px) > slots or len(buy_px) > slots:
            return Trades(*_fold(sell_px, sells, slots), *_fold(buy_px, buys, slots))
        return Trades(sell_px, [f32(sells[p]) for p in sell_px], buy_px, [f32(buys[p]) for p in buy_px])


def _fill_empty(ticks: list[float], direction: float) -> list[float]:
    """Each NaN level -> the previous level's price one tick further from the touch (``direction``)."""
    for i in range(1, len(ticks)):
        if ticks[i] != ticks[i]:
            ticks[i] = ticks[i - 1] + direction
    return ticks


def _fold(prices: list[int], volume: dict[int, float], slots: int) -> tuple[list[int], list[float]]:
    """Distinct prices in slot order -> (prices, float32 volumes) of ``slots`` slots, the deeper volume in the last."""
    vols = [f32(volume[p]) for p in prices[:slots]]
    if len(prices) > slots:
        folded = vols[-1]
        for p in prices[slots:]:
            folded = f32(folded + f32(volume[p]))  # a float32 sum, as the loader's np.add.at
        vols[-1] = folded
    return prices[:slots], vols
