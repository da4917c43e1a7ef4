"""NumpyPolicy: no jax, equals the Flax deterministic action, and refuses bad files with clear errors."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.features import spec
from mmjax.policy.export import export_policy
from mmjax.policy.numpy_policy import NumpyPolicy, PolicyFileError
from mmjax.ppo import deterministic_action
from tests.helpers.policy import EXTRA, D, make_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def exported(tmp_path):
    actor, params = make_params(seed=1)
    return actor, params, export_policy(params, tmp_path / "policy.npz", EXTRA)


def test_matches_flax_deterministic_action(exported):
    actor, params, path = exported
    pol = NumpyPolicy.load(path, expected_spec_hash=spec.spec_hash())
    obs = np.random.default_rng(0).normal(0.0, 3.0, size=(500, D)).astype(np.float32)
    want = np.asarray(deterministic_action(actor, params, jnp.asarray(obs)))
    got = pol.act(obs)
    assert got.shape == (500, 2) and np.abs(want).max() > 0.5  # actions span the range, not all ~0
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(pol.act(obs[7]), want[7], atol=1e-5)
    assert pol.action_mapping == EXTRA["action_mapping"]
    assert pol.feature_names == tuple(spec.MARKET_FEATURES + spec.AGENT_FEATURES)


def test_imports_no_jax_or_flax(exported):
    _, _, path = exported
    code = textwrap.dedent(f"""
        import sys, numpy as np
        from mmjax.policy.numpy_policy import NumpyPolicy
        p = NumpyPolicy.load({str(path)!r})
        p.act(np.zeros({D}, np.float32))
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "flax", "optax"))
        assert not bad, bad
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def _rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    files.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del files[k]
    np.savez(out, **files)
    return out


def test_a_policy_of_the_old_observation_is_refused_with_what_changed(exported, tmp_path):
    # a policy.npz written before the agent's own-order features: 17 market + 3 account features
    _, _, path = exported
    old = spec.MARKET_FEATURES + spec.AGENT_FEATURES[:3]
    with np.load(path, allow_pickle=False) as z:
        k0 = z["actor/dense_0/kernel"]
    old_path = _rewrite(path, tmp_path / "old.npz", **{
        "features/names": np.asarray(old, np.str_), "features/spec_hash": np.asarray("ab" * 32, np.str_),
        "obs_norm/mean": np.zeros(len(old), np.float32), "obs_norm/var": np.ones(len(old), np.float32),
        "actor/dense_0/kernel": k0[: len(old)]})
    assert NumpyPolicy.load(old_path).obs_dim == len(old)  # readable as a file...
    with pytest.raises(PolicyFileError, match=r"20 features in the file, 34 .* lacks bid_order_live.* retrain"):
        NumpyPolicy.load(old_path, expected_spec_hash=spec.spec_hash())  # ... refused for this observation


def test_clear_errors_on_bad_files(exported, tmp_path):
    _, _, path = exported
    with pytest.raises(PolicyFileError, match="spec hash"):
        NumpyPolicy.load(path, expected_spec_hash="0" * 64)
    with pytest.raises(PolicyFileError, match="format_version 99"):
        NumpyPolicy.load(_rewrite(path, tmp_path / "v.npz", format_version=np.asarray(99)))
    with pytest.raises(PolicyFileError, match="pickled"):
        NumpyPolicy.load(_rewrite(path, tmp_path / "pk.npz", **{"features/spec_hash": np.array([{"a": 1}], dtype=object)}))
    with pytest.raises(PolicyFileError, match="layer 1 shapes"):
        NumpyPolicy.load(_rewrite(path, tmp_path / "s.npz", **{"actor/dense_1/kernel": np.zeros((5, 16), np.float32)}))
    with pytest.raises(PolicyFileError, match="missing field 'obs_norm/var'"):
        NumpyPolicy.load(_rewrite(path, tmp_path / "m.npz", **{"obs_norm/var": None}))
    with pytest.raises(PolicyFileError, match="non-finite"):
        NumpyPolicy.load(_rewrite(path, tmp_path / "n.npz", **{"obs_norm/mean": np.full(D, np.nan, np.float32)}))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(PolicyFileError, match="corrupt.npz"):
        NumpyPolicy.load(corrupt)
    with pytest.raises(PolicyFileError, match="no such"):
        NumpyPolicy.load(tmp_path / "absent.npz")


def test_act_rejects_wrong_shape_and_nan(exported):
    pol = NumpyPolicy.load(exported[2])
    with pytest.raises(ValueError, match="expected"):
        pol.act(np.zeros(D + 1))
    obs = np.zeros(D)
    obs[0] = np.nan
    with pytest.raises(ValueError, match=spec.MARKET_FEATURES[0]):
        pol.act(obs)
