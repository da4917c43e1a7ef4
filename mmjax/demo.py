"""`mmjax demo`: the built-in market end to end on a laptop CPU: generate, train PPO, evaluate, report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.data import synth


@dataclass(frozen=True)
class DemoConfig:
    """Generate the built-in market, train PPO for a few minutes, evaluate it out of sample against the baselines."""

    out: str = field(default="demo_out", metadata={"help": "directory for the market, the run and the report"})
    hours: float = field(default=6.0, metadata={"help": "length of the built-in market, hours"})
    seed: int = field(default=0, metadata={"help": "seed of the market and of training"})
    train_steps: int = field(default=5_000_000, metadata={"help": "PPO environment steps (about 2-3 minutes on 2 CPU cores)"})
    num_envs: int = field(default=256, metadata={"help": "parallel environments"})
    episode_steps: int = field(default=600, metadata={"help": "steps per episode (600 = 1 min of 100 ms)"})
    episodes: int = field(default=100, metadata={"help": "out-of-sample evaluation episodes"})
    # Experiment log behind these three: docs/results.md. Fills happen within ~1-2 bps on this market, so a
    # 10 bps action range leaves PPO (and its exploration) almost nowhere to fill, and it learns to abstain.
    max_offset_bps: float = field(default=2.0, metadata={"help": "quote offset from mid at PPO action +1, bps (baselines may quote up to 10 bps)"})
    reward_scale: float = field(default=100.0, metadata={"help": "PPO reward multiplier: per-step rewards here are ~1e-3 $"})
    ent_coef: float = field(default=0.0, metadata={"help": "PPO entropy bonus weight"})


def run(cfg: DemoConfig) -> int:
    from mmjax.env.build import DataConfig
    from mmjax.env.knobs import EnvKnobs
    from mmjax.evaluation.command import EvaluateConfig, evaluate
    from mmjax.ppo.command import TrainConfig, train
    from mmjax.ppo.config import PPOConfig

    t0 = time.perf_counter()
    out = Path(cfg.out)
    data = out / "market"
    print(f"[1/3] built-in market: {cfg.hours} h, seed {cfg.seed} -> {data}", flush=True)
    if not (data / "book").exists():
        synth.run(synth.SynthConfig(out=str(data), hours=cfg.hours, seed=cfg.seed))
    else:
        print(f"      reusing {data}")
    # splits 60/10/30 so the test split holds >= 100 one-minute episodes
    data_cfg = DataConfig(data=str(data), split_fractions="0.6,0.1,0.3", split_gap_steps=600)
    knobs = EnvKnobs(episode_steps=cfg.episode_steps, max_offset_bps=cfg.max_offset_bps)
    ppo = PPOConfig(total_timesteps=cfg.train_steps, num_envs=cfg.num_envs, num_steps=64, updates_per_chunk=5,
                    seed=cfg.seed, reward_scale=cfg.reward_scale, ent_coef=cfg.ent_coef)
    print(f"[2/3] training PPO for {cfg.train_steps:,} steps on {cfg.num_envs} envs", flush=True)
    train(TrainConfig(data=data_cfg, env=knobs, ppo=ppo, out=str(out / "run")))
    print("[3/3] out-of-sample evaluation on the test split", flush=True)
    evaluate(EvaluateConfig(data=str(data), policy=str(out / "run"), out=str(out / "report"), episodes=cfg.episodes))
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; report: {out / 'report' / 'report.md'}")
    return 0
