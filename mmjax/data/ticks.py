"""The row rules, one home: prices -> ticks, the empty-level fill, the tick anchor and the trade reach. No jax.

Two callers need the same numbers: the loader (`mmjax.data.loader`, `mmjax.data.fill_inputs`), which
converts a whole recording at once, and the live path (`mmjax.live.rows`, `mmjax.features.stream`),
which converts one row at a time, in microseconds. Each rule is written here once per shape (a
vectorised form over [T, ...] arrays, a plain-Python form for one row) and tests/test_live_rows.py pins
the two together bit for bit:

- **anchor**: tick 0 of a recording or a session is the rounded mid of its first row, in ticks;
- **ticks**: a price becomes ``rint(price / tick) - anchor`` (round half to even, as ``round``);
- **empty-level fill**: an empty level (NaN price) gets the previous level's price one tick further
  from the touch, and its size counts as 0; an empty best level is a one-sided book (refused);
- **range**: prices stay within 2^24 ticks of the anchor (int32 and float32 hold them exactly);
- **trade reach**: per interval and side, the furthest price taker flow traded at (lowest taker
  sell, highest taker buy) and the whole lots traded exactly there (each trade rounded to lots and
  capped, summed exactly, capped). Only that price matters to a resting order with price-time
  priority: flow beyond its price emptied its level, only flow at it can stop inside its queue.

Oriented ticks (the fill inputs): bid prices as is, ask prices negated, so that for either side a
higher number is nearer the other side of the book.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mmjax import schema
from mmjax.data.layout import LOT_CAP, NO_PRICE, to_lots
from mmjax.data.raw import RecordingError

MAX_TICKS_FROM_ANCHOR = 2**24  # int32 ticks, and float32 holds every integer up to it
BID_DIRECTION, ASK_DIRECTION = -1, +1  # the direction an empty level moves away from the touch
TAKER_BUY, TAKER_SELL = schema.TAKER_BUY, schema.TAKER_SELL


def anchor_ticks(best_bid_px: float, best_ask_px: float, tick_size: float) -> int:
    """Tick 0 of a recording or a live session: its first row's mid, rounded, in ticks of ``tick_size``."""
    return int(np.rint((np.rint(best_bid_px / tick_size) + np.rint(best_ask_px / tick_size)) / 2))


# ---------------------------------------------------------------------------------------------
# A WHOLE RECORDING (arrays)


def price_ticks(px: np.ndarray, tick: float, anchor: int) -> np.ndarray:
    """[N] prices ($, none empty: trades) -> [N] int64 ticks from ``anchor``."""
    return np.rint(np.asarray(px, np.float64) / tick).astype(np.int64) - anchor


def level_ticks(px: np.ndarray, tick: float, anchor: int, direction: int) -> np.ndarray:
    """[T, L] prices ($, NaN on empty levels) -> [T, L] int32 ticks from ``anchor``, C order, empty levels filled."""
    t = np.rint(px / tick)  # [T, L] float64, NaN on empty levels; exact integers below 2^53
    t -= anchor
    for i in range(1, t.shape[1]):
        col = t[:, i]
        e = np.isnan(col)
        if e.any():
            col[e] = t[e, i - 1] + direction
    if np.abs(t).max(initial=0) > MAX_TICKS_FROM_ANCHOR:
        raise RecordingError("prices move more than 2^24 ticks from the anchor; split the recording")
    return np.ascontiguousarray(t, dtype=np.int32)


def trade_reach(step: np.ndarray, use: np.ndarray, taker_side: np.ndarray, px_ticks: np.ndarray,
                lots: np.ndarray, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per interval and side: ([T, 2] int32 oriented furthest traded price, NO_PRICE if none; [T, 2] int32 lots there).

    ``step[i]`` is trade i's interval, ``use[i]`` whether it counts, ``lots[i]`` its whole lots (int64: the
    sums are exact). Side 0 is the bids (hit by taker sells), side 1 the asks (lifted by taker buys).
    """
    reach_px = np.full((num_steps, 2), NO_PRICE, np.int32)
    reach_lots = np.zeros((num_steps, 2), np.int32)
    for side, taker, sign in ((0, TAKER_SELL, 1), (1, TAKER_BUY, -1)):
        m = use & (taker_side == taker)
        if not m.any():
            continue
        s, key, v = step[m], sign * px_ticks[m], lots[m]
        order = np.lexsort((key, s))  # by interval, then oriented price ascending: the furthest first
        s, key, v = s[order], key[order], v[order]
        first = np.r_[True, s[1:] != s[:-1]]  # the furthest trade of each interval
        at_reach = key == np.repeat(key[first], np.diff(np.r_[np.flatnonzero(first), len(s)]))
        reach_px[s[first], side] = key[first]
        vol = np.bincount(s[at_reach], weights=v[at_reach], minlength=num_steps)
        reach_lots[:, side] = np.minimum(vol, LOT_CAP).astype(np.int32)
    return reach_px, reach_lots


def reach_from_slots(sell_px: np.ndarray, sell_vol: np.ndarray, buy_px: np.ndarray, buy_vol: np.ndarray,
                     lot_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The trade reach of a market that stores only trade slots ([T, M] prices nearest the touch first, volumes).

    Exact where an interval traded at most M distinct prices per side (the last slot folds deeper
    ones); the loader stores the exact reach, this serves hand-made markets (`MarketData.trade_reach`).
    """
    out_px, out_lots = [], []
    for px, vol, sign in ((sell_px, sell_vol, 1), (buy_px, buy_vol, -1)):
        px, vol = sign * np.asarray(px, np.int64), np.asarray(vol)
        traded = vol > 0
        has = traded.any(axis=1)
        last = np.where(has, traded.shape[1] - 1 - np.argmax(traded[:, ::-1], axis=1), 0)  # the furthest slot traded
        rows = np.arange(px.shape[0])
        out_px.append(np.where(has, px[rows, last], NO_PRICE))
        out_lots.append(np.where(has, to_lots(vol[rows, last], lot_size), 0))
    return np.stack(out_px, axis=1).astype(np.int32), np.stack(out_lots, axis=1).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# ONE ROW AT A TIME (plain Python, for the live path)


