"""Device memory of the environment's parameters per recording row, by field.

    python benchmarks/bench_memory.py --data DIR [--data DIR ...] --json benchmarks/results/memory.json

Loads each recording, builds `EnvParams` (features as zeros of the real shape: their values do not
change their size), and sums the bytes of every array leaf (``EnvParams.market`` included) divided
by the number of rows. Prints a table and writes JSON. Pure accounting: no timing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from mmjax.data.loader import load_market
from mmjax.env.market_env import make_params
from mmjax.features.spec import MARKET_FEATURES


def bytes_by_field(params) -> dict[str, int]:
    """Bytes of every array leaf of ``params``, keyed by its path (market.bid_px, rows, ...)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = ".".join(str(getattr(k, "name", k)) for k in path)
        out[name] = int(np.asarray(leaf).nbytes)
    return out


def measure(data: str) -> dict:
    md, raw = load_market(data)
    T = md.num_steps
    params = make_params(md, np.zeros((T, len(MARKET_FEATURES)), np.float32), np.ones(T, np.float32),
                         episode_steps=min(3000, T // 4))
    fields = bytes_by_field(params)
    total = sum(fields.values())
    return {"data": data, "rows": T, "levels": int(raw.meta.levels), "bytes_per_row": total / T,
            "fields_bytes_per_row": {k: v / T for k, v in sorted(fields.items(), key=lambda kv: -kv[1])}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="recording directory (repeatable)")
    ap.add_argument("--json", required=True, help="output JSON path")
    args = ap.parse_args(argv)
    results = [measure(d) for d in args.data]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"{'recording':<48} {'rows':>8} {'levels':>6} {'bytes/row':>10}  largest fields (bytes/row)")
    for r in results:
        top = ", ".join(f"{k} {v:.0f}" for k, v in list(r["fields_bytes_per_row"].items())[:4])
        print(f"{r['data']:<48} {r['rows']:>8} {r['levels']:>6} {r['bytes_per_row']:>10.0f}  {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
