"""Live paper trader, per book row end to end: trades in, streaming features, NumPy policy, fills and account.

    python benchmarks/bench_live.py --json benchmarks/results/live.json [--quick] [--rows N]

A replay of the built-in synthetic market (generated in memory) is fed event by event to a
`PaperTrader` quoting with an exported policy (random 256-128 actor, the real export format and
`NumpyPolicy`); each row's time runs from the first trade of its interval to the end of `on_book`
(settle, mark, features, observation, policy, quote mapping, dashboard row). The same rows are
also timed through the streaming features alone and the policy alone, to show what the trader adds.
Several passes, each with a fresh trader; the first pass's first 200 rows are a warm-up.
The CPU time of the timing thread per row (`time.thread_time`, the fastest pass, trades included) is
reported too: other processes on a shared machine disturb it far less than the wall clock.
Target: median <= 60 us per row.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

TARGET_US = 60.0
WARMUP_ROWS = 200


def synth_raw(rows: int, seed: int = 0):
    """The built-in synthetic market as a `RawRecording`, in memory (no Parquet round trip)."""
    from mmjax.data.loader import LoadReport, RawRecording
    from mmjax.market import synth

    cfg = synth.SynthConfig(out="-", hours=rows / 36_000, seed=seed)
    mk = synth.generate(cfg)
    after_gap = np.zeros(len(mk.ts_recv_ns), bool)
    after_gap[0] = True
    return RawRecording(synth.meta_for(cfg), mk.ts_recv_ns - 20_000_000, mk.ts_recv_ns, after_gap,
                        mk.bid_px, mk.bid_sz, mk.ask_px, mk.ask_sz, mk.trade_ts_recv_ns, mk.trade_ts_recv_ns,
                        mk.trade_px, mk.trade_sz, mk.trade_side, LoadReport())


def write_policy(path: Path, hidden=(256, 128), seed: int = 0) -> Path:
    """A random actor in the real export format; the head's bias keeps quotes near the touch (fills happen)."""
    try:
        from mmjax.policy.export import export_policy
    except ImportError:  # the tree before mmjax/policy/ (to time an older commit side by side)
        from mmjax.export import export_policy
    from mmjax.features import spec

    rng = np.random.default_rng(seed)
    D, F = spec.NUM_FEATURES, spec.NUM_MARKET_FEATURES
    widths = (D, *hidden)
    torso = {}
    for i in range(len(hidden)):
        torso[f"dense_{i}"] = {"kernel": rng.normal(0, widths[i] ** -0.5, (widths[i], widths[i + 1])),
                               "bias": np.zeros(widths[i + 1])}
        torso[f"ln_{i}"] = {"scale": np.ones(widths[i + 1]), "bias": np.zeros(widths[i + 1])}
    head = {"kernel": rng.normal(0, 0.1 * hidden[-1] ** -0.5, (hidden[-1], 2)), "bias": np.array([-1.5, -1.5])}
    params = {"actor": {"params": {"torso": torso, "mean_head": head, "log_std": np.zeros(2)}},
              "obs_norm": SimpleNamespace(mean=np.zeros(D), var=np.ones(D), count=np.asarray(1.0))}
    extra = {"feature_mean": np.zeros(F, np.float32), "feature_std": np.ones(F, np.float32),
             "action_mapping": {"max_offset_bps": 10.0}}
    return export_policy(params, path, extra)


def time_trader(raw, quoter, passes: int) -> tuple[np.ndarray, dict, float]:
    """Per-row wall time (us) of `PaperTrader` over ``passes`` replays, the last pass's KPIs, and the CPU time
    of this thread per row (us, the fastest pass: what other processes on the machine disturb least)."""
    from mmjax.live import BookEvent, PaperTrader, ReplayFeed

    events = list(ReplayFeed(raw, speed=0).events())
    is_book = [isinstance(e, BookEvent) for e in events]
    clock = time.perf_counter_ns
    out, cpu_us = [], []
    for _ in range(passes):
        tr = PaperTrader(raw.meta, quoter, norm=quoter.norm)
        on_book, on_trade = tr.on_book, tr.on_trade
        lat = []
        cpu0 = time.thread_time_ns()
        t0 = clock()
        for ev, book in zip(events, is_book, strict=True):
            if book:
                on_book(ev)
                t1 = clock()
                lat.append(t1 - t0)
                t0 = t1
            else:
                on_trade(ev)
        cpu_us.append((time.thread_time_ns() - cpu0) / 1e3 / len(lat))
        out.append(np.asarray(lat) / 1e3)
    return np.concatenate(out)[WARMUP_ROWS:], tr.kpis(), min(cpu_us)


