"""Export a trained PPO actor to a self-contained .npz that `mmjax.policy.numpy_policy` runs without jax.

Everything is stored as plain numeric or numpy-unicode arrays, so ``np.load(path, allow_pickle=False)``
reads the whole file. Layout (D obs dim, H_i hidden widths, A action dim):

    format_version            int64 []         FORMAT_VERSION
    actor/dense_{i}/kernel    float32 [H_{i-1}, H_i]   (H_{-1} = D)
    actor/dense_{i}/bias      float32 [H_i]
    actor/ln_{i}/scale, bias  float32 [H_i]    LayerNorm after each Dense, then the activation
    actor/mean_head/kernel    float32 [H_last, A];  actor/mean_head/bias  float32 [A]
    actor/log_std             float32 [A]      (unused by the deterministic policy; kept for completeness)
    obs_norm/mean, var        float32 [D];  obs_norm/count float32 []
    config/activation         str []   "tanh" | "relu"
    config/obs_clip, layernorm_eps, obs_var_eps   float64 []
    features/names            str [D]  observation names in order (market features then agent features)
    features/spec_hash        str []   sha256 of the feature spec (mmjax.features.spec.spec_hash())
    features/norm_mean, norm_std  float32 [F_M]  caller's market-feature normalization (may be empty)
    action_mapping/names      str [K];  action_mapping/values float64 [K]  e.g. max_offset_bps
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmjax.policy.format import FORMAT_VERSION
from mmjax.ppo.networks import LAYERNORM_EPS, OBS_VAR_EPS

_EXTRA_KEYS = {"action_mapping", "feature_names", "spec_hash", "feature_mean", "feature_std", "obs_clip", "activation"}


def _spec_defaults() -> tuple[list[str] | None, str | None]:
    try:
        from mmjax.features import spec
    except ImportError:
        return None, None
    return list(spec.MARKET_FEATURES + spec.AGENT_FEATURES), spec.spec_hash()


def export_policy(params: Mapping, out_path: str | os.PathLike, extra: Mapping | None = None) -> Path:
    """Write the actor and obs statistics of `params` (from `make_train`/`run_training`) to `out_path` .npz.

    `extra` keys: action_mapping (dict name -> float, e.g. {"max_offset_bps": 10.0}), feature_names and
    spec_hash (default: mmjax.features.spec), feature_mean / feature_std ([F_M] market-feature
    normalization), obs_clip (default 10.0, must match training), activation (default "tanh").
    """
    extra = dict(extra or {})
    unknown = set(extra) - _EXTRA_KEYS
    if unknown:
        raise ValueError(f"export_policy: unknown extra key(s) {sorted(unknown)}; allowed {sorted(_EXTRA_KEYS)}")
    actor = params["actor"]["params"]
    torso = actor["torso"]
    n_layers = sum(1 for k in torso if k.startswith("dense_"))
    arrays: dict[str, np.ndarray] = {"format_version": np.asarray(FORMAT_VERSION, np.int64)}
    for i in range(n_layers):
        for name in (f"dense_{i}", f"ln_{i}"):
            for leaf, val in torso[name].items():
                arrays[f"actor/{name}/{leaf}"] = np.asarray(val, np.float32)
    arrays["actor/mean_head/kernel"] = np.asarray(actor["mean_head"]["kernel"], np.float32)
    arrays["actor/mean_head/bias"] = np.asarray(actor["mean_head"]["bias"], np.float32)
    arrays["actor/log_std"] = np.asarray(actor["log_std"], np.float32)
    norm = params["obs_norm"]
    arrays["obs_norm/mean"] = np.asarray(norm.mean, np.float32)
    arrays["obs_norm/var"] = np.asarray(norm.var, np.float32)
    arrays["obs_norm/count"] = np.asarray(norm.count, np.float32)
    if arrays["obs_norm/mean"].ndim != 1 or arrays["actor/mean_head/kernel"].ndim != 2:
        raise ValueError(f"export_policy: expected one policy (obs_norm/mean [D]), got shape "
                         f"{arrays['obs_norm/mean'].shape}; index a vmapped run's params first (tree.map(lambda x: x[i]))")
    obs_dim = arrays["obs_norm/mean"].shape[0]

    activation = str(extra.get("activation", "tanh"))
    if activation not in ("tanh", "relu"):
        raise ValueError(f"export_policy: activation must be 'tanh' or 'relu', got {activation!r}")
    arrays["config/activation"] = np.asarray(activation, np.str_)
    arrays["config/obs_clip"] = np.asarray(float(extra.get("obs_clip", 10.0)), np.float64)
    arrays["config/layernorm_eps"] = np.asarray(LAYERNORM_EPS, np.float64)
    arrays["config/obs_var_eps"] = np.asarray(OBS_VAR_EPS, np.float64)

    default_names, default_hash = _spec_defaults()
    names = extra.get("feature_names", default_names)
    if names is None or len(names) != obs_dim:
        raise ValueError(f"export_policy: feature_names must list the {obs_dim} observation names in order, "
                         f"got {None if names is None else len(names)} (pass extra['feature_names'])")
    spec_hash = extra.get("spec_hash", default_hash)
    if not spec_hash:
        raise ValueError("export_policy: spec_hash missing (pass extra['spec_hash'])")
    arrays["features/names"] = np.asarray(list(names), np.str_)
    arrays["features/spec_hash"] = np.asarray(str(spec_hash), np.str_)
    f_mean = np.asarray(extra.get("feature_mean", np.zeros(0)), np.float32)
    f_std = np.asarray(extra.get("feature_std", np.zeros(0)), np.float32)
    if f_mean.shape != f_std.shape or f_mean.ndim != 1:
        raise ValueError(f"export_policy: feature_mean {f_mean.shape} and feature_std {f_std.shape} must be equal 1-D")
    arrays["features/norm_mean"], arrays["features/norm_std"] = f_mean, f_std

    mapping = extra.get("action_mapping", {})
    try:
        values = np.asarray([float(v) for v in mapping.values()], np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"export_policy: action_mapping values must be floats, got {mapping!r}") from e
    arrays["action_mapping/names"] = np.asarray([str(k) for k in mapping], np.str_).reshape(-1)
    arrays["action_mapping/values"] = values

    bad = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
    if bad:
        raise ValueError(f"export_policy: non-finite values in {bad}")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, out)
    return out
