"""`mmjax demo`: the built-in market end to end on a laptop CPU: generate, train PPO, evaluate, report."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.data import synth
from mmjax.env.knobs import EnvKnobs

# The fee regimes the demo compares: no fee (Coinbase's best tier), where no edge is expected, and a maker rebate.
DEMO_REGIMES = ("coinbase-top", "rebate")
FULL = {"hours": 24.0, "seeds": 5, "episodes": 400}  # `--full`: the bar's configuration (docs/results.md)


@dataclass(frozen=True)
class DemoConfig:
    """Generate the built-in market; per fee regime, train PPO and evaluate it out of sample against the baselines."""

    out: str = field(default="demo_out", metadata={"help": "directory for the market, the runs and the reports"})
    hours: float = field(default=6.0, metadata={"help": "length of the built-in market, hours (--full: 24)"})
    seed: int = field(default=0, metadata={"help": "seed of the market and of the first training seed"})
    preset: str = field(default="", metadata={
        "help": "built-in market regime preset (mmjax/data/presets: builtin-btc, large-tick-eth, vol-burst-btc, ...); empty: the default"})
    seeds: int = field(default=1, metadata={"help": "training seeds per regime, seed, seed+1, ... (--full: 5)"})
    train_steps: int = field(default=5_000_000, metadata={"help": "PPO environment steps per seed (about 1-2 minutes on 2 CPU cores)"})
    num_envs: int = field(default=256, metadata={"help": "parallel environments"})
    episode_steps: int = field(default=600, metadata={"help": "steps per episode (600 = 1 min of 100 ms)"})
    episodes: int = field(default=100, metadata={"help": "out-of-sample evaluation episodes (--full: 400)"})
    regimes: str = field(default=",".join(DEMO_REGIMES), metadata={
        "help": "comma-separated maker-fee regimes, presets or bps (coinbase-top = 0, rebate = -0.5, coinbase-retail = 40)"})
    full: bool = field(default=False, metadata={
        "help": f"the bar's configuration: {FULL['seeds']} seeds, >= {FULL['episodes']} test episodes, {FULL['hours']:g} h market"})
    # Experiment log behind these three: docs/results.md. Fills happen within ~1-2 bps on this market, so a
    # 10 bps action range leaves PPO (and its exploration) almost nowhere to fill, and it learns to abstain.
    max_offset_bps: float = field(default=2.0, metadata={"help": "quote offset from mid at PPO action +1, bps (baselines may quote up to 10 bps)"})
    reward_scale: float = field(default=1.0, metadata={
        "help": "PPO reward multiplier; reward normalization already makes the ~1e-3 $ per-step rewards O(1)"})
    ent_coef: float = field(default=0.0, metadata={"help": "PPO entropy bonus weight"})
    risk_aversion: float = field(default=EnvKnobs.risk_aversion, metadata={
        "help": "reward's inventory risk aversion, 1/$ (EnvKnobs; docs/results.md says why this value)"})
    eta: float = field(default=0.5, metadata={
        "help": "reward's dampening of inventory gains, unitless (EnvKnobs.eta; 0.5 chosen in docs/results.md)"})

    def resolved(self) -> DemoConfig:
        """With --full, the bar's sizes replace the smaller defaults (never shrink what was asked for)."""
        if not self.full:
            return self
        return dataclasses.replace(self, hours=max(self.hours, FULL["hours"]), seeds=max(self.seeds, FULL["seeds"]),
                                   episodes=max(self.episodes, FULL["episodes"]))


def run(cfg: DemoConfig) -> int:
    from mmjax.ppo.watchdog import watching

    hint = f"rerun the same command: the market in {cfg.out}/market is reused (training starts over)"
    with watching(cfg.out, "demo", hint) as wd:
        return _demo(cfg, wd.wrap(print))


def train_config(cfg: DemoConfig, data: str, fee_bps: float, out: str):
    """The `mmjax train` config the demo runs for one fee regime (bench_ppo times this market and these knobs)."""
    from mmjax.env.build import DataConfig
    from mmjax.ppo.command import TrainConfig
    from mmjax.ppo.config import PPOConfig

    # splits 60/10/30 so the test split holds >= 100 one-minute episodes (>= 400 on the 24 h market)
    data_cfg = DataConfig(data=data, split_fractions="0.6,0.1,0.3", split_gap_steps=600)
    knobs = EnvKnobs(episode_steps=cfg.episode_steps, max_offset_bps=cfg.max_offset_bps, maker_fee_bps=fee_bps,
                     risk_aversion=cfg.risk_aversion, eta=cfg.eta)
    # all seeds in one vmapped program; each keeps its best checkpoint on the validation split (never test)
    ppo = PPOConfig(total_timesteps=cfg.train_steps, num_envs=cfg.num_envs, num_steps=64, updates_per_chunk=5,
                    seed=cfg.seed, reward_scale=cfg.reward_scale, ent_coef=cfg.ent_coef)
    return TrainConfig(data=data_cfg, env=knobs, ppo=ppo, seeds=cfg.seeds, select_on_val=True, val_every_updates=20,
                       out=out)


