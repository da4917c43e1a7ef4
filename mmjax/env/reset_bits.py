"""The reset draw of gymnax's auto-resetting step, bit for bit, without XLA:CPU's rolled threefry loop.

`MarketMakingEnv.step` needs ``jax.random.bits(jax.random.split(key)[1], (), uint32)`` on every step
(the start row of the episode that replaces a finished one). On XLA:CPU the rolled threefry loop of
``split`` and ``bits`` was a third of the step's cost; `reset_key_bits` computes the same 32 bits with
one fused, unrolled hash per value (tests/test_env_fastpath.py pins it to jax.random).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _threefry2x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), jax.random's default hash, as unrolled uint32 ops."""
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r)))
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def reset_key_bits(key: jax.Array) -> jax.Array:
    """``jax.random.bits(jax.random.split(key)[1], (), uint32)``: the base step's reset draw (uint32 [])."""
    fast = (not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.dtype == jnp.uint32
            and key.shape == (2,) and jax.config.jax_threefry_partitionable
            and jax.config.jax_default_prng_impl == "threefry2x32")
    if not fast:  # typed keys or another PRNG setup: let jax.random do it
        return jax.random.bits(jax.random.split(key)[1], (), jnp.uint32)
    zero = jnp.zeros((), jnp.uint32)
    # partitionable split: key i = hash(key, (0, i)); random_bits of shape (): hash(key, (0, 0)), xored
    r0, r1 = _threefry2x32(key[0], key[1], zero, jnp.ones((), jnp.uint32))
    b0, b1 = _threefry2x32(r0, r1, zero, zero)
    return b0 ^ b1
