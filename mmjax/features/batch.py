"""Market features of a whole recording in one jitted pass (JAX, float32).

Causality: row t uses book rows <= t and trade aggregates of rows < t (row s holds the trades of
(s, s+1], known at s+1). Trade series are therefore shifted down one row before any window.
Every window covers rows [max(t - W + 1, g_t), t], where g_t is the start of t's gap-free segment,
so windows reset exactly after a gap marker.

Rolling sums use masked doubling (segment-restricted power-of-two window sums combined by the
binary digits of W), never a global cumsum difference: float32 prefix sums over 864k rows would
cancel catastrophically, while doubling sums add only the window's own terms (O(T log W) work).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mmjax.data.market import MarketData
from mmjax.features.spec import (
    MARKET_FEATURES,
    SIZE_EPS,
    STD_FLOOR,
    VAR_EPS,
    Z_CLIP,
    FeatureConfig,
    FeatureNorm,
    fit_mask,
    fit_stats,
    raw_clip_bounds,
)


@struct.dataclass
class MarketFeatures:
    """Raw market features of one recording and the causal volatility the env and baselines use."""

    values: jax.Array  # [T, F_M] float32, raw (clipped to spec.RAW_CLIPS), O(1) by design
    sigma: jax.Array  # [T] float32 realized volatility of mid, ticks per sqrt(second), causal


def segment_start(after_gap: jax.Array) -> jax.Array:
    """[T] bool gap markers -> [T] int32 index of the first row of each row's segment."""
    idx = jnp.arange(after_gap.shape[0], dtype=jnp.int32)
    return jax.lax.cummax(jnp.where(after_gap, idx, 0), axis=0)


def _shift(x: jax.Array, k: int) -> jax.Array:
    """x[t - k] with zeros for t < k (along axis 0); k static."""
    if k >= x.shape[0]:
        return jnp.zeros_like(x)
    return jnp.concatenate([jnp.zeros((k, *x.shape[1:]), x.dtype), x[:-k]], axis=0)


def _shift_dyn(x: jax.Array, k: jax.Array) -> jax.Array:
    """x[t - k] with zeros for t < k (along axis 0); k traced, 0 <= k <= T."""
    T = x.shape[0]
    padded = jnp.concatenate([jnp.zeros_like(x), x], axis=0)  # [2T, K]
    return jax.lax.dynamic_slice_in_dim(padded, T - k, T, axis=0)


def rolling_sum(x: jax.Array, seg: jax.Array, window: int) -> jax.Array:
    """Sum of x over rows [max(t - window + 1, seg[t]), t] for each t. x: [T, K]; seg: [T] starts.

    Level i holds the segment-restricted sum of the last 2^i rows: S_2k[t] = S_k[t] + S_k[t - k]
    if row t - k is in t's segment (then all of S_k[t - k] is too), else S_k[t]. The window is the
    sum of the levels of its binary digits, each shifted past the rows already covered. Only the
    window's own terms are added: no prefix-sum cancellation. A loop over levels keeps compiles small.
    """
    T = x.shape[0]
    idx = jnp.arange(T, dtype=jnp.int32)
    zero = jnp.zeros((), x.dtype)
    window = int(min(window, T))  # rows before 0 hold nothing: a longer window is the same sum
    n_levels = window.bit_length()

    def body(i, carry):
        level, acc, off = carry  # level: sums of the last 2^i rows; acc: sums of the last `off` rows
        size = jnp.left_shift(jnp.int32(1), i)
        use = (window >> i) & 1  # this binary digit of the window is set
        ok_off = ((idx - off) >= seg)[:, None]
        acc = jnp.where(use == 1, acc + jnp.where(ok_off, _shift_dyn(level, jnp.minimum(off, T)), zero), acc)
        off = off + use * size
        ok_size = ((idx - size) >= seg)[:, None]
        level = level + jnp.where(ok_size, _shift_dyn(level, jnp.minimum(size, T)), zero)
        return level, acc, off

    _, acc, _ = jax.lax.fori_loop(0, n_levels, body, (x, jnp.zeros_like(x), jnp.int32(0)))
    return acc


def _rows_in_window(seg: jax.Array, window: int) -> jax.Array:
    """[T] float32 number of rows in each row's (segment-truncated) window."""
    idx = jnp.arange(seg.shape[0], dtype=jnp.int32)
    return jnp.minimum(idx - seg + 1, window).astype(jnp.float32)


