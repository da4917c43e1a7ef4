"""N fixed-quoter configurations in one `mmjax backtest --grid` run vs hftbacktest 2.4.4 one configuration at a time.

    python benchmarks/bench_grid.py --json benchmarks/results/bench_grid.json [--quick] \
        [--hbt-python /work/venv-hbt/bin/python] [--data-root ../shared/data] [--ns 1,64,1024,4096] [--hbt-configs 12]

The shared Binance spot BTCUSDT capture (about 11 minutes, 6,502 steps of 100 ms) is imported with
`mmjax import-tardis` as `benchmarks/peer_hftbacktest.py` does (1000 levels, linear account). The
quoter is that script's: a post-only bid and ask of 0.01 BTC at the mid -/+ H bp, 100 ms entry
latency, no fees. The grid: N configurations = N/4 half-spreads evenly from 0.05 to 5 bp times four
inventory limits (0.05, 0.1, 0.2, 0.4 BTC); N = 1 is 1 bp at 0.1 BTC.

mmjax: each N is one `python -m mmjax backtest --grid` command. ``s_per_config_mmjax`` is its grid
engine's wall time / N (building the programs, compiling them, running every configuration: what
the command reports as "N configurations in X s"); loading the recording is not counted, as
hftbacktest's data conversion is not. The whole command timed from the outside (interpreter and jax
start, loading, writing the Parquet file and the heatmaps too) is ``command_s`` and ``ratio_command``.
Every one of these commands is cold: it compiles its programs. The N = 1024 command then runs twice
more with JAX's persistent compilation cache (``JAX_COMPILATION_CACHE_DIR``, what a user sweeping the
same recording again gets): the first fills it, the second is ``compile_cache`` and
``s_per_config_mmjax_compile_cache`` (``ratio_compile_cache``); the bar's figure is the cold one. The
engine steps chunks of configurations on as many threads as the process has CPUs (2 here), so its CPU
seconds can exceed its wall seconds.
hftbacktest: its own venv runs ``--hbt-configs`` configurations evenly spread over the N = 1024
grid, one at a time, each through `peer_hftbacktest._hbt_run` (risk-averse queue, partial-fill
exchange, its decisions on mmjax's grid times: `peer_hftbacktest.local_shift_ns`) after one warm-up
run that is not counted; ``s_per_config_hftbacktest`` is the median
run. ``ratio`` = mmjax / hftbacktest per configuration, at N = 1024. On a shared machine wall times
wander with the load, so the same figures in CPU seconds (user + system: the engine's in-process,
each hftbacktest run's) are there too: ``cpu_s_per_config_mmjax``, ``cpu_s_per_config_hftbacktest``,
``ratio_cpu``. hftbacktest's warm-up run (Numba compiling its code, then one configuration) is
``hftbacktest_warmup_s``; counting it as well, hftbacktest's time per configuration over an N = 1024 grid is
``s_per_config_hftbacktest_compile_counted`` and ``ratio_compile_counted_both`` the cold mmjax figure against it
(compile counted on both sides; ``ratio_compile_cache`` is the other like-for-like figure, compile counted on neither).
Fills are compared configuration by configuration where hftbacktest counts >= 20
(``fills_max_rel_diff_vs_hftbacktest``, bar 10 %). Both run side by side in one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATASET = "binance-spot-btcusdt-2024-08-08"
TICK, LOT, SIZE = 0.01, 1e-5, 0.01
MAX_INVENTORIES = (0.05, 0.1, 0.2, 0.4)
MIN_FILLS = 20  # fills compared only where hftbacktest counts at least this many


def configs(n: int) -> list[tuple[float, float]]:
    """(half-spread bp, inventory limit BTC) of the N-configuration grid."""
    if n == 1:
        return [(1.0, 0.1)]
    hs = np.round(np.linspace(0.05, 5.0, max(1, n // len(MAX_INVENTORIES))), 6)
    return [(float(h), m) for h in hs for m in MAX_INVENTORIES][:n]


def grid_file(path: Path, cfgs: list[tuple[float, float]]) -> None:
    """A grid JSON holding exactly ``cfgs`` (a product: N/4 half-spreads x 4 limits, or one configuration)."""
    hs = sorted({h for h, _ in cfgs})
    mi = sorted({m for _, m in cfgs})
    assert len(hs) * len(mi) == len(cfgs)
    path.write_text(json.dumps({"env": {"quote_size": SIZE, "latency_steps": 1, "maker_fee_bps": 0.0, "max_inventory": mi},
                                "fixed": {"half_spread_bps": hs}}))


def run_mmjax(rec: Path, n: int, work: Path, cache: Path | None = None) -> dict:
    """One `mmjax backtest --grid` command over N configurations; its wall time and rows.

    ``cache``: with JAX's persistent compilation cache in that folder (else cold: every program compiled).
    """
    import pyarrow.parquet as pq

    g, out = work / f"grid_{n}.json", work / f"out_{n}{'_cached' if cache else ''}"
    grid_file(g, configs(n))
    cmd = [sys.executable, "-m", "mmjax", "backtest", "--data", str(rec), "--grid", str(g), "--out", str(out), "--overwrite", "--quiet"]  # the cache run writes twice
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    t0, c0 = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode:
        raise RuntimeError(f"mmjax backtest --grid failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = pq.read_table(out / "grid.parquet").to_pylist()
    meta = json.loads((out / "best.json").read_text())
    engine, engine_cpu = meta["seconds"], meta["cpu_seconds"]  # building the programs, compiling, running
    print(f"mmjax{' (compile cache)' if cache else ''}: {n:>5} configurations: command {wall:7.1f} s ({wall / n * 1e3:8.2f} ms each), "
          f"grid engine {engine:6.1f} s ({engine / n * 1e3:7.2f} ms each)", flush=True)
    return {"n_configs": n, "command_s": round(wall, 3), "s_per_config_command": wall / n, "engine_s": engine,
            "s_per_config": engine / n, "command_cpu_s": round(cpu, 3), "engine_cpu_s": engine_cpu,
            "cpu_s_per_config": engine_cpu / n, "rows": rows}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_hbt(python: str, src: Path, cfgs: list[tuple[float, float]], work: Path) -> dict | str:
    """hftbacktest over ``cfgs`` one at a time in its venv, or why it could not run: {"warmup_s", "runs": [per run]}."""
    if not Path(python).exists():
        return f"hftbacktest skipped: no interpreter at {python} (python3 -m venv /work/venv-hbt && /work/venv-hbt/bin/pip install hftbacktest==2.4.4)"
    out = work / "hbt.json"
    cmd = [python, __file__, "--worker", "--book", str(src / "incremental_book_L2.csv.gz"), "--trades",
           str(src / "trades.csv.gz"), "--configs", json.dumps(cfgs), "--out", str(out)]
    if subprocess.run(cmd, text=True).returncode:
        return "hftbacktest failed; see its output above"
    return json.loads(out.read_text())


def worker(args) -> int:
    """``--worker`` (the hftbacktest venv: NumPy and hftbacktest only): convert once, time each configuration."""
    import gzip

    from hftbacktest.data.utils import tardis
    from peer_hftbacktest import _hbt_run, local_shift_ns

    rows = sum(sum(1 for _ in gzip.open(f)) for f in (args.trades, args.book))
    data = tardis.convert([args.trades, args.book], buffer_size=rows + 1000)
    shift = local_shift_ns([args.trades, args.book])  # decide on mmjax's grid times
    results = []
    t0 = time.perf_counter()
    _hbt_run(data, TICK, LOT, SIZE, 0.1, 1.0, "risk_averse", "partial", shift)  # warm-up (its first run costs ~50x more)
    warmup_s = time.perf_counter() - t0  # Numba compiles hftbacktest's code, then runs one configuration
    print(f"hftbacktest warm-up run: {warmup_s:.2f} s (not counted)", flush=True)
    for h, m in json.loads(args.configs):
        t0, c0 = time.perf_counter(), time.process_time()
        r = _hbt_run(data, TICK, LOT, SIZE, m, h, "risk_averse", "partial", shift)
        results.append({"half_spread_bps": h, "max_inventory": m, "seconds": time.perf_counter() - t0,
                        "cpu_seconds": time.process_time() - c0, **r})
        print(f"hftbacktest {h:>8} bp, limit {m}: {r['fills']} fills in {results[-1]['seconds']:.2f} s", flush=True)
    Path(args.out).write_text(json.dumps({"warmup_s": warmup_s, "runs": results}, indent=2))
    return 0


def compare(rows: list[dict], hbt: list[dict]) -> tuple[float | None, list[dict]]:
    """Max relative fill difference over configurations where hftbacktest counts >= MIN_FILLS; per-config table."""
    by = {(round(r["half_spread_bps"], 6), r["max_inventory"]): r for r in rows}
    table, worst = [], None
    for x in hbt:
        m = by[(round(x["half_spread_bps"], 6), x["max_inventory"])]
        rel = (m["fills"] - x["fills"]) / x["fills"] if x["fills"] else None
        counted = x["fills"] >= MIN_FILLS and not x["stopped_early"]
        if counted:
            worst = max(worst or 0.0, abs(rel))
        table.append({"half_spread_bps": x["half_spread_bps"], "max_inventory": x["max_inventory"],
                      "fills_hftbacktest": x["fills"], "fills_mmjax": m["fills"], "rel_diff": rel, "counted": counted,
                      "pnl_hftbacktest": x["pnl"], "pnl_mmjax": m["pnl"]})
    return worst, table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="output JSON path")
    ap.add_argument("--quick", action="store_true", help="N = 1 and 64 only, 4 hftbacktest configurations")
    ap.add_argument("--ns", default="1,64,1024,4096", help="grid sizes, comma-separated")
    ap.add_argument("--hbt-configs", type=int, default=12, help="configurations hftbacktest runs (spread over N=1024)")
    ap.add_argument("--hbt-python", default="/work/venv-hbt/bin/python", help="interpreter of the hftbacktest venv")
    ap.add_argument("--data-root", default=str(HERE.parents[1] / "shared" / "data"))
    ap.add_argument("--levels", type=int, default=1000, help="book levels per side mmjax imports (cover the quotes)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--book", "--trades", "--configs", "--out"):
        ap.add_argument(flag, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if not args.json:
        ap.error("--json is required")
    src = Path(args.data_root) / DATASET
    if not src.is_dir():
        print(f"{src} absent: nothing to benchmark", file=sys.stderr)
        return 1
    ns = [1, 64] if args.quick else [int(x) for x in args.ns.split(",")]
    n_hbt = 4 if args.quick else args.hbt_configs
    ref_n = 1024 if 1024 in ns else max(ns)
    from mmjax.data.tardis import TardisImportConfig, import_tardis

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rec = work / "rec"
        import_tardis(TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"),
                                         out=str(rec), levels=args.levels, quiet=True, overwrite=True, contract_type="linear"))
        runs = {n: run_mmjax(rec, n, work) for n in ns}
        run_mmjax(rec, ref_n, work, cache=work / "xla_cache")  # fills the compilation cache (not reported)
        cached = run_mmjax(rec, ref_n, work, cache=work / "xla_cache")
        ref = configs(ref_n)
        pick = [ref[i] for i in np.linspace(0, len(ref) - 1, min(n_hbt, len(ref))).round().astype(int)]
        hbt_out = run_hbt(args.hbt_python, src, pick, work)
        hbt = hbt_out if isinstance(hbt_out, str) else hbt_out["runs"]
    out = {"dataset": DATASET, "levels": args.levels, "min_fills_compared": MIN_FILLS,
           "mmjax": [{k: v for k, v in r.items() if k != "rows"} for r in runs.values()],
           "n_configs": ref_n, "s_per_config_mmjax": runs[ref_n]["s_per_config"],
           "compile_cache": {k: v for k, v in cached.items() if k != "rows"},
           "s_per_config_mmjax_compile_cache": cached["s_per_config"]}
    if isinstance(hbt, str):
        print(hbt)
        out.update(hftbacktest=hbt, s_per_config_hftbacktest=None, ratio=None, ratio_command=None,
                   fills_max_rel_diff_vs_hftbacktest=None)
    else:
        s_hbt = float(np.median([x["seconds"] for x in hbt]))
        worst, table = compare(runs[ref_n]["rows"], hbt)
        c_hbt = float(np.median([x["cpu_seconds"] for x in hbt]))
        out.update(cpu_s_per_config_hftbacktest=c_hbt, cpu_s_per_config_mmjax=runs[ref_n]["cpu_s_per_config"],
                   ratio_cpu=runs[ref_n]["cpu_s_per_config"] / c_hbt)
        out.update(ratio_compile_cache=cached["s_per_config"] / s_hbt)
        # compile counted on both sides: hftbacktest's warm-up run (Numba's compile, then one configuration) and
        # ref_n - 1 more runs, against mmjax's cold engine (XLA's compile, then every configuration)
        cold_hbt = (hbt_out["warmup_s"] + (ref_n - 1) * s_hbt) / ref_n
        out.update(hftbacktest_warmup_s=hbt_out["warmup_s"], s_per_config_hftbacktest_compile_counted=cold_hbt,
                   ratio_compile_counted_both=runs[ref_n]["s_per_config"] / cold_hbt)
        out.update(s_per_config_hftbacktest=s_hbt, ratio=runs[ref_n]["s_per_config"] / s_hbt,
                   ratio_command=runs[ref_n]["s_per_config_command"] / s_hbt,
                   fills_max_rel_diff_vs_hftbacktest=worst, hftbacktest_configs=len(hbt), fills=table)
    print(f"{'N':>6}{'command s':>11}{'ms/config':>11}{'vs hbt':>13}{'engine s':>10}{'ms/config':>11}{'vs hbt':>13}"
          f"{'engine CPU ms/config':>22}{'vs hbt CPU':>13}")
    s_hbt, c_hbt = out["s_per_config_hftbacktest"], out.get("cpu_s_per_config_hftbacktest")
    vs = lambda x, ref: "" if not ref else f"1/{ref / x:.0f}" if x <= ref else f"{x / ref:.0f}x slower"  # noqa: E731
    for r in out["mmjax"]:
        print(f"{r['n_configs']:>6}{r['command_s']:>11.1f}{r['s_per_config_command'] * 1e3:>11.2f}"
              f"{vs(r['s_per_config_command'], s_hbt):>13}{r['engine_s']:>10.1f}{r['s_per_config'] * 1e3:>11.2f}"
              f"{vs(r['s_per_config'], s_hbt):>13}{r['cpu_s_per_config'] * 1e3:>22.2f}{vs(r['cpu_s_per_config'], c_hbt):>13}")
    c = out["compile_cache"]
    print(f"{'cached':>6}{c['command_s']:>11.1f}{c['s_per_config_command'] * 1e3:>11.2f}"
          f"{vs(c['s_per_config_command'], s_hbt):>13}{c['engine_s']:>10.1f}{c['s_per_config'] * 1e3:>11.2f}"
          f"{vs(c['s_per_config'], s_hbt):>13}{c['cpu_s_per_config'] * 1e3:>22.2f}{vs(c['cpu_s_per_config'], c_hbt):>13}"
          "  (JAX persistent compilation cache, filled by a run before)")
    try:
        load = os.getloadavg()
        out["load_average_at_end"] = [round(x, 2) for x in load]
        print(f"load average (1, 5, 15 min) at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    if out["s_per_config_hftbacktest"]:
        print(f"hftbacktest: {out['s_per_config_hftbacktest']:.2f} s per configuration ({len(hbt)} runs); fills max rel. diff "
              f"{out['fills_max_rel_diff_vs_hftbacktest']} where hftbacktest counts >= {MIN_FILLS}")
        print(f"compile counted on both sides (hftbacktest's warm-up run {out['hftbacktest_warmup_s']:.2f} s spread over "
              f"{ref_n} configurations: {out['s_per_config_hftbacktest_compile_counted']:.3f} s each): mmjax cold "
              f"1/{1 / out['ratio_compile_counted_both']:.0f}; compile counted on neither side (cache): "
              f"1/{1 / out['ratio_compile_cache']:.0f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
