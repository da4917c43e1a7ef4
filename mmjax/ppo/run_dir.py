"""The layout of a training run directory, owned here: every writer and reader of a run uses these names.

    RUN/checkpoint.npz        resumable train state (mmjax.ppo.runner)
    RUN/metrics.jsonl         one JSON line per update (mmjax.ppo.runner)
    RUN/learning_curve.png    episodic return (and PnL) against env steps (mmjax.ppo.runner)
    RUN/train_config.json     the nested TrainConfig of `mmjax train` (data, env knobs, PPO), defined here
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
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.env import build
from mmjax.env.knobs import EnvKnobs
from mmjax.outputs import UserError, check_range
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.runner import CHECKPOINT, CURVE, METRICS
from mmjax.ppo.seeds import BEST_CHECKPOINT, LAST_CHECKPOINT, SELECTION

TRAIN_CONFIG = "train_config.json"
FEATURE_NORM = "feature_norm.json"
POLICY = "policy.npz"
SEEDS_SUMMARY = "seeds.json"  # OUT/seeds.json of a --seeds K run: each seed's directory, final metrics, selection

__all__ = ["BEST_CHECKPOINT", "CHECKPOINT", "CURVE", "FEATURE_NORM", "LAST_CHECKPOINT", "METRICS", "POLICY", "SEEDS_SUMMARY", "SELECTION",
           "TRAIN_CONFIG", "TrainConfig", "find_runs", "holds_run", "load_train_config", "seed_dirs"]


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


@dataclass(frozen=True)
class TrainConfig:
    """Train PPO on the training split of a recording: data, env knobs and PPO knobs (all flat flags below)."""

    data: build.DataConfig = field(default_factory=build.DataConfig)
    env: EnvKnobs = field(default_factory=EnvKnobs)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    out: str = field(default="runs/latest", metadata={"help": "run directory for checkpoint, metrics, plots and policy.npz"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace the run in --out (it is kept until the new run finishes); without this or --resume, an "
                "existing run is refused"})
    seeds: int = field(default=1, metadata={
        "help": "seeds trained at once in one vmapped program: --seed, --seed+1, ...; above 1, run k goes to "
                "OUT/seed<seed+k>/ (each laid out as a single run)"})
    select_on_val: bool = field(default=False, metadata={
        "help": "keep, per seed, the checkpoint with the best mean validation-split episode PnL (deterministic "
                "policy on fixed non-overlapping episodes) as the run's checkpoint and policy.npz"})
    val_every_updates: int = field(default=0, metadata={
        "help": "with --select-on-val: validate every this many updates (0: after every --updates-per-chunk "
                "chunk); the last update is always validated"})
    val_margin_se: float = field(default=0.0, metadata={
        "help": "with --select-on-val: keep the best-scoring checkpoint over the latest only when its mean lead on "
                "the same validation episodes exceeds this many standard errors of the paired difference (else the "
                "latest); 0: always the best (ties keep the earlier)"})
    val_episodes: int = field(default=32, metadata={
        "help": "with --select-on-val: validation episodes (fewer when fewer fit in the validation split)"})
    tensorboard: str = field(default="", metadata={
        "help": "also write the metrics as TensorBoard event files to this directory (needs tensorboardX)",
        "metavar": "DIR"})
    coordinator_address: str = field(default="", metadata={
        "help": "multi-host: host:port of process 0 (same on every process), or 'auto' to detect SLURM/MPI/TPU"})
    num_processes: int = field(default=1, metadata={"help": "multi-host: number of processes in the run"})
    process_id: int = field(default=0, metadata={"help": "multi-host: this process's index, 0 .. num_processes-1"})

    def __post_init__(self) -> None:
        own = "TrainConfig"
        check_range(own, "seeds", self.seeds, 1, 4096)
        check_range(own, "val_every_updates", self.val_every_updates, 0)
        check_range(own, "val_episodes", self.val_episodes, 1)
        check_range(own, "val_margin_se", self.val_margin_se, 0.0)
        check_range(own, "num_processes", self.num_processes, 1)
        check_range(own, "process_id", self.process_id, 0, self.num_processes - 1)
        if not self.out:
            raise UserError("--out must name a run directory")


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
