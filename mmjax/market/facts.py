"""The facts a market maker's PnL depends on, as pure functions of a loaded recording (NumPy only).

`recording_facts(raw)` gives a flat ``{NAME: float}`` of everything the calibration targets: the
stylized facts of `mmjax.market.stylized` (spread, depth, trade rate and sizes, sign memory,
volatility and its clustering, prints beyond the touch) plus

* **markouts** of a passive fill at the touch: every print at the previous row's touch is a maker's
  fill there; its markout after h is ``maker_side * (mid(t + h) - price) / mid`` in bps;
* **queue** facts of the touch: its turnover time (mean queue / mean outflow per second) and the
  cancellation rate (the part of a shrinking touch no print explains, as a fraction per second);
* the **mid-move distribution** at 100 ms and 1 s: std, p99 of |move| and excess kurtosis;
* the **queue facts** of a large-tick book (`mmjax.market.queue_facts`): time between mid changes, how
  the touch empties (trades vs cancels), whether the mid moves only on a used-up queue, print / touch.

The fill counts per hour of the fixed quoter (d ticks behind the touch) are measured through the
backtest and live in `mmjax.data.fill_facts` (they need jax). `compare` applies the fit criterion:
within 25 % of the real value, or 0.1 absolute for correlations (`FACTS` says which is which).

Conventions as in `mmjax.market.stylized`: the prints of interval (t, t+1] follow row t; nothing
spans a gap (``after_gap``).
"""

from __future__ import annotations

import math

import numpy as np

from mmjax.data.loader import RawRecording, RecordingError
from mmjax.market import queue_facts as Q
from mmjax.market import stylized

REL_TOLERANCE = 0.25  # a fact is "within" when |synth - real| <= 25 % of |real| ...
CORR_TOLERANCE = 0.1  # ... or, for a correlation, when |synth - real| <= 0.1
MARKOUT_HORIZONS_S = (1, 10)
MIN_ROWS = 200  # 20 s of 100 ms: twice the longest horizon (the 10 s markout)
MIN_TRADES = 20

# name -> (kind, meaning): "rel" facts are compared relatively, "corr" facts absolutely
FACTS: dict[str, tuple[str, str]] = {
    "spread_mean_ticks": ("rel", "mean spread, ticks"),
    "spread_frac_1tick": ("rel", "share of rows with a one-tick spread"),
    "touch_size_median": ("rel", "median touch size, size unit"),
    "level1_size_median": ("rel", "median size of the second level, size unit"),
    "level1_distance_ticks": ("rel", "mean distance of level 1 from the touch, ticks"),
    "level3_distance_ticks": ("rel", "mean distance of level 3 from the touch, ticks"),
    "trades_per_s": ("rel", "trade prints per second"),
    "trade_size_median": ("rel", "median print size, size unit"),
    "trade_size_p99": ("rel", "99th percentile of print size, size unit"),
    "count_acf_1": ("corr", "ACF of 100 ms print counts at lag 1 (arrival clustering)"),
    "sign_acf_1": ("corr", "trade-sign ACF at lag 1"),
    "sign_acf_10": ("corr", "trade-sign ACF at lag 10"),
    "sign_acf_100": ("corr", "trade-sign ACF at lag 100"),
    "ret_std_bps_1s": ("rel", "std of 1 s mid returns, bps"),
    "ret_std_bps_10s": ("rel", "std of 10 s mid returns, bps"),
    "abs_ret_acf_1s_lag1": ("corr", "ACF of |1 s return| at lag 1 (volatility clustering)"),
    "frac_rows_mid_moves": ("rel", "share of 100 ms steps where the mid moves"),
    "frac_beyond_touch": ("rel", "share of prints beyond the previous row's touch"),
    "markout_bps_1s": ("rel", "mean markout of a passive fill at the touch after 1 s, bps"),
    "markout_bps_10s": ("rel", "mean markout of a passive fill at the touch after 10 s, bps"),
    "queue_turnover_s": ("rel", "touch queue turnover time: mean touch size / mean outflow, s"),
    "touch_cancel_per_s": ("rel", "cancellation rate at the touch, fraction of the queue per s"),
    "mid_move_std_bps_100ms": ("rel", "std of 100 ms mid moves, bps"),
    "mid_move_p99_bps_100ms": ("rel", "99th percentile of |100 ms mid move|, bps"),
    "mid_move_kurtosis_100ms": ("rel", "excess kurtosis of 100 ms mid moves"),
    "mid_move_p99_bps_1s": ("rel", "99th percentile of |1 s mid move|, bps"),
    "mid_move_kurtosis_1s": ("rel", "excess kurtosis of 1 s mid moves"),
    **Q.QUEUE_FACTS,  # the queue facts of a large-tick book (mmjax.market.queue_facts)
}