def _depth_slope(px: jax.Array, sz: jax.Array) -> jax.Array:
    """[..., L] prices (ticks) and sizes of one side -> [...] OLS slope of cumulative depth on distance.

    Both axes are scaled by their value at the last level, so the slope is 1 for evenly spread
    depth, < 1 when depth sits near the touch and > 1 when it sits deep.
    """
    if px.shape[-1] < 2:
        return jnp.zeros(px.shape[:-1], jnp.float32)
    dist = jnp.abs(px - px[..., :1]).astype(jnp.float32)  # [..., L] ticks from the touch
    cum = jnp.cumsum(sz, axis=-1)  # [..., L]
    x = dist / jnp.maximum(dist[..., -1:], 1.0)
    y = cum / (cum[..., -1:] + SIZE_EPS)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    return (xc * yc).sum(axis=-1) / ((xc * xc).sum(axis=-1) + VAR_EPS)


def _shrunk_log_ratio(x: jax.Array, base: jax.Array, shrink: float, eps: float) -> jax.Array:
    """log((x + c*base) / ((1 + c)*base)), written so that x == base gives exactly 0 (no rounding noise).

    A window that still holds the same rows as its baseline (a recording shorter than the short
    window) is then exactly constant, so its fitted std floors and it normalizes to 0 in both twins.
    """
    c_base = shrink * base
    return jnp.log((x + c_base + eps) / (base + c_base + eps))


