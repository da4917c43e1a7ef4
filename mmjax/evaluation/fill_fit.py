"""The calibration's outer round: match the fixed quoter's fills per hour at the touch and at 1 bp (short backtests).

The moment fit (`mmjax.market.calibrate.fit`) matches the book, flow and volatility facts, but the fills of
a quote d ticks behind the touch also depend on *how* the price moves: many small re-quotes fill a
touch quote often and a 1 bp quote rarely; fewer, larger jumps do the opposite. Four parameters set
that mix (log-log elasticities measured on 30 min of the Binance spot / COIN-M fits, touch; 1 bp):

* ``sigma_bps_per_sqrt_s``, the fair price's diffusion: raises both (spot 0.9; 1.6, COIN-M ~0);
* ``band_bps``, how far the fair price drifts before the book re-quotes: lowers the touch rate and
  raises the 1 bp rate (spot -1.1; +0.4, COIN-M -0.4; +0.1): wider bands, fewer and larger jumps;
* ``impact_ticks_per_sqrt_btc``, each order's permanent impact: mostly the 1 bp rate (0.1; 0.4, 0.1; 1.4);
* ``order_size_log_std``, the tail of order sizes: large orders jump the price (0.7; 0.7, 0; 2.6).

Which knob matters differs by market, so the Jacobian is measured: one market at the start and one
per knob (a finite difference), then damped Gauss-Newton steps in log space (least squares, minimum
norm) with Broyden's rank-one update; a step that does not lower the score (squared log errors, the
1 bp rate weighted 2) is halved. The 1 s
return std is a third target, so the round cannot buy fills with a wrong volatility. Every market
uses the same seed and length (common random numbers); the best is kept. One market = ``hours`` of
generation and two backtests. A recording with too few fills at a target distance (a 24 s capture)
leaves the parameters alone, and so does a large-tick book (``queue_depletion_mid``: its knobs do not
drive its mid).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mmjax.data import loader
from mmjax.evaluation import fill_facts
from mmjax.market import facts as F
from mmjax.market import synth
from mmjax.market.params import SynthParams

KNOBS = ("sigma_bps_per_sqrt_s", "band_bps", "impact_ticks_per_sqrt_btc", "order_size_log_std")
# the two fill rates, and the 1 s volatility the moment fit matched, which the knobs must not lose
TARGET_FACTS = ("fills_per_hour_0tick", "fills_per_hour_1bp", "ret_std_bps_1s")
KNOB_RANGE = {"sigma_bps_per_sqrt_s": (0.01, 50.0), "band_bps": (0.01, 50.0), "impact_ticks_per_sqrt_btc": (1e-6, 1e9),
              "order_size_log_std": (0.1, 4.0)}
PROBE_LOG_STEP = 0.3  # finite-difference step of the first Jacobian, log units (x1.35)
MAX_LOG_STEP = 0.7  # at most x2 per round and knob
GOOD_LOG_ERR = math.log(1.1)  # stop once every target is within 10 %
# weights of the squared log errors in the score a market is kept by: the 1 bp rate is the check of #20
WEIGHTS = np.array([1.0, 2.0, 1.0])
ROUNDS = 5
LARGE_TICK_SKIP = ("a large-tick book's mid moves on used-up queues, which the round's knobs (the fair price's "
                   "diffusion, band and impact) do not drive")
MIN_REAL_FILLS = 20  # fewer fills in the recording than this: its rate is noise, not a target


def market_targets(p: SynthParams, hours: float, seed: int, levels: int, work: Path) -> dict[str, float]:
    """`TARGET_FACTS` of ``hours`` of market generated with ``p`` (written under ``work``): two backtests."""
    out = work / f"market{len(list(work.iterdir()))}"  # a fresh directory per call
    with contextlib.redirect_stdout(io.StringIO()):  # the generator's summary lines are not this fit's output
        synth.run(synth.SynthConfig(out=str(out), hours=hours, seed=seed, levels=levels, model=p))
    raw = loader.read_recording(out)
    got = fill_facts.fills_per_hour(str(out), raw.report.lot_size or raw.meta.tick_size, raw.meta.grid_ms,
                                    raw.meta.product, names=TARGET_FACTS[:2])
    got["ret_std_bps_1s"] = F.recording_facts(raw)["ret_std_bps_1s"]
    shutil.rmtree(out)
    return got


def _log_err(got: dict[str, float], real: dict[str, float]) -> np.ndarray:
    return np.array([math.log(max(got[n], 1e-9) / real[n]) for n in TARGET_FACTS])


def _score(e: np.ndarray) -> float:
    return float(WEIGHTS @ (e * e))


def _with(p: SynthParams, x: np.ndarray) -> SynthParams:
    return dataclasses.replace(p, **{n: float(np.clip(math.exp(v), *KNOB_RANGE[n])) for n, v in zip(KNOBS, x, strict=True)})


def fit_fills(p: SynthParams, real: dict[str, float], real_hours: float, hours: float = 1.0, seed: int = 0,
              levels: int = 20, rounds: int = ROUNDS, progress=None) -> tuple[SynthParams, list[dict]]:
    """(parameters with the best match, one record per evaluated market: knobs and targets)."""
    history: list[dict] = []
    say = progress or (lambda _m: None)
    if p.queue_depletion_mid:
        say(f"calibrate: fill round skipped: {LARGE_TICK_SKIP}")
        return p, history
    if any(real.get(n, 0.0) * real_hours < MIN_REAL_FILLS for n in TARGET_FACTS[:2]) or not real.get(TARGET_FACTS[2], 0) > 0:
        say(f"calibrate: fill round skipped: the recording has under {MIN_REAL_FILLS} fills at a target distance")
        return p, history
    with tempfile.TemporaryDirectory() as tmp:
        def evaluate(q: SynthParams, what: str) -> np.ndarray:
            got = market_targets(q, hours, seed, levels, Path(tmp))
            history.append({"step": what, **{n: getattr(q, n) for n in KNOBS}, **got})
            say(f"calibrate: fill round, {what}: " + ", ".join(f"{n} {got[n]:.4g} (real {real[n]:.4g})" for n in TARGET_FACTS))
            return _log_err(got, real)

        x = np.log([getattr(p, n) for n in KNOBS])  # [K]
        e = evaluate(p, "start")  # [targets] log(synth / real)
        best, best_score = p, _score(e)
        if np.max(np.abs(e)) < GOOD_LOG_ERR:
            return best, history
        jac = np.zeros((len(TARGET_FACTS), len(KNOBS)))  # [targets, knobs] d log target / d log knob
        for j, name in enumerate(KNOBS):
            dx = np.zeros(len(KNOBS))
            dx[j] = PROBE_LOG_STEP
            jac[:, j] = (evaluate(_with(p, x + dx), f"probe {name}") - e) / PROBE_LOG_STEP
        step_scale = 1.0
        for k in range(rounds):
            step = np.clip(np.linalg.lstsq(jac, -e, rcond=None)[0], -MAX_LOG_STEP, MAX_LOG_STEP) * step_scale
            x_new = np.log([getattr(_with(p, x + step), n) for n in KNOBS])
            e_new = evaluate(_with(p, x_new), f"round {k + 1}")
            dx, de = x_new - x, e_new - e
            if float(dx @ dx) > 1e-12:  # Broyden: the Jacobian explains the step's response
                jac = jac + np.outer(de - jac @ dx, dx) / float(dx @ dx)
            if _score(e_new) < best_score:  # accept the step
                x, e, step_scale = x_new, e_new, 1.0
                best, best_score = _with(p, x), _score(e)
            else:  # a worse market: stay, and try a shorter step along the corrected Jacobian
                step_scale *= 0.5
            if np.max(np.abs(e)) < GOOD_LOG_ERR:
                break
    return best, history
