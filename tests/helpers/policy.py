"""A random policy network and the export metadata the policy tests share."""

from __future__ import annotations

import jax
import numpy as np

from mmjax.features import spec
from mmjax.ppo.networks import Actor, Critic, ObsNorm

D = spec.NUM_FEATURES


def make_params(seed=0, action_dim=2, hidden=(32, 16)):
    """Random actor params with a non-trivial head and obs statistics (not just the tiny init)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    actor = Actor(action_dim, hidden)
    p = actor.init(k1, np.zeros((1, D), np.float32))
    p = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(k2, x.shape), p)  # perturb LN scale/bias and head too
    rng = np.random.default_rng(seed)
    norm = ObsNorm(mean=rng.normal(size=D).astype(np.float32), var=rng.uniform(0.1, 4.0, D).astype(np.float32),
                   count=np.float32(1000.0))
    critic = Critic(hidden).init(k3, np.zeros((1, D), np.float32))
    return actor, {"actor": p, "critic": critic, "obs_norm": norm}

EXTRA = {"action_mapping": {"max_offset_bps": 10.0, "quote_size": 0.01},
         "feature_mean": np.arange(spec.NUM_MARKET_FEATURES, dtype=np.float32),
         "feature_std": np.ones(spec.NUM_MARKET_FEATURES, np.float32)}
