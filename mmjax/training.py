"""`mmjax train`: PPO on the market-making environment of a recording's training split.

Writes to the run directory: ``checkpoint`` (resumable), ``metrics.jsonl``, the learning-curve PNG,
``train_config.json``, ``feature_norm.json`` (fitted on the training split only) and ``policy.npz``
(the exported NumPy policy).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from mmjax import pipeline
from mmjax.ppo.config import PPOConfig

TRAIN_CONFIG = "train_config.json"
FEATURE_NORM = "feature_norm.json"
POLICY = "policy.npz"


@dataclass(frozen=True)
class TrainConfig(PPOConfig, pipeline.MarketConfig):
    """Train PPO on the training split of a recording (all PPO and market flags below)."""

    out: str = field(default="runs/latest", metadata={"help": "run directory for checkpoint, metrics, plots and policy.npz"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its last checkpoint"})
    tensorboard: str = field(default="", metadata={
        "help": "also write the metrics as TensorBoard event files to this directory (needs tensorboardX)",
        "metavar": "DIR"})
    coordinator_address: str = field(default="", metadata={
        "help": "multi-host: host:port of process 0 (same on every process), or 'auto' to detect SLURM/MPI/TPU"})
    num_processes: int = field(default=1, metadata={"help": "multi-host: number of processes in the run"})
    process_id: int = field(default=0, metadata={"help": "multi-host: this process's index, 0 .. num_processes-1"})

    def ppo(self) -> PPOConfig:
        return PPOConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PPOConfig)})

    def market(self) -> pipeline.MarketConfig:
        return pipeline.MarketConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(pipeline.MarketConfig)})


def action_mapping(cfg: pipeline.MarketConfig) -> dict[str, float]:
    """What a deployed policy needs to turn actions into quotes (saved in policy.npz)."""
    return {"max_offset_bps": float(cfg.max_offset_bps), "quote_size": float(cfg.quote_size),
            "max_inventory": float(cfg.max_inventory), "latency_steps": float(cfg.latency_steps),
            "episode_steps": float(cfg.episode_steps)}


def train(cfg: TrainConfig, progress=print) -> dict:
    """Load, train, export; returns the runner's result plus the market."""
    if not cfg.data:
        raise ValueError("train: --data DIR is required (a recording; `mmjax synth` makes one)")
    from mmjax.ppo import distributed

    distributed.initialize(cfg.coordinator_address, cfg.num_processes, cfg.process_id)  # the CLI joined already
    if not distributed.is_main():
        progress = lambda *_: None  # noqa: E731 - process 0 speaks and writes for the run
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    market = pipeline.load(cfg.market())
    train_split = market.splits["train"]
    progress(f"data {cfg.data}: {market.md.num_steps:,} rows; train rows [{train_split.start}, {train_split.stop}), "
             f"episodes of {cfg.episode_steps} steps, maker fee {cfg.maker_fee_bps} bps, risk aversion {cfg.risk_aversion}")
    from mmjax.ppo.wrappers import EpisodeStats

    env = EpisodeStats(pipeline.make_env(), final_info={"mm/pnl": "pnl"})  # episode PnL in the metrics
    params = market.env_params(train_split)
    if distributed.is_main():
        pipeline.save_norm(out / FEATURE_NORM, market.norm)
        (out / TRAIN_CONFIG).write_text(json.dumps(dataclasses.asdict(cfg), indent=2))

    from mmjax.ppo.runner import run_training

    result = run_training(cfg.ppo(), env, params, out, resume=cfg.resume, progress=progress,
                          tensorboard_dir=cfg.tensorboard or None)
    if distributed.is_main():
        _export(result["params"], cfg, market, out / POLICY)
        progress(f"wrote {out / POLICY}")
    result["market"] = market
    return result


def _export(ppo_params, cfg: TrainConfig, market: pipeline.Market, path: Path) -> None:
    from mmjax.export import export_policy
    from mmjax.features import spec

    export_policy(ppo_params, path, {
        "feature_names": list(spec.MARKET_FEATURES + spec.AGENT_FEATURES), "spec_hash": spec.spec_hash(),
        "feature_mean": market.norm.mean, "feature_std": market.norm.std, "action_mapping": action_mapping(cfg),
        "obs_clip": cfg.obs_clip, "activation": cfg.activation})


def load_train_config(run_dir: Path) -> TrainConfig:
    d = json.loads((Path(run_dir) / TRAIN_CONFIG).read_text())
    return TrainConfig(**d)


def run(cfg: TrainConfig) -> int:
    train(cfg)
    return 0
