"""`mmjax train`: PPO on the market-making environment of a recording's training split.

Writes the run directory laid out in `mmjax.runs.run_dir`: checkpoint (resumable), metrics, learning
curve, the nested train config, the training-split feature normalization and the exported policy.
`--seeds K` trains K seeds in one vmapped program into K such directories; `--select-on-val` keeps each
seed's best checkpoint on fixed validation-split episodes (`mmjax.ppo.seeds`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from mmjax import outputs
from mmjax.env import build
from mmjax.outputs import UserError
from mmjax.runs import flags, run_dir
from mmjax.runs.config import check_teacher
from mmjax.runs.run_dir import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config", "run", "train"]


def train(cfg: TrainConfig, progress=print, teacher_for=None) -> dict:
    """Check, load, train, export; returns the runner's result plus the market.

    Everything the user can get wrong is checked before anything is written: the config ranges, the
    output (an existing run is refused unless --resume or --overwrite; --resume refuses a changed
    config, naming the fields) and the recording. A second writer on --out is refused (a lock). With
    --overwrite the new run is built beside the old one, which is replaced only when training succeeds.

    ``teacher_for(market, progress) -> teacher`` builds `PPOConfig.bc_coef`'s teacher from the loaded market; by
    default the baseline ``cfg.teacher`` tuned on the training split (`mmjax.evaluation.teacher`)."""
    if not cfg.core.data.data:
        raise UserError("--data DIR is required (a recording; `mmjax synth` makes one)")
    if not Path(cfg.core.data.data).is_dir():
        raise UserError(f"--data {cfg.core.data.data}: no such directory")
    cfg.core.ppo.validate()
    if teacher_for is None and (cfg.teacher or cfg.core.ppo.bc_coef > 0):
        check_teacher(cfg.teacher, cfg.core.ppo.bc_coef)  # a clone weight with nothing to clone is refused
        from mmjax.evaluation.teacher import teacher_for as tuned_baseline

        teacher_for = tuned_baseline(cfg.teacher)
    from mmjax.ppo import distributed

    distributed.initialize(cfg.coordinator_address, cfg.num_processes, cfg.process_id)  # the CLI joined already
    main = distributed.is_main()
    if not main:
        progress = lambda *_: None  # noqa: E731 - process 0 speaks and writes for the run
    out = Path(cfg.out)
    with outputs.lock(out, "mmjax train") if main else contextlib.nullcontext():
        if main:  # the others would race process 0's first writes into --out
            check_out(cfg)
        market = build.load(cfg.core.data, cfg.core.env)
        staged = main and cfg.overwrite and run_dir.holds_run(out)
        work = out.with_name(f".{out.name}.staging-{os.getpid()}") if staged else out
        try:
            teacher = teacher_for(market, progress) if teacher_for is not None and cfg.core.ppo.bc_coef > 0 else None
            result = _train_in(cfg, market, progress, work, teacher)
            if staged:
                outputs.publish(work, out)
                progress(f"replaced the run in {out} (written in {work.name} first)")
                result = {**result, "out_dir": str(out)}
        finally:
            if staged:
                shutil.rmtree(work, ignore_errors=True)
    result["market"] = market
    return result


def check_out(cfg: TrainConfig) -> None:
    """Refuse an existing run unless --resume or --overwrite; refuse --resume of a run with another config."""
    out = Path(cfg.out)
    if cfg.resume and cfg.overwrite:
        raise UserError("--resume continues the run in --out, --overwrite replaces it: give one")
    if (cfg.seeds != 1 or cfg.select_on_val) and (cfg.tensorboard or cfg.num_processes > 1):
        raise UserError("--tensorboard and multi-process runs are not supported with --seeds > 1 or "
                        "--select-on-val")
    if cfg.resume:
        if (out / run_dir.TRAIN_CONFIG).exists():
            diff = config_diff(load_train_config(out), cfg)
            if diff:
                raise UserError(f"--resume: {out} was trained with another config: {'; '.join(diff)}; "
                                "resume with the same flags, or pass --overwrite (or another --out) to start anew")
        return
    if run_dir.holds_run(out) and not cfg.overwrite:
        raise UserError(f"{out} already holds a run; pass --resume to continue it, --overwrite to replace it "
                        "(the old run stays until the new one finishes), or pick another --out")


# fields that do not change what is trained: they may differ between a run and its resumption
_RESUME_FREE = {"out", "resume", "overwrite", "tensorboard", "coordinator_address", "num_processes", "process_id"}


def config_diff(old: TrainConfig, new: TrainConfig) -> list[str]:
    """"--flag: old -> new" for every trained-on field that differs between two configs."""
    def flat(c):
        return {k: v for k, v in flags.leaves(c).items() if k not in _RESUME_FREE}

    a, b = flat(old), flat(new)
    a["data"], b["data"] = os.path.realpath(a["data"]), os.path.realpath(b["data"])  # "rec" and "./rec" are one
    return [f"--{k.replace('_', '-')}: {a[k]!r} -> {b[k]!r}" for k in a if k in b and a[k] != b[k]]


def _train_in(cfg: TrainConfig, market: build.Market, progress, out: Path, teacher=None) -> dict:
    """Train into ``out``: the run directory ``cfg.out`` itself, or the staging beside it (--overwrite)."""
    from mmjax.ppo import distributed

    out.mkdir(parents=True, exist_ok=True)
    train_split = market.splits["train"]
    k = cfg.core.env
    progress(f"data {cfg.core.data.data}: {market.md.num_steps:,} rows; train rows [{train_split.start}, {train_split.stop}), "
             f"episodes of {k.episode_steps} steps, maker fee {k.maker_fee_bps} bps, risk aversion {k.risk_aversion}")
    from mmjax.ppo.wrappers import EpisodeStats

    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})  # episode PnL in the metrics
    params = market.env_params(train_split)
    if cfg.seeds != 1 or cfg.select_on_val:
        return _train_seeds(cfg, market, env, params, progress, out, teacher)
    if distributed.is_main():
        build.save_norm(out / run_dir.FEATURE_NORM, market.norm)
        outputs.write_json(out / run_dir.TRAIN_CONFIG, run_dir.config_json(cfg))

    from mmjax.ppo.runner import run_training

    result = run_training(cfg.core.ppo, env, params, out, resume=cfg.resume, progress=progress,
                          tensorboard_dir=cfg.tensorboard or None, teacher=teacher)
    if distributed.is_main():
        _export(result["params"], cfg, market, out / run_dir.POLICY)
        progress(f"wrote {out / run_dir.POLICY}")
    return result


def validation_episodes(cfg: TrainConfig, market: build.Market):
    """`Validation` on fixed non-overlapping episodes of the validation split (never the test split)."""
    from mmjax.env.episodes import non_overlapping_starts, pin_start
    from mmjax.ppo.selection import Validation

    val = market.splits["val"]
    k = cfg.core.env
    starts = non_overlapping_starts(np.asarray(market.md.steps_to_gap), val.start, val.stop, k.episode_steps, k.latency_steps,
                                    cfg.val_episodes)
    if len(starts) == 0:
        raise UserError(f"--select-on-val: no episode of {k.episode_steps} steps fits in the validation split "
                         f"rows [{val.start}, {val.stop}); lengthen the recording or its val fraction (--split-fractions)")
    return Validation(market.env_params(val), starts, pin_start, k.episode_steps, "mm/pnl", cfg.val_every_updates,
                      cfg.val_margin_se)


def _train_seeds(cfg: TrainConfig, market: build.Market, env, params, progress, out: Path, teacher=None) -> dict:
    """`--seeds K` and/or `--select-on-val`: K runs in one vmapped program (`mmjax.ppo.seeds`), written below ``out``."""
    from mmjax.ppo.seeds import run_seeds

    if cfg.seeds > 1 and (out / run_dir.TRAIN_CONFIG).exists():
        raise UserError(f"{cfg.out} holds a single run ({run_dir.TRAIN_CONFIG}); --seeds {cfg.seeds} writes "
                         "OUT/seed<k>/ below it, which `mmjax evaluate` would not see: pick another --out")
    dirs = run_dir.seed_dirs(out, cfg.core.ppo.seed, cfg.seeds)
    configs = [dataclasses.replace(cfg, core=dataclasses.replace(cfg.core, ppo=dataclasses.replace(
                   cfg.core.ppo, seed=cfg.core.ppo.seed + k)), seeds=1, out=str(d))
               for k, d in enumerate(run_dir.seed_dirs(cfg.out, cfg.core.ppo.seed, cfg.seeds))]
    for c, d in zip(configs, dirs, strict=True):
        d.mkdir(parents=True, exist_ok=True)
        build.save_norm(d / run_dir.FEATURE_NORM, market.norm)
        outputs.write_json(d / run_dir.TRAIN_CONFIG, run_dir.config_json(c))
    validation = validation_episodes(cfg, market) if cfg.select_on_val else None
    if validation is not None:
        progress(f"validation: {len(validation.starts)} fixed episodes in val rows [{market.splits['val'].start}, "
                 f"{market.splits['val'].stop}), every {cfg.val_every_updates or cfg.core.ppo.updates_per_chunk} updates")
    results = run_seeds(cfg.core.ppo, env, params, dirs, validation, resume=cfg.resume, progress=progress,
                        teacher=teacher)
    for c, d, r in zip(configs, dirs, results, strict=True):
        _export(r["params"], c, market, d / run_dir.POLICY)
        sel = r["selection"]
        progress(f"seed {c.core.ppo.seed}: wrote {d / run_dir.POLICY}" + (
            f" (update {sel['selected_update']}, val {sel['metric']} {sel['val_score']:+.4f} "
            f"+- {sel['val_se']:.4f} SE; best update {sel['best_update']})" if sel else ""))
    if cfg.seeds == 1:
        return results[0]
    summary = [{"seed": c.core.ppo.seed, "dir": d.name, "final": r["metrics"], "selection": r["selection"]}
               for c, d, r in zip(configs, dirs, results, strict=True)]
    outputs.write_json(out / run_dir.SEEDS_SUMMARY, summary)
    return {"runs": results, "out_dir": cfg.out}


def _export(ppo_params, cfg: TrainConfig, market: build.Market, path: Path) -> None:
    from mmjax.features import spec
    from mmjax.policy.export import export_policy

    # every env knob travels with the policy, so a deployment runs under the knobs it was trained with
    export_policy(ppo_params, path, {
        "feature_names": list(spec.MARKET_FEATURES + spec.AGENT_FEATURES), "spec_hash": spec.spec_hash(),
        "feature_mean": market.norm.mean, "feature_std": market.norm.std,
        "action_mapping": {k: float(v) for k, v in dataclasses.asdict(cfg.core.env).items()},
        "obs_clip": cfg.core.ppo.obs_clip, "activation": cfg.core.ppo.activation})


def run(cfg: TrainConfig) -> int:
    """CLI entry point: a watchdog over the run; Ctrl-C stops with one line saying what was kept."""
    from mmjax.ppo.watchdog import watching

    hint = f"the last checkpoint in {cfg.out} is kept: rerun the same command with --resume to continue from it"
    try:
        with watching(cfg.out, "train", hint) as wd:
            train(cfg, progress=wd.wrap(print))
    except KeyboardInterrupt:
        kept = ("the run being replaced is untouched (the new one was discarded)" if cfg.overwrite else
                f"{cfg.out} holds the last checkpoint: continue with `mmjax train --resume` and the same flags")
        print(f"mmjax train: interrupted (Ctrl-C); {kept}", file=sys.stderr)
        return 130
    return 0