def check_length(raw: RawRecording, source: str) -> None:
    """A recording too short for the facts is an error naming it."""
    if raw.num_steps < MIN_ROWS or len(raw.trade_px) < MIN_TRADES:
        raise RecordingError(
            f"{source}: too short to calibrate from: {raw.num_steps} book rows and {len(raw.trade_px)} trades; "
            f"need >= {MIN_ROWS} rows ({MIN_ROWS * raw.meta.grid_ms / 1000:g} s) and >= {MIN_TRADES} trades")


def _mid(raw: RawRecording) -> np.ndarray:
    return (raw.bid_px[:, 0] + raw.ask_px[:, 0]) / 2  # [T] USD


def markouts(raw: RawRecording, horizons_s=MARKOUT_HORIZONS_S) -> dict[str, float]:
    """Mean markout (bps) of the maker side of every print at the previous row's touch, after each horizon."""
    T, dt_s = raw.num_steps, raw.meta.grid_ms / 1000.0
    mid = _mid(raw)
    step = raw.trade_step()
    ok = (step >= 0) & (step < T - 1)
    s, px, side = step[ok], raw.trade_px[ok], raw.trade_side[ok]
    touch = np.where(side > 0, raw.ask_px[s, 0], raw.bid_px[s, 0])
    at_touch = np.abs(px - touch) < 0.5 * raw.meta.tick_size
    seg = np.cumsum(raw.after_gap)  # segment id of every row
    out = {}
    for h_s in horizons_s:
        h = int(round(h_s / dt_s))
        later = s + 1 + h  # the first row at or after the fill plus h
        good = at_touch & (later < T)
        good[good] &= seg[later[good]] == seg[s[good]]
        maker = -side[good].astype(np.float64)
        m = maker * (mid[later[good]] - px[good]) / px[good] * 1e4
        out[f"markout_bps_{h_s}s"] = float(m.mean()) if len(m) else float("nan")
    return out


def queue_facts(raw: RawRecording) -> dict[str, float]:
    """Touch queue turnover time (s) and cancellation rate (fraction per s), both sides pooled."""
    T, dt_s, tick = raw.num_steps, raw.meta.grid_ms / 1000.0, raw.meta.tick_size
    step = raw.trade_step()
    ok = (step >= 0) & (step < T - 1)
    s, px, sz, side = step[ok], raw.trade_px[ok], raw.trade_sz[ok], raw.trade_side[ok]
    same_seg = ~raw.after_gap[1:]  # [T-1] step t -> t+1 inside one segment
    q_sum = out_sum = cancel_sum = kept_q = 0.0
    for book_px, book_sz, taker in ((raw.bid_px, raw.bid_sz, -1), (raw.ask_px, raw.ask_sz, 1)):
        p0, q0, q1 = book_px[:-1, 0], book_sz[:-1, 0], book_sz[1:, 0]
        hit = (side == taker) & (np.abs(px - book_px[s, 0]) < 0.5 * tick)
        traded = np.bincount(s[hit], weights=sz[hit], minlength=T)[: T - 1]  # [T-1] volume at row t's touch
        stays = (np.abs(book_px[1:, 0] - p0) < 0.5 * tick) & same_seg
        # outflow: the queue's decrease while its price stays, all of it when the price level leaves the touch
        outflow = np.where(stays, np.maximum(q0 - q1, 0.0), q0)
        q_sum += q0[same_seg].sum()
        out_sum += outflow[same_seg].sum()
        cancel_sum += np.maximum(q0 - q1 - traded, 0.0)[stays].sum()
        kept_q += q0[stays].sum()
    turnover = (q_sum / max(out_sum, 1e-300)) * dt_s
    return {"queue_turnover_s": float(turnover) if out_sum > 0 else float("nan"),
            "touch_cancel_per_s": float(cancel_sum / kept_q / dt_s) if kept_q > 0 else float("nan")}


def _excess_kurtosis(x: np.ndarray) -> float:
    if len(x) < 10 or x.std() == 0:
        return float("nan")
    z = (x - x.mean()) / x.std()
    return float(np.mean(z**4) - 3.0)


