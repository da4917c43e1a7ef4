"""Tanh-squashed diagonal Gaussian: a = tanh(u), u ~ N(mean, exp(log_std)^2), actions in (-1, 1)^A.

We keep the pre-tanh sample ``u`` in the trajectory, so log-probabilities never need atanh(a), which is
unstable near |a| = 1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# Python floats, not jnp: importing this module must not start a JAX backend (jax.distributed needs that).
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)


def log_det_tanh_jacobian(u: jax.Array) -> jax.Array:
    """log(1 - tanh(u)^2) summed over the last axis, in the stable form 2(log 2 - u - softplus(-2u))."""
    return jnp.sum(2.0 * (_LOG2 - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """Log-density of u under the diagonal Gaussian, summed over the last axis."""
    z = (u - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - _LOG_SQRT_2PI, axis=-1)


def log_prob(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """Log-density of the action tanh(u): Gaussian log-density minus log|det d tanh/du|."""
    return gaussian_log_prob(mean, log_std, u) - log_det_tanh_jacobian(u)


def conditional(mean: jax.Array, log_std: jax.Array, prev_noise: jax.Array, corr: float) -> tuple[jax.Array, jax.Array]:
    """(mean, log_std) of the pre-tanh draw given the previous step's standardized noise, for AR(1) exploration.

    The draw is u = mean + std * e with e = corr * prev_noise + sqrt(1 - corr^2) * xi, xi ~ N(0, 1): every
    step's noise is still N(0, 1), but consecutive draws stay close (corr near 1), so a policy whose action
    bands hold a price (a resting order's queue place) does not jump between them every step."""
    std = jnp.exp(log_std)
    return mean + std * corr * prev_noise, log_std + 0.5 * math.log1p(-corr * corr)


def noise_of(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """The standardized noise (u - mean) / std of a draw u: the next step's ``prev_noise``."""
    return (u - mean) * jnp.exp(-log_std)


def sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterized sample: returns (pre-tanh u, action tanh(u)), both shaped like mean."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return u, jnp.tanh(u)


def entropy(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """One-sample unbiased, differentiable estimate of the squashed entropy: H(N) + E[log|det J|]."""
    # tanh has no closed-form entropy; H(tanh(u)) = H(u) + E[log(1 - tanh(u)^2)], estimated with one
    # reparameterized draw so the bonus cannot be gamed by pushing u into tanh's flat tails.
    gauss_h = jnp.sum(log_std + 0.5 + _LOG_SQRT_2PI) * jnp.ones(mean.shape[:-1], mean.dtype)
    u, _ = sample(key, mean, log_std)
    return gauss_h + log_det_tanh_jacobian(u)


def deterministic(mean: jax.Array) -> jax.Array:
    """The deterministic action tanh(mean)."""
    return jnp.tanh(mean)
