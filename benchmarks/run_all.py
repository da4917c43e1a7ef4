"""Run every benchmark of the project, stamp each JSON with machine and commit, write a summary table.

    python benchmarks/run_all.py [--quick] [--out DIR] [--only bench_a.py,bench_b.py]

Each benchmark is its own script (``benchmarks/bench_*.py --json PATH [--quick]``) run in a fresh
process, so one's JIT caches and threads do not colour another's figures. Each script already
takes the median of several runs after a warm-up and measures its comparisons side by side.

Results go to ``benchmarks/results/`` (the figures the README cites); a ``--quick`` pass goes to
``benchmarks/results/quick/`` unless ``--out`` says otherwise, so smoke-sized figures never replace
them. Before anything runs, every selected script's ``--help`` must list each flag it will be
given (``--json``, and ``--quick`` on a quick pass): a script that would reject one is named and
nothing runs (exit 2), rather than failing after the others have run for minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# script, {json key: label} shown in the summary table
BENCHMARKS: list[tuple[str, dict[str, str]]] = [
    ("bench_loader.py", {"cold.total_s": "24 h load to device, cold (s)", "rows": "book rows loaded"}),
    ("bench_features.py", {"batch_s": "batch features (s)", "rows": "feature rows", "stream_us_per_update": "stream update (µs)"}),
    ("bench_env.py", {"jax_steps_per_s": "JAX env steps/s", "numpy_steps_per_s": "NumPy env steps/s", "ratio": "JAX / NumPy"}),
    ("bench_ppo.py", {"steps_per_s": "PPO train steps/s (Pendulum)", "envs.1.steps_per_s": "PPO train steps/s (the demo's market)",
                      "matmul_flops_per_s": "matmul FLOP/s", "roofline_fraction": "roofline fraction"}),
    ("bench_seeds.py", {"speedup_wall": "5 sequential seeds / 5 vmapped, wall", "speedup_excl_compile": "same, excl. compile"}),
    ("bench_policy_numpy.py", {"median_us": "NumPy policy (µs/decision)"}),
    ("bench_live.py", {"us_per_row_median": "live trader per book row, end to end (µs)"}),
    ("bench_recorder.py", {"updates_per_s": "recorder level updates/s", "snapshot_ms": "5 MB snapshot (ms)"}),
    ("bench_dashboard.py", {"results.0.median_ms": "dashboard full redraw (ms)", "results.1.median_ms": "dashboard tick (ms)"}),
    ("queue_truth.py", {"datasets.es.touch.fills_model": "ES touch quoter fills, mmjax",
                        "datasets.es.touch.fills_truth": "ES touch quoter fills, true FIFO queue",
                        "datasets.sse-601825.touch.queue_ahead_mae_frac": "SSE 601825 touch queue-ahead MAE / level"}),
    ("bench_synth.py", {"results.0.total_s": "built-in market generate + write (s)",
                        "results.1.total_s": "calibrated market generate + write (s)"}),
    ("bench_grid.py", {"s_per_config_mmjax": "backtest --grid, s per config (N=1024, engine)",
                       "s_per_config_hftbacktest": "hftbacktest 2.4.4, s per config",
                       "ratio": "grid / hftbacktest per config",
                       "fills_max_rel_diff_vs_hftbacktest": "fills max rel. diff vs hftbacktest (>= 20 fills)"}),
]


def machine_info() -> dict:
    """CPU model, cores, backend, jax version and git commit."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "commit": commit,
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        import jax

        info.update(jax_version=jax.__version__, backend=jax.default_backend(),
                    devices=[str(d.device_kind) for d in jax.devices()])
    except ImportError:
        info.update(jax_version=None, backend=None)
    return info


def flags_missing(script: Path, flags: list[str]) -> list[str]:
    """The ``flags`` that ``script --help`` does not list (all of them if --help fails)."""
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        return flags
    words = set(proc.stdout.replace(",", " ").replace("[", " ").replace("]", " ").split())
    return [f for f in flags if f not in words]


def _get(d, dotted: str):
    """d["a"]["b"][0] for "a.b.0"; None where absent."""
    for part in dotted.split("."):
        try:
            d = d[int(part)] if isinstance(d, list) else d[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return d


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def main(argv: list[str] | None = None, benchmarks: list[tuple[str, dict[str, str]]] | None = None,
         here: Path = HERE) -> int:
    """Run the benchmarks (``benchmarks``: script names under ``here`` with their summary keys)."""
    benchmarks = BENCHMARKS if benchmarks is None else benchmarks
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (minutes, not tens of minutes)")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for JSON, PNG and summary.md (default benchmarks/results, or results/quick with --quick)")
    ap.add_argument("--only", default="", help="comma-separated script names to run (default: all)")
    args = ap.parse_args(argv)
    out = args.out or (here / "results" / "quick" if args.quick else here / "results")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sorted(only - {script for script, _ in benchmarks})
    if unknown:
        print(f"run_all: error: --only names no benchmark: {', '.join(unknown)}; "
              f"known: {', '.join(s for s, _ in benchmarks)}", file=sys.stderr)
        return 2
    selected = [(s, keys) for s, keys in benchmarks if not only or s in only]
    flags = ["--json"] + (["--quick"] if args.quick else [])
    problems = [f"{s}: missing" for s, _ in selected if not (here / s).exists()]
    problems += [f"{s} does not take {', '.join(m)} (not in its --help)" for s, _ in selected
                 if (here / s).exists() and (m := flags_missing(here / s, flags))]
    if problems:
        print("run_all: error: nothing was run, because\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    rows, failures = [], []
    for script, keys in selected:
        path = here / script
        out_json = out / (path.stem.removeprefix("bench_") + ".json")
        out_json.unlink(missing_ok=True)  # an old file must not pass for this run's result
        cmd = [sys.executable, str(path), "--json", str(out_json)] + (["--quick"] if args.quick else [])
        print(f"== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out_json.exists():
            failures.append(f"{script}: exit {proc.returncode}" + ("" if proc.returncode else ", no JSON written"))
            continue
        result = json.loads(out_json.read_text())
        result["machine"] = info
        out_json.write_text(json.dumps(result, indent=2))
        for key, label in keys.items():
            value = _get(result, key)
            if value is not None:
                rows.append((script, label, _fmt(value)))
        print(f"   done in {wall:.1f} s", flush=True)
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, backend {info.get('backend')}, jax {info.get('jax_version')}, "
             f"commit {info['commit']}, {info['date_utc']}{' (--quick)' if args.quick else ''}", "",
             "| benchmark | figure | value |", "|---|---|---:|"]
    lines += [f"| {s} | {label} | {v} |" for s, label, v in rows]
    if failures:
        lines += ["", "Failed or missing: " + "; ".join(failures)]
    summary = "\n".join(lines)
    (out / "summary.md").write_text(summary + "\n")
    print()
    print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
