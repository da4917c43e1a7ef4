"""Checkpoints as plain .npz (no pickle): one array per pytree leaf, keyed by its path, plus string metadata.

Restoring needs a template pytree of the same structure (a freshly initialised `TrainState`), so the
file never encodes Python objects; a mismatch in keys, shapes or dtypes is a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from mmjax.outputs import UserError, read_npz

FORMAT_VERSION = 1
_META = "__meta__/"


def _leaf_key(path) -> str:
    return "tree" + jax.tree_util.keystr(path)


def save_checkpoint(path: str | os.PathLike, tree: Any, meta: dict[str, str] | None = None) -> Path:
    """Write every leaf of `tree` plus string `meta` to `path` atomically (tmp file + rename)."""
    path = Path(path)
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
    arrays = {_leaf_key(p): np.asarray(x) for p, x in leaves}
    if len(arrays) != len(leaves):
        raise ValueError(f"{path}: pytree paths are not unique; cannot checkpoint")
    meta = {"format_version": str(FORMAT_VERSION), **(meta or {})}
    arrays.update({_META + k: np.asarray(v, dtype=np.str_) for k, v in meta.items()})
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint behind
    return path


def load_checkpoint(path: str | os.PathLike, template: Any) -> tuple[Any, dict[str, str]]:
    """Read a checkpoint into the structure of `template`; returns (tree, meta)."""
    path = Path(path)
    files = read_npz(path, "checkpoint")
    meta = {k[len(_META):]: str(v) for k, v in files.items() if k.startswith(_META)}
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise UserError(f"{path}: checkpoint format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    want = {_leaf_key(p) for p, _ in leaves}
    have = {k for k in files if not k.startswith(_META)}
    if want != have:
        raise UserError(f"{path}: checkpoint does not match this run's state; missing {sorted(want - have)[:5]}, "
                         f"unexpected {sorted(have - want)[:5]}")
    out = []
    for p, ref in leaves:
        key, arr = _leaf_key(p), files[_leaf_key(p)]
        ref_shape, ref_dtype = np.shape(ref), np.asarray(ref).dtype if not hasattr(ref, "dtype") else ref.dtype
        if arr.shape != tuple(ref_shape) or arr.dtype != ref_dtype:
            raise UserError(f"{path}: field {key} has shape {arr.shape} dtype {arr.dtype}, "
                             f"expected {tuple(ref_shape)} {ref_dtype}")
        out.append(arr)
    return jax.tree_util.tree_unflatten(treedef, out), meta
