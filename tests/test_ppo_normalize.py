"""Reward normalization: Gymnasium's NormalizeReward statistics, reward-unit invariance, stats in the train state."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import PPOConfig, make_train
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.normalize import RETURN_VAR_EPS, RewardNorm

CFG = PPOConfig(total_timesteps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                hidden_sizes="16,16")


def _reference(rewards, dones, gamma):
    """Gymnasium NormalizeReward's discounted return, one env at a time, restarted after each episode end."""
    T, E = rewards.shape
    ret, seen = np.zeros(E), np.zeros((T, E))
    for t in range(T):
        ret = gamma * ret + rewards[t]
        seen[t] = ret
        ret = np.where(dones[t], 0.0, ret)
    return seen, ret


def test_running_return_statistics_match_a_python_loop():
    rng = np.random.default_rng(0)
    rewards = rng.normal(2.0, 3.0, size=(50, 4)).astype(np.float32)
    dones = rng.random((50, 4)) < 0.1
    gamma = 0.9
    norm, carry, seen = RewardNorm.create(4), jnp.zeros(4), []
    for chunk in (slice(0, 20), slice(20, 50)):  # two rollouts merged one after the other
        rets = []
        for t in range(chunk.start, chunk.stop):
            r, carry = RewardNorm.accumulate(carry, jnp.asarray(rewards[t]), jnp.asarray(dones[t]), gamma)
            rets.append(r)
        norm = norm.update(jnp.stack(rets), carry)
        seen += rets
    want, last = _reference(rewards, dones, gamma)
    np.testing.assert_allclose(np.stack(seen), want, rtol=1e-5, atol=1e-5)  # float32 vs float64
    np.testing.assert_allclose(norm.disc_return, last, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.stats.var[0], want.var(), rtol=1e-4)
    np.testing.assert_allclose(norm.std, np.sqrt(want.var() + RETURN_VAR_EPS), rtol=1e-4)
    np.testing.assert_allclose(norm.scale(jnp.float32(3.0)), 3.0 / np.sqrt(want.var()), rtol=1e-4)


# slow: the normalizer's statistics and their place in the train state are tested fast above
@pytest.mark.slow
def test_learning_does_not_depend_on_the_reward_unit():
    # Rewards in $ or in cents: with normalization the learner sees the same numbers (up to rounding).
    env, ep = ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3)
    runs = [jax.jit(make_train(dataclasses.replace(CFG, reward_scale=s), env, ep))(jax.random.PRNGKey(0))
            for s in (1.0, 1e-2, 1e3)]
    for other in runs[1:]:
        for x, y in zip(jax.tree.leaves(runs[0]["params"]["actor"]), jax.tree.leaves(other["params"]["actor"]),
                        strict=True):
            np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-5)
    # without normalization the reward unit changes what is learned
    raw = [jax.jit(make_train(dataclasses.replace(CFG, reward_scale=s, normalize_reward=False), env, ep))(
        jax.random.PRNGKey(0))["params"]["actor"]["params"]["mean_head"]["kernel"] for s in (1.0, 1e3)]
    assert not np.allclose(raw[0], raw[1], rtol=1e-2)


def test_statistics_are_part_of_the_train_state():
    env, ep = ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3)
    out = jax.jit(make_train(CFG, env, ep))(jax.random.PRNGKey(0))
    norm = out["state"].reward_norm
    assert float(norm.stats.count) == CFG.num_updates * CFG.batch_size
    assert norm.disc_return.shape == (CFG.num_envs,)
    np.testing.assert_allclose(out["metrics"]["charts/reward_divisor"][-1], norm.std, rtol=1e-6)
