"""`PPOConfig`: every knob of the PPO trainer, documented with meaning and unit; it doubles as the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from mmjax.outputs import UserError, check_range

# Fields that change the compiled program's shapes or structure (static); all others are traced floats
# (see `train.HParams`) and can be vmapped over.
STATIC_FIELDS = (
    "total_timesteps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "anneal_lr",
    "hidden_sizes", "activation", "init_log_std", "init_action", "obs_clip", "num_devices", "normalize_reward",
    "noise_corr",
)


@dataclass(frozen=True)
class PPOConfig:
    """Proximal Policy Optimization (clipped objective, truncation-aware GAE) on any gymnax Box-action env."""

    total_timesteps: int = field(default=1_000_000, metadata={"help": "environment steps to train for, summed over all envs"})
    num_envs: int = field(default=64, metadata={"help": "parallel environments per seed (split across devices)"})
    num_steps: int = field(default=128, metadata={"help": "rollout length per env per update, steps"})
    update_epochs: int = field(default=4, metadata={"help": "passes over each rollout batch"})
    num_minibatches: int = field(default=8, metadata={"help": "minibatches per epoch; must divide num_steps"})
    lr: float = field(default=3e-4, metadata={"help": "Adam learning rate at the start, per gradient step"})
    anneal_lr: bool = field(default=True, metadata={"help": "decay the learning rate linearly to 0 over training"})
    gamma: float = field(default=0.99, metadata={"help": "discount factor per env step, unitless"})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda, unitless"})
    clip_eps: float = field(default=0.2, metadata={"help": "PPO ratio clip epsilon, unitless"})
    ent_coef: float = field(default=1e-3, metadata={"help": "entropy bonus weight (entropy of the tanh-squashed policy, nats)"})
    vf_coef: float = field(default=0.5, metadata={"help": "value loss weight"})
    max_grad_norm: float = field(default=0.5, metadata={"help": "global gradient-norm clip (actor and critic together)"})
    reward_scale: float = field(default=1.0, metadata={"help": "multiplier on rewards seen by the learner, applied before normalize_reward (not on logged returns)"})
    normalize_reward: bool = field(default=True, metadata={
        "help": "divide the learner's rewards by a running std of the per-env discounted return (Gymnasium NormalizeReward)"})
    hidden_sizes: str = field(default="256,128", metadata={"help": "MLP widths of actor and critic, comma-separated"})
    activation: str = field(default="tanh", metadata={"help": "hidden activation", "choices": ["tanh", "relu"]})
    init_log_std: float = field(default=-0.5, metadata={"help": "initial log standard deviation of the pre-tanh Gaussian"})
    init_action: float = field(default=0.0, metadata={
        "help": "initial deterministic action tanh(mean), every action dimension, in (-1, 1): the mean head's bias "
                "starts at atanh(this); 0 = the head's usual zero bias (in the market env -0.9 joins the touch, docs/env.md)"})
    noise_corr: float = field(default=0.0, metadata={
        "help": "correlation of the exploration noise from one step to the next, unitless in [0, 1): the pre-tanh "
                "draw is mean + std e_t, e_t = c e_(t-1) + sqrt(1 - c^2) xi_t (each e_t still N(0, 1); a fresh one at "
                "each episode's start); PPO's ratios use the density given e_(t-1). 0 = independent draws (as before)"})
    bc_coef: float = field(default=0.0, metadata={
        "help": "behaviour cloning at the start: weight of the mean squared distance between the policy's deterministic "
                "action tanh(mean) and a teacher's action on the rollout's own states, added to the loss and decayed "
                "linearly to 0 over the first --bc-anneal-frac of the updates; 0 = off (a teacher is needed otherwise: "
                "`mmjax train --teacher glft`)"})
    bc_anneal_frac: float = field(default=0.5, metadata={
        "help": "fraction of the updates over which --bc-coef decays to 0, unitless in (0, 1]"})
    obs_clip: float = field(default=10.0, metadata={"help": "clip normalized observations to +-this, standard deviations"})
    num_devices: int = field(default=1, metadata={"help": "devices to shard the env batch over (0 = all; all processes' in a multi-process run)"})
    seed: int = field(default=0, metadata={"help": "PRNG seed; fixes everything"})
    updates_per_chunk: int = field(default=10, metadata={"help": "updates per jitted chunk between progress lines and checkpoints"})

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer widths as a tuple."""
        try:
            sizes = tuple(int(s) for s in self.hidden_sizes.split(",") if s.strip())
        except ValueError as e:
            raise UserError(f"PPOConfig.hidden_sizes: expected comma-separated ints, got {self.hidden_sizes!r}") from e
        if not sizes or min(sizes) <= 0:
            raise UserError(f"PPOConfig.hidden_sizes: need positive widths, got {self.hidden_sizes!r}")
        return sizes

    @property
    def batch_size(self) -> int:
        """Env steps per update (num_envs * num_steps)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """PPO updates in the whole run."""
        return max(1, self.total_timesteps // self.batch_size)

    def __post_init__(self) -> None:
        check_ranges(self)

    def validate(self) -> PPOConfig:
        """Raise UserError naming the field when the config is inconsistent; return self."""
        check_ranges(self)
        if self.total_timesteps < self.batch_size:
            raise UserError(f"--total-timesteps (PPOConfig.total_timesteps) must be >= num_envs x num_steps = "
                            f"{self.batch_size:,} (one update), got {self.total_timesteps:,}")
        for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "updates_per_chunk"):
            if getattr(self, name) <= 0:
                raise UserError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.num_steps % self.num_minibatches:
            raise UserError(f"PPOConfig.num_minibatches={self.num_minibatches} must divide num_steps={self.num_steps} "
                             "(each minibatch takes num_steps/num_minibatches steps of every env)")
        if self.num_devices < 0:
            raise UserError(f"PPOConfig.num_devices must be >= 0, got {self.num_devices}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise UserError(f"PPOConfig.gamma/gae_lambda must lie in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if self.activation not in ("tanh", "relu"):
            raise UserError(f"PPOConfig.activation must be 'tanh' or 'relu', got {self.activation!r}")
        self.hidden  # noqa: B018 - parses and validates hidden_sizes
        return self

    def to_json(self) -> str:
        """Stable JSON of all fields (stored in checkpoints to refuse resuming a different run)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


