"""`mmjax demo`: the built-in market end to end on a laptop CPU: generate, train PPO, evaluate, report."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.env.knobs import EnvKnobs, EnvOverrides
from mmjax.market import synth
from mmjax.outputs import UserError
from mmjax.ppo.config import PPOConfig
from mmjax.runs.config import TEACHER_HELP, check_teacher

# The markets the demo compares (synth presets, mmjax/market/presets): the one-tick BTC book, where a tick is worth
# 0.002 bps and nobody is expected to earn, and the large-tick book calibrated to SSE 600961 (a tick of ~11 bps).
DEMO_MARKETS = ("builtin-btc", "large-tick")
# The fee regimes: no fee (Coinbase's best tier) and a maker rebate.
DEMO_REGIMES = ("coinbase-top", "rebate")
# What the quick pass leaves out to stay within about 10 minutes on 2 CPU cores (`--full` runs every pair): each
# market at 0 bps, so it runs each market once, at the rebate, and trains 3 M steps per pair, not the bar's 5 M
# (quiet, 2026-12-07: the two pairs at 5 M steps took 942 s, 834 of them training one seed at ~12 k steps/s).
QUICK_LEAVES_OUT = (("builtin-btc", "coinbase-top"), ("large-tick", "coinbase-top"))
# Markets where the bar is to beat every baseline at every fee (a maker can earn there); elsewhere the bar of #16.
BEAT_ALL_MARKETS = ("large-tick",)
# `--full`: the bar's configuration (docs/results.md)
FULL = {"hours": 24.0, "seeds": 5, "episodes": 400, "val_episodes": 144, "total_timesteps": 5_000_000}

# The env knobs of each (market, fee): the market preset's own ("_env": quote size, inventory limit, action range),
# then these, then the flags given (`DemoConfig.env`), then the regime's fee. The demo's: 1-minute episodes (600 steps
# of 100 ms), and the reward's risk aversion and eta = 0.5 chosen in docs/results.md (the experiment log). Fills
# happen within ~1-2 bps on the BTC market, so a 10 bps action range leaves PPO (and its exploration) almost nowhere
# to fill, and it learns to abstain: the builtin-btc preset's "_env" holds its 2 bps, the large-tick preset's a few
# ticks (--max-offset-bps replaces both; the baselines may quote up to max(10 bps, it)).
DEMO_ENV = EnvOverrides(episode_steps=600, risk_aversion=EnvKnobs.risk_aversion, eta=0.5)
# The PPO knobs the demo starts from (`--total-timesteps`, `--num-envs`, ... replace them): 3 M steps per seed in the
# quick pass (about 4 minutes for one seed on 2 CPU cores; --full raises it to FULL's 5 M), 256 envs x 64-step
# rollouts, a progress line every 5 updates, no entropy bonus.
DEMO_PPO = PPOConfig(total_timesteps=3_000_000, num_envs=256, num_steps=64, updates_per_chunk=5, ent_coef=0.0)


@dataclass(frozen=True)
class DemoConfig:
    """Per market, generate it; per fee regime, train PPO and evaluate it out of sample against the baselines.

    Env knobs: each market preset's own, then the demo's (episodes of 600 steps, eta 0.5, risk aversion 0.01), then
    the env flags given below (--episode-steps, --max-offset-bps, ...); the maker fee is each regime's.
    PPO knobs: `DEMO_PPO`, then the PPO flags given (--total-timesteps, --num-envs, --seed, ...); --seed also seeds
    the markets."""

    out: str = field(default="demo_out", metadata={"help": "directory for the markets, the runs and the reports"})
    hours: float = field(default=6.0, metadata={"help": "length of each built-in market, hours (--full: 24)"})
    markets: str = field(default=",".join(DEMO_MARKETS), metadata={
        "help": "comma-separated market presets (mmjax/market/presets: builtin-btc, large-tick, multi-tick-eth, "
                "vol-burst-btc, ...); each brings its own env knobs (its \"_env\": quote size, inventory limit, range)"})
    seeds: int = field(default=1, metadata={"help": "training seeds per regime, seed, seed+1, ... (--full: 5)"})
    episodes: int = field(default=100, metadata={"help": "out-of-sample evaluation episodes (--full: 400)"})
    val_episodes: int = field(default=32, metadata={
        "help": "validation episodes that choose each seed's checkpoint, fewer where fewer fit (--full: 144, all of "
                "the 24 h market's validation split: a choice among ~15 checkpoints on 32 one-minute episodes "
                "mostly picks noise)"})
    regimes: str = field(default=",".join(DEMO_REGIMES), metadata={
        "help": "comma-separated maker-fee regimes, presets or bps (coinbase-top = 0, rebate = -0.5, coinbase-retail = 40); "
                "the quick pass leaves out " + ", ".join(f"{m} at {r}" for m, r in QUICK_LEAVES_OUT)})
    full: bool = field(default=False, metadata={
        "help": f"the bar's configuration: every market at every regime, {FULL['seeds']} seeds, "
                f">= {FULL['episodes']} test episodes, {FULL['hours']:g} h markets, {FULL['total_timesteps'] / 1e6:g} M PPO steps "
                "per seed"})
    teacher: str = field(default="", metadata={"help": TEACHER_HELP})
    env: EnvOverrides = field(default_factory=EnvOverrides)  # env knobs over the market preset's and DEMO_ENV
    ppo: PPOConfig = field(default_factory=lambda: DEMO_PPO)  # the PPO knobs of every run (its --seed: the first seed)

    def __post_init__(self) -> None:
        if self.env.maker_fee_bps is not None:
            raise UserError("the maker fee is each regime's: give --regimes (presets or bps, e.g. --regimes "
                            f"rebate,1.5), not --maker-fee-bps {self.env.maker_fee_bps:g}")
        check_teacher(self.teacher, self.ppo.bc_coef)  # a bad name or a missing half fails before any work

    def resolved(self) -> DemoConfig:
        """With --full, the bar's sizes replace the smaller defaults (never shrink what was asked for)."""
        if not self.full:
            return self
        ppo = dataclasses.replace(self.ppo, total_timesteps=max(self.ppo.total_timesteps, FULL["total_timesteps"]))
        return dataclasses.replace(self, hours=max(self.hours, FULL["hours"]), seeds=max(self.seeds, FULL["seeds"]),
                                   episodes=max(self.episodes, FULL["episodes"]),
                                   val_episodes=max(self.val_episodes, FULL["val_episodes"]), ppo=ppo)