def _features(md: MarketData, cfg: FeatureConfig) -> MarketFeatures:
    T = md.num_steps
    dt_s = md.dt_s
    seg = segment_start(md.after_gap)  # [T]
    first = md.after_gap | (jnp.arange(T) == 0)  # [T] rows with no predecessor in their segment

    bp, ap = md.bid_px[:, 0], md.ask_px[:, 0]  # [T] int32 ticks
    b0, a0 = md.bid_sz[:, 0], md.ask_sz[:, 0]  # [T] float32
    spread = ap - bp  # [T] int32 ticks, >= 1 on an uncrossed book

    # INSTANTANEOUS BOOK SHAPE
    obi_l1 = (b0 - a0) / (b0 + a0 + SIZE_EPS)
    n5 = min(cfg.obi_levels, md.levels)
    bd, ad = md.bid_sz[:, :n5].sum(axis=1), md.ask_sz[:, :n5].sum(axis=1)
    obi_l5 = (bd - ad) / (bd + ad + SIZE_EPS)
    slopes = _depth_slope(jnp.stack([md.bid_px, md.ask_px], axis=1), jnp.stack([md.bid_sz, md.ask_sz], axis=1))  # [T, 2]
    slope_bid, slope_ask = slopes[:, 0], slopes[:, 1]

    # PER-ROW SERIES FOR THE WINDOWS (0 on a segment's first row)
    touch = 0.5 * (b0 + a0)  # [T] mean touch size
    bp_prev, ap_prev = _shift(bp, 1), _shift(ap, 1)
    b0_prev, a0_prev = _shift(b0, 1), _shift(a0, 1)
    ofi_e = (
        jnp.where(bp >= bp_prev, b0, 0.0)
        - jnp.where(bp <= bp_prev, b0_prev, 0.0)
        - jnp.where(ap <= ap_prev, a0, 0.0)
        + jnp.where(ap >= ap_prev, a0_prev, 0.0)
    )
    ofi_e = jnp.where(first, 0.0, ofi_e)
    # trades of (t-1, t]: the last interval known at t
    buy = jnp.where(first, 0.0, _shift(md.buy_vol, 1))
    sell = jnp.where(first, 0.0, _shift(md.sell_vol, 1))
    n_tr = jnp.where(first, 0.0, _shift(md.n_trades, 1).astype(jnp.float32))
    q = buy - sell  # signed taker volume
    v = buy + sell
    dm = jnp.where(first, 0.0, md.mid - _shift(md.mid, 1))  # ticks, multiple of 0.5
    h2 = (2.0 * dm) ** 2  # squared half-tick moves: integers, exact in float32
    sc = jnp.clip(spread, 1, cfg.spread_clip_ticks).astype(jnp.int32)

    # ROLLING SUMS, grouped by window so each group is one doubling pass over [T, K]
    groups: dict[int, list[jax.Array]] = {}

    def want(window: int, series: jax.Array) -> tuple[int, int]:
        groups.setdefault(window, []).append(series)
        return window, len(groups[window]) - 1

    k_e_s, k_e_l = want(cfg.ofi_short_steps, ofi_e), want(cfg.ofi_long_steps, ofi_e)
    k_ee_l = want(cfg.vol_long_steps, ofi_e * ofi_e)
    k_q_s, k_v_s = want(cfg.trade_short_steps, q), want(cfg.trade_short_steps, v)
    k_q_l, k_v_l = want(cfg.trade_long_steps, q), want(cfg.trade_long_steps, v)
    k_n = want(cfg.intensity_steps, n_tr)
    k_n_l = want(cfg.vol_long_steps, n_tr)
    k_dq, k_qq = want(cfg.kyle_steps, dm * q), want(cfg.kyle_steps, q * q)
    k_qq_l, k_h_l = want(cfg.vol_long_steps, q * q), want(cfg.vol_long_steps, h2)
    k_h_s = want(cfg.vol_short_steps, h2)
    k_h_m = want(cfg.vol_mid_steps, h2)
    k_td = want(cfg.touch_steps, touch)
    sums = {w: rolling_sum(jnp.stack(cols, axis=1), seg, w) for w, cols in groups.items()}

    def S(key: tuple[int, int]) -> jax.Array:
        return sums[key[0]][:, key[1]]

    def n(window: int) -> jax.Array:
        return _rows_in_window(seg, window)

    # ORDER FLOW AND TRADES
    # OFI in stds of its window sum were its terms independent with the long window's mean square
    e2_mean = S(k_ee_l) / n(cfg.vol_long_steps)
    ofi_short = S(k_e_s) / (jnp.sqrt(n(cfg.ofi_short_steps) * e2_mean) + SIZE_EPS)
    ofi_long = S(k_e_l) / (jnp.sqrt(n(cfg.ofi_long_steps) * e2_mean) + SIZE_EPS)
    imb_short = S(k_q_s) / (S(k_v_s) + SIZE_EPS)
    imb_long = S(k_q_l) / (S(k_v_l) + SIZE_EPS)
    # trade rate against its long-window mean (counts per row; the grid step cancels)
    rate_short = S(k_n) / n(cfg.intensity_steps)
    rate_long = S(k_n_l) / n(cfg.vol_long_steps)
    rate_rel = _shrunk_log_ratio(rate_short, rate_long, cfg.shrink, SIZE_EPS)

    # VOLATILITY (ticks^2 per step)
    var_long = S(k_h_l) / (4.0 * n(cfg.vol_long_steps))
    var_short = S(k_h_s) / (4.0 * n(cfg.vol_short_steps))
    var_mid = S(k_h_m) / (4.0 * n(cfg.vol_mid_steps))
    sigma = jnp.sqrt(var_long / dt_s)
    rv_ratio = 0.5 * _shrunk_log_ratio(var_short, var_long, cfg.shrink, VAR_EPS)
    rv_ratio_mid = 0.5 * _shrunk_log_ratio(var_mid, var_long, cfg.shrink, VAR_EPS)

    # KYLE'S LAMBDA: ridge slope of dm on q, in units of (long-window std of dm) per (rms of q)
    q2_mean_long = S(k_qq_l) / n(cfg.vol_long_steps)
    lam = S(k_dq) / (S(k_qq) + cfg.kyle_ridge * n(cfg.kyle_steps) * q2_mean_long + SIZE_EPS**2)
    kyle = lam * jnp.sqrt(q2_mean_long) / (jnp.sqrt(var_long) + VAR_EPS)

    # SPREAD Z-SCORE: integer sums, exact variance numerator n*S2 - S1^2
    sp = rolling_sum(jnp.stack([sc, sc * sc], axis=1), seg, cfg.spread_steps)  # [T, 2] int32
    n_sp = jnp.minimum(jnp.arange(T, dtype=jnp.int32) - seg + 1, cfg.spread_steps)
    var_num = n_sp * sp[:, 1] - sp[:, 0] * sp[:, 0]  # n^2 * variance, exact
    dev_num = n_sp * sc - sp[:, 0]  # n * (s - mean), exact
    n_sp_f = n_sp.astype(jnp.float32)
    spread_z = dev_num.astype(jnp.float32) / jnp.sqrt(
        var_num.astype(jnp.float32) + cfg.spread_var_floor_ticks2 * n_sp_f * n_sp_f)
    # microprice - mid = (s/2) * obi_l1 ticks, in half-spreads of the spread_steps mean (capped) spread
    micro_rel = obi_l1 * (spread.astype(jnp.float32) * n_sp_f / sp[:, 0].astype(jnp.float32))
    # spread against its vol_long_steps mean (capped spreads >= 1: no guard needed)
    sc_long = rolling_sum(sc[:, None], seg, cfg.vol_long_steps)[:, 0]  # [T] int32, exact
    n_l = n(cfg.vol_long_steps)
    spread_rel = jnp.log(sc.astype(jnp.float32) * n_l / sc_long.astype(jnp.float32))

    # TOUCH DEPTH VS ITS ROLLING MEAN
    touch_mean = S(k_td) / n(cfg.touch_steps)
    touch_rel = _shrunk_log_ratio(touch, touch_mean, cfg.shrink, SIZE_EPS)

    # MOMENTUM over momentum_steps (truncated at the segment start), in expected stds
    idx = jnp.arange(T, dtype=jnp.int32)
    past = jnp.maximum(idx - cfg.momentum_steps, seg)
    mom = (md.mid - md.mid[past]) / jnp.sqrt(var_long * cfg.momentum_steps + cfg.momentum_floor_ticks**2)

    cols = {
        "obi_l1": obi_l1,
        "obi_l5": obi_l5,
        "microprice_dev_rel": micro_rel,
        "ofi_short": ofi_short,
        "ofi_long": ofi_long,
        "trade_imb_short": imb_short,
        "trade_imb_long": imb_long,
        "trade_rate_rel_log": rate_rel,
        "kyle_lambda_std": kyle,
        "rv_ratio_mid_log": rv_ratio_mid,
        "rv_ratio_log": rv_ratio,
        "spread_rel_log": spread_rel,
        "spread_z": spread_z,
        "depth_slope_bid": slope_bid,
        "depth_slope_ask": slope_ask,
        "touch_depth_rel_log": touch_rel,
        "momentum_z": mom,
    }
    lo, hi = raw_clip_bounds()
    values = jnp.stack([cols[name].astype(jnp.float32) for name in MARKET_FEATURES], axis=1)
    values = jnp.clip(values, lo, hi)
    return MarketFeatures(values=values, sigma=sigma.astype(jnp.float32))


