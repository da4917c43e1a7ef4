"""Streaming twin of `mmjax.features.batch`: the same market features, one event at a time (NumPy, no jax).

Feed, for each grid row t in time order: the trades of (t-1, t] with `on_trade`, then the book row
with `on_book`, which returns the features of row t. Prices are the recorded float prices ($, NaN
on empty levels, as in `RawRecording`); they become ticks from ``px_anchor_ticks`` by the loader's
rules (`mmjax.data.ticks`), or come in ticks already through `on_book_ticks`. Window sums are float64 running sums over one ring buffer of per-row series;
a sum whose window holds only zeros is exactly 0 (tracked by the last nonzero row of each series),
as the batch twin's doubling sums are. Written for speed: plain floats, C-level map/accumulate.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import accumulate, repeat
from operator import mul, sub

import numpy as np

from mmjax.data.ticks import RowTicks
from mmjax.features.spec import (
    SIZE_EPS,
    STD_FLOOR,
    VAR_EPS,
    Z_CLIP,
    FeatureConfig,
    FeatureNorm,
    raw_clip_bounds,
)

# Per-row series that feed the windows, in the order of the row tuple built in `on_book`.
_SERIES = ("e", "touch", "q", "v", "n", "dq", "qq", "h2", "sc", "sc2", "e2")
# The (window, series) sums, in the order `on_book` computes them (hand-unrolled there: keep in step);
# windows come from FeatureConfig.
_PAIRS = (
    ("ofi_short_steps", "e"), ("ofi_long_steps", "e"), ("vol_long_steps", "e2"),
    ("trade_short_steps", "q"), ("trade_short_steps", "v"), ("trade_long_steps", "q"), ("trade_long_steps", "v"),
    ("intensity_steps", "n"), ("kyle_steps", "dq"), ("kyle_steps", "qq"), ("vol_long_steps", "qq"),
    ("vol_long_steps", "h2"), ("vol_short_steps", "h2"), ("touch_steps", "touch"),
    ("spread_steps", "sc"), ("spread_steps", "sc2"),
    ("vol_long_steps", "n"), ("vol_mid_steps", "h2"), ("vol_long_steps", "sc"),
)


def _depth_shape(dist: list) -> tuple:
    """What the depth slope needs of the levels' distances from the touch alone: (dist, n, sum, x_last, denominator).

    A side's prices often repeat from row to row: `on_book_ticks` reuses this while they do.
    """
    n = len(dist)
    sd = sum(dist)
    x_last = max(dist[-1], 1.0)
    den = (n * sum(map(mul, dist, dist)) - sd * sd) / (x_last * x_last)
    return dist, n, sd, x_last, den + n * VAR_EPS


def _depth_slope(shape: tuple, sizes: list) -> float:
    """OLS slope of cumulative depth on distance from the touch, both scaled by their last value.

    Closed form from raw sums (float64, n <= levels): (n*Sdc - Sd*Sc) / (n*Sdd - Sd^2) times
    x_last / y_last; the batch twin's centered float32 formula up to rounding. ``shape``: `_depth_shape`.
    """
    dist, n, sd, x_last, den = shape
    if n < 2:
        return 0.0
    cum = list(accumulate(sizes))
    num = (n * sum(map(mul, dist, cum)) - sd * sum(cum)) / (x_last * (cum[-1] + SIZE_EPS))
    return num / den


class StreamingFeatures:
    """Incremental market features; matches `compute_market_features` row by row (float32, <= 1e-5)."""

    def __init__(self, cfg: FeatureConfig, tick_size: float, px_anchor_ticks: int, levels: int,
                 grid_ms: int = 100):
        if not tick_size > 0 or levels < 1 or grid_ms <= 0:
            raise ValueError(f"StreamingFeatures: bad tick_size={tick_size}, levels={levels}, grid_ms={grid_ms}")
        self.cfg = cfg
        self.tick_size = float(tick_size)
        self.anchor = int(px_anchor_ticks)
        self.levels = int(levels)
        self.dt_s = grid_ms / 1000.0
        lo, hi = raw_clip_bounds()
        self._lo, self._hi = lo, hi  # float32
        self._bounds: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # `_tail_bounds`
        self._n5 = min(cfg.obi_levels, self.levels)
        self._ring_size = max(getattr(cfg, w) for w, _ in _PAIRS)  # longest window, rows
        self._rows = RowTicks(self.tick_size, self.anchor, self.levels)  # the loader's rules (mmjax.data.ticks)
        c = cfg
        self._full_counts = (c.ofi_short_steps, c.ofi_long_steps, c.intensity_steps, c.vol_long_steps,
                             c.vol_short_steps, c.kyle_steps, c.spread_steps, c.touch_steps, c.vol_mid_steps)
        self._consts = (c.shrink, c.kyle_ridge, 1.0 / self.dt_s, c.momentum_steps,
                        c.momentum_floor_ticks**2, c.spread_var_floor_ticks2, float(c.spread_clip_ticks))
        self._zero_row = (0.0,) * len(_SERIES)
        # windows of the hand-unrolled sums in `on_book`, in _PAIRS order of the window names
        self._win_steps = (c.ofi_short_steps, c.ofi_long_steps, c.trade_short_steps, c.trade_long_steps,
                           c.intensity_steps, c.kyle_steps, c.vol_long_steps, c.vol_short_steps,
                           c.touch_steps, c.spread_steps, c.vol_mid_steps)
        self.rows = 0
        self.sigma_ticks_per_sqrt_s = 0.0
        self._buy = self._sell = 0.0
        self._n_trades = 0
        self._start_segment()
        self._prev = None  # (bid tick, ask tick, bid size, ask size, mid) of the previous row in the segment
        self._bt = self._at = None  # the last row's level ticks per side, and their `_depth_shape`

    def _start_segment(self) -> None:
        self._ring = [self._zero_row] * self._ring_size  # rows of the segment, newest at _pos - 1
        self._pos = 0
        self._k = 0  # rows of the segment seen so far
        self._sums = [0.0] * len(_PAIRS)
        self._last_nz = [-(10**12)] * (len(_SERIES) - 1)  # segment row of each series' last nonzero value (e2 uses e's)
        self._mids = deque(maxlen=self.cfg.momentum_steps + 1)

    def reset(self) -> None:
        """Forget everything: the next book row starts a new segment."""
        self._prev = None
        self._buy = self._sell = 0.0
        self._n_trades = 0

    def on_trade(self, price: float, size: float, taker_side: int) -> None:
        """One trade of the interval ending at the next book row (taker_side +1 buy, -1 sell).

        ``price`` is part of the event but no feature reads it (a VWAP feature would have to mimic
        the loader's folding of deep trade prices into its slots).
        """
        if not (size > 0 and math.isfinite(size)):
            raise ValueError(f"on_trade: size must be finite and > 0, got {size}")
        if taker_side == 1:
            self._buy += size
        elif taker_side == -1:
            self._sell += size
        else:
            raise ValueError(f"on_trade: taker_side must be +1 or -1, got {taker_side}")
        self._n_trades += 1

    def on_book(self, bid_px, bid_sz, ask_px, ask_sz, after_gap: bool) -> np.ndarray:
        """Book row t (prices $, NaN on empty levels; sizes 0 there) -> features [F_M] float32."""
        try:
            row = self._rows.book(bid_px, bid_sz, ask_px, ask_sz)
        except ValueError as exc:
            raise ValueError(f"on_book: {exc}") from None
        return self.on_book_ticks(*row, after_gap)

    def on_book_ticks(self, bt: list, bsz: list, at: list, asz: list, after_gap: bool, tail: tuple = ()) -> np.ndarray:
        """Book row t already in ticks -> features [F_M] float32, then ``tail`` (float32, not clipped) when given.

        ``bt``/``at``: [L] int ticks from the anchor, empty levels filled; ``bsz``/``asz``: [L] sizes, 0 on
        empty levels: what `mmjax.data.ticks.RowTicks.book` returns (the live trader converts a row once).
        ``tail``: values appended in the same array (the live trader's agent features: one array a row).
        """
        bp, ap = bt[0], at[0]
        b0, a0 = bsz[0], asz[0]
        mid = 0.5 * (bp + ap)
        spread = ap - bp

        if after_gap or self._prev is None:
            self._start_segment()
            e = q = v = n_tr = dm = 0.0
        else:
            pbp, pap, pb0, pa0, pmid = self._prev
            e = ((b0 if bp >= pbp else 0.0) - (pb0 if bp <= pbp else 0.0)
                 - (a0 if ap <= pap else 0.0) + (pa0 if ap >= pap else 0.0))
            q = self._buy - self._sell
            v = self._buy + self._sell
            n_tr = float(self._n_trades)
            dm = mid - pmid
        # trades of an interval that ends on a gap row are dropped, as the loader drops them
        self._buy = self._sell = 0.0
        self._n_trades = 0
        self._prev = (bp, ap, b0, a0, mid)
        self._mids.append(mid)

        # WINDOW SUMS: add this row, drop the row that leaves each window
        touch = 0.5 * (b0 + a0)
        sc = 1.0 if spread < 1.0 else spread  # min(max(spread, 1.0), clip), without the builtins' calls
        sc = self._consts[-1] if self._consts[-1] < sc else sc
        x_dq, x_qq, x_h2, x_sc2, x_e2 = dm * q, q * q, 4.0 * dm * dm, sc * sc, e * e
        row = (e, touch, q, v, n_tr, x_dq, x_qq, x_h2, sc, x_sc2, x_e2)  # order of _SERIES
        k, pos, ring, size = self._k, self._pos, self._ring, self._ring_size
        w_os, w_ol, w_ts, w_tl, w_in, w_ky, w_vl, w_vs, w_tm, w_sp, w_md = self._win_steps
        # the row that leaves each window (negative index wraps; zero rows before the segment)
        o_os, o_ol, o_ts, o_tl = ring[pos - w_os], ring[pos - w_ol], ring[pos - w_ts], ring[pos - w_tl]
        o_in, o_ky, o_vl, o_vs = ring[pos - w_in], ring[pos - w_ky], ring[pos - w_vl], ring[pos - w_vs]
        o_tm, o_sp, o_md = ring[pos - w_tm], ring[pos - w_sp], ring[pos - w_md]
        ring[pos] = row
        self._pos = pos + 1 if pos + 1 < size else 0
        self._k = k + 1
        # segment row of each series' last nonzero value (order of _SERIES; e2 shares e's)
        l_e, l_t, l_q, l_v, l_n, l_dq, l_qq, l_h2, l_sc, l_sc2 = self._last_nz
        if e:
            l_e = k
        if touch:
            l_t = k
        if q:
            l_q = k
        if v:
            l_v = k
        if n_tr:
            l_n = k
        if x_dq:
            l_dq = k
        if x_qq:
            l_qq = k
        if x_h2:
            l_h2 = k
        if sc:
            l_sc = k
        if x_sc2:
            l_sc2 = k
        self._last_nz = (l_e, l_t, l_q, l_v, l_n, l_dq, l_qq, l_h2, l_sc, l_sc2)
        # the 19 sums of _PAIRS, unrolled: add this row, drop the leaving one; a window holding only
        # zeros sums to exactly 0 (and the running sum restarts from it)
        (e_s, e_l, e2_l, q_s, v_s, q_l, v_l, n_sum, dq, qq, qq_l, h2_l, h2_s, touch_m,
         sc1, sc2, n_l, h2_m, sc_l) = self._sums
        self._sums = sums = (
            e_s + e - o_os[0] if k - l_e < w_os else 0.0,
            e_l + e - o_ol[0] if k - l_e < w_ol else 0.0,
            e2_l + x_e2 - o_vl[10] if k - l_e < w_vl else 0.0,
            q_s + q - o_ts[2] if k - l_q < w_ts else 0.0,
            v_s + v - o_ts[3] if k - l_v < w_ts else 0.0,
            q_l + q - o_tl[2] if k - l_q < w_tl else 0.0,
            v_l + v - o_tl[3] if k - l_v < w_tl else 0.0,
            n_sum + n_tr - o_in[4] if k - l_n < w_in else 0.0,
            dq + x_dq - o_ky[5] if k - l_dq < w_ky else 0.0,
            qq + x_qq - o_ky[6] if k - l_qq < w_ky else 0.0,
            qq_l + x_qq - o_vl[6] if k - l_qq < w_vl else 0.0,
            h2_l + x_h2 - o_vl[7] if k - l_h2 < w_vl else 0.0,
            h2_s + x_h2 - o_vs[7] if k - l_h2 < w_vs else 0.0,
            touch_m + touch - o_tm[1] if k - l_t < w_tm else 0.0,
            sc1 + sc - o_sp[8] if k - l_sc < w_sp else 0.0,
            sc2 + x_sc2 - o_sp[9] if k - l_sc2 < w_sp else 0.0,
            n_l + n_tr - o_vl[4] if k - l_n < w_vl else 0.0,
            h2_m + x_h2 - o_md[7] if k - l_h2 < w_md else 0.0,
            sc_l + sc - o_vl[8] if k - l_sc < w_vl else 0.0,
        )
        (e_s, e_l, e2_l, q_s, v_s, q_l, v_l, n_sum, dq, qq, qq_l, h2_l, h2_s, touch_m,
         sc1, sc2, n_l, h2_m, sc_l) = sums
        nr = k + 1  # rows of the segment so far; a window of w rows holds min(nr, w)
        if nr >= size:
            n_os, n_ol, n_in, n_vl, n_vs, n_ky, n_sp, n_tm, n_md = self._full_counts
        else:
            n_os, n_ol, n_in, n_vl, n_vs, n_ky, n_sp, n_tm, n_md = [w if w < nr else nr for w in self._full_counts]
        shrink, ridge, inv_dt, mom_steps, mom_floor2, var_floor, sclip = self._consts

        obi_l1 = (b0 - a0) / (b0 + a0 + SIZE_EPS)
        n5 = self._n5
        bd, ad = sum(bsz[:n5]), sum(asz[:n5])
        obi_l5 = (bd - ad) / (bd + ad + SIZE_EPS)
        e2_mean = e2_l / n_vl  # OFI in stds of its sum under independent terms of the long-window size
        ofi_short = e_s / (math.sqrt(n_os * e2_mean) + SIZE_EPS)
        ofi_long = e_l / (math.sqrt(n_ol * e2_mean) + SIZE_EPS)
        imb_short = q_s / (v_s + SIZE_EPS)
        imb_long = q_l / (v_l + SIZE_EPS)
        rate_short, rate_long = n_sum / n_in, n_l / n_vl  # trades per row
        c_base = shrink * rate_long  # shrunk log ratios as batch._shrunk_log_ratio: exactly 0 when x == base
        rate_rel = math.log((rate_short + c_base + SIZE_EPS) / (rate_long + c_base + SIZE_EPS))

        # VOLATILITY (ticks^2 per step)
        var_long = h2_l / (4.0 * n_vl)
        var_short = h2_s / (4.0 * n_vs)
        self.sigma_ticks_per_sqrt_s = math.sqrt(var_long * inv_dt)
        var_mid = h2_m / (4.0 * n_md)
        c_base = shrink * var_long
        rv_ratio = 0.5 * math.log((var_short + c_base + VAR_EPS) / (var_long + c_base + VAR_EPS))
        rv_ratio_mid = 0.5 * math.log((var_mid + c_base + VAR_EPS) / (var_long + c_base + VAR_EPS))

        # KYLE'S LAMBDA
        q2_mean_long = qq_l / n_vl
        lam = dq / (qq + ridge * n_ky * q2_mean_long + SIZE_EPS * SIZE_EPS)
        kyle = lam * math.sqrt(q2_mean_long) / (math.sqrt(var_long) + VAR_EPS)

        # SPREAD Z-SCORE from exact integer sums (integral floats, exact below 2^53)
        spread_z = (n_sp * sc - sc1) / math.sqrt((n_sp * sc2 - sc1 * sc1) + var_floor * n_sp * n_sp)
        micro_rel = obi_l1 * (spread * n_sp / sc1)  # (microprice - mid) in mean half-spreads
        spread_rel = math.log(sc * n_vl / sc_l)

        touch_mean = touch_m / n_tm
        c_base = shrink * touch_mean
        touch_rel = math.log((touch + c_base + SIZE_EPS) / (touch_mean + c_base + SIZE_EPS))

        # _mids[0] is the mid at max(t - momentum_steps, segment start)
        mom = (mid - self._mids[0]) / math.sqrt(var_long * mom_steps + mom_floor2)

        if bt != self._bt:  # the distances from the touch (ticks), unless the side's prices repeat
            self._bt, self._b_shape = bt, _depth_shape(list(map(sub, repeat(bt[0]), bt)))
        if at != self._at:
            self._at, self._a_shape = at, _depth_shape(list(map(sub, at, repeat(at[0]))))
        self.rows += 1
        out = np.array((obi_l1, obi_l5, micro_rel, ofi_short, ofi_long, imb_short, imb_long,
                        rate_rel, kyle, rv_ratio_mid, rv_ratio, spread_rel, spread_z,
                        _depth_slope(self._b_shape, bsz), _depth_slope(self._a_shape, asz), touch_rel, mom, *tail),
                       np.float32)
        # float32 then clip to the float32 bounds: the same values as clipping in float64 first (rounding
        # is monotone and the bounds are float32), with two cheap ufuncs instead of np.clip
        lo, hi = (self._lo, self._hi) if not tail else self._tail_bounds(len(tail))
        return np.minimum(np.maximum(out, lo, out=out), hi, out=out)

    def _tail_bounds(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The clip bounds [F_M + n]: the features', then +-inf (the tail is not clipped); cached per ``n``."""
        if n not in self._bounds:
            inf = np.full(n, np.inf, np.float32)
            self._bounds[n] = (np.concatenate([self._lo, -inf]), np.concatenate([self._hi, inf]))
        return self._bounds[n]


def normalize(values: np.ndarray, norm: FeatureNorm, clip: float = Z_CLIP) -> np.ndarray:
    """NumPy twin of `batch.normalize`: clipped z-scores [..., F_M], float32."""
    return Normalizer(norm, clip)(np.asarray(values, np.float32))


class Normalizer:
    """`normalize` with its float32 constants prepared once (the live trader normalizes every row).

    ``tail``: that many values follow the features in each row and pass through unchanged (x - 0, / 1,
    clipped at +-inf: exact), so the live trader normalizes its whole observation [F] in one go.
    """

    def __init__(self, norm: FeatureNorm, clip: float = Z_CLIP, tail: int = 0):
        self.mean = np.asarray(norm.mean, np.float32)
        self.std = np.maximum(np.asarray(norm.std, np.float32), np.float32(STD_FLOOR))
        self.clip = float(clip)
        self._lo, self._hi = -self.clip, self.clip
        if tail:
            n, f32 = self.mean.shape[-1], np.float32
            self.mean = np.concatenate([self.mean, np.zeros(tail, f32)])
            self.std = np.concatenate([self.std, np.ones(tail, f32)])
            self._lo = np.concatenate([np.full(n, -self.clip, f32), np.full(tail, -np.inf, f32)])
            self._hi = np.concatenate([np.full(n, self.clip, f32), np.full(tail, np.inf, f32)])

    def __call__(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """float32 ``values`` [..., F_M (+ tail)] -> clipped z-scores, into ``out`` when given (float32, same shape)."""
        out = np.subtract(values, self.mean, out=out, dtype=np.float32)
        np.divide(out, self.std, out=out)
        return np.minimum(np.maximum(out, self._lo, out=out), self._hi, out=out)
