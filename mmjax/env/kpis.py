"""Fill KPIs, defined once: the evaluation report, the backtest, the harness and the live trader use these.

NumPy only, no jax (the live path imports it); each function uses operators only, so it works on
Python scalars (the live trader, one fill at a time), NumPy arrays (the report) and jax arrays (the
backtest's jitted totals) alike. The PnL attribution's definitions are `mmjax.env.attribution`'s.

- **fill rate** = fills / quote sides: a (side, step) pair with a live order is one chance to fill;
- **fills by kind** (keys ``fills_<kind>``, codes `mmjax.env.fill_kinds.FILL_KINDS`): behind the queue,
  traded through, or crossed by the opposite touch;
- **edge** of a fill, bps of the mid when its interval began: mid - price for a bid, price - mid for
  an ask (positive = earned against the mid); spread captured is its size-weighted mean;
- **markout** at a horizon: the edge against the mid that much later instead, size-weighted.
"""

from __future__ import annotations

import numpy as np

from mmjax.env.fill_kinds import FILL_KINDS

FILL_KIND_KEYS = {code: f"fills_{name}" for code, name in FILL_KINDS.items()}  # kind code -> KPI key


def per_quote_side(count, quote_sides):
    """``count`` per (side, step) pair with a live order: the fill rate of fills, 0.0 with no quote."""
    return count / quote_sides if quote_sides else 0.0


def fills_by_kind(bid_kind, ask_kind) -> dict:
    """Fills of each kind on the two sides ({``fills_<kind>``: count}) of one step or, elementwise, of many."""
    return {key: (bid_kind == code) * 1 + (ask_kind == code) * 1 for code, key in FILL_KIND_KEYS.items()}


def bid_edge_bps(bid_px, mid):
    """What a bid fill at ``bid_px`` earned against ``mid`` (same units), bps of the mid."""
    return (mid - bid_px) / mid * 1e4


def ask_edge_bps(ask_px, mid):
    """What an ask fill at ``ask_px`` earned against ``mid`` (same units), bps of the mid."""
    return (ask_px - mid) / mid * 1e4


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Size-weighted mean (NaN without weight)."""
    w = weights.sum()
    return float((values * weights).sum() / w) if w > 0 else float("nan")


def markout_bps(bid_fill, ask_fill, bid_px, ask_px, mid_at_fill, mid_later) -> float:
    """Size-weighted markout, bps of the mid at the fill: each fill's value at ``mid_later`` (a bid wins if the
    mid rises above its price). Arrays of equal shape; a side counts where its fill size is > 0."""
    nb, na = bid_fill > 0, ask_fill > 0
    mb = (mid_later - bid_px) / mid_at_fill * 1e4
    ma = (ask_px - mid_later) / mid_at_fill * 1e4
    return weighted_mean(np.concatenate([mb[nb], ma[na]]), np.concatenate([bid_fill[nb], ask_fill[na]]))
