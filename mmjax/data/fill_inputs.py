"""What the fill rules read, built exactly from the float64 recording (NumPy, no jax).

- the **lot**: the recording's size step (metadata, else inferred); every size becomes whole lots;
- the **depth**: every stored book level of both sides in oriented ticks with its lots;
- each interval's **trade reach** per side: the furthest price taker flow traded at against that
  side, and the lots traded exactly there (the rule: `mmjax.data.ticks.trade_reach`; docs/env.md, "Fills").

Oriented ticks: bid prices as is, ask prices negated, so that for either side a higher number is
nearer the other side of the book, and taker flow hitting the side trades at or below its reach.
"""

from __future__ import annotations

import numpy as np

from mmjax.data import ticks
from mmjax.data.layout import LOT_CAP, to_lots
from mmjax.data.raw import LoadReport, RawRecording


def infer_lot_size(sizes: np.ndarray) -> float:
    """Largest size step that at least 99.9 % of the distinct positive sizes are whole multiples of (1e-8 if unknowable)."""
    from mmjax.data.tardis import infer_lot_size as robust_increment

    s = np.asarray(sizes, np.float64)
    return float(robust_increment(s)) if len(np.unique(s[np.isfinite(s) & (s > 0)])) >= 2 else 1e-8


def resolve_lot(raw: RawRecording, override: float | None = None) -> float:
    """The lot: ``override``, else the metadata ``lot_size`` where there is one, else inferred from every size."""
    rep = raw.report
    lot = override or getattr(raw.meta, "lot_size", None)
    if override:
        rep.lot_source = "given"
    elif lot:
        rep.lot_source = "metadata"
    else:
        book = np.concatenate([raw.bid_sz.ravel(), raw.ask_sz.ravel()])
        lot = infer_lot_size(np.concatenate([book[book > 0], raw.trade_sz]))
        rep.lot_source = "inferred from the sizes"
    rep.lot_size = float(lot)
    return float(lot)


def lots_counted(sizes: np.ndarray, lot: float, report: LoadReport) -> np.ndarray:
    """Sizes -> int32 lots, counting sizes off the lot grid (rounded) and beyond LOT_CAP (capped)."""
    units = np.asarray(sizes, np.float64) / lot
    report.sizes_off_lot += int(np.count_nonzero(np.abs(units - np.rint(units)) > 1e-6 * np.maximum(units, 1.0)))
    report.sizes_capped += int(np.count_nonzero(units > LOT_CAP + 0.5))
    return to_lots(sizes, lot)


def book_depth(bid_ticks: np.ndarray, ask_ticks: np.ndarray, raw: RawRecording, lot: float,
               report: LoadReport) -> tuple[np.ndarray, np.ndarray]:
    """[T, K] level ticks per side -> ([T, 2, K] oriented prices, [T, 2, K] lots), all K stored levels."""
    px = np.stack([bid_ticks, -ask_ticks.astype(np.int64)], axis=1).astype(np.int32)
    lots = np.stack([lots_counted(raw.bid_sz, lot, report), lots_counted(raw.ask_sz, lot, report)], axis=1)
    return px, lots


def fill_intervals(raw: RawRecording) -> tuple[np.ndarray, np.ndarray]:
    """Each trade's grid interval for the fill rules: ([N] int64 t such that it fills in (t, t+1], [N] bool usable).

    The interval is the earlier of (a) the one in which the trade was received, (t, t+1] on the
    receive clock, and (b) the one that ends at the first book row already reflecting it: the
    first row whose exchange time stamp is at or after the trade's exchange time. Feeds that batch
    trades (Coinbase's market_trades: the last 250 ms together) deliver prints after the book that
    already shows them; (b) keeps such a print from filling a quote placed at the post-trade book.
    (a) keeps a print the book shows late inside the interval it was received in, so that no
    decision that saw it is filled by it. A trade is usable when (t, t+1] lies on the grid and does
    not cross a gap.
    """
    T = raw.num_steps
    recv = raw.trade_step()
    shown = np.maximum.accumulate(raw.ts_exchange_ns)  # [T] a row reflects every message up to its stamp
    first_showing = np.searchsorted(shown, raw.trade_ts_exchange_ns, side="left")  # [N] row index
    step = np.minimum(recv, first_showing - 1)
    use = (step >= 0) & (step < T - 1)
    use[use] &= ~raw.after_gap[step[use] + 1]
    raw.report.trades_on_exchange_clock = int(np.count_nonzero(use & (step < recv)))
    return np.where(use, step, 0), use


def trade_reach(step: np.ndarray, use: np.ndarray, raw: RawRecording, px_ticks: np.ndarray, lot: float,
                num_steps: int, report: LoadReport) -> tuple[np.ndarray, np.ndarray]:
    """Per interval and side: (oriented furthest traded price [T, 2], lots traded exactly there [T, 2]).

    ``step[i]`` is trade i's interval, ``use[i]`` whether it counts; sizes sum in int64 lots (exact).
    """
    lots = lots_counted(raw.trade_sz, lot, report).astype(np.int64)
    return ticks.trade_reach(step, use, raw.trade_side, px_ticks, lots, num_steps)
