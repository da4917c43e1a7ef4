"""The paper-trading engine from a config: feed + quoters + trader + state, shared by `mmjax live` and the dashboard.

A library module (no command imports it as a command): `mmjax.live.command` and `mmjax.dashboard.app`
both build their engine here. No jax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmjax.env.knobs import EnvKnobs, knobs_from_mapping
from mmjax.live.feeds import RecorderFeed, ReplayFeed
from mmjax.live.quoters import LIVE_BASELINES, BaselineParams, BaselineQuoter, ModelQuoter
from mmjax.live.runner import LiveRunner
from mmjax.live.state import LiveState
from mmjax.live.trader import PaperTrader
from mmjax.outputs import UserError, check_range

PAPER_NOTICE = "PAPER TRADING ONLY: mmjax never sends an order; fills are simulated with the environment's rules."


@dataclass
class EngineConfig:
    """Market source, quoter and the environment's knobs, shared by `mmjax live` and `mmjax dashboard`."""

    replay: str | None = field(default=None, metadata={"help": "recording directory to replay (book/ and trades/ below it); "
                                                          "without --replay or --live the built-in market is generated and replayed"})
    product: str | None = field(default=None, metadata={"help": "product to replay when the recording holds several"})
    speed: float = field(default=1.0, metadata={"help": "replay speed, multiple of real time (0 = as fast as possible)"})
    loop: bool = field(default=False, metadata={"help": "replay again from the start at the end (each pass starts a new segment)"})
    live: bool = field(default=False, metadata={"help": "quote against the live Coinbase public feed (market data only, via recorder/)"})
    products: str = field(default="BTC-USD", metadata={"help": "product for --live (one product id)"})
    tick_size: float = field(default=0.01, metadata={"help": "tick size of the --live product, quote currency"})
    policy: str | None = field(default=None, metadata={"help": "exported policy .npz (mmjax export); without it a baseline quotes"})
    baseline: str = field(default="fixed", metadata={"help": "baseline quoter used without --policy (and offered as a switch)",
                                                     "choices": list(LIVE_BASELINES)})
    env: EnvKnobs = field(default_factory=EnvKnobs, metadata={
        "help": "the environment's knobs (quote size, inventory limit, latency, fee, action mapping, episode length); "
                "a --policy file's stored knobs win over these"})
    fixed_offset_bps: float = field(default=2.0, metadata={"help": "fixed baseline: offset from mid on both sides, bps"})
    as_gamma: float = field(default=1e-5, metadata={"help": "Avellaneda-Stoikov risk aversion, per tick per lot"})
    as_k_per_tick: float = field(default=0.1, metadata={"help": "Avellaneda-Stoikov fill-intensity decay, per tick"})
    as_horizon_s: float = field(default=10.0, metadata={"help": "Avellaneda-Stoikov rolling horizon, s"})
    queue_threshold: float = field(default=BaselineParams.queue_threshold, metadata={
        "help": "queue-aware run-over threshold, 0.1-2 (the value `mmjax evaluate` tuned; 2 never pulls)"})
    history_s: float = field(default=3600.0, metadata={"help": "history kept for the dashboard, s of grid time"})
    cache_dir: str | None = field(default=None, metadata={"help": "where the built-in market is cached (default: $XDG_CACHE_HOME/mmjax or ~/.cache/mmjax)"})
    builtin_hours: float = field(default=0.25, metadata={"help": "length of the built-in market, hours"})

    def __post_init__(self) -> None:
        own = type(self).__name__
        check_range(own, "speed", self.speed, 0, 1e6)
        check_range(own, "tick_size", self.tick_size, 0, lo_open=True)
        check_range(own, "fixed_offset_bps", self.fixed_offset_bps, 0, 1e4)
        check_range(own, "as_gamma", self.as_gamma, 0, lo_open=True)
        check_range(own, "as_k_per_tick", self.as_k_per_tick, 0, lo_open=True)
        check_range(own, "as_horizon_s", self.as_horizon_s, 0, lo_open=True)
        check_range(own, "history_s", self.history_s, 0, 7 * 86400, lo_open=True)
        check_range(own, "builtin_hours", self.builtin_hours, 0, 24 * 366, lo_open=True)

    def baseline_params(self) -> BaselineParams:
        return BaselineParams(self.fixed_offset_bps, self.as_gamma, self.as_k_per_tick, self.as_horizon_s,
                              self.queue_threshold)


def build_runner(cfg: EngineConfig, max_steps: int = 0) -> tuple[LiveRunner, str]:
    """Feed + quoters + state from a config; returns the runner (not started) and a one-line source description."""
    from mmjax.data.builtin import builtin_market
    from mmjax.data.loader import read_recording

    if cfg.live and cfg.replay:
        raise UserError("choose --replay DIR or --live, not both")
    if cfg.live:
        products = [p.strip() for p in cfg.products.split(",") if p.strip()]
        if len(products) != 1:
            raise UserError(f"--products: the paper trader quotes one product, got {products}")
        feed = RecorderFeed(products[0], cfg.tick_size)
        source = f"live Coinbase feed {products[0]} (public market data)"
    else:
        path = cfg.replay or builtin_market(cfg.cache_dir, cfg.builtin_hours)
        raw = read_recording(path, cfg.product)
        feed = ReplayFeed(raw, cfg.speed, loop=cfg.loop)
        source = f"replay {'built-in market ' if not cfg.replay else ''}{path} ({raw.meta.product}, {raw.num_steps:,} rows)"
    bp, knobs = cfg.baseline_params(), cfg.env
    quoters: dict[str, object] = {}
    norm = None
    notes: list[str] = []
    if cfg.policy:
        model = ModelQuoter(cfg.policy)
        quoters["model"] = model
        norm = model.norm
        # the knobs stored with a policy win over flags: its actions mean nothing under others
        knobs, notes = knobs_from_mapping(model.mapping, knobs)
    for kind in LIVE_BASELINES:
        quoters[kind] = BaselineQuoter(kind, bp)
    start = "model" if cfg.policy else cfg.baseline
    capacity = max(1, int(cfg.history_s * 1000 / feed.meta.grid_ms))
    state = LiveState(capacity)
    meta = feed.meta

    def make_trader(q):
        return PaperTrader(meta, q, knobs, norm=norm, baseline=bp)

    runner = LiveRunner(feed, make_trader, quoters, start, state, inventory_limit=knobs.max_inventory,
                        max_steps=max_steps)
    if not cfg.policy:
        notes.append(f"No --policy given: quoting with the {cfg.baseline} baseline.")
    state.set_info(notes=tuple(notes))
    for n in notes:
        print(f"note: {n}", flush=True)
    return runner, source
