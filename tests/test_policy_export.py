"""export_policy writes a pickle-free .npz with weights, obs statistics, feature spec and action mapping."""

import numpy as np
import pytest

from mmjax.features import spec
from mmjax.policy import export, format
from tests.helpers.policy import EXTRA, make_params


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
