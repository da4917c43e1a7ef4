"""Probe environments: each isolates one part of PPO and must be solved (rejax-style decisive checks)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import PPOConfig, deterministic_action, make_train
from mmjax.ppo.envs import ProbeEnv, ProbeParams

SMALL = dict(num_envs=16, num_steps=32, hidden_sizes="32,32", num_minibatches=4, update_epochs=4)


def _train(kind, params, updates, **overrides):
    cfg = PPOConfig(total_timesteps=16 * 32 * updates, **{**SMALL, **overrides})
    train = make_train(cfg, ProbeEnv(kind), params)
    out = jax.jit(train)(jax.random.PRNGKey(0))
    return train.ppo, out["params"], cfg


def _value(ppo, params, obs):
    return float(ppo.value(params, obs)[0])  # in reward units: undoes the reward normalization


@pytest.mark.parametrize("gamma", [0.5, 0.8])
def test_constant_reward_truncated_value_is_infinite_horizon(gamma):
    # Truncation at 5 steps bootstraps, and zero obs hides the time: V = 1 / (1 - gamma) exactly.
    ppo, p, _ = _train("constant", ProbeParams(max_steps_in_episode=5), 40, gamma=gamma, lr=1e-3)
    np.testing.assert_allclose(_value(ppo, p, jnp.zeros((1, 2))), 1.0 / (1.0 - gamma), rtol=0.03)


def test_constant_reward_terminated_each_step_has_value_one():
    # Every discounted return is exactly 1 here: zero return variance, the one case reward normalization
    # cannot scale (it would divide by sqrt(eps)), so this probe checks the unnormalized path.
    ppo, p, _ = _train("constant", ProbeParams(max_steps_in_episode=1, terminate=True), 30, gamma=0.9, lr=1e-3,
                       normalize_reward=False)
    np.testing.assert_allclose(_value(ppo, p, jnp.zeros((1, 2))), 1.0, atol=0.03)


def test_action_probe_moves_policy_mean_to_target():
    ppo, p, cfg = _train("action", ProbeParams(max_steps_in_episode=1, target=0.5), 60, lr=3e-3, ent_coef=0.0)
    a = deterministic_action(ppo.actor, p, jnp.zeros((1, 2)), cfg.obs_clip)
    np.testing.assert_allclose(a[0, 0], 0.5, atol=0.05)


def test_observation_dependent_reward_is_learned():
    ppo, p, cfg = _train("obs_action", ProbeParams(max_steps_in_episode=1, target=0.6), 80, lr=3e-3, ent_coef=0.0)
    a = deterministic_action(ppo.actor, p, jnp.array([[1.0, 1.0], [-1.0, -1.0]]), cfg.obs_clip)
    np.testing.assert_allclose(a[:, 0], [0.6, -0.6], atol=0.08)


@pytest.mark.parametrize("terminate", [True, False])
def test_time_left_in_the_observation_makes_the_time_limit_a_terminal(terminate):
    # The observation is the fraction of the episode left (like the market env's time_left_frac), reward 1
    # for H steps. Ended as a termination, the critic learns the remaining discounted reward at every step:
    # 1 with one step left, and the bootstrap at time_left = 0 is exactly 0 (GAE's terminal mask). Ended as
    # a truncation, PPO bootstraps from V(time_left = 0), a state it never acts in, and every value drifts
    # towards the infinite-horizon 1 / (1 - gamma): why the market env terminates at its time limit.
    H, gamma = 5, 0.9
    ppo, p, _ = _train("countdown", ProbeParams(max_steps_in_episode=H, terminate=terminate), 25, gamma=gamma,
                       lr=1e-3)
    steps_left = np.arange(1, H + 1)
    values = np.asarray(ppo.value(p, jnp.repeat(jnp.asarray(steps_left / H, jnp.float32)[:, None], 2, axis=1)))
    remaining = (1.0 - gamma**steps_left) / (1.0 - gamma)
    if terminate:
        np.testing.assert_allclose(values, remaining, rtol=0.02)
    else:
        assert values[0] > 3 * remaining[0]
