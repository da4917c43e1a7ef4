"""Tanh-squashed Gaussian: log-prob equals the change-of-variables density, stably; entropy estimate is right."""

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.ppo import distributions as dist


def test_log_prob_matches_change_of_variables_in_float64():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(50, 2))
    log_std = np.array([-0.3, 0.2])
    u = mean + np.exp(log_std) * rng.normal(size=(50, 2))
    a = np.tanh(u)
    gauss = -0.5 * ((np.arctanh(a) - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    want = np.sum(gauss - np.log(1 - a**2), axis=-1)
    got = dist.log_prob(jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32), jnp.asarray(u, jnp.float32))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_log_prob_is_finite_deep_in_the_tails():
    u = jnp.array([[30.0, -30.0], [80.0, 0.0]])
    lp = dist.log_prob(jnp.zeros((2, 2)), jnp.zeros(2), u)
    assert np.all(np.isfinite(lp))
    # log(1 - tanh(u)^2) ~ 2 log 2 - 2|u| for large |u|
    np.testing.assert_allclose(dist.log_det_tanh_jacobian(jnp.array([[30.0]])), 2 * np.log(2) - 60.0, rtol=1e-5)


def test_entropy_estimate_is_unbiased():
    mean, log_std = jnp.array([0.7, -1.2]), jnp.array([0.1, -0.5])
    keys = jax.random.split(jax.random.PRNGKey(0), 20000)
    est = jax.vmap(lambda k: dist.entropy(k, mean, log_std))(keys).mean()
    u, _ = jax.vmap(lambda k: dist.sample(k, mean, log_std))(keys)
    mc = -dist.log_prob(mean, log_std, u).mean()  # independent Monte Carlo of -E[log p(a)]
    np.testing.assert_allclose(est, mc, atol=0.03)


def test_deterministic_action_is_tanh_of_mean():
    np.testing.assert_allclose(dist.deterministic(jnp.array([0.0, 1.0, -20.0])), np.tanh([0.0, 1.0, -20.0]), rtol=1e-6)
