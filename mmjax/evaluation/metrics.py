"""Episode metrics and bootstrap confidence intervals (NumPy, no jax).

Inputs are per-episode traces of equal length: E episodes, S steps. The fill KPIs' definitions
(fill rate, fills by kind, edge, markout) are `mmjax.env.kpis`', shared with the backtest and the live trader. Money is in quote currency ($),
inventory in the venue's size unit, distances in bps of mid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmjax.env import attribution, kpis


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
    bid_fill_kind: np.ndarray | None = None  # int8 mmjax.data.layout fill kind of each step's bid fill (0: none)
    ask_fill_kind: np.ndarray | None = None
    beyond: np.ndarray | None = None  # live quotes beyond the stored depth at each step (0, 1 or 2)
    # base-coin equivalent of each fill where sizes are inverse contracts (contracts x value $ / fill price);
    # None: the sizes themselves (linear). The $ attribution weighs price moves by it.
    bid_fill_base: np.ndarray | None = None
    ask_fill_base: np.ndarray | None = None


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


# z_{0.975} + z_{0.80}: a true difference of MDE = this * SE is found with 80 % power by a two-sided 5 % test
_MDE_Z = 1.959964 + 0.841621


def pooled_paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0, n_boot: int = 10_000) -> dict:
    """Policy ``a`` (K seeds x E episodes) minus ``b`` (E episodes) pooled over seeds and episodes.

    The CI resamples episodes and seeds (a two-stage bootstrap: every seed saw the same episodes, so
    episodes are the unit of independence, and seeds add training noise). Also reports each seed's
    mean difference and the minimum detectable effect (80 % power, 5 % two-sided) of this design.
    """
    a = np.atleast_2d(np.asarray(a, np.float64))
    d = a - np.asarray(b, np.float64)[None, :]  # [K, E]
    K, E = d.shape
    if E < 2:
        return {"mean_diff": float(d.mean()), "ci95": [float("nan")] * 2, "excludes_zero": False, "n_seeds": K,
                "n_episodes": E, "per_seed": d.mean(axis=1).tolist(), "mde80": float("nan"), "se": float("nan")}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for i in range(0, n_boot, 500):  # chunks keep the index arrays small
        n = min(500, n_boot - i)
        ep = rng.integers(0, E, size=(n, E))
        sd = rng.integers(0, K, size=(n, K)) if K > 1 else np.zeros((n, 1), np.int64)
        means[i:i + n] = d[sd[:, :, None], ep[:, None, :]].mean(axis=(1, 2))
    lo, hi = np.quantile(means, [0.025, 0.975])
    se = float(means.std(ddof=1))
    return {"mean_diff": float(d.mean()), "ci95": [float(lo), float(hi)], "excludes_zero": bool(lo > 0 or hi < 0),
            "n_seeds": K, "n_episodes": E, "per_seed": d.mean(axis=1).tolist(), "se": se, "mde80": _MDE_Z * se}


def pnl_attribution(tr: Traces) -> dict[str, float]:
    """Mean episode PnL split into spread captured, fees, adverse selection and inventory carry ($/episode).

    The per-fill definitions are `mmjax.env.attribution`'s (the live engine keeps the same totals):
    for each fill of signed size s (+ bought) at price p, with mid m when its interval began and m_h
    the mid h seconds later: spread = s (m - p) summed; adverse_h = s (m_h - m) summed (negative = the
    market moved against the fill); fees as paid (negative = rebate). Carry is the rest, so that
    spread + adverse_10s + carry - fees = mean PnL exactly: what holding inventory earned beyond 10 s.
    On inverse contracts s is the fill's coin equivalent (contracts x V / p), so that spread is the coin
    the fill earned against the mid, in $ at the mid, and adverse the first-order $ move of its position.
    """
    E = tr.pnl.shape[0]
    bid = tr.bid_fill if tr.bid_fill_base is None else tr.bid_fill_base  # coin equivalents on inverse contracts
    ask = tr.ask_fill if tr.ask_fill_base is None else tr.ask_fill_base
    spread = float(attribution.spread_usd(bid, ask, tr.bid_fill_px, tr.ask_fill_px, tr.mid_at_fill).sum() / E)
    adverse = {h: float(attribution.adverse_usd(bid, ask, tr.mid_at_fill, later).sum() / E)
               for h, later in (("1s", tr.mid_after_1s), ("10s", tr.mid_after_10s))}
    fees = float(tr.fees.sum() / E)
    mean_pnl = float(tr.pnl[:, -1].mean())
    return {"spread_usd": spread, "fees_usd": fees, "adverse_1s_usd": adverse["1s"], "adverse_10s_usd": adverse["10s"],
            "carry_usd": attribution.carry_usd(mean_pnl, spread, adverse["10s"], fees), "pnl_usd": mean_pnl}


def max_drawdown(pnl_path: np.ndarray) -> np.ndarray:
    """[E, S] PnL paths -> [E] largest peak-to-trough fall (>= 0), the start (PnL 0) counting as a peak."""
    peak = np.maximum.accumulate(np.concatenate([np.zeros_like(pnl_path[:, :1]), pnl_path], axis=1), axis=1)[:, 1:]
    return (peak - pnl_path).max(axis=1)


def fill_kind_counts(tr: Traces) -> dict[str, int]:
    """Fills by how they happened: behind the queue, traded through, resting order crossed (keys fills_<kind>)."""
    if tr.bid_fill_kind is None:
        return dict.fromkeys(kpis.FILL_KIND_KEYS.values(), 0)
    return {key: int(n.sum()) for key, n in kpis.fills_by_kind(tr.bid_fill_kind, tr.ask_fill_kind).items()}


def policy_metrics(tr: Traces, seed: int = 0) -> dict:
    """The report's per-policy metrics (keys as in metrics.json)."""
    final = tr.pnl[:, -1]
    std = float(final.std(ddof=1)) if len(final) > 1 else float("nan")
    map_ = float(np.abs(tr.inventory).mean())
    n_bid, n_ask = (tr.bid_fill > 0), (tr.ask_fill > 0)
    quote_steps = int(tr.bid_quoted.sum() + tr.ask_quoted.sum())
    fills = int(n_bid.sum() + n_ask.sum())
    # spread captured: each fill's edge against the mid when it filled, in bps (positive = earned), size-weighted
    vals = np.concatenate([kpis.bid_edge_bps(tr.bid_fill_px, tr.mid_at_fill)[n_bid],
                           kpis.ask_edge_bps(tr.ask_fill_px, tr.mid_at_fill)[n_ask]])
    w = np.concatenate([tr.bid_fill[n_bid], tr.ask_fill[n_ask]])

    def markout(mid_later):
        return kpis.markout_bps(tr.bid_fill, tr.ask_fill, tr.bid_fill_px, tr.ask_fill_px, tr.mid_at_fill, mid_later)

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
        "fill_rate": kpis.per_quote_side(fills, quote_steps),
        "fills": fills,
        "bid_fills": int(n_bid.sum()),
        "ask_fills": int(n_ask.sum()),
        "volume": float(tr.bid_fill.sum() + tr.ask_fill.sum()),
        "spread_captured_bps": kpis.weighted_mean(vals, w),
        "markout_1s": markout(tr.mid_after_1s),
        "markout_10s": markout(tr.mid_after_10s),
        "max_drawdown": float(max_drawdown(tr.pnl).mean()),
        "fees": float(tr.fees.sum()),
        "rejected_post_only": int(tr.rejected.sum()) if tr.rejected is not None else 0,
        **fill_kind_counts(tr),
        "quotes_beyond_depth": kpis.per_quote_side(float(tr.beyond.sum()), quote_steps) if tr.beyond is not None else 0.0,
        "attribution": pnl_attribution(tr),
    }
