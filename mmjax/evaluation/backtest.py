"""The backtest behind `mmjax backtest` (a library, so other code may run it): one policy over a whole recording,
one episode per gap-free segment.

The inventory is carried through a segment and never across a gap: every segment starts flat with
no orders (the environment's reset at its first row), and its PnL marks what is left at the mid of
its last row. The environment's own step runs in jitted chunks of ``chunk_steps`` steps, so a long
recording shows progress after each chunk; steps past a segment's end inside the last chunk are
masked out. A policy's clock (``time_left_frac``, A-S's horizon) restarts every ``episode_steps``
steps, as in live paper trading, since a segment is longer than the episodes policies train on.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.loader import RecordingError, load_market
from mmjax.data.market import identity
from mmjax.env import kpis
from mmjax.env.fill_kinds import FILL_KINDS
from mmjax.env.knobs import EnvKnobs, episode_span
from mmjax.env.market_env import EnvParams, MarketMakingEnv, make_params
from mmjax.evaluation import harness as H
from mmjax.evaluation.configs import BacktestConfig
from mmjax.features.batch import compute_market_features, normalize
from mmjax.outputs import UserError
from mmjax.policy import baselines as bl

SUMS = ("fills", "bid_fills", "ask_fills", "filled_size", "abs_position", "rejected_post_only", "fees",
        "beyond_depth_steps", "quote_steps", *(f"fills_{k}" for k in FILL_KINDS.values()))


def segments(after_gap: np.ndarray) -> list[tuple[int, int]]:
    """[(first row, end row)) of every gap-free segment with at least one step (two rows)."""
    starts = np.flatnonzero(np.asarray(after_gap)).tolist()
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    ends = [*starts[1:], len(after_gap)]
    return [(a, b) for a, b in zip(starts, ends, strict=True) if b - a >= 2]


def _run_dir_setup(path: Path):
    """(knobs, feature norm, policy factory) of a `mmjax train` run."""
    from mmjax.env import build
    from mmjax.runs import run_dir

    knobs = run_dir.load_train_config(path).core.env
    norm = build.load_norm(path / run_dir.FEATURE_NORM)
    return knobs, norm, lambda env, params: H.ppo_policy(path, env, params)


def _baseline_setup(cfg: BacktestConfig):
    """(knob overrides, policy factory) of a closed-form quoter."""
    if cfg.policy == "fixed" and cfg.fixed_ticks is not None:
        if cfg.fixed_ticks < -1:
            raise UserError(f"backtest: --fixed-ticks must be >= -1 (one tick inside the touch), got {cfg.fixed_ticks}")
        return (lambda env, params: H.baseline_policy("fixed", jnp.float32(cfg.fixed_ticks), None))
    if cfg.policy == "fixed":
        if not cfg.half_spread_bps >= 0:
            raise UserError(f"backtest: --half-spread-bps must be >= 0, got {cfg.half_spread_bps}")
        return (lambda env, params: H.offset_policy(jnp.float32(cfg.half_spread_bps)))
    if cfg.policy == "abstain":
        return (lambda env, params: H.baseline_policy("abstain", jnp.float32(0.0), None))

    def factory(env, params):
        T = params.market.num_steps
        if cfg.policy == "queue_aware":  # reads the book and its own orders: nothing to calibrate
            return H.baseline_policy(cfg.policy, jnp.float32(cfg.queue_threshold or np.median(H.QUEUE_THRESHOLDS)), None)
        calib = H.calibrate(params, 0, T)  # in-sample: a backtest tunes nothing out of sample
        gamma = cfg.baseline_gamma or float(np.median(H.default_grid(cfg.policy, params, calib)))
        return H.baseline_policy(cfg.policy, jnp.float32(gamma), calib)

    return factory


def step_sums(info: dict) -> dict[str, jax.Array]:
    """One step's contribution to each of ``SUMS`` (the backtest's and the grid's totals)."""
    nb, na = (info["bid_fill"] > 0), (info["ask_fill"] > 0)
    add = {
        "fills": nb.astype(jnp.int32) + na, "bid_fills": nb.astype(jnp.int32), "ask_fills": na.astype(jnp.int32),
        "filled_size": info["bid_fill"] + info["ask_fill"], "abs_position": jnp.abs(info["inventory"]),
        "rejected_post_only": info["bid_rejected"].astype(jnp.int32) + info["ask_rejected"],
        "fees": info["fee"],
        "beyond_depth_steps": info["bid_beyond"].astype(jnp.int32) + info["ask_beyond"],
        "quote_steps": info["bid_live"].astype(jnp.int32) + info["ask_live"],
    }
    add.update(kpis.fills_by_kind(info["bid_fill_kind"], info["ask_fill_kind"]))  # int32 per step
    return add


def zero_sums() -> dict[str, jax.Array]:
    """``SUMS`` at zero, in the dtypes `step_sums` adds."""
    return {k: (jnp.zeros((), jnp.float32) if k in ("filled_size", "abs_position", "fees") else jnp.zeros((), jnp.int32))
            for k in SUMS}


def _chunk_runner(env: MarketMakingEnv, policy, chunk: int):
    """Jitted: ``chunk`` steps from (obs, state); steps >= n_valid leave everything unchanged. Returns totals."""

    def run(obs, state, n_valid, params: EnvParams):
        E = params.episode_steps

        def body(carry, i):
            obs, state, acc = carry
            state_c = state.replace(time=jnp.where(state.time >= E, 0, state.time))  # the policy's clock restarts
            action = policy(obs, state_c, params)
            obs2, state2, _, _, info = env.step_env(jax.random.PRNGKey(0), state_c, action, params)
            ok = i < n_valid
            add = step_sums(info)
            acc = {k: acc[k] + jnp.where(ok, add[k], 0) for k in acc}
            pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
            return (pick(obs2, obs), pick(state2, state), acc), None

        (obs, state, acc), _ = jax.lax.scan(body, (obs, state, zero_sums()), jnp.arange(chunk))
        return obs, state, acc

    return jax.jit(run)


