"""The built-in synthetic market on disk: generated once into a cache directory, offline and deterministic."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mmjax import schema


def cache_root(cache_dir: str | None = None) -> Path:
    """``cache_dir``, else $XDG_CACHE_HOME/mmjax, else ~/.cache/mmjax."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmjax"


def builtin_market(cache_dir: str | None = None, hours: float = 0.25, seed: int = 0, preset: str = "") -> str:
    """Path of the built-in market recording (``hours`` long, ``seed``, regime ``preset``), generated on first use."""
    from mmjax.market import synth

    base = cache_root(cache_dir)
    path = base / (f"builtin-seed{seed}-{hours:g}h" + (f"-{preset}" if preset else ""))
    if (path / schema.BOOK_DIR).is_dir():
        return str(path)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".builtin-", dir=base))
    try:
        synth.run(synth.SynthConfig(out=str(tmp), hours=hours, seed=seed, preset=preset))
        try:
            os.replace(tmp, path)  # atomic: a concurrent or interrupted run never leaves half a market
        except OSError:
            if not (path / schema.BOOK_DIR).is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)
