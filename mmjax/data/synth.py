"""The built-in synthetic BTC market: a calibrated order-book generator that writes a real recording.

The model (details and calibration in docs/synth.md), on the 100 ms grid:

* A slow volatility regime ``m_t`` (log-OU, mean 1) scales both diffusion and trade arrival.
* Taker orders arrive as a Hawkes process (exact branching construction, exponential kernel):
  children inherit their parent's side with probability ``sign_persistence``; sizes are lognormal
  (heavy right tail). Each order's fill at a price level is split into several maker prints.
* A latent fair price ``F`` diffuses with variance proportional to ``m_t`` and takes a permanent
  impact ``impact_ticks_per_sqrt_btc * side * sqrt(size)`` from every taker order.
* The book is quoted around a center that only moves when ``F`` leaves a band of
  ``band_bps`` (the book re-quotes), or when takers exhaust the touch (a sweep: the next row's touch
  is the level where the walk stopped, with the remainder). Touch sizes lean with ``F - center``
  (queue imbalance predicts the move) and deplete with the trades that hit them.
* Every taker order walks the book of the row before it: prints at the touch first, then deeper.

Sequential parts (segment boundaries) loop over price events (about one a second), not over rows;
everything within a segment is vectorised.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from mmjax import schema

DEFAULT_START = "2026-01-05T00:00:00"
_WINDOW_ROWS = 128  # rows scanned per vectorised look-ahead inside the event loop


@dataclass
class SynthConfig:
    """Generate the built-in synthetic market (calibrated to Binance spot BTCUSDT, tick $0.01)."""

    out: str = field(metadata={"help": "output recording directory (book/ and trades/ are written below it)"})
    hours: float = field(default=1.0, metadata={"help": "length of the recording, hours"})
    seed: int = field(default=0, metadata={"help": "random seed; fixes every draw"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side"})
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "book snapshot grid, milliseconds"})
    product: str = field(default="BTC-USD", metadata={"help": "product name written to the partition path"})
    start: str = field(default=DEFAULT_START, metadata={"help": "UTC start time, ISO 8601"})
    tick_size: float = field(default=0.01, metadata={"help": "price tick, USD"})
    start_price_usd: float = field(default=62_000.0, metadata={"help": "initial mid price, USD"})
    sigma_bps_per_sqrt_s: float = field(default=0.8, metadata={"help": "diffusive vol of the fair price, bps per sqrt(second), before impact"})
    regime_std: float = field(default=0.45, metadata={"help": "stationary std of the log volatility/activity regime"})
    regime_halflife_s: float = field(default=300.0, metadata={"help": "half-life of the volatility/activity regime, seconds"})
    regime_shift_at_frac: float = field(default=1.0, metadata={
        "help": "fraction of the recording after which the regime multiplier is scaled by regime_shift_factor (1 = never)"})
    regime_shift_factor: float = field(default=1.0, metadata={
        "help": "persistent regime change: diffusion variance and taker-order rate times this from regime_shift_at_frac on"})
    band_bps: float = field(default=0.6, metadata={"help": "the book re-quotes when the fair price leaves center +- this, bps"})
    orders_per_s: float = field(default=8.0, metadata={"help": "mean taker-order rate (Hawkes, incl. children), 1/s"})
    branching_ratio: float = field(default=0.7, metadata={"help": "Hawkes branching ratio (mean children per order), in [0, 1)"})
    hawkes_decay_s: float = field(default=0.3, metadata={"help": "mean delay of a child order after its parent, seconds"})
    flow_bias_std: float = field(default=1.0, metadata={"help": "std of the slow buy/sell bias of new taker orders (logit scale)"})
    flow_bias_halflife_s: float = field(default=5.0, metadata={"help": "half-life of that bias, seconds"})
    sign_persistence: float = field(default=0.9, metadata={"help": "probability a child order has its parent's side"})
    order_size_median_btc: float = field(default=0.0032, metadata={"help": "median taker-order size, BTC"})
    order_size_log_std: float = field(default=2.5, metadata={"help": "log-std of taker-order size (lognormal tail)"})
    order_size_max_btc: float = field(default=25.0, metadata={"help": "cap on one taker order, BTC"})
    prints_per_level: float = field(default=2.0, metadata={"help": "mean extra maker prints per level an order fills at"})
    impact_ticks_per_sqrt_btc: float = field(default=320.0, metadata={"help": "permanent impact of one order on the fair price, ticks per sqrt(BTC)"})
    impact_delayed_frac: float = field(default=0.8, metadata={"help": "share of an order's impact the fair price absorbs with a delay, in [0, 1]"})
    impact_delay_s: float = field(default=0.3, metadata={"help": "time constant of the delayed impact, seconds"})
    touch_size_median_btc: float = field(default=1.5, metadata={"help": "median touch size when a level becomes the touch, BTC"})
    touch_size_log_std: float = field(default=0.7, metadata={"help": "log-std of the touch size"})
    imbalance_lean: float = field(default=0.8, metadata={"help": "touch sizes scale by exp(+-lean * (F - center) / band)"})
    depth_size_median_btc: float = field(default=0.05, metadata={"help": "median size of levels 1.., BTC"})
    depth_size_log_std: float = field(default=1.5, metadata={"help": "log-std of the sizes of levels 1.."})
    gap_one_tick_prob: float = field(default=0.3, metadata={"help": "probability that a deeper level sits 1 tick from the previous one"})
    gap_median_ticks: float = field(default=25.0, metadata={"help": "median gap between adjacent levels when not 1 tick, ticks"})
    gap_log_std: float = field(default=1.2, metadata={"help": "log-std of that gap"})
    wide_prob: float = field(default=0.03, metadata={"help": "probability that a price event leaves the spread wide for a while"})
    wide_mean_rows: float = field(default=3.0, metadata={"help": "mean duration of a wide-spread episode, rows"})
    wide_mean_ticks: float = field(default=15.0, metadata={"help": "mean extra spread in an episode, ticks"})
    report: bool = field(default=False, metadata={"help": "print the stylized-facts table of the written recording"})


@dataclass
class SynthMarket:
    """Generated arrays: ``T`` rows, ``L`` levels, ``N`` trade prints (prices in USD)."""

    ts_recv_ns: np.ndarray  # [T] int64
    bid_px: np.ndarray  # [T, L] float64
    bid_sz: np.ndarray  # [T, L] float64
    ask_px: np.ndarray  # [T, L]
    ask_sz: np.ndarray  # [T, L]
    trade_ts_recv_ns: np.ndarray  # [N] int64
    trade_px: np.ndarray  # [N] float64
    trade_sz: np.ndarray  # [N] float64
    trade_side: np.ndarray  # [N] int8 taker side


def _validate(cfg: SynthConfig) -> None:
    checks = [
        (cfg.hours > 0, "hours must be > 0"),
        (cfg.levels >= 2, "levels must be >= 2"),
        (cfg.grid_ms > 0, "grid_ms must be > 0"),
        (0 <= cfg.branching_ratio < 1, "branching_ratio must be in [0, 1)"),
        (0 <= cfg.sign_persistence <= 1, "sign_persistence must be in [0, 1]"),
        (cfg.tick_size > 0 and cfg.start_price_usd > 100 * cfg.tick_size, "tick_size/start_price_usd out of range"),
        (cfg.band_bps > 0 and cfg.orders_per_s >= 0, "band_bps must be > 0 and orders_per_s >= 0"),
        (0 <= cfg.wide_prob <= 1 and 0 <= cfg.gap_one_tick_prob <= 1, "probabilities must be in [0, 1]"),
        (0 <= cfg.regime_shift_at_frac <= 1 and cfg.regime_shift_factor > 0,
         "regime_shift_at_frac must be in [0, 1] and regime_shift_factor > 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(f"SynthConfig: {msg}")


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


def _regime(rng, n_s: int, cfg: SynthConfig) -> np.ndarray:
    """[n_s] per-second activity multiplier: log-OU with mean 1, times the optional regime shift."""
    m = np.exp(_ar1(rng, n_s, cfg.regime_std, cfg.regime_halflife_s) - 0.5 * cfg.regime_std**2)
    # the shift scales what is drawn, never the draws themselves: factor 1 gives the same market bit for bit
    m[int(cfg.regime_shift_at_frac * (n_s - 1)):] *= cfg.regime_shift_factor
    return m


def _hawkes_orders(rng, duration_s: float, m_sec: np.ndarray, p_buy_sec: np.ndarray, cfg: SynthConfig):
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


class _Profiles:
    """Bulk-drawn fresh level profiles (gaps in ticks, sizes in BTC), handed out in order."""

    def __init__(self, rng, cfg: SynthConfig, n: int):
        self.rng, self.cfg, self.n_deep = rng, cfg, cfg.levels - 1
        self.i = 0
        self._draw(n)

    def _draw(self, n: int) -> None:
        c, rng, d = self.cfg, self.rng, self.n_deep
        one = rng.random((n, d)) < c.gap_one_tick_prob
        gap = 1 + np.rint(c.gap_median_ticks * np.exp(c.gap_log_std * rng.standard_normal((n, d))))
        self.gap = np.where(one, 1.0, gap)  # [n, L-1] ticks between level j-1 and j
        self.sz = c.depth_size_median_btc * np.exp(c.depth_size_log_std * rng.standard_normal((n, d)))
        self.touch = c.touch_size_median_btc * np.exp(c.touch_size_log_std * rng.standard_normal(n))
        self.u = rng.random((n, 4))  # wide-spread draws
        self.i = 0

    def take(self) -> int:
        if self.i >= len(self.touch):
            self._draw(len(self.touch))
        self.i += 1
        return self.i - 1


def _run_segments(F, F_lean, buy_vol, sell_vol, band_ticks, cfg, rng):
    """The event loop: split rows into constant-quote segments; returns per-segment arrays."""
    T, d = len(F), cfg.levels - 1
    prof = _Profiles(rng, cfg, max(1024, T // 4))
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_vol)])  # cum_buy[t] = buy volume in intervals < t
    cum_sell = np.concatenate([[0.0], np.cumsum(sell_vol)])
    lean = cfg.imbalance_lean
    p_wide, wide_rows, wide_ticks = cfg.wide_prob, cfg.wide_mean_rows, cfg.wide_mean_ticks
    segs = []  # (start, center, offset, Qb, Qa, bid_gap, bid_sz, ask_gap, ask_sz, wide_side, wide_ticks, wide_rows)

    def fresh(j):
        return prof.gap[j].copy(), prof.sz[j].copy()

    s, center, off = 0, np.floor(F[0]) + 0.5, 0.0
    j = prof.take()
    bg, bs = fresh(j)
    k2 = prof.take()
    ag, az = fresh(k2)
    Qb, Qa = prof.touch[j], prof.touch[k2]
    w_side, w_ticks, w_rows = 0, 0, 0
    while s < T:
        segs.append((s, center, off, Qb, Qa, bg, bs, ag, az, w_side, w_ticks, w_rows))
        end = T
        swept = 0
        lo = s
        while lo < T:
            hi = min(lo + _WINDOW_ROWS, T)
            x = (F[lo:hi] + off - center) / band_ticks  # [W] fair price in band units
            exit_rows = np.flatnonzero((np.abs(x) >= 1) & (np.arange(lo, hi) > s))
            xc = np.clip((F_lean[lo:hi] + off - center) / band_ticks, -1, 1)
            q_ask = np.maximum(Qa * np.exp(-lean * xc) - (cum_buy[lo:hi] - cum_buy[s]), 1e-8)
            q_bid = np.maximum(Qb * np.exp(lean * xc) - (cum_sell[lo:hi] - cum_sell[s]), 1e-8)
            sw_a = np.flatnonzero(buy_vol[lo:hi] >= q_ask)
            sw_b = np.flatnonzero(sell_vol[lo:hi] >= q_bid)
            cands = []
            if len(exit_rows):
                cands.append((lo + exit_rows[0], 0, 0.0))
            if len(sw_a):
                cands.append((lo + sw_a[0] + 1, 1, buy_vol[lo + sw_a[0]] - q_ask[sw_a[0]]))
            if len(sw_b):
                cands.append((lo + sw_b[0] + 1, -1, sell_vol[lo + sw_b[0]] - q_bid[sw_b[0]]))
            if cands:
                end, swept, rest = min(cands, key=lambda c: (c[0], c[1] == 0))
                break
            lo = hi
        if end >= T:
            break
        t_prev = end - 1  # the row whose book the sweep walked
        in_wide = t_prev - s < w_rows
        if swept:
            # walk the swept side's deeper levels of row t_prev with the volume left after the touch
            gaps, sizes = (ag, az) if swept > 0 else (bg, bs)
            cum = np.cumsum(sizes)
            k = int(np.searchsorted(cum, rest, side="right"))  # deep level where the walk stops
            shift = w_ticks if in_wide and w_side == swept else 0
            touch_old = center + 0.5 * swept + swept * shift
            if k < d:
                new_touch = touch_old + swept * gaps[: k + 1].sum()
                new_q = cum[k] - rest
                j = prof.take()
                g_new, s_new = fresh(j)
                g_keep = np.concatenate([gaps[k + 1 :], g_new[: k + 1]])
                s_keep = np.concatenate([sizes[k + 1 :], s_new[: k + 1]])
            else:  # the whole visible side was taken: the next quote appears beyond it
                j = prof.take()
                g_keep, s_keep = fresh(j)
                new_touch = touch_old + swept * (gaps.sum() + g_keep[0])
                new_q = prof.touch[j]
            center = new_touch - 0.5 * swept
            j2 = prof.take()
            og, os_ = fresh(j2)
            if swept > 0:
                ag, az, Qa, bg, bs, Qb = g_keep, s_keep, new_q, og, os_, prof.touch[j2]
            else:
                bg, bs, Qb, ag, az, Qa = g_keep, s_keep, new_q, og, os_, prof.touch[j2]
            off = center - F[end]  # a sweep's impact is permanent: the fair price jumps with it
            u = prof.u[j2]
        else:
            new_center = np.floor(F[end] + off) + 0.5
            center = new_center
            j, k2 = prof.take(), prof.take()
            bg, bs = fresh(j)
            ag, az = fresh(k2)
            Qb, Qa = prof.touch[j], prof.touch[k2]
            u = prof.u[k2]
        if u[0] < p_wide:
            w_side = 1 if u[1] < 0.5 else -1  # +1: the ask stays away, -1: the bid does
            w_ticks = int(1 + np.floor(-np.log(max(u[2], 1e-12)) * wide_ticks))
            w_rows = int(1 + np.floor(-np.log(max(u[3], 1e-12)) * wide_rows))
        else:
            w_side, w_ticks, w_rows = 0, 0, 0
        s = end
    return segs


def _assemble_book(segs, F_lean, cum_buy, cum_sell, band_ticks, cfg, T):
    """Per-segment quotes -> [T, L] prices (ticks from anchor) and sizes."""
    starts = np.array([g[0] for g in segs])
    seg_id = np.repeat(np.arange(len(segs)), np.diff(np.append(starts, T)))  # [T]
    row_in_seg = np.arange(T) - starts[seg_id]
    center = np.array([g[1] for g in segs])[seg_id]
    off = np.array([g[2] for g in segs])[seg_id]
    Qb = np.array([g[3] for g in segs])[seg_id]
    Qa = np.array([g[4] for g in segs])[seg_id]
    bid_gap = np.stack([g[5] for g in segs])[seg_id]  # [T, L-1]
    bid_sz = np.stack([g[6] for g in segs])[seg_id]
    ask_gap = np.stack([g[7] for g in segs])[seg_id]
    ask_sz = np.stack([g[8] for g in segs])[seg_id]
    w_side = np.array([g[9] for g in segs])[seg_id]
    w_ticks = np.array([g[10] for g in segs])[seg_id]
    in_wide = row_in_seg < np.array([g[11] for g in segs])[seg_id]
    x = np.clip((F_lean + off - center) / band_ticks, -1, 1)
    s0 = starts[seg_id]
    q_ask = np.maximum(Qa * np.exp(-cfg.imbalance_lean * x) - (cum_buy[:T] - cum_buy[s0]), 1e-8)
    q_bid = np.maximum(Qb * np.exp(cfg.imbalance_lean * x) - (cum_sell[:T] - cum_sell[s0]), 1e-8)
    ask0 = center + 0.5 + np.where(in_wide & (w_side > 0), w_ticks, 0)
    bid0 = center - 0.5 - np.where(in_wide & (w_side < 0), w_ticks, 0)
    ask_px = ask0[:, None] + np.concatenate([np.zeros((T, 1)), np.cumsum(ask_gap, 1)], 1)
    bid_px = bid0[:, None] - np.concatenate([np.zeros((T, 1)), np.cumsum(bid_gap, 1)], 1)
    ask_sz = np.concatenate([q_ask[:, None], ask_sz], 1)
    bid_sz = np.concatenate([q_bid[:, None], bid_sz], 1)
    return bid_px, bid_sz, ask_px, ask_sz


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


def generate(cfg: SynthConfig) -> SynthMarket:
    """Generate the synthetic market as arrays (deterministic given ``cfg``)."""
    _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    dt_s = cfg.grid_ms / 1000.0
    T = int(round(cfg.hours * 3600 / dt_s))
    if T < 10:
        raise ValueError(f"SynthConfig: {cfg.hours} h gives {T} rows; need at least 10")
    duration_s = T * dt_s
    n_sec = int(np.ceil(duration_s)) + 1
    ticks_per_bp = cfg.start_price_usd / cfg.tick_size * 1e-4
    band_ticks = cfg.band_bps * ticks_per_bp

    # REGIME AND TAKER ORDERS
    m_sec = _regime(rng, n_sec, cfg)  # [n_sec]
    p_buy_sec = 1 / (1 + np.exp(-_ar1(rng, n_sec, cfg.flow_bias_std, cfg.flow_bias_halflife_s)))
    o_t, o_side = _hawkes_orders(rng, duration_s, m_sec, p_buy_sec, cfg)  # [K]
    o_vol = np.minimum(cfg.order_size_median_btc * np.exp(cfg.order_size_log_std * rng.standard_normal(len(o_t))),
                       cfg.order_size_max_btc)
    o_vol = np.maximum(np.round(o_vol, 5), 1e-5)
    grid_ns = cfg.grid_ms * 1_000_000
    o_ns = np.rint(o_t * 1e9).astype(np.int64)
    o_row = (o_ns - 1) // grid_ns  # order lies in (row, row + 1]
    ok = (o_ns > 0) & (o_row < T - 1)
    o_ns, o_side, o_vol, o_row = o_ns[ok], o_side[ok], o_vol[ok], o_row[ok]
    buy_vol = np.bincount(o_row[o_side > 0], weights=o_vol[o_side > 0], minlength=T)  # [T] interval (t, t+1]
    sell_vol = np.bincount(o_row[o_side < 0], weights=o_vol[o_side < 0], minlength=T)

    # FAIR PRICE: diffusion scaled by the regime + permanent impact of every order (felt from t+1).
    # Part of the impact arrives with a delay (a propagator): flow predicts the next moves, and
    # the quotes lean towards the full impact already (F_lean), so queue imbalance predicts too.
    m_row = m_sec[(np.arange(T) * dt_s).astype(np.int64)]
    sigma_row = cfg.sigma_bps_per_sqrt_s * ticks_per_bp * np.sqrt(dt_s * m_row)
    impact = np.bincount(o_row, weights=o_side * np.sqrt(o_vol), minlength=T) * cfg.impact_ticks_per_sqrt_btc
    dF = sigma_row * rng.standard_normal(T)
    dF[0] = 0.0
    dF[1:] += impact[:-1]
    F_lean = np.cumsum(dF) + 0.5  # [T] ticks from the anchor; row 0 centred in a tick
    decay = np.exp(-dt_s / max(cfg.impact_delay_s, 1e-9))
    kernel = decay ** np.arange(max(1, int(np.ceil(8 * cfg.impact_delay_s / dt_s))))  # [J]
    pending = np.zeros(T)
    pending[1:] = np.convolve(impact[:-1], kernel)[: T - 1]  # impact of intervals < t not yet absorbed
    F = F_lean - cfg.impact_delayed_frac * pending  # [T]

    # QUOTES: segments between price events, then [T, L] arrays
    segs = _run_segments(F, F_lean, buy_vol, sell_vol, band_ticks, cfg, rng)
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_vol)])
    cum_sell = np.concatenate([[0.0], np.cumsum(sell_vol)])
    bid_t, bid_sz, ask_t, ask_sz = _assemble_book(segs, F_lean, cum_buy, cum_sell, band_ticks, cfg, T)

    # TRADES: orders walk the book of the row before them
    b_row, b_px, b_sz, b_ord = _walk(rng, o_row, o_side, o_vol, ask_t, ask_sz, 1, cfg)
    s_row, s_px, s_sz, s_ord = _walk(rng, o_row, o_side, o_vol, bid_t, bid_sz, -1, cfg)
    p_ord = np.concatenate([b_ord, s_ord])
    p_px = np.concatenate([b_px, s_px])
    p_sz = np.concatenate([b_sz, s_sz])
    p_side = np.concatenate([np.ones(len(b_px), np.int8), -np.ones(len(s_px), np.int8)])
    order = np.lexsort((np.arange(len(p_ord)), p_ord))  # by order, prints in walk order
    p_ord, p_px, p_sz, p_side = p_ord[order], p_px[order], p_sz[order], p_side[order]

    anchor_ticks = np.rint(cfg.start_price_usd / cfg.tick_size)
    to_usd = lambda t: np.round((t + anchor_ticks) * cfg.tick_size, 2)  # noqa: E731
    start_ns = int(_dt.datetime.fromisoformat(cfg.start).replace(tzinfo=_dt.UTC).timestamp() * 1e9)
    if to_usd(np.nanmin(bid_t[:, -1])) <= 0:
        raise ValueError("SynthConfig: the price path went below zero; raise start_price_usd or lower the vol")
    return SynthMarket(
        ts_recv_ns=start_ns + np.arange(T, dtype=np.int64) * grid_ns,
        bid_px=to_usd(bid_t), bid_sz=bid_sz, ask_px=to_usd(ask_t), ask_sz=ask_sz,
        trade_ts_recv_ns=start_ns + o_ns[p_ord], trade_px=to_usd(p_px), trade_sz=p_sz, trade_side=p_side,
    )


def to_tables(mk: SynthMarket, seed: int) -> tuple[pa.Table, pa.Table]:
    """Arrays -> (book table, trades table) in the recording schema."""
    rng = np.random.default_rng([seed, 1])
    T = len(mk.ts_recv_ns)
    # the exchange stamps the last message before the snapshot: 0-100 ms before it, minus ~20 ms latency
    ts_ex = mk.ts_recv_ns - 20_000_000 - rng.integers(0, 80_000_000, T)
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    book = schema.book_table_from_arrays(ts_ex, mk.ts_recv_ns, after_gap, mk.bid_px, mk.bid_sz, mk.ask_px, mk.ask_sz)
    n = len(mk.trade_px)
    t_ex = mk.trade_ts_recv_ns - 20_000_000 - rng.integers(0, 5_000_000, n)
    trades = pa.table({
        "ts_exchange_ns": pa.array(np.maximum.accumulate(t_ex) if n else t_ex, pa.int64()),
        "ts_recv_ns": pa.array(mk.trade_ts_recv_ns, pa.int64()),
        "trade_id": pa.array(np.char.mod("%d", np.arange(1, n + 1)).astype(object) if n else [], pa.string()),
        "price": pa.array(mk.trade_px, pa.float64()),
        "size": pa.array(mk.trade_sz, pa.float64()),
        "taker_side": pa.array(mk.trade_side, pa.int8()),
    }).cast(schema.TRADES_SCHEMA)
    return book, trades


def meta_for(cfg: SynthConfig) -> schema.RecordingMeta:
    """Recording metadata of a synthetic market."""
    return schema.RecordingMeta(product=cfg.product, tick_size=cfg.tick_size, size_unit="BTC",
                                grid_ms=cfg.grid_ms, levels=cfg.levels, source=f"mmjax.synth seed={cfg.seed}")


def run(cfg: SynthConfig) -> int:
    """Generate, write the recording under ``cfg.out`` and print a summary."""
    t0 = time.perf_counter()
    mk = generate(cfg)
    t_gen = time.perf_counter() - t0
    book, trades = to_tables(mk, cfg.seed)
    meta = meta_for(cfg)
    part = f"synth-{cfg.seed}"
    paths = schema.write_dataset(book, cfg.out, schema.BOOK_DIR, meta, part)
    paths += schema.write_dataset(trades, cfg.out, schema.TRADES_DIR, meta, part)
    spread = np.rint((mk.ask_px[:, 0] - mk.bid_px[:, 0]) / cfg.tick_size)
    mid = (mk.ask_px[:, 0] + mk.bid_px[:, 0]) / 2
    print(f"synth: {len(mk.ts_recv_ns):,} book rows x {cfg.levels} levels, {len(mk.trade_px):,} trades, "
          f"{cfg.hours:g} h, seed {cfg.seed}")
    print(f"  mid ${mid[0]:,.2f} -> ${mid[-1]:,.2f} (range ${mid.min():,.2f}..${mid.max():,.2f}); "
          f"spread 1 tick {np.mean(spread == 1):.1%} of rows")
    print(f"  generated in {t_gen:.1f} s, written in {time.perf_counter() - t0 - t_gen:.1f} s: "
          f"{len(paths)} files under {Path(cfg.out)}")
    if cfg.report:
        from mmjax.data import loader, stylized

        facts = stylized.compute(loader.read_recording(cfg.out, cfg.product))
        print(stylized.format_table({"synth": facts}))
    return 0