_compute = jax.jit(_features, static_argnames="cfg")
# sigma alone: the same rules, the rest left out by the compiler (a program about a tenth the size to compile)
_sigma = jax.jit(lambda md, cfg: _features(md, cfg).sigma, static_argnames="cfg")


def compute_market_features(md: MarketData, cfg: FeatureConfig | None = None) -> MarketFeatures:
    """Causal market features [T, F_M] and sigma [T] of a whole recording (jitted, vectorized)."""
    return _compute(md, cfg or FeatureConfig())


def market_sigma(md: MarketData, cfg: FeatureConfig | None = None) -> jax.Array:
    """The features' sigma [T] alone (what a closed-form quoter reads), without the features' cost."""
    return _sigma(md, cfg or FeatureConfig())


def fit_norm(values: jax.Array, start: int, stop: int, after_gap=None, cfg: FeatureConfig | None = None) -> FeatureNorm:
    """Per-feature mean and std over rows [start, stop) (the training split only).

    With the recording's ``after_gap`` [T] (and the features' ``cfg``), each feature is fitted only on
    the rows where its windows have filled (`spec.fit_mask`: a split too short for a window warns and
    that feature takes `spec.fixed_scale`); without, on every row of the split.
    """
    if not 0 <= start < stop <= values.shape[0]:
        raise ValueError(f"fit_norm: need 0 <= start < stop <= {values.shape[0]}, got [{start}, {stop})")
    if after_gap is not None:
        return fit_stats(np.asarray(values[start:stop]), fit_mask(np.asarray(after_gap), start, stop, cfg))
    rows = jnp.asarray(values[start:stop], jnp.float32)
    mean = rows.mean(axis=0)
    std = jnp.sqrt(((rows - mean) ** 2).mean(axis=0))  # two-pass: no cancellation
    return FeatureNorm(mean=mean, std=jnp.maximum(std, STD_FLOOR))


def normalize(values: jax.Array, norm: FeatureNorm, clip: float = Z_CLIP) -> jax.Array:
    """Clipped z-scores [..., F_M] of raw features with fitted statistics."""
    return jnp.clip((values - norm.mean) / norm.std, -clip, clip)
