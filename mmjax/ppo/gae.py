"""Truncation-aware generalized advantage estimation, as a reverse `lax.scan` over time."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,  # [T, ...]
    values: jax.Array,  # [T, ...] V(s_t)
    next_values: jax.Array,  # [T, ...] V(s'_t), s'_t the pre-reset observation after step t
    terminated: jax.Array,  # [T, ...] bool
    truncated: jax.Array,  # [T, ...] bool
    gamma: float | jax.Array,
    gae_lambda: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and returns [T, ...]; bootstraps through truncation, not through termination."""
    # V(s'_t) is the value of the true next state even where the env auto-reset, so a time limit
    # bootstraps from the episode's final observation; termination zeroes the bootstrap; either one
    # cuts the lambda trace, since s_{t+1} then starts a new episode.
    not_term = 1.0 - terminated.astype(rewards.dtype)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(rewards.dtype)
    deltas = rewards + gamma * not_term * next_values - values

    def step(adv_next, xs):
        delta, cont = xs
        adv = delta + gamma * gae_lambda * cont * adv_next
        return adv, adv

    _, adv = jax.lax.scan(step, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    return adv, adv + values