def time_parts(raw, quoter) -> tuple[np.ndarray, np.ndarray]:
    """Per-row us of the streaming features alone (trades + book row) and of one policy decision alone."""
    from mmjax.features import spec
    from mmjax.features.spec import FeatureConfig
    from mmjax.features.stream import StreamingFeatures

    tick = raw.meta.tick_size
    anchor = int(np.rint((np.rint(raw.bid_px[0, 0] / tick) + np.rint(raw.ask_px[0, 0] / tick)) / 2))
    sf = StreamingFeatures(FeatureConfig(), tick, anchor, raw.bid_px.shape[1], raw.meta.grid_ms)
    bounds = np.searchsorted(raw.trade_ts_recv_ns, raw.ts_recv_ns, side="right")
    clock = time.perf_counter_ns
    feat_us, obs = [], []
    lo = 0
    for i in range(raw.num_steps):
        t0 = clock()
        for j in range(lo, bounds[i]):
            sf.on_trade(float(raw.trade_px[j]), float(raw.trade_sz[j]), int(raw.trade_side[j]))
        obs.append(sf.on_book(raw.bid_px[i], raw.bid_sz[i], raw.ask_px[i], raw.ask_sz[i], i == 0))
        feat_us.append((clock() - t0) / 1e3)
        lo = bounds[i]
    pol_us = []
    for o in obs:  # the agent's own features (inventory, time, PnL, its orders) as zeros: the cost is the same
        x = np.concatenate([o, np.zeros(spec.NUM_FEATURES - len(o), np.float32)])
        t0 = clock()
        quoter.policy.act(x)
        pol_us.append((clock() - t0) / 1e3)
    return np.asarray(feat_us[WARMUP_ROWS:]), np.asarray(pol_us[WARMUP_ROWS:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the results JSON")
    ap.add_argument("--quick", action="store_true", help="fewer rows and passes")
    ap.add_argument("--rows", type=int, default=None, help="book rows per pass (default 6000, quick 2000)")
    args = ap.parse_args(argv)
    rows = args.rows or (2_000 if args.quick else 6_000)
    passes = 2 if args.quick else 3
    from mmjax.live import ModelQuoter

    raw = synth_raw(rows)
    with tempfile.TemporaryDirectory() as tmp:
        quoter = ModelQuoter(str(write_policy(Path(tmp) / "policy.npz")))
    per_row, kpis, cpu_us = time_trader(raw, quoter, passes)
    feat_us, pol_us = time_parts(raw, quoter)
    med = float(np.median(per_row))
    res = {
        "us_per_row_median": med, "us_per_row_p99": float(np.percentile(per_row, 99)),
        "us_per_row_mean": float(per_row.mean()), "cpu_us_per_row_mean": cpu_us, "features_us_median": float(np.median(feat_us)),
        "policy_us_median": float(np.median(pol_us)),
        "rows_per_pass": raw.num_steps, "passes": passes, "rows_timed": int(len(per_row)),
        "trades_per_pass": int(len(raw.trade_px)), "fills_last_pass": int(kpis["n_fills"]),
        "hidden": [256, 128], "target_us": TARGET_US, "meets_target": med <= TARGET_US,
        "source": "synth", "python": platform.python_version(), "numpy": np.__version__,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"live trader, {raw.num_steps:,} rows x {passes} passes, {len(raw.trade_px):,} trades/pass, "
          f"{kpis['n_fills']} fills in the last pass")
    print(f"{'per book row':<40}{'median us':>10}{'p99 us':>10}")
    print(f"{'trader end to end (on_trade + on_book)':<40}{med:>10.1f}{res['us_per_row_p99']:>10.1f}")
    print(f"{'  of which streaming features alone':<40}{res['features_us_median']:>10.1f}{np.percentile(feat_us, 99):>10.1f}")
    print(f"{'  of which NumPy policy alone':<40}{res['policy_us_median']:>10.1f}{np.percentile(pol_us, 99):>10.1f}")
    print(f"{'trader CPU time (this thread), mean':<40}{cpu_us:>10.1f}")
    print(f"target <= {TARGET_US:.0f} us per row (median): {'met' if res['meets_target'] else 'NOT met'}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
