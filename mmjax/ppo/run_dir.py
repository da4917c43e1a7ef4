"""The layout of a training run directory, owned here: every writer and reader of a run uses these names.

    RUN/checkpoint.npz        resumable train state (mmjax.ppo.runner)
    RUN/metrics.jsonl         one JSON line per update (mmjax.ppo.runner)
    RUN/learning_curve.png    episodic return (and PnL) against env steps (mmjax.ppo.runner)
    RUN/train_config.json     the nested TrainConfig of `mmjax train` (data, env knobs, PPO), defined here
    RUN/feature_norm.json     market-feature normalization fitted on the training split only
    RUN/policy.npz            the exported NumPy policy (mmjax.policy.export)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.env import build
from mmjax.env.knobs import EnvKnobs
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.runner import CHECKPOINT, CURVE, METRICS

TRAIN_CONFIG = "train_config.json"
FEATURE_NORM = "feature_norm.json"
POLICY = "policy.npz"

__all__ = ["CHECKPOINT", "CURVE", "FEATURE_NORM", "METRICS", "POLICY", "TRAIN_CONFIG", "TrainConfig", "find_runs", "load_train_config"]


def find_runs(path: str | Path) -> list[Path]:
    """One run directory, or every run directory (one per seed) directly below ``path``."""
    p = Path(path)
    if (p / TRAIN_CONFIG).exists():
        return [p]
    runs = sorted(d for d in p.glob("*") if (d / TRAIN_CONFIG).exists())
    if not runs:
        raise FileNotFoundError(f"{p}: no {TRAIN_CONFIG} here or in its subdirectories; pass a `mmjax train` run directory")
    return runs


@dataclass(frozen=True)
class TrainConfig:
    """Train PPO on the training split of a recording: data, env knobs and PPO knobs (all flat flags below)."""

    data: build.DataConfig = field(default_factory=build.DataConfig)
    env: EnvKnobs = field(default_factory=EnvKnobs)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    out: str = field(default="runs/latest", metadata={"help": "run directory for checkpoint, metrics, plots and policy.npz"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    tensorboard: str = field(default="", metadata={
        "help": "also write the metrics as TensorBoard event files to this directory (needs tensorboardX)",
        "metavar": "DIR"})
    coordinator_address: str = field(default="", metadata={
        "help": "multi-host: host:port of process 0 (same on every process), or 'auto' to detect SLURM/MPI/TPU"})
    num_processes: int = field(default=1, metadata={"help": "multi-host: number of processes in the run"})
    process_id: int = field(default=0, metadata={"help": "multi-host: this process's index, 0 .. num_processes-1"})


def _pick(cls, d: dict) -> dict:
    """The entries of ``d`` that are fields of dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def load_train_config(path: Path) -> TrainConfig:
    """The TrainConfig of a run directory (also reads the flat layout written before the configs were nested)."""
    d = json.loads((Path(path) / TRAIN_CONFIG).read_text())
    if "ppo" not in d:  # flat: one namespace for everything
        d = {**d, "data": d, "env": d, "ppo": d}
    top = {k: v for k, v in _pick(TrainConfig, d).items() if k not in ("data", "env", "ppo")}
    return TrainConfig(data=build.DataConfig(**_pick(build.DataConfig, d["data"])),
                       env=EnvKnobs(**_pick(EnvKnobs, d["env"])), ppo=PPOConfig(**_pick(PPOConfig, d["ppo"])), **top)
