"""Quotes of the synthetic market: level profiles, the price-event loop and the [T, L] book arrays.

Used by `mmjax.market.synth.generate`; the model is described there and in docs/synth.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mmjax.market.params import SynthParams

_WINDOW_ROWS = 128  # rows scanned per vectorised look-ahead inside the event loop


class _Profiles:
    """Bulk-drawn fresh level profiles (gaps in ticks, sizes in BTC), handed out in order."""

    def __init__(self, rng, cfg: SynthParams, levels: int, n: int):
        self.rng, self.cfg, self.n_deep = rng, cfg, levels - 1
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


def _cancel_decay(p: SynthParams, dt_s: float, rows_in_segment):
    """Share of a touch queue not yet cancelled after so many rows at the touch (1 when cancellation is off)."""
    if p.touch_cancel_per_s <= 0:
        return 1.0  # x * 1.0 == x exactly: the built-in market stays byte-identical
    return np.exp(-p.touch_cancel_per_s * dt_s * rows_in_segment)


def _touch_queues(cfg: SynthParams, Qb, Qa, x, keep, sold, bought, new_side, age_s):
    """Displayed touch sizes (bid, ask): the drawn queues leaned by ``x`` (fair price in band units, [-1, 1]),
    decayed by cancellation (``keep``) and depleted by the volume traded at them since the segment began.
    In the large-tick mode the level opened by the last departure (``new_side``: -1 bid, +1 ask, 0 none)
    grows from ``new_touch_frac`` of its size with the segment's age ``age_s``, and makers join the back
    of both queues at ``touch_join_per_s`` of their size per second."""
    lean = cfg.imbalance_lean
    if cfg.queue_depletion_mid:  # makers on the side the fair price approaches cancel; at the band the queue is gone
        grow = 1 - (1 - cfg.new_touch_frac) * np.exp(-age_s / cfg.queue_growth_s)
        joined = cfg.touch_join_per_s * age_s  # makers joining the back, a share of the drawn queue
        f_ask = (1 - np.clip(x, 0, 1)) ** lean * (np.where(new_side > 0, grow, 1.0) + joined)
        f_bid = (1 - np.clip(-x, 0, 1)) ** lean * (np.where(new_side < 0, grow, 1.0) + joined)
    else:
        f_ask, f_bid = np.exp(-lean * x), np.exp(lean * x)
    return np.maximum(Qb * f_bid * keep - sold, 1e-8), np.maximum(Qa * f_ask * keep - bought, 1e-8)


def _run_segments(F, F_lean, buy_vol, sell_vol, band_ticks, cfg, levels, dt_s, rng):
    """The event loop: split rows into constant-quote segments; returns per-segment arrays."""
    T, d = len(F), levels - 1
    prof = _Profiles(rng, cfg, levels, max(1024, T // 4))
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_vol)])  # cum_buy[t] = buy volume in intervals < t
    cum_sell = np.concatenate([[0.0], np.cumsum(sell_vol)])
    p_wide, wide_rows, wide_ticks = cfg.wide_prob, cfg.wide_mean_rows, cfg.wide_mean_ticks
    segs = []  # (start, center, offset, Qb, Qa, bid_gap, bid_sz, ask_gap, ask_sz, wide_side, wide_ticks, wide_rows, new_side)

    def fresh(j):
        return prof.gap[j].copy(), prof.sz[j].copy()

    s, center, off = 0, np.floor(F[0]) + 0.5, 0.0
    j = prof.take()
    bg, bs = fresh(j)
    k2 = prof.take()
    ag, az = fresh(k2)
    Qb, Qa = prof.touch[j], prof.touch[k2]
    w_side, w_ticks, w_rows, new_side = 0, 0, 0, 0
    while s < T:
        segs.append((s, center, off, Qb, Qa, bg, bs, ag, az, w_side, w_ticks, w_rows, new_side))
        end = T
        swept = 0
        lo = s
        while lo < T:
            hi = min(lo + _WINDOW_ROWS, T)
            x = (F[lo:hi] + off - center) / band_ticks  # [W] fair price in band units
            exit_rows = np.flatnonzero((np.abs(x) >= 1) & (np.arange(lo, hi) > s))
            xc = np.clip((F_lean[lo:hi] + off - center) / band_ticks, -1, 1)
            keep = _cancel_decay(cfg, dt_s, np.arange(lo, hi) - s)
            q_bid, q_ask = _touch_queues(cfg, Qb, Qa, xc, keep, cum_sell[lo:hi] - cum_sell[s], cum_buy[lo:hi] - cum_buy[s],
                                         new_side, (np.arange(lo, hi) - s) * dt_s)
            sw_a = np.flatnonzero(buy_vol[lo:hi] >= q_ask)
            sw_b = np.flatnonzero(sell_vol[lo:hi] >= q_bid)
            cands = []
            if len(exit_rows):  # a re-quote; in the large-tick mode the approached touch departs, nothing left
                side = int(np.sign(x[exit_rows[0]])) if cfg.queue_depletion_mid else 0
                cands.append((lo + exit_rows[0], side, 0.0))
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
            new_side = -swept  # the opposite side opened a level at the old touch
            u = prof.u[j2]
        else:
            new_center = np.floor(F[end] + off) + 0.5
            center = new_center
            j, k2 = prof.take(), prof.take()
            bg, bs = fresh(j)
            ag, az = fresh(k2)
            Qb, Qa = prof.touch[j], prof.touch[k2]
            u = prof.u[k2]
            new_side = 0
        if u[0] < p_wide:
            w_side = 1 if u[1] < 0.5 else -1  # +1: the ask stays away, -1: the bid does
            if cfg.queue_depletion_mid and new_side:  # large tick: the level opened by a departure appears late
                w_side = new_side
            w_ticks = int(1 + np.floor(-np.log(max(u[2], 1e-12)) * wide_ticks))
            w_rows = int(1 + np.floor(-np.log(max(u[3], 1e-12)) * wide_rows))
        else:
            w_side, w_ticks, w_rows = 0, 0, 0
        s = end
    return segs


def _assemble_book(segs, F_lean, cum_buy, cum_sell, band_ticks, cfg, dt_s, T):
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
    keep = _cancel_decay(cfg, dt_s, row_in_seg)
    new_side = np.array([g[12] for g in segs])[seg_id]
    q_bid, q_ask = _touch_queues(cfg, Qb, Qa, x, keep, cum_sell[:T] - cum_sell[s0], cum_buy[:T] - cum_buy[s0],
                                 new_side, row_in_seg * dt_s)
    ask0 = center + 0.5 + np.where(in_wide & (w_side > 0), w_ticks, 0)
    bid0 = center - 0.5 - np.where(in_wide & (w_side < 0), w_ticks, 0)
    ask_px = ask0[:, None] + np.concatenate([np.zeros((T, 1)), np.cumsum(ask_gap, 1)], 1)
    bid_px = bid0[:, None] - np.concatenate([np.zeros((T, 1)), np.cumsum(bid_gap, 1)], 1)
    ask_sz = np.concatenate([q_ask[:, None], ask_sz], 1)
    bid_sz = np.concatenate([q_bid[:, None], bid_sz], 1)
    return bid_px, bid_sz, ask_px, ask_sz
