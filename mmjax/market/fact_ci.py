"""How well a short recording pins down its own facts: a block bootstrap over time (NumPy only).

A fact of an 11-minute recording is one draw of a noisy statistic: a kurtosis of 100 ms moves is
set by a handful of jumps, a lag-100 sign ACF by a few dozen sign runs. `bootstrap_cis` resamples
the recording in blocks of ``block_s`` seconds (with replacement, as many blocks as it holds) and
recomputes every fact of `mmjax.market.facts.recording_facts` on each resample; the 2.5 and 97.5 %
quantiles are the fact's 95 % CI. Blocks are joined with a gap flag (``after_gap``) at each seam,
so no return, markout or queue step spans two blocks; only the trade-sign and count ACFs see the
seams (a few lags in ~10 minutes).

`explain` turns a fact outside the 25 % tolerance into a one-line reason: the CI when the synthetic
value lies in it (the recording cannot resolve the difference), the handful of moves that make a
kurtosis, or the parameter whose range bound stopped the fit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mmjax.data.loader import RawRecording
from mmjax.market import facts as F

BLOCK_S = 60.0  # bootstrap block, seconds: longer than every horizon of the facts (10 s), short enough for ~10 blocks
N_BOOT = 200
CI_LEVEL = 0.95


def resample_blocks(raw: RawRecording, block_rows: int, picks: np.ndarray) -> RawRecording:
    """The recording rebuilt from blocks ``picks`` [K] (block indices) of ``block_rows`` rows each, in that order.

    Rows keep their book; times are re-laid on one grid; each block's trades in (t, t+1] for its
    rows t move with them (a trade after a block's last row is dropped: its row is in another block).
    """
    grid_ns = int(raw.meta.grid_ms * 1_000_000)
    step = raw.trade_step()  # [N] row t of each trade in (t, t+1]
    rows, after_gap, tr_idx, tr_row = [], [], [], []
    for k, b in enumerate(picks):
        a = int(b) * block_rows
        rows.append(np.arange(a, a + block_rows))
        ag = raw.after_gap[a:a + block_rows].copy()
        ag[0] = True  # the seam: nothing spans two blocks
        after_gap.append(ag)
        sel = np.flatnonzero((step >= a) & (step < a + block_rows - 1))
        tr_idx.append(sel)
        tr_row.append(k * block_rows + step[sel] - a)  # its row in the resample
    rows_i, tr, new_row = np.concatenate(rows), np.concatenate(tr_idx), np.concatenate(tr_row)
    new_ts = int(raw.ts_recv_ns[0]) + np.arange(len(rows_i), dtype=np.int64) * grid_ns
    # a trade keeps its offset after its row's time, so it stays in (t, t+1] of the new grid
    off = np.clip(raw.trade_ts_recv_ns[tr] - raw.ts_recv_ns[step[tr]], 1, grid_ns)
    new_tr_ts = new_ts[new_row] + off
    return dataclasses.replace(
        raw, ts_recv_ns=new_ts, ts_exchange_ns=new_ts, after_gap=np.concatenate(after_gap),
        bid_px=raw.bid_px[rows_i], bid_sz=raw.bid_sz[rows_i], ask_px=raw.ask_px[rows_i], ask_sz=raw.ask_sz[rows_i],
        trade_ts_recv_ns=new_tr_ts, trade_ts_exchange_ns=new_tr_ts, trade_px=raw.trade_px[tr],
        trade_sz=raw.trade_sz[tr], trade_side=raw.trade_side[tr])


def bootstrap_cis(raw: RawRecording, block_s: float = BLOCK_S, n_boot: int = N_BOOT, seed: int = 0
                  ) -> dict[str, tuple[float, float]]:
    """``{fact: (lo, hi)}``: the 95 % block-bootstrap CI of every fact of `recording_facts` (NaN where undefined)."""
    block_rows = max(int(round(block_s * 1000 / raw.meta.grid_ms)), 2)
    n_blocks = raw.num_steps // block_rows
    if n_blocks < 2:
        return {}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        picks = rng.integers(0, n_blocks, n_blocks)
        try:
            got = F.recording_facts(resample_blocks(raw, block_rows, picks))
        except (ValueError, IndexError, ZeroDivisionError):  # a resample too thin for some fact: skip it
            continue
        for k, v in got.items():
            draws.setdefault(k, []).append(v)
    q = (1 - CI_LEVEL) / 2
    out = {}
    for k, v in draws.items():
        a = np.asarray(v, np.float64)
        a = a[np.isfinite(a)]
        out[k] = (float(np.quantile(a, q)), float(np.quantile(a, 1 - q))) if len(a) >= 0.8 * n_boot else (math.nan, math.nan)
    return out


def in_ci(ci: tuple[float, float] | None, x: float | None) -> bool:
    return ci is not None and x is not None and all(map(math.isfinite, (*ci, x))) and ci[0] <= x <= ci[1]


# why a fact can stay off after the fit, where the generator's structure (not the fit) sets it
MODEL_LIMITS: dict[str, str] = {
    "frac_beyond_touch": "synthetic prints lie on levels of a book row by construction; the book lags its trades by at "
                         "most late_walk_frac = 2 intervals, a real feed's book moves more within 100 ms",
    "sign_acf_1": "one persistence (children keep the parent's side) and one slow bias cannot give the real sign "
                  "memory at lags 1, 10 and 100 together (real metaorders split into many prints)",
    "sign_acf_10": "one persistence (children keep the parent's side) and one slow bias cannot give the real sign "
                   "memory at lags 1, 10 and 100 together (real metaorders split into many prints)",
    "markout_bps_1s": "the generator's adverse move arrives through the impact propagator; with the 10 s markout "
                      "matched, the 1 s share is bounded by impact_delayed_frac in [0, 1]",
    "spread_frac_1tick": "the generator's wide-spread episodes start at price events; a book that is never one tick "
                         "wide cannot be drawn from them exactly",
}


def _top_share(x: np.ndarray, k: int = 3) -> float:
    """Share of sum z^4 (the kurtosis) that the ``k`` largest |z| give."""
    z4 = ((x - x.mean()) / max(x.std(), 1e-300)) ** 4
    return float(np.sort(z4)[-k:].sum() / max(z4.sum(), 1e-300))


def _moves(raw: RawRecording, h_s: float) -> np.ndarray:
    dt_s = raw.meta.grid_ms / 1000.0
    h = max(1, int(round(h_s / dt_s)))
    lm = np.log((raw.bid_px[:, 0] + raw.ask_px[:, 0]) / 2)
    seg = np.cumsum(raw.after_gap)
    return ((lm[h:] - lm[:-h]) * 1e4)[seg[h:] == seg[:-h]][::h]


def explain(name: str, real: float | None, synth: float | None, ci: tuple[float, float] | None, raw: RawRecording,
            bound: str = "", fill_note: str = "") -> str:
    """One line: why fact ``name`` lies outside the tolerance (only called for such a fact)."""
    fmt = lambda v: f"{v:.3g}"  # noqa: E731
    ci_txt = f"95 % block-bootstrap CI of the real value [{fmt(ci[0])}, {fmt(ci[1])}]" if (
        ci is not None and all(map(math.isfinite, ci))) else ""
    if real is None:
        return (f"the recording cannot define it ({raw.num_steps * raw.meta.grid_ms / 1000:.0f} s, "
                f"{len(raw.trade_px)} trades)")
    if in_ci(ci, synth):
        return f"synth lies inside the {ci_txt}: the recording cannot resolve the difference"
    parts = []
    if name.startswith("mid_move_kurtosis"):
        x = _moves(raw, 0.1 if name.endswith("100ms") else 1.0)
        parts.append(f"the real excess kurtosis is set by a few jumps: the 3 largest of {len(x)} moves give "
                     f"{_top_share(x):.0%} of it")
    if name.startswith("fills_per_hour"):
        parts.append(fill_note or "not a target of the fit")
    if name.startswith("backq_"):
        parts.append("the back-of-touch quote's fills through the env (one backtest per market, so no CI); not a "
                     "target of the fit")
    if bound:
        parts.append(bound)
    if name in MODEL_LIMITS:
        parts.append(MODEL_LIMITS[name])
    if ci_txt:
        parts.append(ci_txt + " excludes synth" + ("" if parts else ": a model mismatch the fit did not remove"))
    elif not parts:
        parts.append("a model mismatch the fit did not remove (no CI: the recording is too short for blocks)")
    return "; ".join(parts)
