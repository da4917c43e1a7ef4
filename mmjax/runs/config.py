"""The configs of the commands that train: `TrainCore` (what is trained, on what), `TrainConfig` (`mmjax train`)
and `SweepConfig` (`mmjax sweep`). Imports no jax, so `--help` and the config checks start fast."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.env.data_config import DataConfig
from mmjax.env.knobs import EnvKnobs
from mmjax.outputs import UserError, check_range
from mmjax.policy.baselines import BASELINES
from mmjax.ppo.config import PPOConfig

# grid flag -> ("hp", HParams / PPOConfig field) or ("env", EnvKnobs field); values are comma-separated floats
GRID_FLAGS = {"lr_grid": ("hp", "lr"), "ent_coef_grid": ("hp", "ent_coef"),
              "risk_aversion_grid": ("env", "risk_aversion")}
SELECT = {"pnl": "mm/pnl", "return": "charts/episodic_return", "sharpe": "mm/pnl"}
TEACHERS = tuple(b for b in BASELINES if b != "abstain")  # a teacher that never quotes teaches nothing
TEACHER_HELP = (f"a baseline PPO clones at the start of training ({', '.join(TEACHERS)}), tuned on the run's training "
                "split (mmjax/evaluation/teacher.py); needs --bc-coef > 0; '' = none")


def check_teacher_name(name: str) -> str:
    """``name`` if it is a baseline that can teach; else a UserError naming the choices."""
    if name not in TEACHERS:
        raise UserError(f"--teacher {name!r}: choose one of {', '.join(TEACHERS)}")
    return name


def check_teacher(teacher: str, bc_coef: float) -> None:
    """A known teacher name, given exactly when `PPOConfig.bc_coef` > 0 (a UserError saying which is missing)."""
    if teacher:
        check_teacher_name(teacher)
    if bool(teacher) != (bc_coef > 0):
        raise UserError(f"--teacher {teacher!r} and --bc-coef {bc_coef:g} go together: a teacher is cloned with a "
                        "weight > 0, and a weight needs a teacher (e.g. --teacher glft --bc-coef 1)")


@dataclass(frozen=True)
class TrainCore:
    """What is trained, on what: the recording and its splits, the env knobs, the PPO knobs (flat flags).

    Defined once for every command that trains: `mmjax train` (TrainConfig), `mmjax sweep` (SweepConfig, which
    grids some of these knobs) and `mmjax demo` (which builds one per market and fee)."""

    data: DataConfig = field(default_factory=DataConfig)
    env: EnvKnobs = field(default_factory=EnvKnobs)
    ppo: PPOConfig = field(default_factory=PPOConfig)


@dataclass(frozen=True)
class TrainConfig:
    """Train PPO on the training split of a recording: data, env knobs and PPO knobs (all flat flags below)."""

    core: TrainCore = field(default_factory=TrainCore)
    out: str = field(default="runs/latest", metadata={"help": "run directory for checkpoint, metrics, plots and policy.npz"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace the run in --out (it is kept until the new run finishes); without this or --resume, an "
                "existing run is refused"})
    teacher: str = field(default="", metadata={"help": TEACHER_HELP})
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
        if self.teacher:  # the other way round (a weight, no name) may be a caller's own teacher: `train` checks
            check_teacher(self.teacher, self.core.ppo.bc_coef)
        if not self.out:
            raise UserError("--out must name a run directory")


@dataclass(frozen=True)
class SweepConfig:
    """Grid search of PPO on a recording: train on the training split, select on the validation split."""

    core: TrainCore = field(default_factory=TrainCore)  # what is trained, on what: the knobs a grid leaves alone
    out: str = field(default="runs/sweep", metadata={"help": "directory for the table, the plot and the winning config"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace the sweep in --out (it is kept until the new one is complete); a sweep does not resume, "
                "so without this an existing --out is refused"})
    lr_grid: str = field(default="", metadata={"help": "learning rates to try, comma-separated (default: --lr alone)"})
    ent_coef_grid: str = field(default="", metadata={"help": "entropy weights to try, comma-separated (default: --ent-coef alone)"})
    risk_aversion_grid: str = field(default="", metadata={
        "help": "env risk aversions to try, 1/$, comma-separated (default: --risk-aversion alone)"})
    seeds: int = field(default=2, metadata={"help": "seeds per grid point (keys split from --seed)"})
    val_episodes: int = field(default=32, metadata={"help": "validation episodes per trained policy"})
    select: str = field(default="pnl", metadata={
        "help": "validation score: mean episode PnL $, its Sharpe (mean/std over episodes) or the mean episode "
                "reward (not comparable across risk aversions)",
        "choices": sorted(SELECT)})

    def __post_init__(self) -> None:
        check_range("SweepConfig", "seeds", self.seeds, 1, 4096)
        check_range("SweepConfig", "val_episodes", self.val_episodes, 1)
        if not self.out:
            raise UserError("--out must name a sweep directory")
        self.axes()  # a malformed grid list is refused before any work

    def axes(self) -> dict[str, list[float]]:
        """{flag name: values}, one value (the plain flag's) for flags left empty."""
        out = {}
        for flag, (kind, name) in GRID_FLAGS.items():
            text = getattr(self, flag)
            plain = getattr(self.core.ppo if kind == "hp" else self.core.env, name)
            try:
                out[flag] = [float(x) for x in text.split(",") if x.strip()] if text else [float(plain)]
            except ValueError as e:
                raise UserError(f"--{flag.replace('_', '-')} expects comma-separated numbers, got {text!r}") from e
        return out

    def core_at(self, point: dict[str, float]) -> TrainCore:
        """The TrainCore of one grid point: its values in the PPO and env knobs."""
        hp = {name: point[name] for kind, name in GRID_FLAGS.values() if kind == "hp"}
        env = {name: point[name] for kind, name in GRID_FLAGS.values() if kind == "env"}
        return dataclasses.replace(self.core, ppo=dataclasses.replace(self.core.ppo, **hp),
                                   env=dataclasses.replace(self.core.env, **env))

    def train_config(self, point: dict[str, float]) -> TrainConfig:
        """The `mmjax train` config that trains one grid point into OUT_best, beside the sweep (seed --seed: a fresh
        seed, not a split key). Not inside OUT: a later `sweep --overwrite` replaces OUT whole, and would take the run."""
        out = Path(self.out) if Path(self.out).name else Path(self.out).resolve()  # "." has no name to extend
        return TrainConfig(core=self.core_at(point), out=str(out.with_name(out.name + "_best")))