def fill_empty(ticks: list, direction: int) -> list:
    """One side's level ticks with NaN on empty levels -> each empty level one tick further out (in place)."""
    if ticks[0] != ticks[0]:
        side = "bid" if direction == BID_DIRECTION else "ask"
        raise ValueError(f"book row: {side}_px_0 is empty (one-sided book); the recorder must mark a gap")
    for i in range(1, len(ticks)):
        if ticks[i] != ticks[i]:
            ticks[i] = ticks[i - 1] + direction
    return ticks


class RowTicks:
    """One session's row converter: a book row's prices ($) -> int ticks from ``anchor``, the rules above."""

    def __init__(self, tick_size: float, anchor: int, levels: int):
        if not tick_size > 0 or levels < 1:
            raise ValueError(f"RowTicks: bad tick_size={tick_size}, levels={levels}")
        self.tick_size, self.anchor, self.levels = float(tick_size), int(anchor), int(levels)
        self._bp = self._ap = self._bid = self._ask = None  # the last row's prices and ticks per side

    def book(self, bid_px, bid_sz, ask_px, ask_sz) -> tuple[list, list, list, list]:
        """[L] prices ($, NaN on empty levels) and [L] sizes per side -> (bid ticks, bid sizes, ask ticks, ask sizes).

        Ticks are ints, sizes floats, plain lists (shared with the previous row's when its prices repeat:
        read them, never mutate them); an empty level's size is 0.
        """
        tick, anchor, L = self.tick_size, self.anchor, self.levels
        f64 = np.float64
        bp, ap = np.asarray(bid_px, f64).tolist(), np.asarray(ask_px, f64).tolist()
        bs, az = np.asarray(bid_sz, f64).tolist(), np.asarray(ask_sz, f64).tolist()
        if len(bp) != L or len(ap) != L or len(bs) != L or len(az) != L:
            raise ValueError(f"book row: expected {L} levels per side, got {len(bp)}/{len(bs)} bid, "
                             f"{len(ap)}/{len(az)} ask prices/sizes")
        try:  # round() is round half to even, as np.rint; the division is the same IEEE float64 one
            # a side whose prices repeat the previous row's (most rows) reuses its ticks (NaN never compares equal)
            bid = self._bid if bp == self._bp else [round(p / tick) - anchor for p in bp]
            ask = self._ask if ap == self._ap else [round(p / tick) - anchor for p in ap]
            self._bp, self._bid, self._ap, self._ask = bp, bid, ap, ask
        except ValueError:  # NaN: an empty level (rare)
            bid, bs = _fill_side(bp, bs, tick, anchor, BID_DIRECTION)
            ask, az = _fill_side(ap, az, tick, anchor, ASK_DIRECTION)
        # a (sorted) book's lowest and highest prices are its deepest levels
        if bid[-1] < -MAX_TICKS_FROM_ANCHOR or ask[-1] > MAX_TICKS_FROM_ANCHOR:
            raise ValueError(f"book row: prices move more than 2^24 ticks from the anchor {anchor} "
                             f"(best bid {bid[0]:+d}, best ask {ask[0]:+d} ticks from it)")
        return bid, bs, ask, az


def _fill_side(px: list, sz: list, tick: float, anchor: int, direction: int) -> tuple[list, list]:
    """One side with empty levels: ticks (filled) and sizes (0 where the price is empty)."""
    t = fill_empty([round(p / tick) - anchor if p == p else p for p in px], direction)
    return t, [z if p == p else 0.0 for p, z in zip(px, sz, strict=True)]


def interval_reach(trades: Iterable, tick: float, anchor: int, lot: float) -> tuple[int | None, int, int | None, int]:
    """One interval's trades (objects with price $, size, taker_side) -> (sell reach, its lots, buy reach, its lots).

    Reach in ticks from the anchor (None: no trade on that side); lots as `to_lots` rounds each trade, summed and capped.
    """
    sell_px = buy_px = None  # lowest taker sell, highest taker buy
    sell_lots = buy_lots = 0  # exact int sums of per-trade whole lots
    for tr in trades:
        px = round(tr.price / tick) - anchor  # round() is round half to even, as np.rint
        n = round(tr.size / lot)  # `to_lots`: nearest lot, capped
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
    return sell_px, min(sell_lots, LOT_CAP), buy_px, min(buy_lots, LOT_CAP)
