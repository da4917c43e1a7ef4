"""The layout of a training run directory, owned here: every writer and reader of a run uses these names.

    RUN/checkpoint.npz        resumable train state (mmjax.ppo.runner)
    RUN/metrics.jsonl         one JSON line per update (mmjax.ppo.runner)
    RUN/learning_curve.png    episodic return (and PnL) against env steps (mmjax.ppo.runner)
    RUN/train_config.json     the TrainConfig of `mmjax train` (mmjax.runs.config): {"data", "env", "ppo"} (its TrainCore)
                              and its run options (`config_json`, `load_train_config`)
    RUN/feature_norm.json     market-feature normalization fitted on the training split only
    RUN/policy.npz            the exported NumPy policy (mmjax.policy.export)
    RUN/selection.json        with --select-on-val: selected update, its validation score, the validation curve
    RUN/checkpoint_last.npz   with --select-on-val: the latest state (checkpoint.npz is the selected one)
    RUN/checkpoint_best.npz   with --select-on-val --val-margin-se > 0: the best-scoring state (may not be selected)

With ``--seeds K`` (K > 1), run k lives in OUT/seed<seed+k>/ laid out as above, its train_config.json that
of the single run it equals (``seed`` = seed+k, ``seeds`` = 1, ``out`` = its directory), and OUT/seeds.json
lists the runs; `find_runs(OUT)` finds them all.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mmjax.env import build
from mmjax.env.knobs import EnvKnobs
from mmjax.outputs import UserError
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.runner import CHECKPOINT, CURVE, METRICS
from mmjax.ppo.seeds import BEST_CHECKPOINT, LAST_CHECKPOINT, SELECTION
from mmjax.runs.config import TrainConfig, TrainCore

TRAIN_CONFIG = "train_config.json"
FEATURE_NORM = "feature_norm.json"
POLICY = "policy.npz"
SEEDS_SUMMARY = "seeds.json"  # OUT/seeds.json of a --seeds K run: each seed's directory, final metrics, selection

__all__ = ["BEST_CHECKPOINT", "CHECKPOINT", "CURVE", "FEATURE_NORM", "LAST_CHECKPOINT", "METRICS", "POLICY", "SEEDS_SUMMARY", "SELECTION",
           "TRAIN_CONFIG", "TrainConfig", "TrainCore", "config_json", "find_runs", "holds_run", "load_train_config",
           "seed_dirs"]


def seed_dirs(out: str | Path, seed: int, num_seeds: int) -> list[Path]:
    """Run directories of a `--seeds` run: OUT itself for one seed, else OUT/seed<seed+k>/ for k < num_seeds."""
    out = Path(out)
    return [out] if num_seeds == 1 else [out / f"seed{seed + k}" for k in range(num_seeds)]


def holds_run(path: str | Path) -> bool:
    """Whether ``path`` holds a training run (one, or one per seed); UserError if it holds other files.

    A directory that is neither empty nor a run is never a run to resume or replace (``--out .`` must
    not replace the working directory)."""
    p = Path(path)
    if not p.exists():
        return False
    if not p.is_dir():
        raise UserError(f"--out {p} is a file, not a run directory")
    names = {c.name for c in p.iterdir()}
    if not names:
        return False
    run_files = {TRAIN_CONFIG, CHECKPOINT, POLICY, METRICS, SEEDS_SUMMARY}
    if names & run_files or any((p / n / TRAIN_CONFIG).exists() for n in names):
        return True
    raise UserError(f"--out {p} is a directory that holds no training run ({', '.join(sorted(names)[:3])}, ...);"
                    " pick an empty or new directory")


def find_runs(path: str | Path) -> list[Path]:
    """One run directory, or every run directory (one per seed) directly below ``path``."""
    p = Path(path)
    if (p / TRAIN_CONFIG).exists():
        return [p]
    runs = sorted(d for d in p.glob("*") if (d / TRAIN_CONFIG).exists())
    if not runs:
        raise FileNotFoundError(f"{p}: no {TRAIN_CONFIG} here or in its subdirectories; pass a `mmjax train` run directory")
    return runs


def _pick(cls, d: dict) -> dict:
    """The entries of ``d`` that are fields of dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def config_json(cfg: TrainConfig) -> dict:
    """The train_config.json of ``cfg``: its TrainCore's data, env and ppo at the top, then the run options."""
    own = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "core"}
    return {**dataclasses.asdict(cfg.core), **own}


def load_train_config(path: Path) -> TrainConfig:
    """The TrainConfig of a run directory (also reads the flat layout written before the configs were nested)."""
    d = json.loads((Path(path) / TRAIN_CONFIG).read_text())
    if "ppo" not in d:  # flat: one namespace for everything
        d = {**d, "data": d, "env": d, "ppo": d}
    core = TrainCore(data=build.DataConfig(**_pick(build.DataConfig, d["data"])),
                     env=EnvKnobs(**_pick(EnvKnobs, d["env"])), ppo=PPOConfig(**_pick(PPOConfig, d["ppo"])))
    top = {k: v for k, v in _pick(TrainConfig, d).items() if k != "core"}
    return TrainConfig(core=core, **top)
