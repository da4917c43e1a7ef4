"""K PPO seeds in one vmapped program (`mmjax.ppo.seeds.run_seeds`) against K sequential single-seed runs.

    python benchmarks/bench_seeds.py --json benchmarks/results/seeds.json [--seeds 5] [--updates 10] [--quick]

Both sides train the same K seeds on the same small synthetic market (`mmjax synth`, 0.5 h), same config,
the whole run in one chunk, files written as `mmjax train` writes them. "compile" is the chunk's XLA
compile (once for the vmapped run, once per run sequentially, as separate `mmjax train` calls do);
"train" is the rest of the wall time (init, the chunk, checkpoints, metrics, curves). Timings on a shared
CPU wander: both sides run in one process, back to back.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path


def _timed(fn) -> tuple[float, float]:
    """(wall s, compile s) of ``fn(progress)``, the compile read off the runner's "compiled ... in X s" lines."""
    lines: list[str] = []
    t0 = time.perf_counter()
    fn(lines.append)
    wall = time.perf_counter() - t0
    compile_s = sum(float(m.group(1)) for x in lines if (m := re.search(r"compiled .* in ([0-9.]+) s", x)))
    return wall, compile_s


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--updates", type=int, default=10, help="PPO updates per seed")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--num-steps", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="smoke size: 2 updates per seed")
    args = ap.parse_args(argv)
    if args.quick:
        args.updates = 2

    import jax

    from mmjax.env import build
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run
    from mmjax.ppo.config import PPOConfig
    from mmjax.ppo.runner import run_training
    from mmjax.ppo.seeds import run_seeds
    from mmjax.ppo.wrappers import EpisodeStats

    tmp = Path(tempfile.mkdtemp(prefix="bench_seeds_"))
    synth_run(SynthConfig(out=str(tmp / "market"), hours=0.5, seed=0))
    market = build.load(build.DataConfig(data=str(tmp / "market"), split_gap_steps=600), build.EnvKnobs(episode_steps=600))
    params = market.env_params(market.splits["train"])
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    cfg = PPOConfig(total_timesteps=args.updates * args.num_envs * args.num_steps, num_envs=args.num_envs,
                    num_steps=args.num_steps, updates_per_chunk=args.updates, seed=0)
    k = args.seeds

    vm_wall, vm_compile = _timed(lambda p: run_seeds(cfg, env, params, [tmp / "vmap" / f"seed{i}" for i in range(k)],
                                                     progress=p))
    seq_wall, seq_compile = _timed(lambda p: [run_training(dataclasses.replace(cfg, seed=i), env, params,
                                                           tmp / "seq" / f"seed{i}", progress=p) for i in range(k)])
    steps = k * cfg.num_updates * cfg.batch_size
    rows = [{"how": f"{k} seeds, one vmapped program", "wall_s": vm_wall, "compile_s": vm_compile,
             "train_s": vm_wall - vm_compile},
            {"how": f"{k} sequential single-seed runs", "wall_s": seq_wall, "compile_s": seq_compile,
             "train_s": seq_wall - seq_compile}]
    for r in rows:
        r["env_steps_per_s"] = steps / r["wall_s"]
        r["env_steps_per_s_excl_compile"] = steps / r["train_s"]
    result = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()], "seeds": k,
              "updates_per_seed": cfg.num_updates, "num_envs": cfg.num_envs, "num_steps": cfg.num_steps,
              "env_steps_total": steps, "rows": rows,
              "speedup_wall": seq_wall / vm_wall, "speedup_excl_compile": rows[1]["train_s"] / rows[0]["train_s"]}

    print(f"{k} seeds x {cfg.num_updates} updates x {cfg.batch_size} steps on {jax.default_backend()} "
          f"({steps:,} env steps in all)")
    print(f"| {'how':<34} | {'wall s':>7} | {'compile s':>9} | {'train s':>7} | {'steps/s':>9} | {'steps/s excl. compile':>21} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 11}|{'-' * 23}|")
    for r in rows:
        print(f"| {r['how']:<34} | {r['wall_s']:7.1f} | {r['compile_s']:9.1f} | {r['train_s']:7.1f} | "
              f"{r['env_steps_per_s']:9,.0f} | {r['env_steps_per_s_excl_compile']:21,.0f} |")
    print(f"sequential / vmapped: {result['speedup_wall']:.2f}x wall, {result['speedup_excl_compile']:.2f}x excluding compile")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