def plan(cfg: DemoConfig) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """((market, fee bps) pairs to run, pairs the quick pass leaves out). A --regimes given explicitly runs as asked."""
    from mmjax.env.knobs import fee_preset_name, parse_fee_bps

    markets = [m.strip() for m in cfg.markets.split(",") if m.strip()]
    fees = [parse_fee_bps(r.strip()) for r in cfg.regimes.split(",") if r.strip()]
    if not markets:
        raise ValueError("demo: --markets is empty")
    if not fees:
        raise ValueError("demo: --regimes is empty")
    pairs = [(m, f) for m in markets for f in fees]
    if cfg.full or cfg.regimes != DemoConfig.regimes:
        return pairs, []
    left = [(m, f) for m, f in pairs if (m, fee_preset_name(f)) in QUICK_LEAVES_OUT]
    return [x for x in pairs if x not in left], left


def market_knobs(market: str, fee_bps: float, cfg: DemoConfig) -> EnvKnobs:
    """The env knobs of one (market, fee): the market preset's own ("_env"), `DEMO_ENV`, ``cfg.env``, the fee."""
    from mmjax.market.params import PRESETS_DIR, preset_env

    env = preset_env(market)
    known = {f.name for f in dataclasses.fields(EnvKnobs)}
    for k in env:
        if k not in known:
            raise ValueError(f"{PRESETS_DIR / market}.json: field '_env.{k}' is not an env knob (EnvKnobs: "
                             f"{', '.join(sorted(known))})")
    knobs = cfg.env.over(DEMO_ENV.over(dataclasses.replace(EnvKnobs(), **env)))
    return dataclasses.replace(knobs, maker_fee_bps=fee_bps)


