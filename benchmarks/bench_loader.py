"""Loader benchmark: a day of 100 ms book snapshots (864k rows x 20 levels) plus trades -> device arrays.

Measures ``read_recording`` (Parquet -> validated NumPy) and ``to_market_data`` + ``block_until_ready``
(NumPy -> device pytree), cold (first call in the process) and warm. Target: total <= 10 s.

    python benchmarks/bench_loader.py --json benchmarks/results/loader.json [--quick] [--source walk]

The recording comes from the built-in synthetic market (``mmjax.market.synth``) when it is importable,
else from a simple random walk written here; ``--data DIR`` loads an existing recording instead.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from mmjax import schema
from mmjax.data.loader import read_recording, to_market_data

TARGET_S = 10.0
START_NS = 1_785_000_000_000_000_000  # 2026-07-25 17:20 UTC: a day that spans two UTC dates


def write_random_walk(out: Path, hours: float, levels: int = 20, seed: int = 0, trades_per_s: float = 4.0) -> None:
    """A random-walk market written hour by hour (bounded memory): 1-3 tick spread, lognormal sizes."""
    rng = np.random.default_rng(seed)
    tick, grid_ns = 0.01, 100_000_000
    meta = schema.RecordingMeta(product="BTC-USD", tick_size=tick, levels=levels, source=f"bench_loader walk seed={seed}")
    rows_h = 36_000
    T = int(round(hours * rows_h))
    bid0 = 6_200_000  # ticks
    for h0 in range(0, T, rows_h):
        n = min(rows_h, T - h0)
        bid_t = bid0 + np.cumsum(rng.integers(-1, 2, n))  # [n] ticks
        bid0 = int(bid_t[-1])
        spread = rng.choice([1, 1, 1, 2, 3], n)
        steps = 1 + (rng.random((n, levels)) < 0.3) * rng.integers(1, 5, (n, levels))  # [n, L] level spacing
        steps[:, 0] = 0
        bid_px = (bid_t[:, None] - np.cumsum(steps, 1)) * tick
        ask_px = (bid_t[:, None] + spread[:, None] + np.cumsum(steps, 1)) * tick
        bid_sz = np.round(rng.lognormal(-1, 1.5, (n, levels)), 6) + 1e-6
        ask_sz = np.round(rng.lognormal(-1, 1.5, (n, levels)), 6) + 1e-6
        ts = START_NS + (h0 + np.arange(n, dtype=np.int64)) * grid_ns
        after_gap = np.zeros(n, bool)
        book = schema.book_table_from_arrays(ts - 30_000_000, ts, after_gap, np.round(bid_px, 2), bid_sz,
                                             np.round(ask_px, 2), ask_sz)
        schema.write_dataset(book, out, schema.BOOK_DIR, meta, f"{ts[0]}")
        k = rng.poisson(trades_per_s * n / 10)
        t_ns = np.sort(rng.integers(ts[0] + 1, ts[-1], k))
        row = np.searchsorted(ts, t_ns) - 1
        side = rng.choice(np.array([-1, 1], np.int8), k)
        px = np.where(side > 0, ask_px[row, 0] + tick * rng.integers(0, 3, k), bid_px[row, 0] - tick * rng.integers(0, 3, k))
        trades = schema.trades_table_from_arrays(t_ns - 20_000_000, t_ns, np.arange(h0 * 100, h0 * 100 + k),
                                                 np.round(px, 2), np.round(rng.lognormal(-5, 2, k), 6) + 1e-6, side)
        schema.write_dataset(trades, out, schema.TRADES_DIR, meta, f"{ts[0]}")


def write_synth(out: Path, hours: float) -> bool:
    """Write the built-in synthetic market; False if `mmjax.market.synth` is not available."""
    try:
        from mmjax.market import synth
    except ImportError:
        return False
    synth.run(synth.SynthConfig(out=str(out), hours=hours, seed=0))
    return True


def load_once(root: Path) -> dict[str, float]:
    """One full load; seconds per stage."""
    t0 = time.perf_counter()
    raw = read_recording(root)
    t1 = time.perf_counter()
    md = to_market_data(raw)
    md.bid_px.block_until_ready()
    for leaf in (md.bid_sz, md.ask_px, md.ask_sz, md.buy_px, md.sell_px, md.steps_to_gap):
        leaf.block_until_ready()
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "device_s": t2 - t1, "total_s": t2 - t0, "rows": raw.num_steps,
            "levels": md.levels, "trades": int(raw.report.trades)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write results here")
    ap.add_argument("--quick", action="store_true", help="2 hours instead of 24 (a smoke run)")
    ap.add_argument("--hours", type=float, default=None, help="recording length, hours (default 24, or 2 with --quick)")
    ap.add_argument("--source", choices=["auto", "synth", "walk"], default="auto", help="how to generate the recording")
    ap.add_argument("--data", type=Path, default=None, help="load this recording instead of generating one")
    ap.add_argument("--repeats", type=int, default=3, help="loads to time (the first is cold)")
    args = ap.parse_args(argv)
    hours = args.hours or (2.0 if args.quick else 24.0)
    import jax

    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        root, source, gen_s = args.data, "given", 0.0
        if root is None:
            root = Path(tmp) / "rec"
            t0 = time.perf_counter()
            source = "walk"
            if args.source in ("auto", "synth") and write_synth(root, hours):
                source = "synth"
            elif args.source == "synth":
                raise SystemExit("mmjax.market.synth is not available")
            else:
                write_random_walk(root, hours)
            gen_s = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in Path(root).rglob("*.parquet")) / 1e6
        runs = [load_once(Path(root)) for _ in range(max(1, args.repeats))]
    warm = runs[1:] or runs
    best = {k: min(r[k] for r in warm) for k in ("read_s", "device_s", "total_s")}
    result = {
        "benchmark": "loader", "source": source, "hours": hours, "rows": runs[0]["rows"], "levels": runs[0]["levels"],
        "trades": runs[0]["trades"], "parquet_mb": round(size_mb, 1), "generate_s": round(gen_s, 2),
        "cold": {k: round(runs[0][k], 3) for k in ("read_s", "device_s", "total_s")},
        "warm_best": {k: round(v, 3) for k, v in best.items()},
        "rows_per_s_warm": round(runs[0]["rows"] / best["total_s"]),
        "target_total_s": TARGET_S, "meets_target": bool(runs[0]["total_s"] <= TARGET_S),
        "device": str(jax.devices()[0]), "machine": f"{platform.machine()} {platform.python_version()}",
    }
    print(f"loader: {result['rows']:,} rows x {result['levels']} levels + {result['trades']:,} trades "
          f"({source}, {hours:g} h, {size_mb:.0f} MB Parquet, generated in {gen_s:.1f} s)")
    print(f"{'stage':<28}{'cold s':>10}{'warm best s':>14}")
    for key, label in (("read_s", "read_recording"), ("device_s", "to_market_data + ready"), ("total_s", "total")):
        print(f"{label:<28}{result['cold'][key]:>10.2f}{result['warm_best'][key]:>14.2f}")
    print(f"target <= {TARGET_S:.0f} s (cold): {'met' if result['meets_target'] else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