def mid_moves(raw: RawRecording) -> dict[str, float]:
    """Distribution of mid moves (bps of the mid) at 100 ms and 1 s, never across a gap: std, p99 |move|, kurtosis."""
    dt_s = raw.meta.grid_ms / 1000.0
    lm = np.log(_mid(raw))
    out = {}
    for name, h in (("100ms", max(1, int(round(0.1 / dt_s)))), ("1s", max(1, int(round(1 / dt_s))))):
        seg = np.cumsum(raw.after_gap)
        ok = seg[h:] == seg[:-h]
        r = ((lm[h:] - lm[:-h]) * 1e4)[ok][::h]  # non-overlapping moves
        out[f"mid_move_std_bps_{name}"] = float(r.std()) if len(r) > 2 else float("nan")
        out[f"mid_move_p99_bps_{name}"] = float(np.quantile(np.abs(r), 0.99)) if len(r) > 2 else float("nan")
        out[f"mid_move_kurtosis_{name}"] = _excess_kurtosis(r)
    return out


def recording_facts(raw: RawRecording) -> dict[str, float]:
    """Every fact of `FACTS` but the backtest's fill counts, as a flat dict of floats (NaN where undefined)."""
    st = stylized.compute(raw)
    vol, ts, dep = st["volatility"], st["trades_stats"], st["depth"]
    med, dist = dep["median_size"], dep["mean_distance_ticks"]
    f = {
        "spread_mean_ticks": st["spread"]["mean_ticks"],
        "spread_frac_1tick": st["spread"]["buckets"]["1"],
        "touch_size_median": med[0],
        "level1_size_median": med[1] if len(med) > 1 else float("nan"),
        "level1_distance_ticks": dist[1] if len(dist) > 1 else float("nan"),
        "level3_distance_ticks": dist[3] if len(dist) > 3 else float("nan"),
        "trades_per_s": ts["per_s"],
        "trade_size_median": ts["size_quantiles"]["0.5"],
        "trade_size_p99": ts["size_quantiles"]["0.99"],
        "count_acf_1": ts["count_acf"]["1"],
        "sign_acf_1": st["sign_acf"]["1"],
        "sign_acf_10": st["sign_acf"]["10"],
        "sign_acf_100": st["sign_acf"]["100"],
        "ret_std_bps_1s": vol["ret_std_bps_1s"],
        "ret_std_bps_10s": vol["ret_std_bps_10s"],
        "abs_ret_acf_1s_lag1": vol["abs_ret_acf_1s"]["1"],
        "frac_rows_mid_moves": vol["frac_rows_mid_moves"],
        "frac_beyond_touch": st["trade_depth"]["frac_beyond_touch"],
    }
    f.update(markouts(raw))
    f.update(queue_facts(raw))
    f.update(mid_moves(raw))
    f.update(Q.queue_facts(raw))
    return {k: float(v) for k, v in f.items()}


def kind_of(name: str) -> str:
    """"corr" or "rel" (fill counts and unknown names are relative)."""
    return FACTS.get(name, ("rel", ""))[0]


def within(name: str, real: float, synth: float) -> bool:
    """The fit criterion for one fact (False where either side is undefined)."""
    if not (math.isfinite(real) and math.isfinite(synth)):
        return False
    if kind_of(name) == "corr":
        return abs(synth - real) <= CORR_TOLERANCE + 1e-12
    return abs(synth - real) <= REL_TOLERANCE * abs(real) + 1e-12


def compare(real: dict[str, float], synth: dict[str, float]) -> dict[str, dict]:
    """``{NAME: {"real", "synth", "within"}}`` for every fact both sides have (NaN becomes None)."""
    clean = lambda v: float(v) if math.isfinite(v) else None  # noqa: E731
    return {k: {"real": clean(real[k]), "synth": clean(synth[k]), "within": within(k, real[k], synth[k])}
            for k in real if k in synth}


def format_comparison(cmp: dict[str, dict]) -> str:
    """Side-by-side table; a fact outside the tolerance is marked ``<-- off`` (or ``in CI``), with its reason."""
    w = max(len(k) for k in cmp) + 2
    lines = [f"{'fact':<{w}}{'real':>12}{'synth':>12}  within (25 % rel., 0.1 abs. for correlations; "
             "else synth inside the real value's 95 % CI)"]
    for k, c in cmp.items():
        r, s = ("nan" if v is None else f"{v:.4g}" for v in (c["real"], c["synth"]))
        tol = c.get("within_tolerance", c["within"])
        mark = "yes" if tol else ("in CI" if c["within"] else "<-- off")
        lines.append(f"{k:<{w}}{r:>12}{s:>12}  {mark}" + (f": {c['explain']}" if c.get("explain") else ""))
    n_tol = sum(c.get("within_tolerance", c["within"]) for c in cmp.values())
    n_in = sum(c["within"] for c in cmp.values())
    lines.append(f"{n_tol} of {len(cmp)} facts within tolerance, {n_in} within tolerance or the real value's CI")
    return "\n".join(lines)
