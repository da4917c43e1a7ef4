"""PnL attribution of fills, defined once: the evaluation report (batch) and the live engine (running) use these.

NumPy only (the live path imports it; no jax). Every function works elementwise on scalars or arrays.
For a fill of size ``bought`` on the bid at ``bid_px`` (or ``sold`` on the ask at ``ask_px``), with
``mid`` the mid when its interval began and ``mid_later`` the mid a markout horizon later:

- spread captured = bought (mid - bid_px) + sold (ask_px - mid): what the quote earned against the mid;
- adverse selection = (bought - sold) (mid_later - mid): negative when the market moved against the fill;
- fees as paid (negative = a rebate);
- inventory carry = PnL - spread - adverse_10s + fees: the rest, what holding inventory earned beyond
  the 10 s markout, so that spread + adverse_10s + carry - fees = PnL exactly.

A fill settled in the interval that starts at grid step t is marked out at step t + 1 + h (h =
`markout_steps`): h steps after the interval ended (`mmjax.evaluation.harness.to_traces`).
"""

from __future__ import annotations

import numpy as np

MARKOUT_HORIZONS = ("1s", "10s")  # names of the markout horizons, shortest first


def markout_steps(grid_ms: float) -> dict[str, int]:
    """Grid steps of each markout horizon: 1 s rounded to whole steps (at least one), and ten times that."""
    one_s = max(1, round(1000 / grid_ms))
    return {"1s": one_s, "10s": 10 * one_s}


def spread_usd(bought, sold, bid_px, ask_px, mid):
    """Spread captured by the fills, $ (a side without a fill counts 0, whatever its price holds)."""
    return np.where(bought > 0, bought * (mid - bid_px), 0.0) + np.where(sold > 0, sold * (ask_px - mid), 0.0)


def adverse_usd(bought, sold, mid, mid_later):
    """Adverse selection of the fills at one horizon, $ (negative = the mid moved against the position taken)."""
    return np.where(bought > 0, bought * (mid_later - mid), 0.0) - np.where(sold > 0, sold * (mid_later - mid), 0.0)


def carry_usd(pnl, spread, adverse_10s, fees):
    """Inventory carry, $: the PnL that spread, the 10 s adverse selection and fees do not explain."""
    return pnl - spread - adverse_10s + fees
