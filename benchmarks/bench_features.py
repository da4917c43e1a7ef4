"""Feature benchmark: batch features of 24 h of 100 ms data (864k rows x 20 levels), and the streaming twin.

Targets: batch (`compute_market_features`, jitted, warm) <= 5 s for 24 h; streaming `on_book`
<= 20 us per book update. The stream is timed on real replay order (each row's trades, then the
book row); both wall time and thread CPU time are reported, since on a shared machine wall time
also counts the time other processes hold the core.

    python benchmarks/bench_features.py --json benchmarks/results/features.json [--quick] [--hours H]
        [--stream-baseline OTHER/mmjax/features/stream.py]

``--stream-baseline`` times another version of the streaming twin (e.g. the previous commit's,
from ``git show HEAD~1:mmjax/features/stream.py > /tmp/old_stream.py``) against this one in the
same process, alternating runs, so a change is measured side by side rather than across runs.

The market is the built-in synthetic one (``mmjax.market.synth``, generated in memory) when it is
importable, else a random walk written here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time

import numpy as np

from mmjax import schema
from mmjax.data.loader import LoadReport, RawRecording, to_market_data
from mmjax.features import spec
from mmjax.features.stream import StreamingFeatures

BATCH_TARGET_S = 5.0
STREAM_TARGET_US = 20.0


def synth_recording(hours: float, seed: int = 0) -> tuple[RawRecording, str]:
    """The built-in synthetic market in memory (no Parquet round trip), or a random walk without it."""
    try:
        from mmjax.market import synth
    except ImportError:
        return walk_recording(hours, seed), "random walk"
    cfg = synth.SynthConfig(out="-", hours=hours, seed=seed)
    mk = synth.generate(cfg)
    T = len(mk.ts_recv_ns)
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    raw = RawRecording(synth.meta_for(cfg), mk.ts_recv_ns - 20_000_000, mk.ts_recv_ns, after_gap,
                       mk.bid_px, mk.bid_sz, mk.ask_px, mk.ask_sz, mk.trade_ts_recv_ns, mk.trade_ts_recv_ns,
                       mk.trade_px, mk.trade_sz, mk.trade_side, LoadReport())
    return raw, "synth"


def walk_recording(hours: float, seed: int = 0, levels: int = 20) -> RawRecording:
    """A random-walk book with 1-3 tick spreads, lognormal sizes and ~4 trades a second."""
    rng = np.random.default_rng(seed)
    T = int(round(hours * 36_000))
    tick = 0.01
    bid_t = 6_200_000 + np.cumsum(rng.integers(-1, 2, T))
    spread = rng.choice([1, 1, 1, 2, 3], T)
    steps = np.cumsum(1 + (rng.random((T, levels)) < 0.3) * rng.integers(1, 5, (T, levels)), axis=1) - 1
    bid_px, ask_px = (bid_t[:, None] - steps) * tick, (bid_t + spread)[:, None] * tick + steps * tick
    ts = 1_785_000_000_000_000_000 + np.arange(T, dtype=np.int64) * 100_000_000
    k = rng.poisson(0.4 * T)
    t_ns = np.sort(rng.integers(ts[0] + 1, ts[-1], k))
    row = np.searchsorted(ts, t_ns) - 1
    side = rng.choice(np.array([-1, 1], np.int8), k)
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    meta = schema.RecordingMeta(product="WALK-USD", tick_size=tick, levels=levels, source="bench_features walk")
    return RawRecording(meta, ts, ts, after_gap, bid_px, rng.lognormal(-1, 1.5, (T, levels)), ask_px,
                        rng.lognormal(-1, 1.5, (T, levels)), t_ns, t_ns,
                        np.where(side > 0, ask_px[row, 0], bid_px[row, 0]), rng.lognormal(-5, 2, k), side, LoadReport())


def bench_batch(md, repeats: int = 3) -> dict:
    """Cold (compile + run) and warm median seconds of the batch features."""
    from mmjax.features.batch import compute_market_features

    t0 = time.perf_counter()
    compute_market_features(md).values.block_until_ready()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f = compute_market_features(md)
        f.values.block_until_ready()
        f.sigma.block_until_ready()
        warm.append(time.perf_counter() - t0)
    return {"batch_cold_s": cold, "batch_s": float(np.median(warm)), "batch_runs_s": warm}


def load_stream_class(path: str) -> type:
    """`StreamingFeatures` of another copy of stream.py (imported under its own module name)."""
    mod_spec = importlib.util.spec_from_file_location("stream_baseline", path)
    if mod_spec is None or mod_spec.loader is None:
        raise SystemExit(f"--stream-baseline: cannot import {path}")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.StreamingFeatures


def bench_stream(raw: RawRecording, md, rows: int, cls: type = StreamingFeatures) -> dict:
    """Per-update cost of `on_book` (and of the row's `on_trade` calls) over the first ``rows`` rows."""
    sf = cls(spec.FeatureConfig(), md.tick_size, md.px_anchor_ticks, md.levels, md.grid_ms)
    step = raw.trade_step()
    order = np.argsort(step, kind="stable")
    bounds = np.searchsorted(step[order], np.arange(rows) - 1)  # trades of (t-1, t] start at bounds[t]
    bounds = np.append(bounds, np.searchsorted(step[order], rows - 1))
    t_px, t_sz, t_side = raw.trade_px[order].tolist(), raw.trade_sz[order].tolist(), raw.trade_side[order].tolist()
    book = [(raw.bid_px[t], raw.bid_sz[t], raw.ask_px[t], raw.ask_sz[t], bool(raw.after_gap[t])) for t in range(rows)]
    book_ns = np.zeros(rows, np.int64)
    trade_ns = 0
    n_trades = 0
    clock = time.perf_counter_ns
    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    for t in range(rows):
        lo, hi = (bounds[t], bounds[t + 1]) if t > 0 else (bounds[1], bounds[1])  # nothing before row 0
        a = clock()
        for j in range(lo, hi):
            sf.on_trade(t_px[j], t_sz[j], t_side[j])
        b = clock()
        sf.on_book(*book[t])
        book_ns[t] = clock() - b
        trade_ns += b - a
        n_trades += hi - lo
    cpu = time.thread_time() - cpu0
    wall = time.perf_counter() - wall0
    us = book_ns / 1e3
    return {
        "stream_rows": rows,
        "stream_us_per_update": float(np.median(us)),
        "stream_us_mean": float(us.mean()),
        "stream_us_p99": float(np.percentile(us, 99)),
        "stream_cpu_us_per_row": cpu / rows * 1e6,  # on_book + on_trade + loop, CPU time
        "stream_wall_us_per_row": wall / rows * 1e6,
        "stream_us_per_trade": trade_ns / 1e3 / max(n_trades, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="output JSON path")
    ap.add_argument("--quick", action="store_true", help="1 h of data and 5k streamed rows (smoke run)")
    ap.add_argument("--hours", type=float, default=None, help="hours of 100 ms data for the batch (default 24)")
    ap.add_argument("--stream-rows", type=int, default=None, help="rows fed to the streaming twin (default 30000)")
    ap.add_argument("--stream-baseline", default=None,
                    help="another stream.py to time against this one, alternating, best median of 3 each")
    args = ap.parse_args()
    hours = args.hours or (1.0 if args.quick else 24.0)
    rows = args.stream_rows or (5_000 if args.quick else 30_000)

    t0 = time.perf_counter()
    raw, source = synth_recording(hours)
    md = to_market_data(raw)
    md.bid_px.block_until_ready()
    prep_s = time.perf_counter() - t0

    import jax

    res = {"source": source, "rows": md.num_steps, "levels": md.levels, "hours": hours, "prep_s": prep_s,
           "backend": jax.default_backend(), "machine": platform.processor() or platform.machine()}
    res |= bench_batch(md)
    rows = min(rows, md.num_steps)
    if args.stream_baseline:
        base_cls = load_stream_class(args.stream_baseline)
        runs = {"this": [], "baseline": []}
        for _ in range(3):  # alternate, so both see the same machine load
            runs["this"].append(bench_stream(raw, md, rows))
            runs["baseline"].append(bench_stream(raw, md, rows, base_cls))
        best = {k: min(v, key=lambda r: r["stream_us_per_update"]) for k, v in runs.items()}
        res |= best["this"]
        res["stream_baseline"] = {"path": args.stream_baseline, **best["baseline"],
                                  "medians_us": [r["stream_us_per_update"] for r in runs["baseline"]]}
        res["stream_medians_us"] = [r["stream_us_per_update"] for r in runs["this"]]
    else:
        res |= bench_stream(raw, md, rows)
    res["batch_target_s"], res["stream_target_us"] = BATCH_TARGET_S, STREAM_TARGET_US
    res["batch_ok"] = res["batch_s"] <= BATCH_TARGET_S * hours / 24.0
    res["stream_ok"] = res["stream_us_per_update"] <= STREAM_TARGET_US

    print(f"features benchmark: {res['rows']:,} rows x {res['levels']} levels ({source}, {hours:g} h), backend {res['backend']}")
    print(f"{'measure':<34}{'value':>12}  target")
    print(f"{'batch warm (median of 3), s':<34}{res['batch_s']:>12.3f}  <= {BATCH_TARGET_S * hours / 24.0:g}")
    print(f"{'batch cold (incl. compile), s':<34}{res['batch_cold_s']:>12.3f}")
    print(f"{'stream on_book median, us':<34}{res['stream_us_per_update']:>12.2f}  <= {STREAM_TARGET_US:g}")
    print(f"{'stream on_book mean / p99, us':<34}{res['stream_us_mean']:>6.1f} / {res['stream_us_p99']:<6.1f}")
    print(f"{'stream CPU per row (all), us':<34}{res['stream_cpu_us_per_row']:>12.2f}")
    print(f"{'stream wall per row (all), us':<34}{res['stream_wall_us_per_row']:>12.2f}")
    print(f"{'on_trade, us':<34}{res['stream_us_per_trade']:>12.2f}")
    if "stream_baseline" in res:
        b = res["stream_baseline"]
        print(f"{'baseline on_book median, us':<34}{b['stream_us_per_update']:>12.2f}  ({b['path']})")
        print(f"{'  medians this / baseline, us':<34}{' '.join(f'{x:.2f}' for x in res['stream_medians_us'])} / "
              f"{' '.join(f'{x:.2f}' for x in b['medians_us'])}")
    with open(args.json, "w") as fh:
        json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
