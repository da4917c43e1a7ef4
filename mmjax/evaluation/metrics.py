"""Episode metrics and bootstrap confidence intervals (NumPy, no jax).

Inputs are per-episode traces of equal length: E episodes, S steps. Money is in quote currency ($),
inventory in the venue's size unit, distances in bps of mid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Traces:
    """What the evaluation harness records for one policy. Shapes [E, S] unless noted."""

    pnl: np.ndarray  # mark-to-mid PnL since the episode start, net of fees, after each step
    inventory: np.ndarray  # after each step
    bid_fill: np.ndarray  # size bought at each step
    ask_fill: np.ndarray  # size sold at each step
    bid_fill_px: np.ndarray  # absolute $ price of the bid fill (meaningful where bid_fill > 0)
    ask_fill_px: np.ndarray
    bid_quoted: np.ndarray  # bool: a bid was live this step
    ask_quoted: np.ndarray
    fees: np.ndarray  # $ paid this step (negative = rebate)
    mid_at_fill: np.ndarray  # absolute $ mid when the fill's interval started
    mid_after_1s: np.ndarray  # absolute $ mid 1 s after the step
    mid_after_10s: np.ndarray  # absolute $ mid 10 s after the step
    bid_offset_bps: np.ndarray | None = None  # quoted distance of the bid below mid (NaN when not quoted)
    ask_offset_bps: np.ndarray | None = None
    rejected: np.ndarray | None = None  # post-only rejections at each step (0, 1 or 2)


def bootstrap_ci(x: np.ndarray, seed: int = 0, n_boot: int = 10_000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``x`` (resampling episodes with replacement)."""
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict:
    """Mean of a - b over the same episodes with a paired bootstrap 95 % CI."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    lo, hi = bootstrap_ci(d, seed=seed)
    return {"mean_diff": float(d.mean()), "ci95": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0)}


def max_drawdown(pnl_path: np.ndarray) -> np.ndarray:
    """[E, S] PnL paths -> [E] largest peak-to-trough fall (>= 0), the start (PnL 0) counting as a peak."""
    peak = np.maximum.accumulate(np.concatenate([np.zeros_like(pnl_path[:, :1]), pnl_path], axis=1), axis=1)[:, 1:]
    return (peak - pnl_path).max(axis=1)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    w = weights.sum()
    return float((values * weights).sum() / w) if w > 0 else float("nan")


def policy_metrics(tr: Traces, seed: int = 0) -> dict:
    """The report's per-policy metrics (keys as in metrics.json)."""
    final = tr.pnl[:, -1]
    std = float(final.std(ddof=1)) if len(final) > 1 else float("nan")
    map_ = float(np.abs(tr.inventory).mean())
    n_bid, n_ask = (tr.bid_fill > 0), (tr.ask_fill > 0)
    quote_steps = int(tr.bid_quoted.sum() + tr.ask_quoted.sum())
    fills = int(n_bid.sum() + n_ask.sum())
    # spread captured: distance of the fill price from the mid when it filled, in bps (positive = earned)
    cap_bid = (tr.mid_at_fill - tr.bid_fill_px) / tr.mid_at_fill * 1e4
    cap_ask = (tr.ask_fill_px - tr.mid_at_fill) / tr.mid_at_fill * 1e4
    vals = np.concatenate([cap_bid[n_bid], cap_ask[n_ask]])
    w = np.concatenate([tr.bid_fill[n_bid], tr.ask_fill[n_ask]])

    def markout(mid_later):
        # value of the fill h seconds later, in bps: a bid wins if mid rises above its price
        mb = (mid_later - tr.bid_fill_px) / tr.mid_at_fill * 1e4
        ma = (tr.ask_fill_px - mid_later) / tr.mid_at_fill * 1e4
        return _weighted_mean(np.concatenate([mb[n_bid], ma[n_ask]]), w)

    lo, hi = bootstrap_ci(final, seed=seed)
    return {
        "mean_pnl": float(final.mean()),
        "median_pnl": float(np.median(final)),
        "pnl_ci95": [lo, hi],
        "std_pnl": std,
        "sharpe": float(final.mean() / std) if std and std > 0 else 0.0,
        "map": map_,
        "pnl_to_map": float(final.mean() / map_) if map_ > 0 else 0.0,
        "terminal_inventory_mean": float(tr.inventory[:, -1].mean()),
        "terminal_inventory_std": float(tr.inventory[:, -1].std()),
        "fill_rate": fills / quote_steps if quote_steps else 0.0,
        "fills": fills,
        "bid_fills": int(n_bid.sum()),
        "ask_fills": int(n_ask.sum()),
        "volume": float(tr.bid_fill.sum() + tr.ask_fill.sum()),
        "spread_captured_bps": _weighted_mean(vals, w),
        "markout_1s": markout(tr.mid_after_1s),
        "markout_10s": markout(tr.mid_after_10s),
        "max_drawdown": float(max_drawdown(tr.pnl).mean()),
        "fees": float(tr.fees.sum()),
        "rejected_post_only": int(tr.rejected.sum()) if tr.rejected is not None else 0,
    }
