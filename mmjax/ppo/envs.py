"""Probe environments: tiny gymnax envs, each isolating one part of an RL implementation (rejax-style tests)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

# PROBE ENVIRONMENTS: each isolates one part of the learner; a correct PPO solves each quickly.


@struct.dataclass
class ProbeState(environment.EnvState):
    obs: jax.Array  # [D]


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 1
    target: float = 0.5  # action target for the action probes
    terminate: bool = False  # terminate (no bootstrap) instead of truncating at max_steps_in_episode


class ProbeEnv(environment.Environment[ProbeState, ProbeParams]):
    """kind='constant': zero obs, reward 1 (the critic must learn the discounted value).
    kind='action': zero obs, reward -(a - target)^2 (the policy mean must move to target).
    kind='obs_action': obs s in {-1, +1}, reward -(a - target * s)^2 (the policy must read the obs).
    kind='countdown': obs = the fraction of the episode left (1 at the start, 0 at the limit), reward 1: the
    critic must learn the remaining discounted reward of each step, as the market env's time_left_frac shows.
    """

    KINDS = ("constant", "action", "obs_action", "countdown")

    def __init__(self, kind: str = "constant", obs_dim: int = 2):
        if kind not in self.KINDS:
            raise ValueError(f"unknown probe kind {kind!r}")
        self.kind, self.obs_dim = kind, obs_dim

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def _obs(self, key, time, params):
        if self.kind == "obs_action":
            s = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
            return jnp.full((self.obs_dim,), s, jnp.float32)
        if self.kind == "countdown":
            left = (params.max_steps_in_episode - time) / params.max_steps_in_episode
            return jnp.full((self.obs_dim,), left, jnp.float32)
        return jnp.zeros((self.obs_dim,), jnp.float32)

    def reset_env(self, key, params):
        obs = self._obs(key, 0, params)
        return obs, ProbeState(time=0, obs=obs)

    def step_env(self, key, state, action, params):
        a = jnp.reshape(action, (-1,))[0]
        if self.kind in ("constant", "countdown"):
            reward = jnp.float32(1.0)
        elif self.kind == "action":
            reward = -jnp.square(a - params.target)
        else:
            reward = -jnp.square(a - params.target * state.obs[0])
        time = state.time + 1
        obs = self._obs(key, time, params)
        terminated = jnp.logical_and(params.terminate, time >= params.max_steps_in_episode)
        return obs, ProbeState(time=time, obs=obs), reward, terminated, {}

    @partial(jax.jit, static_argnames=("self",))
    def is_truncated(self, state, params):
        return jnp.logical_and(~params.terminate, state.time >= params.max_steps_in_episode)

    def action_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (self.obs_dim,), jnp.float32)
