"""The orthogonal initializer under vmap (issue 30): flax's weights bit for bit, and no batched LAPACK call.

A batched LAPACK call in a CPU program can deadlock XLA's thread pool on jaxlib 0.10 (`mmjax.ppo.networks`
docstring). The rule is checked on the lowered program, where each LAPACK custom call names its operand types:
a rank-3 operand is a batch of matrices (the deadlocking kind), rank 2 is one matrix (run inline by jaxlib).
"""

from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import HParams, PPOConfig, networks
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.seeds import seed_keys
from mmjax.ppo.train import make_ppo, make_train

SHAPE = (34, 64)  # the market's observation width into a hidden layer
KEYS = seed_keys(7, 5)


def _lapack_operand_ranks(lowered) -> list[int]:
    """The rank of the first operand of every LAPACK custom call in a lowered program."""
    calls = re.findall(r"custom_call @lapack_\w+\(.*?\)\s*.*?:\s*\(tensor<([^>]*)>", lowered.as_text())
    assert calls, "no LAPACK call found: the orthogonal initializer no longer uses QR, or the pattern is stale"
    return [len(c.split("x")) - 1 for c in calls]


@pytest.mark.parametrize("scale", [np.sqrt(2.0), 0.01])
def test_vmapped_init_gives_flax_weights_bit_for_bit(scale):
    ours = jax.jit(jax.vmap(lambda k: networks.orthogonal(scale)(k, SHAPE)))(KEYS)
    flax_batched = jax.jit(jax.vmap(lambda k: nn.initializers.orthogonal(scale)(k, SHAPE)))(KEYS)
    flax_each = np.stack([nn.initializers.orthogonal(scale)(k, SHAPE) for k in KEYS])
    assert ours.shape == (5, *SHAPE) and ours.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(flax_batched))
    np.testing.assert_array_equal(np.asarray(ours), flax_each)
    unbatched = networks.orthogonal(scale)(KEYS[0], SHAPE)  # no vmap: flax's call itself
    np.testing.assert_array_equal(np.asarray(unbatched), flax_each[0])


def test_no_batched_lapack_call_under_vmap_or_nested_vmap():
    one = lambda init: (lambda k: init(k, SHAPE))  # noqa: E731
    flax_ranks = _lapack_operand_ranks(jax.jit(jax.vmap(one(nn.initializers.orthogonal(1.0)))).lower(KEYS))
    assert max(flax_ranks) == 3  # flax's initializer under vmap: the batched call (so the check below can fail)
    ours = one(networks.orthogonal(1.0))
    assert max(_lapack_operand_ranks(jax.jit(jax.vmap(ours)).lower(KEYS))) == 2
    grid = jnp.stack([KEYS, KEYS])  # a sweep's grid x seeds: two vmaps
    assert max(_lapack_operand_ranks(jax.jit(jax.vmap(jax.vmap(ours))).lower(grid))) == 2


def test_the_vmapped_ppo_init_and_train_programs_hold_no_batched_lapack_call():
    """What `mmjax train --seeds K` (the vmapped init) and a sweep (vmapped train) compile."""
    cfg = PPOConfig(total_timesteps=8 * 16, num_envs=8, num_steps=16, num_minibatches=1, update_epochs=1,
                    hidden_sizes="16,16")
    env, params = ProbeEnv("obs_action"), ProbeParams()
    hp = HParams.from_config(cfg)
    init = jax.vmap(make_ppo(cfg, env, params).init, in_axes=(0, None, None))
    assert max(_lapack_operand_ranks(jax.jit(init).lower(KEYS, hp, params))) == 2
    train = make_train(cfg, env, params)
    assert max(_lapack_operand_ranks(jax.jit(jax.vmap(train)).lower(KEYS))) == 2