def run(cfg: DemoConfig) -> int:
    from mmjax.ppo.watchdog import watching

    hint = f"rerun the same command: the market in {cfg.out}/market is reused (training starts over)"
    with watching(cfg.out, "demo", hint) as wd:
        return _demo(cfg, wd.wrap(print))


def train_config(cfg: DemoConfig, data: str, fee_bps: float, out: str, market: str = DEMO_MARKETS[0]):
    """The `mmjax train` config the demo runs for one (market, fee) (bench_ppo times this market and these knobs)."""
    from mmjax.env.data_config import DataConfig
    from mmjax.runs.config import TrainConfig, TrainCore

    # splits 60/10/30 so the test split holds >= 100 one-minute episodes (>= 400 on the 24 h market)
    data_cfg = DataConfig(data=data, split_fractions="0.6,0.1,0.3", split_gap_steps=600)
    # all seeds in one vmapped program; each keeps its best checkpoint on the validation split (never test)
    # the demo owns OUT: a rerun replaces its runs and reports (each only once the new one is complete)
    core = TrainCore(data=data_cfg, env=market_knobs(market, fee_bps, cfg), ppo=cfg.ppo)
    return TrainConfig(core=core, teacher=cfg.teacher, seeds=cfg.seeds, select_on_val=True, val_every_updates=20,
                       val_episodes=cfg.val_episodes, out=out, overwrite=True)


def _demo(cfg: DemoConfig, progress) -> int:
    from mmjax.env.knobs import fee_preset_name
    from mmjax.evaluation.evaluate_command import EvaluateConfig, evaluate
    from mmjax.runs.train_command import train

    cfg = cfg.resolved()
    t0 = time.perf_counter()
    out = Path(cfg.out)
    pairs, left = plan(cfg)
    markets = list(dict.fromkeys(m for m, _ in pairs))
    knobs_of = {(m, f): market_knobs(m, f, cfg) for m, f in pairs}  # a bad preset fails before any work
    left_text = ", ".join(f"{m} at {fee_preset_name(f)}" for m, f in left)
    print(f"demo: {len(markets)} market(s), {len(pairs)} (market, fee) pair(s), {cfg.seeds} seed(s), "
          f"{cfg.episodes} test episodes"
          + ("" if cfg.full else f" (a quick pass; `mmjax demo --full` runs every pair at {FULL['seeds']} seeds and "
                                 f">= {FULL['episodes']} episodes, {FULL['total_timesteps'] / 1e6:g} M steps per seed, for the bar)"), flush=True)
    if left:
        print(f"      left out of this quick pass: {left_text} (--full or --regimes runs them)", flush=True)
    summaries = []
    for market in markets:
        data = out / "market" / market
        print(f"[1/3] market {market}: {cfg.hours} h, seed {cfg.ppo.seed} -> {data}", flush=True)
        if not (data / "book").exists():
            synth.run(synth.SynthConfig(out=str(data), hours=cfg.hours, seed=cfg.ppo.seed, preset=market))
        else:
            print(f"      reusing {data}")
        for m, fee in pairs:
            if m != market:
                continue
            name, knobs = fee_preset_name(fee), knobs_of[(m, fee)]
            runs = out / "run" / market / name
            print(f"[2/3] market {market}, regime {name} ({fee:g} bps), seeds {cfg.ppo.seed}..{cfg.ppo.seed + cfg.seeds - 1}: "
                  f"training PPO for {cfg.ppo.total_timesteps:,} steps each on {cfg.ppo.num_envs} envs (quote {knobs.quote_size:g}, "
                  f"limit {knobs.max_inventory:g}, range {knobs.max_offset_bps:g} bps), checkpoint selected on the "
                  "validation split", flush=True)
            # one seed: --seeds 1 writes OUT itself, so point OUT at seed<k>/ to keep the layout run/<m>/<fee>/seed<k>/
            train(train_config(cfg, str(data), fee, str(runs if cfg.seeds > 1 else runs / f"seed{cfg.ppo.seed}"), market),
                  progress=progress)
            print(f"[3/3] market {market}, regime {name}: out-of-sample evaluation on the test split, baselines tuned "
                  f"at {fee:g} bps", flush=True)
            payload = evaluate(EvaluateConfig(data=str(data), policy=str(runs), out=str(out / "report" / market / name),
                                              episodes=cfg.episodes, env=EnvOverrides(maker_fee_bps=fee), market_preset=market,
                                              overwrite=True), progress=progress)
            summaries.append((market, name, fee, payload))
    print("\n" + verdicts(summaries))
    if left:
        print(f"\nleft out of this quick pass: {left_text}; `mmjax demo --full` runs them")
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; reports: "
          + ", ".join(str(out / "report" / m / n / "report.md") for m, n, _, _ in summaries))
    return 0


