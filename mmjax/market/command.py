"""`mmjax synth`: write the built-in market, from its defaults, a preset, a params file, or fitted to a recording.

``--calibrate-from DIR`` (a recording, or a directory of Tardis CSVs) fits `SynthParams` to it
(`mmjax.market.calibrate`, then the fill round `mmjax.evaluation.fill_fit`), writes ``--hours`` of synthetic market to ``--out`` and, next to it,
``calibration.json`` = ``{"facts": {NAME: {"real", "synth", "within"}}, "params": {...}}`` and
``calibration.png``; the side-by-side table is printed. The facts include the fixed quoter's fill
counts per hour (`mmjax.evaluation.fill_facts`, through the backtest), so this is a command (it
composes data and evaluation), not a data tool.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path

from mmjax import outputs
from mmjax.data import loader
from mmjax.data.loader import RecordingError
from mmjax.market import facts, synth
from mmjax.market import params as sp
from mmjax.market.synth import SynthConfig

__all__ = ["SynthConfig", "load_any", "run"]


def _find(d: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (d / name).is_file():
            return d / name
    return None


def load_any(path: str | Path, tmp: Path) -> tuple[loader.RawRecording, Path]:
    """(recording, its directory): a recording directory, or Tardis CSVs imported into ``tmp``."""
    d = Path(path)
    if not d.exists():
        raise FileNotFoundError(f"{d}: no such directory")
    if (d / "book").is_dir():
        return loader.read_recording(d), d
    book, trades = _find(d, "incremental_book_L2"), _find(d, "trades")
    if book is None or trades is None:
        raise RecordingError(f"{d}: neither a recording (book/) nor Tardis CSVs (incremental_book_L2.csv[.gz], trades.csv[.gz])")
    from mmjax.data import tardis

    out = tmp / d.name
    tardis.import_tardis(tardis.TardisImportConfig(book=str(book), trades=str(trades), out=str(out), quiet=True))
    return loader.read_recording(out), out


def all_facts(raw: loader.RawRecording, path: Path) -> dict[str, float]:
    """The recording's facts plus the fixed quoter's fill counts per hour (a backtest per distance)."""
    from mmjax.evaluation import fill_facts, queue_fill_facts

    out = facts.recording_facts(raw)
    out.update(fill_facts.fills_per_hour(str(path), raw.report.lot_size or raw.meta.tick_size, raw.meta.grid_ms,
                                         raw.meta.product))
    out.update(queue_fill_facts.back_of_touch_fills(str(path), raw.meta.product))
    return out


def plot_comparison(cmp: dict[str, dict], path: Path, title: str) -> None:
    """One bar per fact: synth / real (1 = equal), the tolerance band shaded, facts outside it in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(cmp)
    ratio = [(c["synth"] / c["real"]) if c["real"] and c["synth"] is not None else 0.0 for c in cmp.values()]
    colors = ["tab:green" if c["within"] else "tab:red" for c in cmp.values()]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(names) + 1.5))
    ax.barh(range(len(names)), ratio, color=colors)
    ax.axvspan(1 - facts.REL_TOLERANCE, 1 + facts.REL_TOLERANCE, color="grey", alpha=0.2)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1, 3)
    ax.set(xlabel="synth / real (green: within 25 %, or 0.1 abs. for correlations)", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bound_note(name: str, p: sp.SynthParams) -> str:
    """"its parameter X is at its range bound" for the parameter the moment fit drives fact ``name`` with, if so."""
    from mmjax.market import calibrate

    for param, (fact, _kind, _gain, lo, hi) in calibrate.TARGETS.items():
        if p.queue_depletion_mid and param in calibrate.LARGE_TICK_FIXED:
            continue  # not fitted for a large-tick book: its bound did not stop anything
        v = getattr(p, param)
        if fact == name and (v <= lo * (1 + 1e-9) or v >= hi * (1 - 1e-9)):
            return f"its parameter {param} = {v:.3g} is at its range bound [{lo:g}, {hi:g}]"
    return ""


def _fill_note(history: list[dict], real_hours: float, large_tick: bool) -> str:
    from mmjax.evaluation.fill_fit import LARGE_TICK_SKIP

    if large_tick:
        return f"not fitted: {LARGE_TICK_SKIP}"
    if not history:
        return f"not fitted: the {real_hours * 60:.1f}-minute recording has too few fills at a target distance"
    last = history[-1]
    return (f"fill round: {len(history)} markets tried (last: 0-tick {last['fills_per_hour_0tick']:.0f}/h, 1 bp "
            f"{last['fills_per_hour_1bp']:.0f}/h, 1 s std {last['ret_std_bps_1s']:.2f} bps); its knobs could not move "
            "this rate further without losing another target")


def annotate(cmp: dict[str, dict], raw: loader.RawRecording, fitted: sp.SynthParams, fill_history: list[dict],
             cis: dict[str, tuple[float, float]]) -> dict[str, dict]:
    """Each fact gets ``within_tolerance`` (the 25 % / 0.1 criterion), ``ci`` (the real value's 95 % block-bootstrap
    CI, where one exists), ``within`` (tolerance, or synth inside that CI) and, if outside the tolerance, ``explain``."""
    from mmjax.market import fact_ci

    real_hours = raw.num_steps * raw.meta.grid_ms / 3.6e6
    out = {}
    for name, c in cmp.items():
        ci = cis.get(name)
        d = {**c, "within_tolerance": c["within"],
             "ci": list(ci) if ci is not None and all(math.isfinite(v) for v in ci) else None}
        if not c["within"]:
            d["within"] = fact_ci.in_ci(ci, c["synth"])
            d["explain"] = fact_ci.explain(name, c["real"], c["synth"], ci, raw, _bound_note(name, fitted),
                                           _fill_note(fill_history, real_hours, fitted.queue_depletion_mid))
        out[name] = d
    return out


def calibrate_and_write(cfg: SynthConfig, progress=print) -> dict:
    """Fit, write the synthetic recording and OUT/calibration.json (+ .png); returns the JSON payload."""
    from mmjax.evaluation import fill_fit
    from mmjax.market import calibrate, fact_ci

    t0 = time.perf_counter()
    outputs.refuse_existing(cfg.out, cfg.overwrite, "a recording")  # before the fit, not after it
    with tempfile.TemporaryDirectory() as tmp:
        raw, real_dir = load_any(cfg.calibrate_from, Path(tmp))
        facts.check_length(raw, str(cfg.calibrate_from))
        real_hours = raw.num_steps * raw.meta.grid_ms / 3.6e6
        progress(f"calibrate: {cfg.calibrate_from}: {raw.num_steps:,} rows, {len(raw.trade_px):,} trades, "
                 f"{raw.meta.product} tick {raw.meta.tick_size:g}")
        progress("calibrate: facts of the real recording (4 backtests for the fill counts)")
        real = all_facts(raw, real_dir)
        moment = calibrate.fit(raw, seed=cfg.seed, progress=progress)
        # the outer round: fills per hour at the touch and at 1 bp, on the market the facts are checked on
        fitted, fill_history = fill_fit.fit_fills(moment, real, real_hours, hours=min(cfg.hours, cfg.check_hours),
                                                  seed=cfg.seed, levels=raw.meta.levels, progress=progress)
        fitted = sp.overrides(fitted, cfg.model)
        # the synthetic book keeps as many levels as the recording it stands in for
        gen = dataclasses.replace(cfg, model=fitted, preset="", params="", calibrate_from="", levels=raw.meta.levels)
        synth.run(gen)
        check_dir = Path(cfg.out)
        if cfg.hours > cfg.check_hours:  # the facts of a shorter sample of the same market: backtests stay quick
            check_dir = Path(tmp) / "check"
            synth.run(dataclasses.replace(gen, out=str(check_dir), hours=cfg.check_hours))
        progress("calibrate: facts of the synthetic market (4 backtests) and block-bootstrap CIs of the real facts")
        syn = all_facts(loader.read_recording(check_dir), check_dir)
    cmp = annotate(facts.compare(real, syn), raw, fitted, fill_history, fact_ci.bootstrap_cis(raw, seed=cfg.seed))
    payload = {"facts": cmp, "params": sp.to_json_dict(fitted), "source": str(cfg.calibrate_from),
               "real_hours": real_hours, "synth_hours_compared": min(cfg.hours, cfg.check_hours),
               "seed": cfg.seed, "tolerance": {"relative": facts.REL_TOLERANCE, "correlation_abs": facts.CORR_TOLERANCE},
               "ci": {"level": fact_ci.CI_LEVEL, "block_s": fact_ci.BLOCK_S, "resamples": fact_ci.N_BOOT},
               "fill_round": fill_history, "fit_seconds": round(time.perf_counter() - t0, 1)}
    out = Path(cfg.out)
    outputs.write_json(out / "calibration.json", payload, indent=1)
    plot_comparison(cmp, out / "calibration.png", f"calibrated to {Path(cfg.calibrate_from).name}")
    print(facts.format_comparison(cmp))
    print(f"wrote {out / 'calibration.json'} and {out / 'calibration.png'} ({payload['fit_seconds']:.0f} s)")
    return payload


def run(cfg: SynthConfig) -> int:
    """CLI entry point."""
    if cfg.calibrate_from:
        if cfg.preset or cfg.params:
            raise outputs.UserError("synth: --calibrate-from fits the parameters; do not combine it with --preset or --params")
        calibrate_and_write(cfg)
        return 0
    return synth.run(cfg)
