"""The speed cost of mmjax's XLA default (`mmjax.xla_cpu`: the Eigen CPU pool off), side by side in one run.

    python benchmarks/bench_xla_flag.py --json benchmarks/results/xla_flag.json [--rounds 2]

Each round runs, in fresh processes and alternating the two settings (mmjax's default; and
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true``, XLA's own default, which opts out):

- `mmjax train` on the demo's market (the built-in 6 h market, the demo's env knobs and PPO shapes: 256 envs x
  64 steps, 5-update chunks) for ``--updates`` updates, one seed; steps/s is the median `charts/SPS` of the
  chunks after the first (the first chunk's includes nothing but its run, yet is noisier);
- `bench_env.py --quick` (JAX env steps/s) and `bench_ppo.py --quick --no-sweep` (PPO steps/s, Pendulum and the
  built-in market).

A shared machine only slows a run down, so compare the two columns of one round, and the best of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"mmjax default (eigen off)": None, "eigen on (XLA default)": "--xla_cpu_multi_thread_eigen=true"}


def _env(flags: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if flags:
        env["XLA_FLAGS"] = flags
    return env


def train_sps(flags: str | None, data: str, updates: int, work: Path) -> float:
    from mmjax.demo import DEMO_REGIMES, DemoConfig, train_config
    from mmjax.env.knobs import parse_fee_bps

    tc = train_config(DemoConfig(), data, parse_fee_bps(DEMO_REGIMES[0]), str(work / "run"))
    p, k, d = tc.core.ppo, tc.core.env, tc.core.data
    cmd = [sys.executable, "-m", "mmjax", "train", "--data", data, "--out", str(work / "run"),
           "--split-fractions", d.split_fractions, "--split-gap-steps", str(d.split_gap_steps),
           "--episode-steps", str(k.episode_steps), "--max-offset-bps", str(k.max_offset_bps),
           "--maker-fee-bps", str(k.maker_fee_bps), "--risk-aversion", str(k.risk_aversion), "--eta", str(k.eta),
           "--num-envs", str(p.num_envs), "--num-steps", str(p.num_steps), "--updates-per-chunk", str(p.updates_per_chunk),
           "--ent-coef", str(p.ent_coef), "--total-timesteps", str(updates * p.batch_size)]
    subprocess.run(cmd, check=True, env=_env(flags), cwd=ROOT, capture_output=True, text=True)
    rows = [json.loads(x) for x in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    chunk_sps = [r["charts/SPS"] for r in rows if r["update"] % p.updates_per_chunk == 0][1:]
    return statistics.median(chunk_sps)


def bench(script: str, args: list[str], flags: str | None, work: Path) -> dict:
    out = work / f"{script}.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--json", str(out), *args], check=True,
                   env=_env(flags), cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the figures")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, each running both settings")
    ap.add_argument("--updates", type=int, default=15, help="`mmjax train` updates per run (5 per chunk)")
    ap.add_argument("--skip-benches", action="store_true", help="only `mmjax train` (no bench_env, bench_ppo)")
    a = ap.parse_args(argv)
    from mmjax.data.builtin import builtin_market

    data = builtin_market(hours=6.0)  # the demo's market (mmjax demo: 6 h, seed 0)
    res = {name: {"train_sps": [], "env_steps_per_s": [], "ppo_pendulum_sps": [], "ppo_market_sps": []}
           for name in SETTINGS}
    for i in range(a.rounds):
        for name, flags in SETTINGS.items():
            with tempfile.TemporaryDirectory() as tmp:
                r = res[name]
                r["train_sps"].append(round(train_sps(flags, data, a.updates, Path(tmp))))
                if not a.skip_benches:
                    e = bench("bench_env.py", ["--quick"], flags, Path(tmp))
                    r["env_steps_per_s"].append(round(e["jax_steps_per_s"]))
                    b = bench("bench_ppo.py", ["--quick", "--no-sweep", "--repeats", "3"], flags, Path(tmp))
                    r["ppo_pendulum_sps"].append(round(b["envs"][0]["steps_per_s"]))
                    r["ppo_market_sps"].append(round(b["envs"][1]["steps_per_s"]))
            print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v[-1]:,}" for k, v in res[name].items() if v), flush=True)
    out = {"settings": SETTINGS, "results": res, "rounds": a.rounds, "updates": a.updates, "cpu_count": os.cpu_count(),
           "load_avg_at_end": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    for k in res[next(iter(SETTINGS))]:
        best = {name: max(res[name][k], default=0) for name in SETTINGS}
        if all(best.values()):
            on, off = best.values()
            print(f"{k}: best {on:,.0f} vs {off:,.0f} ({100 * (on / off - 1):+.1f} % with mmjax's default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
