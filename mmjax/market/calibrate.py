"""Fit the generator's parameters (`SynthParams`) to a recording: direct estimates, then moment matching.

1. **Direct estimates** from the recording: the tick, price and size unit; taker orders (prints that
   share an exchange time and side are one order): their rate, size median and log-std, prints per
   level; the deeper levels' sizes and gaps; the spread's wide episodes (share of rows, extra ticks,
   run length).
2. **Moment matching.** `ROUNDS` times: generate ``fit_hours`` of market with the current parameters
   (a fixed seed, so every round sees the same draws), compute its facts (`mmjax.market.facts`) and move
   each parameter towards the real value of the one fact it drives most (`TARGETS`), damped and
   clipped to its range. Facts the recording cannot define (NaN: too few trades for a lag-100 sign
   ACF, say) leave their parameter alone.

NumPy only. The fill counts per hour (a backtest, so jax) are matched after this fit by the outer fill
round, `mmjax.evaluation.fill_fit`, which `mmjax synth --calibrate-from` runs next.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mmjax import schema
from mmjax.data import fill_inputs
from mmjax.data.loader import LoadReport, RawRecording
from mmjax.market import facts as F
from mmjax.market import synth
from mmjax.market.params import SynthParams

ROUNDS = 12
DAMPING = 0.7  # share of each round's correction applied (noise in short samples)
LARGE_TICK_BPS = 3.0  # a tick of at least this many bps of the price ...
LARGE_TICK_ONE_TICK_SHARE = 0.8  # ... and a one-tick spread on this share of rows: a large-tick book
# the queue process of a large-tick book (docs/synth.md): where the fit starts, in the recording's own tick. The
# band is wide (the fair price never re-quotes the book: the mid moves on used-up queues), the drawn touch
# is cut to new_touch_frac at a new level and grows, makers join and cancel. Tuned on sse-600961 by a random search
# over these knobs against its queue and back-of-touch facts (docs/synth.md)
LARGE_TICK_START = {"band_ticks": 5.5, "imbalance_lean": 0.2, "new_touch_frac": 0.2, "queue_growth_s": 11.5,
                    "touch_join_per_s": 0.033, "touch_cancel_per_s": 0.016, "wide_prob": 1.0, "touch_size_log_std": 1.1}
# parameters the moment fit leaves at that start for a large-tick book (they set the queue process, not one fact)
LARGE_TICK_FIXED = ("band_bps", "touch_cancel_per_s")
BUILTIN_FRAC_MID_MOVES = 0.132  # share of rows where the built-in market's mid moves (docs/synth.md): scales the band

# parameter -> (fact it drives, update, gain, lo, hi). "mult": p *= (real / synth) ** (gain * DAMPING);
# "add": p += gain * DAMPING * (real - synth). A negative gain: the fact falls as the parameter rises.
TARGETS: dict[str, tuple[str, str, float, float, float]] = {
    "sigma_bps_per_sqrt_s": ("ret_std_bps_1s", "mult", 1.5, 0.01, 50.0),
    "orders_per_s": ("trades_per_s", "mult", 1.0, 0.01, 1e4),
    "order_size_median_btc": ("trade_size_median", "mult", 1.0, 1e-9, 1e9),
    "band_bps": ("frac_rows_mid_moves", "mult", -1.0, 0.01, 50.0),
    "branching_ratio": ("count_acf_1", "add", 1.0, 0.0, 0.95),
    "sign_persistence": ("sign_acf_10", "add", 0.7, 0.0, 1.0),
    "regime_std": ("abs_ret_acf_1s_lag1", "add", 2.0, 0.0, 1.5),
    "impact_ticks_per_sqrt_btc": ("markout_bps_10s", "mult", 1.0, 1e-6, 1e9),
    "late_walk_frac": ("frac_beyond_touch", "add", 2.0, 0.0, 2.0),
    "flow_bias_halflife_s": ("sign_acf_100", "mult", 2.0, 0.1, 600.0),
    "touch_cancel_per_s": ("touch_cancel_per_s", "add", 1.0, 0.0, 50.0),
    "touch_size_median_btc": ("touch_size_median", "mult", 1.0, 1e-9, 1e12),
    "depth_size_median_btc": ("level1_size_median", "mult", 1.0, 1e-9, 1e12),
    "gap_median_ticks": ("level1_distance_ticks", "mult", 1.0, 0.5, 1e5),
}


def _orders(raw: RawRecording) -> tuple[np.ndarray, np.ndarray]:
    """Prints grouped into taker orders (consecutive, same exchange time and side) -> (sizes [K], prints per level [G])."""
    ts, side, sz, px = raw.trade_ts_exchange_ns, raw.trade_side, raw.trade_sz, raw.trade_px
    new = np.r_[True, (ts[1:] != ts[:-1]) | (side[1:] != side[:-1])]
    level = np.cumsum(new | np.r_[True, px[1:] != px[:-1]]) - 1  # one (order, price) group per level filled
    return np.bincount(np.cumsum(new) - 1, weights=sz), np.bincount(level)


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in ``mask``."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def initial_params(raw: RawRecording) -> SynthParams:
    """Direct estimates from the recording (step 1); everything else keeps the built-in default."""
    tick, dt_s = raw.meta.tick_size, raw.meta.grid_ms / 1000.0
    duration_s = raw.num_steps * dt_s
    mid = (raw.bid_px[:, 0] + raw.ask_px[:, 0]) / 2
    o_sz, level_prints = _orders(raw)
    log_o = np.log(o_sz[o_sz > 0])
    deep_sz = np.concatenate([raw.bid_sz[:, 1:], raw.ask_sz[:, 1:]]).ravel()
    deep_sz = deep_sz[deep_sz > 0]
    gaps = np.concatenate([np.diff(-raw.bid_px, axis=1), np.diff(raw.ask_px, axis=1)]).ravel() / tick
    gaps = np.rint(gaps[np.isfinite(gaps)])
    big = gaps[gaps > 1]
    spread = np.rint((raw.ask_px[:, 0] - raw.bid_px[:, 0]) / tick)
    wide = spread > 1
    runs = _runs(wide)
    moves = max(float(np.mean(np.diff(mid) != 0)), 1e-3)
    default = SynthParams()
    # sizes in another unit than BTC: scale the impact so that a median order moves the price alike
    size_scale = math.sqrt(float(np.exp(np.median(log_o))) / default.order_size_median_btc) if len(log_o) else 1.0
    ticks_per_bp = float(mid[0]) / tick * 1e-4
    wide_rows = float(runs.mean()) if len(runs) else default.wide_mean_rows
    seg_rows = 1.0 / moves  # rows between price events, each of which redraws the wide state
    if wide_rows >= seg_rows:  # episodes outlast a segment (a multi-tick book): most events draw one, long-lived
        wide_prob, wide_rows = float(np.mean(wide)), max(wide_rows, 10 * seg_rows)
    else:  # an episode starts at a price event and lasts ~wide_rows rows
        wide_prob = float(np.clip(np.mean(wide) * seg_rows / max(wide_rows, 1e-9), 0.0, 1.0))
    # a large-tick book (the tick is wide against the price and the spread one tick): the queue-depletion mid
    # process, with sizes in the recording's lot (docs/synth.md, "A large-tick market")
    tick_bps = tick / float(np.median(mid)) * 1e4
    large = tick_bps >= LARGE_TICK_BPS and float(np.mean(spread == 1)) >= LARGE_TICK_ONE_TICK_SHARE
    lot = fill_inputs.resolve_lot(raw) if large else 0.0  # the recording's lot (metadata, else inferred)
    p = dataclasses.replace(
        default,
        queue_depletion_mid=bool(large), size_lot=lot,
        tick_size=float(tick), start_price_usd=float(mid[0]), size_unit=raw.meta.size_unit,
        orders_per_s=max(len(o_sz) / duration_s, 0.01),
        order_size_median_btc=float(np.exp(np.median(log_o))) if len(log_o) else default.order_size_median_btc,
        order_size_log_std=float(np.clip(log_o.std(), 0.1, 4.0)) if len(log_o) > 2 else default.order_size_log_std,
        order_size_max_btc=float(max(o_sz.max() * 2, 1e-5)) if len(o_sz) else default.order_size_max_btc,
        prints_per_level=float(np.clip(level_prints.mean() - 1, 0.0, 20.0)) if len(level_prints) else default.prints_per_level,
        impact_ticks_per_sqrt_btc=default.impact_ticks_per_sqrt_btc / size_scale
        * ticks_per_bp / (default.start_price_usd / default.tick_size * 1e-4),
        touch_size_median_btc=float(np.median(np.r_[raw.bid_sz[:, 0], raw.ask_sz[:, 0]])),
        depth_size_median_btc=float(np.median(deep_sz)) if len(deep_sz) else default.depth_size_median_btc,
        depth_size_log_std=float(np.clip(np.log(deep_sz).std(), 0.1, 4.0)) if len(deep_sz) > 2 else default.depth_size_log_std,
        gap_one_tick_prob=float(np.mean(gaps <= 1)) if len(gaps) else default.gap_one_tick_prob,
        gap_median_ticks=float(max(np.median(big) - 1, 0.5)) if len(big) else 0.5,
        gap_log_std=float(np.clip(np.log(np.maximum(big - 1, 0.5)).std(), 0.05, 3.0)) if len(big) > 2 else default.gap_log_std,
        wide_mean_ticks=float(max(spread[wide].mean() - 1.5, 0.5)) if wide.any() else default.wide_mean_ticks,
        wide_mean_rows=wide_rows, wide_prob=wide_prob,
        band_bps=float(np.clip(default.band_bps * BUILTIN_FRAC_MID_MOVES / moves, 0.05, 20.0)),
    )
    if not large:
        return p
    start = {k: v for k, v in LARGE_TICK_START.items() if k != "band_ticks"}
    return dataclasses.replace(p, band_bps=LARGE_TICK_START["band_ticks"] * tick_bps, **start)


def market_to_raw(mk: synth.SynthMarket, meta: schema.RecordingMeta) -> RawRecording:
    """A generated market as a `RawRecording` without the disk round trip (for the fit's facts)."""
    T = len(mk.ts_recv_ns)
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    return RawRecording(meta=meta, ts_exchange_ns=mk.ts_recv_ns, ts_recv_ns=mk.ts_recv_ns, after_gap=after_gap,
                        bid_px=mk.bid_px, bid_sz=mk.bid_sz, ask_px=mk.ask_px, ask_sz=mk.ask_sz,
                        trade_ts_recv_ns=mk.trade_ts_recv_ns, trade_ts_exchange_ns=mk.trade_ts_recv_ns,
                        trade_px=mk.trade_px, trade_sz=mk.trade_sz, trade_side=mk.trade_side, report=LoadReport())


def synth_facts(p: SynthParams, hours: float, seed: int, levels: int) -> dict[str, float]:
    """Facts of ``hours`` of market generated with ``p``."""
    cfg = synth.SynthConfig(out="-", hours=hours, seed=seed, levels=levels, model=p)
    return F.recording_facts(market_to_raw(synth.generate(cfg), synth.meta_for(cfg)))


def _step(p: SynthParams, real: dict[str, float], got: dict[str, float]) -> SynthParams:
    """One damped moment-matching update of every parameter in `TARGETS`."""
    new = {}
    for name, (fact, kind, gain, lo, hi) in TARGETS.items():
        r, s, v = real.get(fact, math.nan), got.get(fact, math.nan), getattr(p, name)
        if not (math.isfinite(r) and math.isfinite(s)) or (p.queue_depletion_mid and name in LARGE_TICK_FIXED):
            continue
        if kind == "mult":
            if fact.startswith("markout") and r > 0 and s > 0:
                # a large-tick book: a fill's markout keeps most of the half spread, and more impact *lowers* it
                ratio = (s / r) ** (gain * DAMPING)
            elif r * s <= 0:  # opposite signs or a zero (a markout with no adverse selection): shrink or grow |fact|
                ratio = 2.0 if (abs(r) > abs(s)) == (gain > 0) else 0.5
            else:
                ratio = (r / s) ** (gain * DAMPING)
            v = v * float(np.clip(ratio, 0.33, 3.0))
        else:
            v = v + gain * DAMPING * (r - s)
        new[name] = float(np.clip(v, lo, hi))
    # facts driven by a pair of parameters: the tail of sizes (log-std), the share of the adverse move
    # that arrives within 1 s (the delayed share of impact), cancellations beyond what the lean makes
    rel = lambda a, b, d: (d.get(a, math.nan), d.get(b, math.nan))  # noqa: E731
    (r99, r50), (s99, s50) = rel("trade_size_p99", "trade_size_median", real), rel("trade_size_p99", "trade_size_median", got)
    if all(math.isfinite(x) and x > 0 for x in (r99, r50, s99, s50)):
        new["order_size_log_std"] = float(np.clip(p.order_size_log_std + DAMPING * (math.log(r99 / r50) - math.log(s99 / s50)) / 2.33,
                                                  0.1, 4.0))
    (r1, r10), (s1, s10) = rel("markout_bps_1s", "markout_bps_10s", real), rel("markout_bps_1s", "markout_bps_10s", got)
    if all(math.isfinite(x) for x in (r1, r10, s1, s10)) and r10 < 0 and s10 < 0:
        new["impact_delayed_frac"] = float(np.clip(p.impact_delayed_frac - DAMPING * (r1 / r10 - s1 / s10), 0.0, 1.0))
    rc, sc = real.get("touch_cancel_per_s", math.nan), got.get("touch_cancel_per_s", math.nan)
    # (in the large-tick mode the lean is how a queue empties before the mid moves: it stays)
    if math.isfinite(rc) and math.isfinite(sc) and sc > rc and p.touch_cancel_per_s <= 0 and not p.queue_depletion_mid:
        new["imbalance_lean"] = float(np.clip(p.imbalance_lean * (rc / sc) ** DAMPING, 0.0, 3.0))
    # the wide-spread share is matched through its probability (a share of events, not of rows)
    r_w, s_w = 1 - real.get("spread_frac_1tick", math.nan), 1 - got.get("spread_frac_1tick", math.nan)
    if math.isfinite(r_w) and math.isfinite(s_w) and r_w > 0:
        new["wide_prob"] = float(np.clip(p.wide_prob * np.clip((r_w / max(s_w, 1e-4)) ** DAMPING, 0.33, 3.0), 0.0, 1.0))
    return dataclasses.replace(p, **new)


def fit(raw: RawRecording, fit_hours: float = 2.0, seed: int = 0, rounds: int = ROUNDS, progress=None) -> SynthParams:
    """Fitted `SynthParams` for ``raw`` (steps 1 and 2 of the module docstring); deterministic given ``seed``."""
    real = F.recording_facts(raw)
    p = initial_params(raw)
    levels = raw.meta.levels
    best, best_score = p, math.inf
    for k in range(rounds + 1):
        try:
            got = synth_facts(p, fit_hours, seed, levels)
        except ValueError as e:  # a step too far (the price path left the positive range): keep the best so far
            if progress:
                progress(f"calibrate: round {k + 1}: {e}; stopping at the best parameters so far")
            break
        score = sum(not F.within(n, real[n], got[n]) for n in real if math.isfinite(real[n]))
        if score <= best_score:
            best, best_score = p, score
        if progress:
            progress(f"calibrate: round {k + 1}/{rounds + 1}: {len(real) - score} of {len(real)} facts within tolerance")
        if k < rounds:
            p = _step(p, real, got)
    return best