# field -> (low, high, low excluded, high excluded): the allowed range of each numeric knob, checked at construction
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "total_timesteps": (1, None, False, False), "num_envs": (1, None, False, False), "num_steps": (1, None, False, False),
    "update_epochs": (1, None, False, False), "num_minibatches": (1, None, False, False),
    "lr": (0.0, 1.0, True, False), "gamma": (0.0, 1.0, False, False), "gae_lambda": (0.0, 1.0, False, False),
    "clip_eps": (0.0, 1e3, True, False), "ent_coef": (0.0, 1e3, False, False), "vf_coef": (0.0, 1e3, False, False),
    "max_grad_norm": (0.0, None, True, False), "reward_scale": (0.0, None, True, False),
    "init_log_std": (-20.0, 5.0, False, False), "init_action": (-1.0, 1.0, True, True),
    "noise_corr": (0.0, 1.0, False, True), "bc_coef": (0.0, 1e3, False, False), "bc_anneal_frac": (0.0, 1.0, True, False), "obs_clip": (0.0, None, True, False), "num_devices": (0, None, False, False),
    "seed": (0, 2**31 - 1, False, False), "updates_per_chunk": (1, None, False, False),
}


def check_ranges(cfg: PPOConfig) -> None:
    """UserError naming the flag, its value and the allowed range for the first knob outside `RANGES` (NaN included)."""
    for name, (lo, hi, lo_open, hi_open) in RANGES.items():
        value = getattr(cfg, name)
        check_range("PPOConfig", name, value, lo, hi, lo_open=lo_open, hi_open=hi_open)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"--{name.replace('_', '-')} (PPOConfig.{name}) must be finite, got {value!r}")
