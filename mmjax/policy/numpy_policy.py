"""NumPy-only inference of an exported PPO policy (no jax, no flax): load, validate, act in microseconds."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmjax.outputs import UserError, read_npz
from mmjax.policy.format import FORMAT_VERSION


class PolicyFileError(UserError):
    """The policy file is missing, corrupt, pickled, of another version or inconsistent."""


def _spec_difference(names: tuple[str, ...]) -> str:
    """What a policy's feature names lack or add against this version's observation (`mmjax.features.spec`)."""
    from mmjax.features.spec import AGENT_FEATURES, MARKET_FEATURES

    now = MARKET_FEATURES + AGENT_FEATURES
    missing, extra = [n for n in now if n not in names], [n for n in names if n not in now]
    if not missing and not extra:
        return " (the same names: windows, clips or scales differ)"
    listed = lambda ns: ", ".join(ns[:4]) + (f" and {len(ns) - 4} more" if len(ns) > 4 else "")  # noqa: E731
    return (f" ({len(names)} features in the file, {len(now)} in this version's observation"
            + (f"; it lacks {listed(missing)}" if missing else "") + (f"; it has {listed(extra)}" if extra else "") + ")")


@dataclass(frozen=True)
class _Layer:
    kernel: np.ndarray  # [in, out] float32
    bias: np.ndarray  # [out]
    ln_scale: np.ndarray | None  # [out]; None for the head
    ln_bias: np.ndarray | None


class NumpyPolicy:
    """Deterministic tanh(mean) policy: obs_raw [D] (or [N, D]) -> action in [-1, 1]^A."""

    def __init__(self, layers: list[_Layer], obs_mean: np.ndarray, obs_inv_std: np.ndarray, obs_clip: float,
                 activation: str, ln_eps: float, meta: dict):
        self._layers = layers
        # LayerNorm(x W + b) only sees (x W + b) minus its mean over units, which equals x Wc + bc with
        # Wc, bc centred over the output axis: fold it in once here (in float64), saving work per decision.
        self._fast = []
        for layer in layers[:-1]:
            k64, b64 = layer.kernel.astype(np.float64), layer.bias.astype(np.float64)
            kc = (k64 - k64.mean(axis=1, keepdims=True)).astype(np.float32)
            bc = (b64 - b64.mean()).astype(np.float32)
            self._fast.append((kc, bc, layer.ln_scale, layer.ln_bias, 1.0 / layer.bias.shape[0]))
        self._head_k, self._head_b = layers[-1].kernel, layers[-1].bias
        self._obs_mean, self._obs_inv_std = obs_mean, obs_inv_std
        self._ones = np.ones(obs_mean.shape[0], np.float32)
        self._clip = np.float32(obs_clip)
        self._neg_clip = -self._clip
        self._act = (lambda x: np.tanh(x, out=x)) if activation == "tanh" else (lambda x: np.maximum(x, 0.0, out=x))
        self._ln_eps = np.float32(ln_eps)
        self.obs_dim = obs_mean.shape[0]
        self.action_dim = layers[-1].bias.shape[0]
        self.feature_names: tuple[str, ...] = meta["feature_names"]
        self.spec_hash: str = meta["spec_hash"]
        self.action_mapping: dict[str, float] = meta["action_mapping"]
        self.feature_mean: np.ndarray = meta["feature_mean"]  # [F_M] market-feature normalization (may be empty)
        self.feature_std: np.ndarray = meta["feature_std"]

    @classmethod
    def load(cls, path: str | os.PathLike, expected_spec_hash: str | None = None,
             expected_obs_dim: int | None = None) -> NumpyPolicy:
        """Read and validate an export; raise PolicyFileError naming the file and the field on any problem.

        ``expected_obs_dim``: the observation size of the env it will run in (checked here, before any work)."""
        path = Path(path)
        files = read_npz(path, "policy", PolicyFileError)

        def get(key: str, kind: str | None = None, ndim: int | None = None) -> np.ndarray:
            if key not in files:
                raise PolicyFileError(f"{path}: missing field {key!r}")
            arr = files[key]
            if kind is not None and arr.dtype.kind not in kind:
                raise PolicyFileError(f"{path}: field {key!r} has dtype {arr.dtype}, expected kind {kind!r}")
            if ndim is not None and arr.ndim != ndim:
                raise PolicyFileError(f"{path}: field {key!r} has shape {arr.shape}, expected {ndim}-D")
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise PolicyFileError(f"{path}: field {key!r} has non-finite values")
            return arr

        version = int(get("format_version", "iu", 0))
        if version != FORMAT_VERSION:
            raise PolicyFileError(f"{path}: format_version {version}, this reader supports {FORMAT_VERSION}")

        obs_mean = get("obs_norm/mean", "f", 1).astype(np.float32)
        obs_var = get("obs_norm/var", "f", 1).astype(np.float32)
        if obs_var.shape != obs_mean.shape or np.any(obs_var < 0):
            raise PolicyFileError(f"{path}: field 'obs_norm/var' shape {obs_var.shape} or sign inconsistent with "
                                  f"obs_norm/mean {obs_mean.shape}")
        var_eps = float(get("config/obs_var_eps", "f", 0))
        layers, width, i = [], obs_mean.shape[0], 0
        while f"actor/dense_{i}/kernel" in files:
            kernel = get(f"actor/dense_{i}/kernel", "f", 2).astype(np.float32)
            vecs = [get(f"actor/{n}", "f", 1).astype(np.float32)
                    for n in (f"dense_{i}/bias", f"ln_{i}/scale", f"ln_{i}/bias")]
            if kernel.shape[0] != width or any(v.shape != (kernel.shape[1],) for v in vecs):
                raise PolicyFileError(f"{path}: layer {i} shapes {kernel.shape}, {[v.shape for v in vecs]} do not "
                                      f"chain from input width {width}")
            layers.append(_Layer(kernel, vecs[0], vecs[1], vecs[2]))
            width, i = kernel.shape[1], i + 1
        if not layers:
            raise PolicyFileError(f"{path}: missing field 'actor/dense_0/kernel'")
        head_k = get("actor/mean_head/kernel", "f", 2).astype(np.float32)
        head_b = get("actor/mean_head/bias", "f", 1).astype(np.float32)
        if head_k.shape[0] != width or head_b.shape != (head_k.shape[1],):
            raise PolicyFileError(f"{path}: mean_head shapes {head_k.shape}, {head_b.shape} do not follow width {width}")
        layers.append(_Layer(head_k, head_b, None, None))

        activation = str(get("config/activation", "U", 0))
        if activation not in ("tanh", "relu"):
            raise PolicyFileError(f"{path}: field 'config/activation' is {activation!r}, expected tanh or relu")
        names = tuple(str(n) for n in get("features/names", "U", 1))
        if len(names) != obs_mean.shape[0]:
            raise PolicyFileError(f"{path}: field 'features/names' lists {len(names)} names for a "
                                  f"{obs_mean.shape[0]}-dim observation")
        spec_hash = str(get("features/spec_hash", "U", 0))
        if expected_spec_hash is not None and spec_hash != expected_spec_hash:
            raise PolicyFileError(f"{path}: feature spec hash {spec_hash[:12]}... does not match the expected "
                                  f"{expected_spec_hash[:12]}...: the policy was trained on different features"
                                  f"{_spec_difference(names)}; retrain it (mmjax train) and export it again")
        map_names = get("action_mapping/names", "U", 1)
        map_values = get("action_mapping/values", "f", 1)
        if map_names.shape != map_values.shape:
            raise PolicyFileError(f"{path}: action_mapping names {map_names.shape} and values {map_values.shape} differ")
        meta = {
            "feature_names": names, "spec_hash": spec_hash,
            "action_mapping": {str(k): float(v) for k, v in zip(map_names, map_values, strict=True)},
            "feature_mean": get("features/norm_mean", "f", 1).astype(np.float32),
            "feature_std": get("features/norm_std", "f", 1).astype(np.float32),
        }
        inv_std = (1.0 / np.sqrt(obs_var.astype(np.float64) + var_eps)).astype(np.float32)
        if expected_obs_dim is not None and obs_mean.shape[0] != expected_obs_dim:
            raise PolicyFileError(f"{path}: field 'obs_norm/mean': the policy observes {obs_mean.shape[0]} entries, "
                                  f"this env's observation has {expected_obs_dim}: trained on other features")
        return cls(layers, obs_mean, inv_std, float(get("config/obs_clip", "f", 0)), activation,
                   float(get("config/layernorm_eps", "f", 0)), meta)

    def act(self, obs_raw: np.ndarray) -> np.ndarray:
        """Deterministic action tanh(mean) in [-1, 1]^A for a raw env observation [D] (or a batch [N, D])."""
        x = np.asarray(obs_raw, np.float32)
        if x.shape[-1:] != (self.obs_dim,):
            raise ValueError(f"NumpyPolicy.act: observation shape {x.shape}, expected [..., {self.obs_dim}] "
                             f"({', '.join(self.feature_names[:3])}, ...)")
        # one reduction (for one observation a BLAS dot with ones, a quarter of np.add.reduce's call); NaN/inf propagates
        if not (math.isfinite(x.dot(self._ones)) if x.ndim == 1 else np.isfinite(np.add.reduce(x, axis=None))):
            bad = np.flatnonzero(~np.isfinite(x).reshape(-1, self.obs_dim).all(axis=0))
            raise ValueError(f"NumpyPolicy.act: non-finite observation feature(s) "
                             f"{[self.feature_names[i] for i in bad]}")
        x = (x - self._obs_mean) * self._obs_inv_std  # a new array: the caller's observation is never written
        x = np.minimum(np.maximum(x, self._neg_clip, out=x), self._clip, out=x)
        act = self._act
        if x.ndim == 1:  # the live path: ndarray.dot (BLAS, the same sums as @ at half its call overhead), in place
            eps = self._ln_eps
            for kc, bc, scale, shift, inv_n in self._fast:
                d = x.dot(kc)  # already centred: LayerNorm's mean subtraction is folded into kc, bc
                d += bc
                x = scale * np.float32(1.0 / math.sqrt(float(d.dot(d)) * inv_n + eps))
                x *= d  # d * (scale * s): IEEE products commute
                x += shift
                x = act(x)
            x = x.dot(self._head_k)
            x += self._head_b
            return np.tanh(x, out=x)
        for kc, bc, scale, shift, _ in self._fast:
            d = x @ kc + bc
            var = np.mean(d * d, axis=-1, keepdims=True)
            x = act(d / np.sqrt(var + self._ln_eps) * scale + shift)
        return np.tanh(x @ self._head_k + self._head_b)