def verdicts(summaries: list[tuple[str, str, float, dict]]) -> str:
    """One plain paragraph per (market, regime): who, if anyone, makes money, and does PPO beat each baseline."""
    lines = []
    for market, name, fee, p in summaries:
        pol = p["policies"]
        profitable = [n for n, m in pol.items() if m["pnl_ci95"][0] > 0]
        best = max(pol, key=lambda n: pol[n]["mean_pnl"])
        head = f"market {market}, regime {name} ({fee:g} bps): "
        if not profitable:
            head += ("no quoter earns a significantly positive PnL here (every 95 % CI reaches 0 or below); "
                     f"the least bad is {best} at {pol[best]['mean_pnl']:+.3f} $/episode.")
        else:
            head += "significantly profitable: " + ", ".join(f"{n} {pol[n]['mean_pnl']:+.3f} $" for n in profitable) + "."
        wins = [k.removeprefix("ppo_vs_") for k, v in p["paired"].items() if v["ci95"][0] > 0]
        losses = [k.removeprefix("ppo_vs_") for k, v in p["paired"].items() if v["ci95"][1] < 0]
        head += f" PPO beats {', '.join(wins) or 'none'}; loses to {', '.join(losses) or 'none'} (paired 95 % CIs)."
        lower_map = None
        seeds = [n for n in pol if n == "ppo" or n.startswith("ppo_seed")]
        if seeds and "fixed" in pol:  # the product's original claim: less inventory exposure than TWAP
            # pooled over the seeds, as the paired CIs are ("ppo" alone is seed 0)
            maps = [pol[n]["map"] for n in seeds]
            ppo_map = sum(maps) / len(maps)
            lower_map = ppo_map < pol["fixed"]["map"]
            spread = f" pooled over {len(maps)} seeds ({min(maps):.4f} to {max(maps):.4f})" if len(maps) > 1 else ""
            head += f" MAP: PPO {ppo_map:.4f}{spread} vs fixed {pol['fixed']['map']:.4f}."
        if p["paired"]:
            head += " " + bar_verdict(market, fee, p["paired"], lower_map)
        lines.append(head)
    return "\n".join(lines)


def bar_verdict(market: str, fee_bps: float, paired: dict, lower_map: bool | None) -> str:
    """The bar for one (market, regime): on a large-tick market (#25), and elsewhere with a rebate (#16), PPO must
    beat every baseline (paired 95 % CI > 0) with a lower MAP than fixed; elsewhere without a rebate it must not
    be significantly worse than any of them."""
    if market in BEAT_ALL_MARKETS or fee_bps < 0:
        met = all(v["ci95"][0] > 0 for v in paired.values()) and bool(lower_map)
        return f"Bar (beat every baseline, lower MAP than fixed): {'met' if met else 'NOT met'}."
    met = all(v["ci95"][1] >= 0 for v in paired.values())
    return f"Bar (not significantly worse than any baseline): {'met' if met else 'NOT met'}."
