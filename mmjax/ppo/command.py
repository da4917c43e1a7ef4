"""`mmjax train`: PPO on the market-making environment of a recording's training split.

Writes the run directory laid out in `mmjax.ppo.run_dir`: checkpoint (resumable), metrics, learning
curve, the nested train config, the training-split feature normalization and the exported policy.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mmjax.env import build
from mmjax.ppo import run_dir
from mmjax.ppo.run_dir import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config", "run", "train"]


def train(cfg: TrainConfig, progress=print) -> dict:
    """Load, train, export; returns the runner's result plus the market."""
    if not cfg.data.data:
        raise ValueError("train: --data DIR is required (a recording; `mmjax synth` makes one)")
    from mmjax.ppo import distributed

    distributed.initialize(cfg.coordinator_address, cfg.num_processes, cfg.process_id)  # the CLI joined already
    if not distributed.is_main():
        progress = lambda *_: None  # noqa: E731 - process 0 speaks and writes for the run
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    market = build.load(cfg.data, cfg.env)
    train_split = market.splits["train"]
    k = cfg.env
    progress(f"data {cfg.data.data}: {market.md.num_steps:,} rows; train rows [{train_split.start}, {train_split.stop}), "
             f"episodes of {k.episode_steps} steps, maker fee {k.maker_fee_bps} bps, risk aversion {k.risk_aversion}")
    from mmjax.ppo.wrappers import EpisodeStats

    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})  # episode PnL in the metrics
    params = market.env_params(train_split)
    if distributed.is_main():
        build.save_norm(out / run_dir.FEATURE_NORM, market.norm)
        (out / run_dir.TRAIN_CONFIG).write_text(json.dumps(dataclasses.asdict(cfg), indent=2))

    from mmjax.ppo.runner import run_training

    result = run_training(cfg.ppo, env, params, out, resume=cfg.resume, progress=progress,
                          tensorboard_dir=cfg.tensorboard or None)
    if distributed.is_main():
        _export(result["params"], cfg, market, out / run_dir.POLICY)
        progress(f"wrote {out / run_dir.POLICY}")
    result["market"] = market
    return result


def _export(ppo_params, cfg: TrainConfig, market: build.Market, path: Path) -> None:
    from mmjax.features import spec
    from mmjax.policy.export import export_policy

    # every env knob travels with the policy, so a deployment runs under the knobs it was trained with
    export_policy(ppo_params, path, {
        "feature_names": list(spec.MARKET_FEATURES + spec.AGENT_FEATURES), "spec_hash": spec.spec_hash(),
        "feature_mean": market.norm.mean, "feature_std": market.norm.std,
        "action_mapping": {k: float(v) for k, v in dataclasses.asdict(cfg.env).items()},
        "obs_clip": cfg.ppo.obs_clip, "activation": cfg.ppo.activation})


def run(cfg: TrainConfig) -> int:
    train(cfg)
    return 0
