"""Reward normalization: rewards divided by a running standard deviation of the discounted return.

The scheme of Gymnasium's `NormalizeReward` and PureJaxRL's `NormalizeVecReward` (one of the "37
implementation details of PPO"): each env keeps a running discounted return ``R_t = gamma * R_{t-1} + r_t``,
restarted at 0 after an episode ends (termination or time limit); the variance of R over every env step
seen so far is tracked, and the learner sees ``r_t / sqrt(var(R) + eps)``. The reward is not centred (a shift would change
which policy is optimal when episodes can end). Dividing by the return's scale, not the reward's, makes the
value targets O(1) whatever the env's reward unit is ($ per 100 ms, or -16 per Pendulum step).

As with the observation statistics, the whole rollout's returns are merged first and the rollout is then
scaled by the merged statistics. Everything here is part of the train state (checkpointed; bit-exact on
resume).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mmjax.ppo.networks import ObsNorm

RETURN_VAR_EPS = 1e-8  # added to the running return variance before the square root (Gymnasium's epsilon)


@struct.dataclass
class RewardNorm:
    """Per-env running discounted return and the running mean/variance of that return."""

    disc_return: jax.Array  # [E] float32, discounted return of each env's running episode, 0 right after an end
    stats: ObsNorm  # mean/var [1] over all env steps merged so far; count [] steps

    @classmethod
    def create(cls, num_envs: int) -> RewardNorm:
        """Zero returns and no prior: the first rollout sets the scale (a prior variance would carry a unit)."""
        none_seen = ObsNorm(jnp.zeros(1, jnp.float32), jnp.ones(1, jnp.float32), jnp.zeros((), jnp.float32))
        return cls(jnp.zeros(num_envs, jnp.float32), none_seen)

    @staticmethod
    def accumulate(disc_return: jax.Array, reward: jax.Array, done: jax.Array, gamma) -> tuple[jax.Array, jax.Array]:
        """One step, all [E]: R_t = gamma * R_{t-1} + r_t, and R_t carried on (0 where the episode just ended)."""
        ret = gamma * disc_return + reward
        return ret, jnp.where(done, 0.0, ret)

    def update(self, returns: jax.Array, last_disc_return: jax.Array) -> RewardNorm:
        """Merge a rollout's returns [T, E] into the statistics; keep each env's latest return [E]."""
        return RewardNorm(last_disc_return, self.stats.update(returns.reshape(-1, 1)))

    @property
    def std(self) -> jax.Array:
        """[] sqrt(var(R) + eps): the divisor applied to rewards."""
        return jnp.sqrt(self.stats.var[0] + RETURN_VAR_EPS)

    def scale(self, reward: jax.Array) -> jax.Array:
        """Reward divided by the running return standard deviation."""
        return reward / self.std
