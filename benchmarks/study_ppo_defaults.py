"""PPOConfig defaults study: learning curves of config variants on every continuous gymnax task (no brax).

    python benchmarks/study_ppo_defaults.py --variants defaults,mb32 --steps 1000000 --seeds 2 --json OUT.json

Each (task, variant) trains `--seeds` seeds in one jitted, vmapped program; the curve is the episodic return
(raw rewards, mean over seeds) in `--points` equal windows of env steps. A variant is PPOConfig overrides on
top of the defaults of the code that runs (run with PYTHONPATH pointing at another checkout to measure
that code's defaults: only PPOConfig, make_train and the metrics are used). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import gymnax
import jax
import numpy as np

from mmjax.ppo import PPOConfig, make_train

TASKS = ("Pendulum-v1", "MountainCarContinuous-v0", "Reacher-misc", "Swimmer-misc", "PointRobot-misc")
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "no_reward_norm": {"normalize_reward": False},
    "mb32": {"num_minibatches": 32},
    "mb32_std1": {"num_minibatches": 32, "init_log_std": 0.0},
    "mb32_ep8": {"num_minibatches": 32, "update_epochs": 8},
    "mb32_lr1e3": {"num_minibatches": 32, "lr": 1e-3},
    "mb16_ent0": {"num_minibatches": 16, "ent_coef": 0.0},
    "mb32_ent0": {"num_minibatches": 32, "ent_coef": 0.0},
    "mb32_ent0_std1": {"num_minibatches": 32, "ent_coef": 0.0, "init_log_std": 0.0},
    "s64_mb16": {"num_steps": 64, "num_minibatches": 16},
    "mb4": {"num_minibatches": 4},
    "mb8": {"num_minibatches": 8},
    "mb16": {"num_minibatches": 16},
    "mb32_ent01": {"num_minibatches": 32, "ent_coef": 0.01},
}


def curve(metrics: dict, points: int) -> list[float | None]:
    """Episodic return in `points` equal windows of updates, mean over seeds and over updates where episodes ended."""
    ret = np.asarray(metrics["charts/episodic_return"])  # [S, U]
    n_ep = np.asarray(metrics["charts/episodes"])  # [S, U]
    out = []
    for window in np.array_split(np.arange(ret.shape[1]), points):
        w = n_ep[:, window]
        out.append(float((ret[:, window] * w).sum() / w.sum()) if w.sum() > 0 else None)
    return out


def final_per_seed(metrics: dict, frac: float = 0.2) -> list[float | None]:
    """Mean episodic return over the last `frac` of updates, one value per seed (episode-weighted; None: no
    episode ended there)."""
    ret, n_ep = np.asarray(metrics["charts/episodic_return"]), np.asarray(metrics["charts/episodes"])
    k = max(1, int(round(ret.shape[1] * frac)))
    r, w = ret[:, -k:], n_ep[:, -k:]
    return [float((r[s] * w[s]).sum() / w[s].sum()) if w[s].sum() else None for s in range(ret.shape[0])]


def run_one(task: str, overrides: dict, steps: int, seeds: int, points: int) -> dict:
    """Train `seeds` seeds of one variant on one task; the result row (curve, final returns, timings)."""
    env, env_params = gymnax.make(task)
    cfg = dataclasses.replace(PPOConfig(), total_timesteps=steps, **overrides)
    train = jax.jit(jax.vmap(make_train(cfg, env, env_params)))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    t1 = time.perf_counter()
    metrics = jax.device_get(compiled(keys)["metrics"])
    t2 = time.perf_counter()
    return {"task": task, "overrides": overrides, "steps": steps, "seeds": seeds, "compile_s": t1 - t0,
            "run_s": t2 - t1, "final": final_per_seed(metrics), "curve": curve(metrics, points)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--variants", default="defaults", help=f"comma-separated names from {sorted(VARIANTS)}")
    ap.add_argument("--steps", type=int, default=1_000_000, help="env steps per run (per seed)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--points", type=int, default=10, help="points on each learning curve")
    ap.add_argument("--label", default="", help="prefix for variant names in the output (e.g. 'before:')")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    rows = []
    for name in args.variants.split(","):
        for task in args.tasks.split(","):
            r = {"variant": args.label + name, **run_one(task, VARIANTS[name], args.steps, args.seeds, args.points)}
            rows.append(r)
            fmt = " ".join("     n/a" if v is None else f"{v:8.1f}" for v in r["curve"])
            finals = [x for x in r["final"] if x is not None]
            mean = f"{np.mean(finals):8.1f}" if finals else "     n/a"
            print(f"{r['variant']:>16} {task:>25} final {mean} "
                  f"({', '.join('n/a' if x is None else f'{x:.1f}' for x in r['final'])})  {r['run_s']:5.0f} s | {fmt}",
                  flush=True)
            with open(args.json, "w") as f:
                json.dump({"config_defaults": dataclasses.asdict(PPOConfig()), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
