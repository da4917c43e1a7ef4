"""`mmjax synth`: write the built-in market, from its defaults, a preset, a params file, or fitted to a recording.

``--calibrate-from DIR`` (a recording, or a directory of Tardis CSVs) fits `SynthParams` to it
(`mmjax.data.calibrate`), writes ``--hours`` of synthetic market to ``--out`` and, next to it,
``calibration.json`` = ``{"facts": {NAME: {"real", "synth", "within"}}, "params": {...}}`` and
``calibration.png``; the side-by-side table is printed. The facts include the fixed quoter's fill
counts per hour (`mmjax.evaluation.fill_facts`, through the backtest), so this is a command (it
composes data and evaluation), not a data tool.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from mmjax.data import facts, loader, synth
from mmjax.data import synth_params as sp
from mmjax.data.loader import RecordingError
from mmjax.data.synth import SynthConfig

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
    from mmjax.evaluation import fill_facts

    out = facts.recording_facts(raw)
    out.update(fill_facts.fills_per_hour(str(path), raw.report.lot_size or raw.meta.tick_size, raw.meta.grid_ms,
                                         raw.meta.product))
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


def calibrate_and_write(cfg: SynthConfig, progress=print) -> dict:
    """Fit, write the synthetic recording and OUT/calibration.json (+ .png); returns the JSON payload."""
    from mmjax.data import calibrate

    with tempfile.TemporaryDirectory() as tmp:
        raw, real_dir = load_any(cfg.calibrate_from, Path(tmp))
        facts.check_length(raw, str(cfg.calibrate_from))
        progress(f"calibrate: {cfg.calibrate_from}: {raw.num_steps:,} rows, {len(raw.trade_px):,} trades, "
                 f"{raw.meta.product} tick {raw.meta.tick_size:g}")
        fitted = sp.overrides(calibrate.fit(raw, seed=cfg.seed, progress=progress), cfg.model)
        # the synthetic book keeps as many levels as the recording it stands in for
        gen = dataclasses.replace(cfg, model=fitted, preset="", params="", calibrate_from="", levels=raw.meta.levels)
        synth.run(gen)
        check_dir = Path(cfg.out)
        if cfg.hours > cfg.check_hours:  # the facts of a shorter sample of the same market: backtests stay quick
            check_dir = Path(tmp) / "check"
            synth.run(dataclasses.replace(gen, out=str(check_dir), hours=cfg.check_hours))
        progress("calibrate: facts of the real recording and of the synthetic market (4 backtests each)")
        real = all_facts(raw, real_dir)
        syn = all_facts(loader.read_recording(check_dir), check_dir)
    cmp = facts.compare(real, syn)
    payload = {"facts": cmp, "params": sp.to_json_dict(fitted), "source": str(cfg.calibrate_from),
               "real_hours": raw.num_steps * raw.meta.grid_ms / 3.6e6, "synth_hours_compared": min(cfg.hours, cfg.check_hours),
               "seed": cfg.seed, "tolerance": {"relative": facts.REL_TOLERANCE, "correlation_abs": facts.CORR_TOLERANCE}}
    out = Path(cfg.out)
    (out / "calibration.json").write_text(json.dumps(payload, indent=1))
    plot_comparison(cmp, out / "calibration.png", f"calibrated to {Path(cfg.calibrate_from).name}")
    print(facts.format_comparison(cmp))
    print(f"wrote {out / 'calibration.json'} and {out / 'calibration.png'}")
    return payload


def run(cfg: SynthConfig) -> int:
    """CLI entry point."""
    try:
        if cfg.calibrate_from:
            if cfg.preset or cfg.params:
                raise ValueError("synth: --calibrate-from fits the parameters; do not combine it with --preset or --params")
            calibrate_and_write(cfg)
            return 0
        return synth.run(cfg)
    except (RecordingError, ValueError, FileNotFoundError) as exc:
        print(f"mmjax synth: error: {exc}", file=sys.stderr)
        return 2
