"""How long the built-in market takes to generate: the default market and the calibrated presets, 24 h each.

    python benchmarks/bench_synth.py [--quick] [--json PATH]

Times `synth.generate` (the arrays) and the Parquet write separately; the median of ``--repeats``
runs after none (generation is NumPy, nothing to warm). The bar: 24 h of a calibrated market in
<= 60 s on this project's CPU. ``--quick`` generates 2 h and scales nothing (the table says so).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mmjax import schema
from mmjax.market import synth

MARKETS = ("", "binance-spot-btc", "multi-tick-eth", "vol-burst-btc", "large-tick")  # "" = the default built-in market
BAR_S = 60.0


def time_one(preset: str, hours: float, repeats: int) -> dict:
    gen, write, rows, trades = [], [], 0, 0
    for _ in range(repeats):
        cfg = synth.SynthConfig(out="-", hours=hours, seed=0, preset=preset)
        t0 = time.perf_counter()
        mk = synth.generate(cfg)
        gen.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            book, tr = synth.to_tables(mk, cfg.seed)
            meta = synth.meta_for(cfg)
            schema.write_dataset(book, tmp, schema.BOOK_DIR, meta, "b")
            schema.write_dataset(tr, tmp, schema.TRADES_DIR, meta, "b")
            write.append(time.perf_counter() - t0)
        rows, trades = len(mk.ts_recv_ns), len(mk.trade_px)
    g, w = statistics.median(gen), statistics.median(write)
    return {"market": preset or "default", "hours": hours, "rows": rows, "trades": trades, "generate_s": round(g, 2),
            "write_s": round(w, 2), "total_s": round(g + w, 2), "within_bar": g + w <= BAR_S * hours / 24}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 h per market instead of 24 h")
    p.add_argument("--repeats", type=int, default=1, help="runs per market (median)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args(argv)
    hours = 2.0 if args.quick else 24.0
    results = [time_one(m, hours, args.repeats) for m in MARKETS]
    print(f"{'market':<18}{'hours':>6}{'rows':>10}{'trades':>11}{'generate s':>12}{'write s':>9}{'total s':>9}  "
          f"<= {BAR_S:g} s per 24 h")
    for r in results:
        print(f"{r['market']:<18}{r['hours']:>6g}{r['rows']:>10,}{r['trades']:>11,}{r['generate_s']:>12.2f}"
              f"{r['write_s']:>9.2f}{r['total_s']:>9.2f}  {'yes' if r['within_bar'] else 'NO'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"bar_s_per_24h": BAR_S, "results": results}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