def backtest(cfg: BacktestConfig, progress=print, factory=None, setup=None) -> dict:
    """Run the backtest; returns the JSON payload (keys as `mmjax backtest` documents).

    ``factory(env, params) -> policy`` replaces ``cfg.policy`` with any closed-form policy (default knobs);
    ``setup = (knobs, feature norm, factory)`` with any policy at all (the command's policy.npz).
    """
    if not cfg.data:
        raise UserError("backtest: --data DIR is required")
    if cfg.chunk_steps < 1:
        raise UserError(f"backtest: --chunk-steps must be >= 1, got {cfg.chunk_steps}")
    path = Path(cfg.policy)
    if setup is not None:
        knobs, norm, factory = setup
    elif factory is not None:
        knobs, norm = EnvKnobs(), None
    elif cfg.policy in bl.BASELINES:
        knobs, norm, factory = EnvKnobs(), None, _baseline_setup(cfg)
    elif path.is_dir():
        knobs, norm, factory = _run_dir_setup(path)
    elif path.suffix == ".npz":
        raise UserError("backtest: a policy.npz runs through mmjax.evaluation.backtest_command.backtest (the NumPy policy)")
    else:
        raise UserError(f"backtest: --policy must be one of {bl.BASELINES}, a run directory or a policy.npz; got {cfg.policy!r}")
    knobs = cfg.env.over(knobs)
    if cfg.policy == "fixed" and cfg.fixed_ticks is None and knobs.max_offset_bps < cfg.half_spread_bps:
        knobs = dataclasses.replace(knobs, max_offset_bps=float(cfg.half_spread_bps))
    md, raw = load_market(cfg.data, cfg.product)
    feats = compute_market_features(md)
    obs_feats = normalize(feats.values, norm) if norm is not None else jnp.zeros_like(feats.values)
    segs = segments(np.asarray(md.after_gap))
    if not segs:
        raise RecordingError(f"{cfg.data}: no gap-free segment of two or more rows: nothing to backtest")
    L = knobs.latency_steps
    longest = max(b - a for a, b in segs)
    E = max(1, min(knobs.episode_steps, longest - episode_span(1, L)))  # the longest episode that fits: span < longest
    knobs = dataclasses.replace(knobs, episode_steps=E)
    # the split only bounds reset draws, which a backtest does not use: the whole recording
    fits = longest > episode_span(E, L)
    params = make_params(md, np.asarray(obs_feats), np.asarray(feats.sigma), None, knobs) if fits else None
    if params is None:
        raise RecordingError(f"{cfg.data}: the longest gap-free segment has {longest} rows; need more than {L + 2}")
    env = MarketMakingEnv()
    runner = _chunk_runner(env, factory(env, params), int(cfg.chunk_steps))
    reset = jax.jit(env.reset_at)
    total_steps = sum(b - a - 1 for a, b in segs)
    totals = {k: 0.0 for k in SUMS}
    pnl, seg_pnl, done, t_start, last_print = 0.0, [], 0, time.perf_counter(), 0.0
    for a, b in segs:
        obs, state = reset(jnp.int32(a), params)
        left = b - a - 1  # steps t = a .. b-2 (step t reads row t+1 <= b-1)
        while left > 0:
            n = min(left, cfg.chunk_steps)
            obs, state, acc = runner(obs, state, jnp.int32(n), params)
            for k, v in acc.items():
                totals[k] += float(v)
            left -= n
            done += n
            now = time.perf_counter()
            if not cfg.quiet and progress and (now - last_print > 2.0 or done == total_steps):
                rate = done / max(now - t_start, 1e-9)
                progress(f"backtest: {done:,}/{total_steps:,} steps ({100 * done / total_steps:.0f} %), "
                         f"{rate:,.0f} steps/s, ETA {(total_steps - done) / max(rate, 1e-9):.0f} s")
                last_print = now
        seg_pnl.append(float(state.pnl))
        pnl += seg_pnl[-1]
    steps = max(done, 1)
    return {
        "fills": int(totals["fills"]), "filled_size": totals["filled_size"], "pnl": pnl,
        "mean_abs_position": totals["abs_position"] / steps, "rejected_post_only": int(totals["rejected_post_only"]),
        "steps": done, "segments": len(segs),
        "bid_fills": int(totals["bid_fills"]), "ask_fills": int(totals["ask_fills"]),
        "fills_by_kind": {name: int(totals[f"fills_{name}"]) for name in FILL_KINDS.values()},
        "quote_steps": int(totals["quote_steps"]), "beyond_depth_steps": int(totals["beyond_depth_steps"]),
        "fees": totals["fees"], "segment_pnl": seg_pnl, "policy": cfg.policy,
        "half_spread_bps": cfg.half_spread_bps if cfg.policy == "fixed" and cfg.fixed_ticks is None else None,
        "fixed_ticks": cfg.fixed_ticks if cfg.policy == "fixed" else None,
        "market": identity(md, raw.meta),
        "knobs": dataclasses.asdict(knobs), "lot_size": float(params.lot_size), "levels": int(raw.meta.levels),
        "rows": md.num_steps, "seconds": round(time.perf_counter() - t_start, 2),
    }
