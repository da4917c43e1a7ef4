"""A grid of traced hyperparameters x seeds trained as one jitted, vmapped program, each policy validated.

Any traced `HParams` field (lr, ent_coef, gamma, ...) and any traced env-params field (for example the
market env's risk aversion) can be an axis. Static fields (network sizes, batch shapes) cannot: they change
the program. Env params are arguments of the program, never constants baked into it, so the market data
is passed once and shared by every grid point.

Validation runs each trained policy's deterministic action (tanh of the mean) on `val_envs` envs of the
validation env params for `val_steps` steps and averages the `EpisodeStats` metrics of the episodes that
ended; every grid point and seed sees the same episodes (same key; resets draw from the key alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.ppo import distributions as dist
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.train import HParams, make_train


def cartesian(axes: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Every combination of the axis values, the first axis varying slowest: {name: [G] float32}."""
    names = list(axes)
    combos = list(itertools.product(*(axes[n] for n in names)))
    return {n: np.asarray([c[i] for c in combos], np.float32) for i, n in enumerate(names)}


def validate(ppo, params: dict, env_params: Any, key: jax.Array, num_envs: int, num_steps: int) -> dict:
    """Deterministic policy for `num_steps` steps in `num_envs` envs: per episode metric its mean, std and count."""
    obs_clip = ppo.config.obs_clip
    obs, state = jax.vmap(ppo.env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), env_params)

    def step(carry, k):
        obs, state = carry
        mean, _ = ppo.actor.apply(params["actor"], params["obs_norm"].normalize(obs, obs_clip))
        obs, state, _, _, _, info = jax.vmap(ppo.env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k, num_envs), state, dist.deterministic(mean), env_params)
        return (obs, state), (info["episode_done"], info["episode"])

    _, (done, episode) = jax.lax.scan(step, (obs, state), jax.random.split(key, num_steps))
    n = done.sum()
    out = {"episodes": n.astype(jnp.float32)}
    for name, x in episode.items():
        m = jnp.where(done, x, 0.0).sum() / jnp.maximum(n, 1)
        var = jnp.where(done, jnp.square(x - m), 0.0).sum() / jnp.maximum(n - 1, 1)
        out[name], out[name + ":std"] = m, jnp.sqrt(var)
    return out


def make_grid_program(config: PPOConfig, env, env_params, hp_axes: Sequence[str],
                      env_axes: Mapping[str, str] | None = None, val_envs: int = 32, val_steps: int | None = None):
    """`program(points, keys, train_params, val_params) -> {"metrics": {name: [G, S, U]}, "val": {name: [G, S]},
    "params": [G, S] leaves of `params_out`}`.

    `points` is {axis: [G]} (see `cartesian`): `hp_axes` name HParams fields, `env_axes` maps further axis
    names to env-params fields. `keys` [S, 2] are the seeds. `val_steps` defaults to the env's episode length.
    Returns (program, ppo); jit the program (`jax.jit(program)`)."""
    env_axes = dict(env_axes or {})
    unknown = set(hp_axes) - set(HParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"grid: {sorted(unknown)} are not traced PPO hyperparameters "
                         f"(traced: {sorted(HParams.__dataclass_fields__)}); static fields change the program")
    train = make_train(config, env, env_params)
    ppo = train.ppo
    steps = int(val_steps or env_params.max_steps_in_episode)
    base = HParams.from_config(config)

    def program(points, keys, train_params, val_params):
        def one_point(vals):
            hp = base.replace(**{a: vals[a] for a in hp_axes})
            fields = {f: vals[a] for a, f in env_axes.items()}
            tp, vp = train_params.replace(**fields), val_params.replace(**fields)

            def one_seed(key):
                out = train(key, hp, tp)
                val = validate(ppo, out["params"], vp, jax.random.PRNGKey(1), val_envs, steps)
                return out["metrics"], val, out["params"]

            return jax.vmap(one_seed)(keys)

        metrics, val, params = jax.vmap(one_point)({a: points[a] for a in (*hp_axes, *env_axes)})
        return {"metrics": metrics, "val": val, "params": params}

    return program, ppo
