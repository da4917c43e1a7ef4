"""Order flow of the synthetic market: the activity regime, Hawkes taker orders and their prints.

Used by `mmjax.market.synth.generate`; the model is described there and in docs/synth.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mmjax.market.params import SynthParams

def _ar1(rng, n: int, std: float, halflife: float) -> np.ndarray:
    """[n] stationary Gaussian AR(1) with the given std and half-life (in steps)."""
    phi = 0.5 ** (1.0 / max(halflife, 1e-9))
    eps = rng.standard_normal(n) * std * np.sqrt(1 - phi * phi)
    z = np.empty(n)
    z_prev = rng.standard_normal() * std
    # a loop over seconds (86,400 per day) is cheap; rows are handled vectorised
    for i in range(n):
        z_prev = phi * z_prev + eps[i]
        z[i] = z_prev
    return z


def _regime(rng, n_s: int, cfg: SynthParams) -> np.ndarray:
    """[n_s] per-second activity multiplier: log-OU with mean 1, times the optional regime shift."""
    m = np.exp(_ar1(rng, n_s, cfg.regime_std, cfg.regime_halflife_s) - 0.5 * cfg.regime_std**2)
    # the shift scales what is drawn, never the draws themselves: factor 1 gives the same market bit for bit
    m[int(cfg.regime_shift_at_frac * (n_s - 1)):] *= cfg.regime_shift_factor
    return m


def _hawkes_orders(rng, duration_s: float, m_sec: np.ndarray, p_buy_sec: np.ndarray, cfg: SynthParams):
    """Taker orders by the Hawkes branching construction -> (times s [K], sides [K]), sorted."""
    mu = cfg.orders_per_s * (1 - cfg.branching_ratio)
    n_imm = rng.poisson(mu * m_sec)  # [n_s] immigrants per second
    t = np.repeat(np.arange(len(m_sec), dtype=np.float64), n_imm) + rng.random(n_imm.sum())
    # immigrants lean to the side of the slow flow bias (informed/momentum flow)
    side = np.where(rng.random(len(t)) < np.repeat(p_buy_sec, n_imm), 1, -1).astype(np.int8)
    all_t, all_side = [t], [side]
    while len(t):
        kids = rng.poisson(cfg.branching_ratio, len(t))
        t = np.repeat(t, kids) + rng.exponential(cfg.hawkes_decay_s, kids.sum())
        parent_side = np.repeat(side, kids)
        keep = rng.random(len(t)) < cfg.sign_persistence
        side = np.where(keep, parent_side, np.where(rng.random(len(t)) < 0.5, 1, -1)).astype(np.int8)
        inside = t < duration_s
        t, side = t[inside], side[inside]
        all_t.append(t)
        all_side.append(side)
    t, side = np.concatenate(all_t), np.concatenate(all_side)
    order = np.argsort(t, kind="stable")
    return t[order], side[order]



def _walk(rng, o_row, o_side, o_vol, px, sz, side_val, cfg):
    """Orders of one side walk the book of the row before them -> prints (row, price ticks, size)."""
    m = o_side == side_val
    row, vol = o_row[m], o_vol[m]
    if len(row) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
    order_idx = np.flatnonzero(m)
    L = px.shape[1]
    cum_depth = np.cumsum(sz[row], 1)  # [K, L] depth of the row each order walks
    # orders in the same interval walk one after another: cumulative volume within the row
    c_end = np.cumsum(vol)
    first = np.r_[True, row[1:] != row[:-1]]
    base = np.maximum.accumulate(np.where(first, c_end - vol, 0.0))
    c_end = c_end - base
    c_start = c_end - vol
    total = cum_depth[:, -1]
    c_end = np.minimum(c_end, total)  # the visible book bounds what one interval can print
    ok = c_start < c_end
    row, c_start, c_end, cum_depth, order_idx = row[ok], c_start[ok], c_end[ok], cum_depth[ok], order_idx[ok]
    k0 = (cum_depth <= c_start[:, None]).sum(1)  # first level with depth beyond the start
    k1 = np.minimum((cum_depth < c_end[:, None]).sum(1), L - 1)
    n = k1 - k0 + 1
    rep = np.repeat(np.arange(len(row)), n)
    lvl = k0[rep] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    lo = np.where(lvl > 0, cum_depth[rep, np.maximum(lvl - 1, 0)], 0.0)
    fill = np.minimum(c_end[rep], cum_depth[rep, lvl]) - np.maximum(c_start[rep], lo)
    keep = fill > 1e-12
    rep, lvl, fill = rep[keep], lvl[keep], fill[keep]
    # one level's fill is several makers' orders: split into prints
    n_prints = 1 + rng.poisson(cfg.prints_per_level, len(fill))
    pr = np.repeat(np.arange(len(fill)), n_prints)
    w = rng.exponential(1.0, len(pr))
    w_sum = np.bincount(pr, weights=w)
    p_sz = fill[pr] * w / w_sum[pr]
    p_sz = np.round(p_sz, 8)
    good = p_sz > 0
    pr = pr[good]
    return row[rep][pr], px[row[rep][pr], lvl[pr]], p_sz[good], order_idx[rep][pr]
