"""`mmjax train`: PPO on the market-making environment of a recording's training split.

Writes the run directory laid out in `mmjax.ppo.run_dir`: checkpoint (resumable), metrics, learning
curve, the nested train config, the training-split feature normalization and the exported policy.
`--seeds K` trains K seeds in one vmapped program into K such directories; `--select-on-val` keeps each
seed's best checkpoint on fixed validation-split episodes (`mmjax.ppo.seeds`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

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
    if cfg.seeds != 1 or cfg.select_on_val:
        return _train_seeds(cfg, market, env, params, progress)
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


def validation_episodes(cfg: TrainConfig, market: build.Market):
    """`Validation` on fixed non-overlapping episodes of the validation split (never the test split)."""
    from mmjax.env.episodes import non_overlapping_starts, pin_start
    from mmjax.ppo.selection import Validation

    val = market.splits["val"]
    k = cfg.env
    starts = non_overlapping_starts(np.asarray(market.md.steps_to_gap), val.start, val.stop, k.episode_steps, k.latency_steps,
                                    cfg.val_episodes)
    if len(starts) == 0:
        raise ValueError(f"--select-on-val: no episode of {k.episode_steps} steps fits in the validation split "
                         f"rows [{val.start}, {val.stop}); lengthen the recording or its val fraction (--split-fractions)")
    return Validation(market.env_params(val), starts, pin_start, k.episode_steps, "mm/pnl", cfg.val_every_updates)


def _train_seeds(cfg: TrainConfig, market: build.Market, env, params, progress) -> dict:
    """`--seeds K` and/or `--select-on-val`: K runs in one vmapped program (`mmjax.ppo.seeds`)."""
    if cfg.seeds < 1 or cfg.val_episodes < 1 or cfg.val_every_updates < 0:
        raise ValueError(f"train: --seeds and --val-episodes must be >= 1 and --val-every-updates >= 0, got "
                         f"{cfg.seeds}, {cfg.val_episodes}, {cfg.val_every_updates}")
    if cfg.tensorboard or cfg.num_processes > 1:
        raise ValueError("train: --tensorboard and multi-process runs are not supported with --seeds > 1 or "
                         "--select-on-val")
    from mmjax.ppo.seeds import run_seeds

    if cfg.seeds > 1 and (Path(cfg.out) / run_dir.TRAIN_CONFIG).exists():
        raise ValueError(f"train: {cfg.out} holds a single run ({run_dir.TRAIN_CONFIG}); --seeds {cfg.seeds} writes "
                         "OUT/seed<k>/ below it, which `mmjax evaluate` would not see: pick another --out")
    dirs = run_dir.seed_dirs(cfg.out, cfg.ppo.seed, cfg.seeds)
    configs = [dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, seed=cfg.ppo.seed + k), seeds=1, out=str(d))
               for k, d in enumerate(dirs)]
    for c, d in zip(configs, dirs, strict=True):
        d.mkdir(parents=True, exist_ok=True)
        build.save_norm(d / run_dir.FEATURE_NORM, market.norm)
        (d / run_dir.TRAIN_CONFIG).write_text(json.dumps(dataclasses.asdict(c), indent=2))
    validation = validation_episodes(cfg, market) if cfg.select_on_val else None
    if validation is not None:
        progress(f"validation: {len(validation.starts)} fixed episodes in val rows [{market.splits['val'].start}, "
                 f"{market.splits['val'].stop}), every {cfg.val_every_updates or cfg.ppo.updates_per_chunk} updates")
    results = run_seeds(cfg.ppo, env, params, dirs, validation, resume=cfg.resume, progress=progress)
    for c, d, r in zip(configs, dirs, results, strict=True):
        _export(r["params"], c, market, d / run_dir.POLICY)
        sel = r["selection"]
        progress(f"seed {c.ppo.seed}: wrote {d / run_dir.POLICY}" + (
            f" (update {sel['selected_update']}, val {sel['metric']} {sel['val_score']:+.4f})" if sel else ""))
    if cfg.seeds == 1:
        return {**results[0], "market": market}
    summary = [{"seed": c.ppo.seed, "dir": d.name, "final": r["metrics"], "selection": r["selection"]}
               for c, d, r in zip(configs, dirs, results, strict=True)]
    (Path(cfg.out) / run_dir.SEEDS_SUMMARY).write_text(json.dumps(summary, indent=2))
    return {"runs": results, "out_dir": cfg.out, "market": market}


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
    from mmjax.ppo.watchdog import watching

    hint = f"the last checkpoint in {cfg.out} is kept: rerun the same command with --resume to continue from it"
    with watching(cfg.out, "train", hint) as wd:
        train(cfg, progress=wd.wrap(print))
    return 0
