"""The configs of `mmjax evaluate` (`EvaluateConfig`) and `mmjax backtest` (`BacktestConfig`). Imports no jax,
so `--help` and the config checks start fast."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmjax.env.knobs import EnvOverrides, parse_fee_bps
from mmjax.outputs import check_range


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluate a trained policy (its deterministic mean action) and the fixed, A-S and GLFT baselines."""

    data: str = field(default="", metadata={"help": "recording to evaluate on"})
    policy: str = field(default="", metadata={"help": "run directory of `mmjax train`, or a directory of such runs (one per seed); empty: baselines only"})
    out: str = field(default="reports/latest", metadata={"help": "report directory (report.md, metrics.json, PNGs)"})
    episodes: int = field(default=400, metadata={"help": "number of non-overlapping evaluation episodes (fewer if the window is short: a warning says so); 400 resolve ~0.1 $ on the built-in market"})
    split: str = field(default="test", metadata={"help": "test: the recording's test split; all: a recording never used in training", "choices": ["test", "all"]})
    calibration_fraction: float = field(default=0.2, metadata={"help": "with --split all: leading fraction of rows used only to calibrate and tune baselines"})
    # 1000: every training episode of the 24 h markets; 100 (until 93081b7) picked a noisy GLFT gamma (docs/results.md)
    tune_episodes: int = field(default=1000, metadata={"help": "training-window episodes used to tune each baseline, spread evenly over it (all that fit, if fewer)"})
    # the env knobs given as flags (--maker-fee-bps: the fee in force, --episode-steps, --quote-size, ...); unset: as
    # in training (the run's train_config.json), else EnvKnobs'
    env: EnvOverrides = field(default_factory=EnvOverrides)
    baseline_max_offset_bps: float = field(default=10.0, metadata={"help": "widest quote the baselines may use, bps (at least the policy's own range), so they are not handicapped by the agent's action range"})
    retail_fee_bps: float = field(default=40.0, metadata={
        "help": "second evaluation at this fee, bps or a preset (Coinbase entry tier: 40 bps)", "parse": parse_fee_bps})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    market_preset: str = field(default="", metadata={
        "help": "the synth preset the market was generated from (builtin-btc, large-tick, ...), recorded in metrics.json "
                "beside maker_fee_bps (empty: not a preset's market, or unknown)"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace an existing report in --out (only once the new one is complete); else an error"})

    def __post_init__(self) -> None:
        own = "EvaluateConfig"
        check_range(own, "episodes", self.episodes, 1)
        check_range(own, "calibration_fraction", self.calibration_fraction, 0, 1, lo_open=True, hi_open=True)
        check_range(own, "tune_episodes", self.tune_episodes, 1)
        check_range(own, "baseline_max_offset_bps", self.baseline_max_offset_bps, 0, 1e4, lo_open=True)
        check_range(own, "seed", self.seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class BacktestConfig:
    """Backtest one policy over every gap-free segment of a recording and write the totals as JSON."""

    data: str = field(default="", metadata={"help": "recording directory (book/ and trades/ below it)"})
    policy: str = field(default="fixed", metadata={
        "help": "abstain, fixed, avellaneda_stoikov, glft, signal_aware, queue_aware, a `mmjax train` run directory, or a policy.npz"})
    half_spread_bps: float = field(default=1.0, metadata={
        "help": "fixed: quote at least this far from the mid on each side, bps (the nearest tick at or beyond it)"})
    fixed_ticks: int | None = field(default=None, metadata={
        "help": "fixed: quote this many ticks behind each touch instead (0 joins, -1 improves by one tick)"})
    baseline_gamma: float = field(default=0.0, metadata={
        "help": "avellaneda_stoikov/glft: risk aversion per tick per lot (0: the middle of mmjax evaluate's grid)"})
    queue_threshold: float = field(default=0.0, metadata={
        "help": "queue_aware: run-over threshold, 0.1-2 (0: the middle of mmjax evaluate's grid; 2 never pulls)"})
    # the env knobs given as flags (--quote-size, --maker-fee-bps, ...); unset: the run's, else EnvKnobs'. The action
    # range is widened to the fixed half-spread.
    env: EnvOverrides = field(default_factory=EnvOverrides)
    product: str | None = field(default=None, metadata={"help": "product partition to load (default: the only one)"})
    chunk_steps: int = field(default=20_000, metadata={"help": "env steps per jitted chunk; progress is printed after each"})
    json: str = field(default="", metadata={"help": "write the totals to this JSON file (empty: print only)"})
    grid: str = field(default="", metadata={
        "help": "GRID.toml|json: sweep quoter configurations in one program instead (docs/env.md, mmjax/evaluation/grid_spec.py)"})
    out: str = field(default="", metadata={"help": "--grid: output directory (grid.parquet, best.json, heatmaps)"})
    chunk_configs: int = field(default=1024, metadata={"help": "--grid: configurations per vmapped chunk (bounds memory)"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace an existing --json file, or --grid's --out directory (only once the new one is complete); "
                "else an error"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})
