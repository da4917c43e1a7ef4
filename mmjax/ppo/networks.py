"""Separate actor and critic MLPs (Dense -> LayerNorm -> activation), plus running observation normalization.

Choices:
- tanh by default: bounded activations keep the value scale and policy updates tame in on-policy PPO
  (Andrychowicz et al. 2021, "What matters in on-policy RL", found tanh ahead of relu for PPO);
  relu is available for wider nets.
- LayerNorm after each Dense: keeps pre-activations O(1) when feature scales drift (market features do).
- State-independent log-std: exploration noise that the critic's errors cannot steer per state; it is
  the standard, stable choice for PPO (state-dependent std tends to collapse or explode on-policy).
- Orthogonal kernels through `orthogonal`: flax's initializer, with each matrix's QR run on its own under
  vmap (issue 30, below).

Why `orthogonal` is not flax's initializer as is: under `jax.vmap` (K seeds, a sweep's grid) flax's QR becomes
one batched LAPACK call, and jaxlib 0.10's CPU LAPACK kernels split a batch into tasks on XLA's intra-op pool
and block the calling pool thread until they finish (``jax::ParallelBatchMap`` -> ``BlockingCounter::Wait``).
XLA runs independent ops at once, so when every pool thread (2 on a 2-core machine) is inside such a call,
the tasks they wait for can never run: the program deadlocks, every thread parked, no error. Native stacks of
the wedged runs show exactly that (docs/ppo.md "Hangs"). jaxlib runs a batch of one inline, so mapping the QR
over the batch (`jax.lax.map`, one matrix at a time) removes the blocking call; each matrix gets the same LAPACK
call as before, so the weights are bit for bit those of flax's initializer (tests/test_ppo_networks_init.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

LAYERNORM_EPS = 1e-6  # flax default; the NumPy policy must use the same
OBS_VAR_EPS = 1e-8  # added to the running variance before the square root


def orthogonal(scale: float):
    """flax's ``nn.initializers.orthogonal(scale)``, safe under vmap: a batch of keys gets its matrices one at a
    time (`jax.lax.map`), so no batched LAPACK QR reaches the CPU thread pool (module docstring)."""
    flax_init = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        @jax.custom_batching.custom_vmap
        def one(k):
            return flax_init(k, shape, dtype)

        @one.def_vmap
        def _one_at_a_time(axis_size, in_batched, k):
            return (jax.lax.map(one, k), True) if in_batched[0] else (one(k), False)

        return one(key)

    return init


def _activation(name: str):
    return {"tanh": jnp.tanh, "relu": jax.nn.relu}[name]


class Torso(nn.Module):
    """Hidden layers: Dense (orthogonal sqrt 2) -> LayerNorm -> activation."""

    hidden: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _activation(self.activation)
        for i, width in enumerate(self.hidden):
            x = nn.Dense(width, kernel_init=orthogonal(np.sqrt(2.0)),
                         bias_init=nn.initializers.zeros, name=f"dense_{i}")(x)
            x = act(nn.LayerNorm(epsilon=LAYERNORM_EPS, name=f"ln_{i}")(x))
        return x


class Actor(nn.Module):
    """obs [..., D] -> (mean [..., A], log_std [A]) of the pre-tanh Gaussian."""

    action_dim: int
    hidden: Sequence[int] = (256, 128)
    activation: str = "tanh"
    init_log_std: float = -0.5
    init_action: float = 0.0  # the initial deterministic action tanh(mean) before the head learns anything

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = Torso(self.hidden, self.activation, name="torso")(obs)
        # Small head: the initial policy is near tanh(bias) = init_action whatever the observation.
        bias = float(np.arctanh(self.init_action))
        mean = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01),
                        bias_init=nn.initializers.constant(bias), name="mean_head")(x)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return mean, log_std


class Critic(nn.Module):
    """obs [..., D] -> value [...]."""

    hidden: Sequence[int] = (256, 128)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = Torso(self.hidden, self.activation, name="torso")(obs)
        v = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=nn.initializers.zeros,
                     name="value_head")(x)
        return v[..., 0]


@struct.dataclass
class ObsNorm:
    """Running observation statistics (Welford / Chan parallel merge)."""

    mean: jax.Array  # [D]
    var: jax.Array  # [D] population variance
    count: jax.Array  # [] float32, observations seen (starts at a tiny prior weight)

    @classmethod
    def create(cls, obs_dim: int) -> ObsNorm:
        """Prior mean 0, var 1 with negligible weight, so the first batch sets the statistics."""
        return cls(jnp.zeros(obs_dim, jnp.float32), jnp.ones(obs_dim, jnp.float32), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> ObsNorm:
        """Merge a batch [N, D] of raw observations (Chan et al. parallel variance)."""
        n = jnp.asarray(batch.shape[0], jnp.float32)
        b_mean = jnp.mean(batch, axis=0)
        b_var = jnp.mean(jnp.square(batch - b_mean), axis=0)
        tot = self.count + n
        delta = b_mean - self.mean
        mean = self.mean + delta * (n / tot)
        m2 = self.var * self.count + b_var * n + jnp.square(delta) * (self.count * n / tot)
        return ObsNorm(mean, m2 / tot, tot)

    def normalize(self, obs: jax.Array, clip: float) -> jax.Array:
        """(obs - mean) / sqrt(var + eps), clipped to +-clip."""
        return jnp.clip((obs - self.mean) * jax.lax.rsqrt(self.var + OBS_VAR_EPS), -clip, clip)
