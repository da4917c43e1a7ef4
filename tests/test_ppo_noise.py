"""`PPOConfig.noise_corr`: exploration noise correlated from step to step (AR(1)), each step still N(0, 1)."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.outputs import UserError
from mmjax.ppo import distributions as dist
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.train import make_train

SMALL = dict(total_timesteps=16 * 32 * 4, num_envs=16, num_steps=32, num_minibatches=4, hidden_sizes="32,32")


def _chain(corr: float, steps: int = 4000, lanes: int = 64) -> np.ndarray:
    """Standardized noises e_t [steps, lanes] drawn as the rollout draws them."""
    mean, log_std = jnp.full((lanes, 1), 0.3), jnp.full((lanes, 1), -1.0)

    def step(prev, key):
        u, _ = dist.sample(key, *dist.conditional(mean, log_std, prev, corr))
        e = dist.noise_of(mean, log_std, u)
        return e, e[:, 0]

    first = jax.random.normal(jax.random.PRNGKey(1), (lanes, 1))
    _, es = jax.lax.scan(step, first, jax.random.split(jax.random.PRNGKey(0), steps))
    return np.asarray(es)


@pytest.mark.parametrize("corr", [0.0, 0.9, 0.99])
def test_each_steps_noise_is_standard_normal_and_consecutive_ones_correlate_by_corr(corr):
    e = _chain(corr)
    assert abs(e.std() - 1.0) < 0.05 and abs(e.mean()) < 0.05 + 0.5 * corr  # slower mixing near 1
    lag1 = np.mean([np.corrcoef(e[:-1, j], e[1:, j])[0, 1] for j in range(e.shape[1])])
    assert abs(lag1 - corr) < 0.03


def test_the_conditional_density_is_the_innovations():
    # u given the previous noise: N(mean + std c e_prev, std^2 (1 - c^2))
    mean, log_std, prev, c = jnp.array([[0.2]]), jnp.array([[-0.5]]), jnp.array([[1.5]]), 0.8
    m, ls = dist.conditional(mean, log_std, prev, c)
    std = np.exp(-0.5)
    assert float(m[0, 0]) == pytest.approx(0.2 + std * 0.8 * 1.5, rel=1e-6)
    assert float(np.exp(ls[0, 0])) == pytest.approx(std * np.sqrt(1 - 0.64), rel=1e-6)


def test_ppo_trains_with_correlated_noise_and_carries_it_across_updates():
    env, ep = gymnax.make("Pendulum-v1")
    train = make_train(PPOConfig(**SMALL, noise_corr=0.95), env, ep)
    out = jax.jit(train)(jax.random.PRNGKey(0))
    assert out["state"].noise.shape == (16, 1)
    kl = np.asarray(out["metrics"]["losses/approx_kl"])
    assert np.isfinite(kl).all() and kl.max() < 0.5
    plain = jax.jit(make_train(PPOConfig(**SMALL), env, ep))(jax.random.PRNGKey(0))
    assert plain["state"].noise is None  # corr 0: no noise state, the program and checkpoints as before


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_a_correlation_outside_0_1_is_refused_naming_the_flag(bad):
    with pytest.raises(UserError, match="noise_corr"):
        PPOConfig(noise_corr=bad)
