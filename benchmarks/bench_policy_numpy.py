"""Per-decision latency of the NumPy policy (one observation in, one action out), 256-128 actor, D = spec.NUM_FEATURES.

    python benchmarks/bench_policy_numpy.py --json benchmarks/results/policy_np.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_US = 30.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the results JSON")
    ap.add_argument("--quick", action="store_true", help="fewer decisions")
    args = ap.parse_args(argv)

    import jax

    from mmjax.features import spec
    from mmjax.policy.export import export_policy
    from mmjax.policy.numpy_policy import NumpyPolicy
    from mmjax.ppo.networks import Actor, ObsNorm

    d = spec.NUM_FEATURES
    params = {"actor": Actor(2, (256, 128)).init(jax.random.PRNGKey(0), np.zeros((1, d), np.float32)),
              "obs_norm": ObsNorm.create(d)}
    with tempfile.TemporaryDirectory() as tmp:
        pol = NumpyPolicy.load(export_policy(params, Path(tmp) / "p.npz", {"action_mapping": {"max_offset_bps": 10.0}}))
    n = 2_000 if args.quick else 20_000
    obs = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    for o in obs[:200]:  # warm caches
        pol.act(o)
    lat = np.empty(n)
    for i, o in enumerate(obs):
        t0 = time.perf_counter_ns()
        pol.act(o)
        lat[i] = (time.perf_counter_ns() - t0) / 1e3
    t0 = time.perf_counter()
    pol.act(obs)
    batch_us = (time.perf_counter() - t0) / n * 1e6
    res = {"median_us": float(np.median(lat)), "p99_us": float(np.percentile(lat, 99)), "mean_us": float(lat.mean()),
           "batched_us_per_obs": batch_us, "decisions": n, "hidden": [256, 128], "obs_dim": d,
           "target_us": TARGET_US, "meets_target": bool(np.median(lat) <= TARGET_US), "numpy": np.__version__}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"{'metric':<28}{'value':>10}")
    for k in ("median_us", "p99_us", "mean_us", "batched_us_per_obs"):
        print(f"{k:<28}{res[k]:>10.2f}")
    print(f"target <= {TARGET_US} us per decision (median): {'met' if res['meets_target'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
