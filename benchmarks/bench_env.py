"""Env throughput: the jitted, vmapped JAX env vs the NumPy reference env, side by side in one run.

    python benchmarks/bench_env.py --json benchmarks/results/env.json [--quick]

JAX: ``num_envs`` envs, full step (obs, fills, reward, gymnax auto-reset) inside a jitted
``lax.scan``; compile excluded (a warm-up call), timed with ``block_until_ready``. The random
actions and per-env step keys are drawn before the clock starts, as the NumPy side draws its
actions, so both columns time the env alone; ``jax_steps_per_s_rng_in_loop`` also times drawing
them inside the scan (XLA:CPU's rolled threefry loop costs about a fifth of a step there).
NumPy: one `ReferenceMarketEnv` stepping with random actions. Market: the built-in synthetic
market (``mmjax.market.synth``) of about 100k rows, or a random-walk fallback if synth is missing.
Writes the JSON, prints a table, and plots the scaling curve to PNG next to the JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import MarketMakingEnv, make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData
from mmjax.features.spec import NUM_MARKET_FEATURES

F_M = NUM_MARKET_FEATURES


def synthetic_market(rows: int, seed: int = 0):
    """The built-in synthetic market (~rows rows) through the real loader; falls back to a random walk."""
    try:
        from mmjax.data import loader
        from mmjax.market import synth

        with tempfile.TemporaryDirectory() as d:
            cfg = synth.SynthConfig(out=d, hours=rows * 0.1 / 3600, seed=seed)
            mk = synth.generate(cfg)
            book, trades = synth.to_tables(mk, seed)
            from mmjax import schema

            meta = synth.meta_for(cfg)
            schema.write_dataset(book, d, schema.BOOK_DIR, meta, "bench")
            schema.write_dataset(trades, d, schema.TRADES_DIR, meta, "bench")
            market, _ = loader.load_market(d)
            return market, "mmjax.market.synth"
    except ImportError:
        pass
    return _random_walk_market(rows, seed), "random walk"


def _random_walk_market(T: int, seed: int):
    from mmjax.data.market import NO_PRICE, MarketData, steps_to_gap

    rng = np.random.default_rng(seed)
    L, M = 20, 8
    bb = np.cumsum(rng.integers(-1, 2, T) * (rng.random(T) < 0.3))
    bid_px = bb[:, None] - np.arange(L)
    ask_px = bb[:, None] + 1 + np.arange(L)
    buy_px = np.full((T, M), NO_PRICE, np.int32)
    sell_px = np.full((T, M), -NO_PRICE, np.int32)
    buy_px[:, :3] = ask_px[:, :3]
    sell_px[:, :3] = bid_px[:, :3]
    bv = (rng.exponential(0.01, (T, M)) * (buy_px != NO_PRICE)).astype(np.float32)
    sv = (rng.exponential(0.01, (T, M)) * (sell_px != -NO_PRICE)).astype(np.float32)
    ag = np.zeros(T, bool)
    ag[0] = True
    f = jnp.asarray
    return MarketData(
        bid_px=f(bid_px, jnp.int32), bid_sz=f(rng.exponential(1, (T, L)), jnp.float32), ask_px=f(ask_px, jnp.int32),
        ask_sz=f(rng.exponential(1, (T, L)), jnp.float32), mid=f(bb + 0.5, jnp.float32),
        t_s=f(np.arange(T) * 0.1, jnp.float32), after_gap=f(ag), steps_to_gap=f(steps_to_gap(ag)),
        buy_vol=f(bv.sum(1)), sell_vol=f(sv.sum(1)), buy_px=f(buy_px), buy_px_vol=f(bv), sell_px=f(sell_px),
        sell_px_vol=f(sv), n_trades=f(np.zeros(T, np.int32)), tick_size=0.01, px_anchor_ticks=6_200_000, grid_ms=100)


def jax_steps_per_s(env, params, num_envs: int, num_steps: int, repeats: int = 3, rng_in_loop: bool = False) -> float:
    """Env steps per second of ``num_envs`` envs scanned over ``num_steps`` (best of ``repeats``)."""
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def draw(key):  # [S, N, 2] uint32 step keys and [S, N, 2] actions in [-1, 1]
        k_act, k_step = jax.random.split(key)
        keys = jax.random.split(k_step, (num_steps, num_envs))
        return keys, jax.random.uniform(k_act, (num_steps, num_envs, 2), minval=-1.0, maxval=1.0)

    def body(state, xs):
        keys, acts = xs
        obs, state, r, term, trunc, _ = step(keys, state, acts, params)
        return state, r.sum() + obs[:, 0].sum()  # consume reward and obs so nothing is dead code

    @partial(jax.jit, donate_argnums=1)
    def run(inputs, state):
        state, out = jax.lax.scan(body, state, inputs)
        return state, out.sum()

    @partial(jax.jit, donate_argnums=1)
    def run_rng_in_loop(key, state):
        def body_rng(state, k):
            k_act, k_step = jax.random.split(k)
            acts = jax.random.uniform(k_act, (num_envs, 2), minval=-1.0, maxval=1.0)
            return body(state, (jax.random.split(k_step, num_envs), acts))
        state, out = jax.lax.scan(body_rng, state, jax.random.split(key, num_steps))
        return state, out.sum()

    key = jax.random.PRNGKey(0)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
    make_inputs = (lambda k: k) if rng_in_loop else jax.jit(draw)
    fn = run_rng_in_loop if rng_in_loop else run
    state, _ = jax.block_until_ready(fn(jax.block_until_ready(make_inputs(key)), state))  # compile + warm-up
    best = np.inf
    for i in range(repeats):
        inputs = jax.block_until_ready(make_inputs(jax.random.PRNGKey(i + 1)))
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(fn(inputs, state))
        best = min(best, time.perf_counter() - t0)
    return num_envs * num_steps / best


def numpy_steps_per_s(market, features, sigma, num_steps: int, episode_steps: int) -> float:
    """Steps per second of one reference env (resetting at the time limit)."""
    env = ReferenceMarketEnv(ReplayData.from_market(market), features, sigma, EnvKnobs(episode_steps=episode_steps))
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (num_steps, 2)).astype(np.float32)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return num_steps / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="output JSON path (PNG written next to it)")
    ap.add_argument("--quick", action="store_true", help="fewer rows, steps and scaling points")
    ap.add_argument("--rows", type=int, default=None, help="synthetic market rows (default 100000, quick 20000)")
    ap.add_argument("--num-envs", type=int, default=None, help="envs of the headline figure (default 4096 on CPU, 65536 on GPU)")
    ap.add_argument("--curve", default="", help="env counts of the scaling curve, comma-separated (default per backend)")
    args = ap.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 100_000)
    market, source = synthetic_market(rows)
    T = market.num_steps
    features = np.random.default_rng(1).normal(size=(T, F_M)).astype(np.float32)
    sigma = np.full(T, 300.0, np.float32)
    episode_steps = 3000
    params = make_params(market, features, sigma, episode_steps=episode_steps)
    env = MarketMakingEnv()
    backend = jax.default_backend()
    gpu = backend == "gpu"

    num_envs, steps = args.num_envs or (65536 if gpu else 4096), (100 if args.quick else 500)
    # best of 5: the machine is shared, and a busy moment can only slow a repeat down
    jax_sps = jax_steps_per_s(env, params, num_envs, steps, repeats=5)
    jax_sps_rng = jax_steps_per_s(env, params, num_envs, steps, repeats=5, rng_in_loop=True)
    np_sps = numpy_steps_per_s(market, features, sigma, 2000 if args.quick else 10_000, episode_steps)
    if args.curve:
        curve_n = [int(n) for n in args.curve.split(",") if n.strip()]
    elif args.quick:
        curve_n = [1, 64, 1024, 4096, 16384]
    else:
        curve_n = [1, 16, 256, 1024, 4096, 16384, 65536] + ([262144, 1048576] if gpu else [])
    work = 50_000_000 if gpu else 2_000_000  # env steps per curve point: long enough to time on either
    curve = []
    for n in curve_n:
        n_steps = int(np.clip(work // n, 20, 2000)) // (4 if args.quick else 1)
        curve.append({"num_envs": n, "jax_steps_per_s": jax_steps_per_s(env, params, n, max(n_steps, 10), repeats=2)})

    result = {"jax_steps_per_s": jax_sps, "jax_steps_per_s_rng_in_loop": jax_sps_rng, "numpy_steps_per_s": np_sps, "ratio": jax_sps / np_sps,
              "num_envs": num_envs, "backend": backend, "device": jax.devices()[0].device_kind, "rows": T,
              "market": source, "episode_steps": episode_steps, "scaling": curve}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))

    print(f"market: {source}, {T} rows; backend {backend} ({jax.devices()[0]})")
    print(f"{'num_envs':>10} {'jax steps/s':>14}")
    for row in curve:
        print(f"{row['num_envs']:>10} {row['jax_steps_per_s']:>14,.0f}")
    print(f"JAX {num_envs} envs, actions and keys drawn inside the scan: {jax_sps_rng:,.0f} steps/s")
    print(f"JAX {num_envs} envs: {jax_sps:,.0f} steps/s | NumPy reference: {np_sps:,.0f} steps/s | ratio {jax_sps / np_sps:,.0f}x")
    _plot(curve, np_sps, backend, out.with_suffix(".png"))
    return 0


def _plot(curve, np_sps: float, backend: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog([c["num_envs"] for c in curve], [c["jax_steps_per_s"] for c in curve], "o-", label=f"JAX env ({backend})")
    ax.axhline(np_sps, color="gray", ls="--", label="NumPy reference (1 env)")
    ax.set_xlabel("parallel envs")
    ax.set_ylabel("env steps / s")
    ax.set_title("mmjax env throughput")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
