"""gymnax env wrappers the trainer composes: episode statistics (PureJaxRL's LogWrapper, generalized) and
[-1, 1] action rescaling.

The trainer knows nothing about any particular env: what an episode reports (return, length, and the final
value of whichever `info` keys the caller names, e.g. the market env's ``pnl``) comes through
`EpisodeStats`, as ``info["episode"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

EPISODIC_RETURN = "charts/episodic_return"  # undiscounted sum of raw rewards over the episode
EPISODIC_LENGTH = "charts/episodic_length"  # steps in the episode


class Wrapper:
    """Delegates every attribute it does not define to the wrapped env."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)


@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array  # [] float32 raw reward summed over the running episode so far
    episode_length: jax.Array  # [] int32 steps of the running episode so far


class EpisodeStats(Wrapper):
    """Adds ``info["episode_done"]`` ([] bool) and ``info["episode"]`` ({metric name: [] float32}) to `step`.

    ``info["episode"]`` holds, at every step, the episode's return and length so far and the current value of
    each `final_info` key; where ``episode_done`` is true these are the finished episode's totals and final
    values. `final_info` maps a metric name to an info key, e.g. ``{"mm/pnl": "pnl"}`` (the market env's
    cumulative episode PnL, read at the episode's last step).
    """

    def __init__(self, env, final_info: Mapping[str, str] | None = None):
        super().__init__(env)
        self.final_info = dict(final_info or {})
        clash = {EPISODIC_RETURN, EPISODIC_LENGTH} & set(self.final_info)
        if clash:
            raise ValueError(f"EpisodeStats: final_info metric names {sorted(clash)} are reserved")

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the per-episode metrics in ``info["episode"]``."""
        return (EPISODIC_RETURN, EPISODIC_LENGTH, *self.final_info)

    def reset(self, key: jax.Array, params=None) -> tuple[jax.Array, EpisodeStatsState]:
        """Reset the wrapped env; zero episode accumulators."""
        obs, state = self._env.reset(key, params)
        return obs, EpisodeStatsState(state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    def step(self, key: jax.Array, state: EpisodeStatsState, action, params=None):
        """Step the wrapped env (which auto-resets) and account the episode; accumulators restart after an end."""
        obs, env_state, reward, term, trunc, info = self._env.step(key, state.env_state, action, params)
        done = jnp.logical_or(term, trunc)
        ep_return = state.episode_return + jnp.reshape(reward, ()).astype(jnp.float32)
        ep_length = state.episode_length + 1
        missing = [k for k in self.final_info.values() if k not in info]
        if missing:
            raise KeyError(f"EpisodeStats: info keys {missing} not in {self._env.name}'s step info "
                           f"(it has {sorted(info)})")
        episode = {EPISODIC_RETURN: ep_return, EPISODIC_LENGTH: ep_length.astype(jnp.float32)}
        episode.update({m: jnp.reshape(info[k], ()).astype(jnp.float32) for m, k in self.final_info.items()})
        state = EpisodeStatsState(env_state, jnp.where(done, 0.0, ep_return), jnp.where(done, 0, ep_length))
        return obs, state, reward, term, trunc, {**info, "episode_done": done, "episode": episode}


class RescaleAction(Wrapper):
    """Wrap a gymnax env with a Box action space so the agent acts in [-1, 1]^A (mapped affinely to the Box)."""

    def action_shape(self, params) -> tuple[int, ...]:
        """Shape of the wrapped env's action."""
        space = self._env.action_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"{self._env.name}: PPO needs a Box action space, got {type(space).__name__}")
        return tuple(space.shape)

    def action_dim(self, params) -> int:
        """Flat action size."""
        return int(np.prod(self.action_shape(params)))

    def reset(self, key: jax.Array, params) -> tuple[jax.Array, Any]:
        """Reset; observation flattened to [D]."""
        obs, state = self._env.reset(key, params)
        return jnp.reshape(obs, (-1,)).astype(jnp.float32), state

    def step(self, key: jax.Array, state, action: jax.Array, params):
        """Step with action in [-1, 1]^A; returns flat obs, scalar float reward and the pre-reset final obs."""
        space = self._env.action_space(params)
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        env_action = low + (jnp.reshape(action, space.shape) + 1.0) * 0.5 * (high - low)
        obs, state, reward, term, trunc, info = self._env.step(key, state, env_action, params)
        if "final_observation" not in info:
            raise KeyError(f"{self._env.name}: step() info lacks 'final_observation' (gymnax >= 1.0 base step "
                           "provides it; a wrapper dropped it). Truncation bootstrapping needs the pre-reset obs.")
        info = {**info, "final_observation": jnp.reshape(info["final_observation"], (-1,)).astype(jnp.float32)}
        return (jnp.reshape(obs, (-1,)).astype(jnp.float32), state, jnp.reshape(reward, ()).astype(jnp.float32),
                jnp.reshape(term, ()).astype(bool), jnp.reshape(trunc, ()).astype(bool), info)
