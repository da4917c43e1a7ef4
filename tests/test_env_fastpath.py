"""The env's performance rewrites change nothing: its `step` equals gymnax's base auto-resetting step bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import environment

from mmjax.data.splits import Split
from mmjax.env.market_env import MarketMakingEnv, make_params
from mmjax.env.reset_bits import reset_key_bits as _reset_key_bits
from mmjax.features.spec import NUM_MARKET_FEATURES
from tests.helpers.markets import random_market

ENV = MarketMakingEnv()
F_M = NUM_MARKET_FEATURES


def test_reset_draw_equals_jax_random_split_then_bits():
    keys = jax.random.split(jax.random.PRNGKey(11), 2000)
    ours = jax.jit(jax.vmap(_reset_key_bits))(keys)
    ref = jax.vmap(lambda k: jax.random.bits(jax.random.split(k)[1], (), jnp.uint32))(keys)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    # typed keys take jax.random's own path and agree too
    typed = jax.random.wrap_key_data(keys[:8])
    np.testing.assert_array_equal(np.asarray(jax.vmap(_reset_key_bits)(typed)), np.asarray(ref[:8]))


@pytest.mark.parametrize("latency", [1, 3])
def test_step_is_bitwise_the_gymnax_base_step_through_many_auto_resets(latency):
    m = random_market(T=1500, seed=3, gap_at=(400, 900))
    T = m.num_steps
    feats = np.random.default_rng(0).normal(size=(T, F_M)).astype(np.float32)
    p = make_params(m, feats, np.full(T, 5.0, np.float32), episode_steps=25, latency_steps=latency,
                    split=Split("train", 50, 1400), risk_aversion=0.1, maker_fee_bps=-1.0)
    n, steps = 64, 90  # episodes of 25 steps: every env resets 3 times

    def run(step_fn):
        def body(carry, key):
            state = carry
            k_act, k_step = jax.random.split(key)
            acts = jax.random.uniform(k_act, (n, 2), minval=-1.0, maxval=1.0)
            out = jax.vmap(step_fn, in_axes=(0, 0, 0, None))(jax.random.split(k_step, n), state, acts, p)
            return out[1], out

        _, state = jax.vmap(ENV.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(5), n), p)
        return jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.PRNGKey(6), steps)))(state)[1]

    ours = run(ENV.step)
    base = run(lambda k, s, a, q: environment.Environment.step(ENV, k, s, a, q))
    assert int((np.asarray(ours[3]) | np.asarray(ours[4])).sum()) == n * (steps // 25)  # the resets really happened
    leaves_o, tree_o = jax.tree.flatten(ours)
    leaves_b, tree_b = jax.tree.flatten(base)
    assert tree_o == tree_b
    for a, b in zip(leaves_o, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