def _demo(cfg: DemoConfig, progress) -> int:
    from mmjax.env.knobs import fee_preset_name, parse_fee_bps
    from mmjax.evaluation.command import EvaluateConfig, evaluate
    from mmjax.ppo.command import train

    cfg = cfg.resolved()
    t0 = time.perf_counter()
    out = Path(cfg.out)
    data = out / "market"
    fees = [parse_fee_bps(r.strip()) for r in cfg.regimes.split(",") if r.strip()]
    if not fees:
        raise ValueError("demo: --regimes is empty")
    print(f"demo: {cfg.seeds} seed(s) x {len(fees)} regime(s), {cfg.episodes} test episodes"
          + ("" if cfg.full else f" (a quick pass; `mmjax demo --full` runs {FULL['seeds']} seeds and "
                                 f">= {FULL['episodes']} episodes for the bar)"), flush=True)
    print(f"[1/3] built-in market: {cfg.hours} h, seed {cfg.seed} -> {data}", flush=True)
    if not (data / "book").exists():
        synth.run(synth.SynthConfig(out=str(data), hours=cfg.hours, seed=cfg.seed, preset=cfg.preset))
    else:
        print(f"      reusing {data}")
    summaries = []
    for fee in fees:
        name = fee_preset_name(fee)
        runs = out / "run" / name
        print(f"[2/3] regime {name} ({fee:g} bps), seeds {cfg.seed}..{cfg.seed + cfg.seeds - 1}: training PPO for "
              f"{cfg.train_steps:,} steps each on {cfg.num_envs} envs, checkpoint selected on the validation split",
              flush=True)
        # one seed: --seeds 1 writes OUT itself, so point OUT at seed<k>/ to keep the layout run/<preset>/seed<k>/
        train(train_config(cfg, str(data), fee, str(runs if cfg.seeds > 1 else runs / f"seed{cfg.seed}")),
              progress=progress)
        print(f"[3/3] regime {name}: out-of-sample evaluation on the test split, baselines tuned at {fee:g} bps", flush=True)
        payload = evaluate(EvaluateConfig(data=str(data), policy=str(runs), out=str(out / "report" / name),
                                          episodes=cfg.episodes, maker_fee_bps=fee), progress=progress)
        summaries.append((name, fee, payload))
    print("\n" + verdicts(summaries))
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; reports: "
          + ", ".join(str(out / "report" / n / "report.md") for n, _, _ in summaries))
    return 0


def verdicts(summaries: list[tuple[str, float, dict]]) -> str:
    """One plain paragraph per regime: who, if anyone, makes money, and does PPO beat each baseline."""
    lines = []
    for name, fee, p in summaries:
        pol = p["policies"]
        profitable = [n for n, m in pol.items() if m["pnl_ci95"][0] > 0]
        best = max(pol, key=lambda n: pol[n]["mean_pnl"])
        head = f"regime {name} ({fee:g} bps): "
        if not profitable:
            head += ("no quoter earns a significantly positive PnL here (every 95 % CI reaches 0 or below); "
                     f"the least bad is {best} at {pol[best]['mean_pnl']:+.3f} $/episode.")
        else:
            head += "significantly profitable: " + ", ".join(f"{n} {pol[n]['mean_pnl']:+.3f} $" for n in profitable) + "."
        wins = [k.removeprefix("ppo_vs_") for k, v in p["paired"].items() if v["ci95"][0] > 0]
        losses = [k.removeprefix("ppo_vs_") for k, v in p["paired"].items() if v["ci95"][1] < 0]
        head += f" PPO beats {', '.join(wins) or 'none'}; loses to {', '.join(losses) or 'none'} (paired 95 % CIs)."
        lower_map = None
        if "ppo" in pol and "fixed" in pol:  # the product's original claim: less inventory exposure than TWAP
            lower_map = pol["ppo"]["map"] < pol["fixed"]["map"]
            head += f" MAP: PPO {pol['ppo']['map']:.4f} vs fixed {pol['fixed']['map']:.4f}."
        if p["paired"]:
            head += " " + bar_verdict(fee, p["paired"], lower_map)
        lines.append(head)
    return "\n".join(lines)


def bar_verdict(fee_bps: float, paired: dict, lower_map: bool | None) -> str:
    """The issue's bar for one regime: with a rebate PPO must beat every baseline (paired 95 % CI > 0) with a
    lower MAP than fixed; without one it must not be significantly worse than any of them."""
    if fee_bps < 0:
        met = all(v["ci95"][0] > 0 for v in paired.values()) and bool(lower_map)
        return f"Bar (beat every baseline, lower MAP than fixed): {'met' if met else 'NOT met'}."
    met = all(v["ci95"][1] >= 0 for v in paired.values())
    return f"Bar (not significantly worse than any baseline): {'met' if met else 'NOT met'}."
