"""A rollout of the JAX env under a fixed action sequence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env.knobs import episode_span
from mmjax.env.market_env import EnvParams, MarketMakingEnv
from mmjax.features.spec import NUM_MARKET_FEATURES

ENV = MarketMakingEnv()

F_M = NUM_MARKET_FEATURES

KEY = jax.random.PRNGKey(0)


def start_at(params: EnvParams, t0: int) -> EnvParams:
    """Pin the episode start by narrowing the split to exactly one start row."""
    return params.replace(start_lo=jnp.int32(t0), start_hi=jnp.int32(t0 + episode_span(params.episode_steps,
                                                                                     params.latency_steps)))


@jax.jit


def _rollout(params, state, actions):
    def body(s, a):
        obs, s, r, term, info = ENV.step_env(KEY, s, a, params)
        # the episode-end flags travel in info, so twin tests compare them with the NumPy env's
        return s, (obs, r, {**info, "terminated": term, "truncated": ENV.is_truncated(s, params)})

    return jax.lax.scan(body, state, actions)


def rollout(params, actions, t0=None, key=KEY):
    """Reset (at t0 if given) then step_env through ``actions`` [N, 2]: (obs0, obs [N], rewards [N], infos)."""
    if t0 is not None:
        params = start_at(params, t0)
    obs0, state = ENV.reset(key, params)
    final, (obs, r, info) = _rollout(params, state, jnp.asarray(actions, jnp.float32))
    return obs0, np.asarray(obs), np.asarray(r), {k: np.asarray(v) for k, v in info.items()}, final
