"""Recorder throughput: parse + apply Coinbase level2 frames on one core, and the BTC-USD snapshot.

    python benchmarks/bench_recorder.py [--capture PATH] [--repeat N] [--quick] [--json PATH]

Uses the real capture in ../shared/data (or $MMJAX_SHARED_DATA) when present, else the small test
fixture (whose snapshot is truncated: its snapshot timing is then not the 5 MB one and is labelled so).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recorder.config import RecordConfig  # noqa: E402
from recorder.engine import Engine  # noqa: E402
from recorder.status import Counters  # noqa: E402

SHARED = Path(os.environ.get("MMJAX_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/conftest.py
REAL = SHARED / "coinbase-advanced-trade-2026-08-09" / "frames.jsonl.gz"
FIXTURE = ROOT / "tests" / "fixtures" / "coinbase_small.jsonl.gz"
TARGET_UPDATES_PER_S = 100_000
TARGET_SNAPSHOT_MS = 300.0


def load(path: Path) -> list[tuple[int, str]]:
    with gzip.open(path, "rt") as fh:
        return [(int(d["recv_ts"] * 1e9), d["frame"]) for d in map(json.loads, fh) if d["dir"] == "recv"]


def bench_snapshot(frame: str, repeat: int) -> tuple[float, int]:
    """Median ms for the engine to take one snapshot frame (json.loads, timestamps, full book)."""
    product = json.loads(frame)["events"][0]["product_id"]
    times = []
    for _ in range(repeat):
        eng = Engine([product], lambda *r: None, lambda *t: None, Counters())
        eng.on_connect(0)
        t0 = time.perf_counter()
        eng.on_frame(1, frame)
        times.append((time.perf_counter() - t0) * 1e3)
    book = eng.state[product].book
    return statistics.median(times), len(book.bids) + len(book.asks)


def bench_updates(frames: list[tuple[int, str]], repeat: int) -> tuple[float, int]:
    """Updates/s through the full engine (json.loads, seq check, book apply, grid rows), snapshots excluded."""
    is_snap = [('"type":"snapshot"' in f[:200] and '"l2_data"' in f[:30]) for _, f in frames]
    rates = []
    for _ in range(repeat):
        c = Counters()
        eng = Engine(["BTC-USD", "ETH-USD"], lambda *r: None, lambda *t: None, c, RecordConfig(out="", grid_ms=100))
        eng.on_connect(frames[0][0] - 1)
        dt = 0.0
        clock = time.perf_counter
        for (t, f), snap in zip(frames, is_snap, strict=True):
            if snap:  # snapshots are measured separately
                eng.on_frame(t, f)
                continue
            t0 = clock()
            eng.on_frame(t, f)
            dt += clock() - t0
        assert c.l2_updates_applied == c.l2_updates_received > 0 and c.book_rows > 0
        rates.append(c.l2_updates_applied / dt)
    return statistics.median(rates), c.l2_updates_applied


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", type=Path, default=REAL if REAL.exists() else FIXTURE)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs; the median is reported")
    ap.add_argument("--quick", action="store_true", help="2 repeats instead of --repeat (run_all.py --quick)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    repeat = 2 if args.quick else args.repeat
    frames = load(args.capture)
    snap = max((f for _, f in frames if '"type":"snapshot"' in f[:200] and '"l2_data"' in f[:30]), key=len)
    snap_ms, levels = bench_snapshot(snap, repeat)
    ups, n = bench_updates(frames, repeat)
    results = {
        "capture": str(args.capture), "python": platform.python_version(), "machine": platform.machine(),
        "snapshot_bytes": len(snap), "snapshot_levels": levels, "snapshot_ms": round(snap_ms, 1),
        "snapshot_target_ms": TARGET_SNAPSHOT_MS, "updates": n, "updates_per_s": round(ups),
        "updates_target_per_s": TARGET_UPDATES_PER_S, "repeat": repeat,
        "pass": bool(snap_ms <= TARGET_SNAPSHOT_MS and ups >= TARGET_UPDATES_PER_S),
    }
    print(f"{'measure':<34}{'value':>14}{'target':>12}")
    print(f"{'snapshot parse+apply (ms)':<34}{snap_ms:>14.1f}{'<= ' + str(TARGET_SNAPSHOT_MS):>12}")
    print(f"{'  snapshot size (MB / levels)':<34}{f'{len(snap) / 1e6:.2f} / {levels}':>14}")
    if len(snap) < 1_000_000:
        print(f"  (not the 5 MB snapshot: {args.capture} is the test fixture; set MMJAX_SHARED_DATA)")
    print(f"{'level updates/s (1 core, engine)':<34}{ups:>14,.0f}{'>= 100,000':>12}")
    print(f"{'  updates timed':<34}{n:>14,}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
