"""End-to-end PPO training throughput (env + update) against a measured matmul roofline.

    python benchmarks/bench_ppo.py --json benchmarks/results/ppo.json [--quick]

Rows: Pendulum-v1 (gymnax), and the built-in market the demo trains on (the demo's 6 h market, env knobs and
PPO shapes: `demo_market`), which is what `mmjax demo` and `mmjax train` on it run.

FLOPs per env step are counted from the network shapes (2*in*out per Dense per sample; LayerNorm,
activations, Adam and the env are not counted, so the roofline fraction is a lower bound on MLP
efficiency): rollout actor forward + post-rollout recompute (actor on obs, critic on obs and on the
final obs) + update_epochs * 3 * (actor + critic) forward (backward ~ 2x forward).

The matmul peak is the best sustained window of back-to-back [n, n] products (about 1 s, like a timed
PPO chunk), sampled between measurements.

Sizes default per backend: on CPU 256 envs x 64 steps in 8 minibatches of 2048 rows (fastest here);
on a GPU 65536 envs x 64 steps in 8 minibatches (the "64k envs" large-run setting, docs/ppo.md).
``--scale 4096,16384,...`` adds rows at other env counts (same steps and minibatch count).
On GPU, XLA runs float32 matmuls in its default precision (TF32 on Hopper) for both the networks and
the matmul peak, so the fraction compares like with like.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import mmjax  # noqa: F401 - mmjax's XLA default (mmjax.xla_cpu) before any jax computation, as in `mmjax train`


def matmul_flops_per_s(n: int, repeats: int, window_s: float = 0.0) -> float:
    """Float32 [n, n] @ [n, n] throughput via XLA, FLOP/s: the best of `repeats` timed windows.

    With ``window_s`` > 0 each window runs back-to-back products for about that long (sustained peak,
    timed like a PPO chunk); with 0, one product per window (burst peak).
    """
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()
    t0 = time.perf_counter()
    f(a, b).block_until_ready()
    per_product = max(time.perf_counter() - t0, 1e-9)
    k = max(1, round(window_s / per_product)) if window_s > 0 else 1
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(k):  # dispatched asynchronously, so back to back on the device
            out = f(a, b)
            if i % 8 == 7:  # bound the products in flight (memory), at a negligible sync cost
                out.block_until_ready()
        out.block_until_ready()
        best = min(best, (time.perf_counter() - t0) / k)
    return 2.0 * n**3 / best


def mlp_flops(sizes: list[int]) -> int:
    """Forward FLOPs per sample of a chain of Dense layers with these widths."""
    return sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def flops_per_env_step(obs_dim: int, action_dim: int, hidden: tuple[int, ...], update_epochs: int) -> int:
    """Counted MLP FLOPs per env step of training (see module docstring)."""
    actor = mlp_flops([obs_dim, *hidden, action_dim])
    critic = mlp_flops([obs_dim, *hidden, 1])
    return actor + (actor + 2 * critic) + update_epochs * 3 * (actor + critic)


def measure(config, env, env_params, updates: int, repeats: int = 2) -> dict:
    """Steps/s of `updates` PPO updates in one compiled chunk (best of `repeats`, compile excluded)."""
    from mmjax.ppo.train import HParams, make_ppo

    ppo = make_ppo(config, env, env_params)
    hp = HParams.from_config(config)
    state = jax.jit(ppo.init)(jax.random.PRNGKey(0), hp, env_params)
    t0 = time.perf_counter()
    run = jax.jit(ppo.run, static_argnums=3).lower(state, hp, env_params, updates).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out, _ = run(state, hp, env_params)
        jax.block_until_ready(out.params)
        best = min(best, time.perf_counter() - t0)
    steps_per_s = updates * config.batch_size / best
    flops = flops_per_env_step(ppo.obs_dim, ppo.action_dim, config.hidden, config.update_epochs)
    return {"steps_per_s": steps_per_s, "flops_per_step": flops, "compile_s": compile_s, "obs_dim": ppo.obs_dim}


def demo_market(hours: float):
    """``(env, params)``: the built-in market the demo trains on (`mmjax.data.builtin`, ``hours`` long, seed 0), its
    training split, the demo's env knobs for its first fee regime (`mmjax.demo.train_config`) and the env wrapper
    `mmjax train` uses: what a user's `mmjax demo` / `mmjax train` runs."""
    from mmjax.data.builtin import builtin_market
    from mmjax.demo import DEMO_MARKETS, DEMO_REGIMES, DemoConfig, train_config
    from mmjax.env import build
    from mmjax.env.knobs import parse_fee_bps
    from mmjax.ppo.wrappers import EpisodeStats

    demo = DemoConfig(hours=hours)
    tc = train_config(demo, builtin_market(hours=demo.hours, seed=demo.ppo.seed, preset=DEMO_MARKETS[0]),
                      parse_fee_bps(DEMO_REGIMES[0]), out="unused")
    market = build.load(tc.core.data, tc.core.env)
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    return env, market.env_params(market.splits["train"]), tc.core.ppo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the results JSON")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (CI smoke)")
    ap.add_argument("--png", default=None, help="steps/s vs network width plot (default: next to --json)")
    ap.add_argument("--num-envs", type=int, default=None, help="envs (default 256 on CPU, 65536 on GPU)")
    ap.add_argument("--num-steps", type=int, default=64, help="rollout steps per env per update")
    ap.add_argument("--num-minibatches", type=int, default=None, help="minibatches per epoch (default 8)")
    ap.add_argument("--update-epochs", type=int, default=4, help="epochs per update")
    ap.add_argument("--updates", type=int, default=None, help="updates per timed chunk (default 4)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per row; the best is kept (a shared CPU "
                    "only ever slows a repeat down, so the best is the least disturbed)")
    ap.add_argument("--market-hours", type=float, default=None,
                    help="length of the built-in market, hours (default: the demo's 6; --quick: 0.25)")
    ap.add_argument("--scale", default="", help="extra env counts to measure, comma-separated")
    ap.add_argument("--no-sweep", action="store_true", help="skip the network-width sweep")
    args = ap.parse_args(argv)

    import gymnax

    from mmjax.demo import DemoConfig
    from mmjax.ppo import PPOConfig

    q = args.quick
    gpu = jax.default_backend() == "gpu"
    updates = args.updates or (2 if q else 4)
    # Minibatches of 2048 rows (num_envs * num_steps / num_minibatches): measured on the 2-core EPYC with
    # 256,128 tanh MLPs, 1024-2048 rows run fastest (fraction ~0.53); 4096-32768 rows fall to 0.32-0.43,
    # since their [rows, 256] activations no longer stay in cache between the matmuls and the
    # LayerNorm/tanh passes. The counted FLOPs per env step do not depend on this choice.
    default_envs = 64 if q else (65536 if gpu else 256)
    cfg = PPOConfig(num_envs=args.num_envs or default_envs, num_steps=args.num_steps,
                    num_minibatches=args.num_minibatches or (4 if q else 8), update_epochs=args.update_epochs,
                    hidden_sizes="256,128", total_timesteps=10**10)
    # The CPU is shared: sample the matmul peak next to every measurement and divide by the best
    # sample, so a busy moment can only lower (never inflate) the reported roofline fraction. Each
    # sample is the best sustained window of back-to-back products lasting about as long as one timed
    # PPO chunk, so numerator and denominator are timed alike (a single short product can catch a
    # quiet instant that a one-second chunk cannot).
    mm_n, mm_rep = (1024, 3) if q else ((8192, 3) if gpu else (2048, 3))
    window_s = 0.2 if q else 1.0
    mm_samples = [matmul_flops_per_s(mm_n, mm_rep, window_s)]
    env, env_params = gymnax.make("Pendulum-v1")
    rows = []
    main_res = measure(cfg, env, env_params, updates, repeats=args.repeats)
    mm_samples.append(matmul_flops_per_s(mm_n, mm_rep, window_s))
    rows.append({"env": "Pendulum-v1", "num_envs": cfg.num_envs, "hidden": cfg.hidden_sizes, **main_res})

    widths = [] if args.no_sweep else ([64, 256] if q else [64, 128, 256, 512, 1024])
    sweep = []
    for w in widths:
        c = dataclasses.replace(cfg, hidden_sizes=f"{w},{max(w // 2, 1)}")
        sweep.append({"width": w, **measure(c, env, env_params, updates, repeats=1)})
        mm_samples.append(matmul_flops_per_s(mm_n, mm_rep, window_s))

    hours = args.market_hours or (0.25 if q else DemoConfig.hours)
    *market, demo_ppo = demo_market(hours)
    scale = [int(n) for n in args.scale.split(",") if n.strip()] if args.scale else []
    for n in [cfg.num_envs, *scale]:
        c = dataclasses.replace(cfg, num_envs=n)
        r = measure(c, *market, updates, repeats=args.repeats)
        rows.append({"env": f"built-in market ({hours:g} h, the demo's)", "num_envs": n, "hidden": c.hidden_sizes, **r})
        mm_samples.append(matmul_flops_per_s(mm_n, mm_rep, window_s))
        if n != cfg.num_envs:
            r = measure(c, env, env_params, updates, repeats=args.repeats)
            rows.append({"env": "Pendulum-v1", "num_envs": n, "hidden": c.hidden_sizes, **r})
    mm = max(mm_samples)
    for s in sweep:
        s["roofline_fraction"] = s["steps_per_s"] * s["flops_per_step"] / mm
    for r in rows:
        r["roofline_fraction"] = r["steps_per_s"] * r["flops_per_step"] / mm
    result = {
        "steps_per_s": main_res["steps_per_s"], "flops_per_step": main_res["flops_per_step"],
        "matmul_flops_per_s": mm, "matmul_samples": mm_samples, "matmul_window_s": window_s, "roofline_fraction": main_res["steps_per_s"] * main_res["flops_per_step"] / mm,
        "num_envs": cfg.num_envs, "backend": jax.default_backend(), "device_count": jax.local_device_count(),
        "device": jax.devices()[0].device_kind, "minibatch_rows": cfg.batch_size // cfg.num_minibatches,
        "config": dataclasses.asdict(cfg), "envs": rows, "width_sweep": sweep, "market_hours": hours,
        "demo_ppo_shapes": {k: getattr(demo_ppo, k) for k in ("num_envs", "num_steps", "num_minibatches",
                                                              "update_epochs", "hidden_sizes")},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))

    print(f"backend {result['backend']} x{result['device_count']} ({result['device']}), matmul best "
          f"{mm / 1e9:.1f} GFLOP/s (samples {', '.join(f'{x / 1e9:.0f}' for x in mm_samples)})")
    print(f"{cfg.num_steps} steps x {cfg.num_minibatches} minibatches x {cfg.update_epochs} epochs, {updates} updates timed")
    print(f"{'env':<34}{'envs':>8}{'hidden':>10}{'steps/s':>14}{'FLOP/step':>12}{'GFLOP/s':>10}{'roofline':>10}")
    for r in rows:
        g = r["steps_per_s"] * r["flops_per_step"]
        print(f"{r['env']:<34}{r['num_envs']:>8}{r['hidden']:>10}{r['steps_per_s']:>14,.0f}{r['flops_per_step']:>12,}"
              f"{g / 1e9:>10.1f}{g / mm:>10.2f}")
    for s in sweep:
        print(f"{'  width sweep (Pendulum)':<34}{cfg.num_envs:>8}{s['width']:>10}{s['steps_per_s']:>14,.0f}"
              f"{s['flops_per_step']:>12,}{s['steps_per_s'] * s['flops_per_step'] / 1e9:>10.1f}{s['roofline_fraction']:>10.2f}")

    if not sweep:
        print(f"wrote {out}")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot([s["width"] for s in sweep], [s["steps_per_s"] for s in sweep], "o-")
    ax[0].set(xscale="log", yscale="log", xlabel="first hidden width (second = width/2)", ylabel="env steps / s")
    ax[1].plot([s["width"] for s in sweep], [s["roofline_fraction"] for s in sweep], "o-")
    ax[1].set(xscale="log", xlabel="first hidden width", ylabel="fraction of matmul FLOP/s")
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle(f"PPO on Pendulum-v1, {cfg.num_envs} envs, {jax.default_backend()}")
    fig.tight_layout()
    png = Path(args.png) if args.png else out.with_suffix(".png")
    fig.savefig(png, dpi=100)
    print(f"wrote {out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
