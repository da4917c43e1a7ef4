"""export_policy writes a pickle-free .npz with weights, obs statistics, feature spec and action mapping."""

import jax
import numpy as np
import pytest

from mmjax.features import spec
from mmjax.policy import export, format
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


def test_export_is_readable_without_pickle_and_complete(tmp_path):
    _, params = make_params()
    path = export.export_policy(params, tmp_path / "p.npz", EXTRA)
    with np.load(path, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    assert int(files["format_version"]) == format.FORMAT_VERSION
    assert list(files["features/names"]) == list(spec.MARKET_FEATURES + spec.AGENT_FEATURES)
    assert str(files["features/spec_hash"]) == spec.spec_hash()
    assert dict(zip(files["action_mapping/names"], files["action_mapping/values"], strict=True)) == EXTRA["action_mapping"]
    np.testing.assert_array_equal(files["obs_norm/var"], params["obs_norm"].var)
    np.testing.assert_array_equal(files["actor/dense_1/kernel"], params["actor"]["params"]["torso"]["dense_1"]["kernel"])
    np.testing.assert_array_equal(files["features/norm_mean"], EXTRA["feature_mean"])
    assert not any(k.startswith("critic") for k in files)  # inference needs the actor only


def test_export_rejects_bad_extra(tmp_path):
    _, params = make_params()
    with pytest.raises(ValueError, match="unknown extra"):
        export.export_policy(params, tmp_path / "p.npz", {"bogus": 1})
    with pytest.raises(ValueError, match="feature_names"):
        export.export_policy(params, tmp_path / "p.npz", {"feature_names": ["a", "b"]})
    with pytest.raises(ValueError, match="action_mapping"):
        export.export_policy(params, tmp_path / "p.npz", {"action_mapping": {"x": "wide"}})
