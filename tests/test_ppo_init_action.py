"""`PPOConfig.init_action`: the untrained policy's deterministic action, whatever the observation."""

import jax
import numpy as np
import pytest

from mmjax.outputs import UserError
from mmjax.ppo import distributions as dist
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.networks import Actor


def _initial_actions(init_action: float, init_log_std: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    actor = Actor(2, (32, 16), "tanh", init_log_std, init_action)
    obs = jax.random.normal(jax.random.PRNGKey(1), (256, 7)) * 3.0
    params = actor.init(jax.random.PRNGKey(0), obs)
    mean, log_std = actor.apply(params, obs)
    return np.asarray(dist.deterministic(mean)), np.asarray(log_std)


@pytest.mark.parametrize("init_action", [-0.9, 0.0, 0.5])
def test_untrained_policy_starts_at_init_action_for_every_observation(init_action):
    actions, _ = _initial_actions(init_action)
    # the head's kernel is orthogonal(0.01): the observation moves tanh(mean) by well under 0.02
    assert np.abs(actions - init_action).max() < 0.02


def test_init_action_and_init_log_std_are_independent():
    actions, log_std = _initial_actions(-0.9, init_log_std=-2.0)
    assert np.allclose(log_std, -2.0)
    assert np.abs(actions + 0.9).max() < 0.02


def test_default_keeps_the_zero_bias():
    assert PPOConfig().init_action == 0.0
    actions, _ = _initial_actions(PPOConfig().init_action)
    assert np.abs(actions).max() < 0.02


@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, float("nan")])
def test_init_action_outside_the_open_interval_is_refused_naming_the_flag(bad):
    with pytest.raises(UserError, match="init_action"):
        PPOConfig(init_action=bad)
