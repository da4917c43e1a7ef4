"""Queue facts of a large-tick book, as pure functions of a loaded recording (NumPy only).

On a book whose spread is one tick nearly always, the mid moves when a touch queue is used up and a
maker's fill depends on its place in that queue. `queue_facts(raw)` measures, both sides pooled:

* ``mid_change_interval_s``: mean time between mid changes, seconds of gap-free recording per change;
* ``touch_outflow_trade_share``: the share of the touch queue's outflow that trades at the touch explain
  (the rest is cancellations); the outflow of a step is the queue's decrease while its price stays, all
  of it when the price level leaves the touch (the convention of `mmjax.market.facts.queue_facts`);
* ``departure_depleted_frac``: of the touch departures (a best bid falling or best ask rising, inside a
  segment), the share whose departing queue was used up: what the interval's trades at it left is under
  ``DEPLETED_FRAC`` of the median touch size. A book that re-quotes around a fair price moves full
  queues away; a queue-driven book moves only empty ones;
* ``trade_to_touch_median``: median size of a print at the touch over the touch size it hit (row t).

Conventions as in `mmjax.market.stylized`: the prints of interval (t, t+1] follow row t; nothing spans
a gap (``after_gap``).
"""

from __future__ import annotations

import numpy as np

from mmjax.data.loader import RawRecording

DEPLETED_FRAC = 0.25  # a departing queue with less than this share of the median touch left was used up

# name -> (kind, meaning), merged into `mmjax.market.facts.FACTS`
QUEUE_FACTS: dict[str, tuple[str, str]] = {
    "mid_change_interval_s": ("rel", "mean time between mid changes, s"),
    "touch_outflow_trade_share": ("rel", "share of the touch queue's outflow that trades explain (rest: cancels)"),
    "departure_depleted_frac": ("rel", "share of touch departures whose queue was used up (mid moves on depletion)"),
    "trade_to_touch_median": ("rel", "median print at the touch / touch size it hit"),
}


def _touch_prints(raw: RawRecording):
    """Prints of intervals inside the recording -> (row [N], size [N], side [N], at the row's touch [N] bool)."""
    T, tick = raw.num_steps, raw.meta.tick_size
    step = raw.trade_step()
    ok = (step >= 0) & (step < T - 1)
    s, px, sz, side = step[ok], raw.trade_px[ok], raw.trade_sz[ok], raw.trade_side[ok]
    touch = np.where(side > 0, raw.ask_px[s, 0], raw.bid_px[s, 0])
    return s, sz, side, np.abs(px - touch) < 0.5 * tick


def queue_facts(raw: RawRecording) -> dict[str, float]:
    """The four facts of the module docstring (NaN where the recording cannot define one)."""
    T, dt_s, tick = raw.num_steps, raw.meta.grid_ms / 1000.0, raw.meta.tick_size
    s, sz, side, at_touch = _touch_prints(raw)
    same_seg = ~raw.after_gap[1:]  # [T-1] step t -> t+1 inside one segment
    mid = raw.bid_px[:, 0] + raw.ask_px[:, 0]
    n_mid = int(((np.abs(np.diff(mid)) > 0.5 * tick) & same_seg).sum())
    median_touch = float(np.median(np.r_[raw.bid_sz[:, 0], raw.ask_sz[:, 0]]))
    traded_sum = out_sum = 0.0
    n_dep = n_depleted = 0
    ratios = []
    for book_px, book_sz, taker, away in ((raw.bid_px, raw.bid_sz, -1, -1.0), (raw.ask_px, raw.ask_sz, 1, 1.0)):
        p0, q0, q1 = book_px[:-1, 0], book_sz[:-1, 0], book_sz[1:, 0]
        hit = (side == taker) & at_touch
        traded = np.bincount(s[hit], weights=sz[hit], minlength=T)[: T - 1]  # [T-1] volume at row t's touch
        stays = (np.abs(book_px[1:, 0] - p0) < 0.5 * tick) & same_seg
        outflow = np.where(stays, np.maximum(q0 - q1, 0.0), q0)
        traded_sum += np.minimum(traded, np.where(stays, np.inf, q0))[same_seg].sum()
        out_sum += outflow[same_seg].sum()
        departs = (away * (book_px[1:, 0] - p0) > 0.5 * tick) & same_seg  # the touch moved away from the spread
        n_dep += int(departs.sum())
        n_depleted += int((departs & (q0 - traded < DEPLETED_FRAC * median_touch)).sum())
        ratios.append(sz[hit] / np.maximum(book_sz[s[hit], 0], 1e-300))
    ratio = np.concatenate(ratios)
    seconds = float(same_seg.sum()) * dt_s
    nan = float("nan")
    return {
        "mid_change_interval_s": seconds / n_mid if n_mid else nan,
        "touch_outflow_trade_share": float(min(traded_sum / out_sum, 1.0)) if out_sum > 0 else nan,
        "departure_depleted_frac": n_depleted / n_dep if n_dep else nan,
        "trade_to_touch_median": float(np.median(ratio)) if len(ratio) else nan,
    }
