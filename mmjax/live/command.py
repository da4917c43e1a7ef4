"""`mmjax live`: paper-trade a replayed recording or the live feed and print status lines. PAPER ONLY. No jax."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmjax.live.engine import PAPER_NOTICE, EngineConfig, build_runner
from mmjax.live.state import LiveState, Snapshot, side_text
from mmjax.outputs import check_range, refuse_existing, write_json


@dataclass
class LiveConfig(EngineConfig):
    """Paper-trade a replayed recording or the live feed and print status lines. No real orders, ever."""

    max_steps: int = field(default=0, metadata={"help": "stop after this many grid steps (0 = until the feed ends)"})
    status_s: float = field(default=5.0, metadata={"help": "seconds between status lines (0 = none)"})
    out: str | None = field(default=None, metadata={"help": "write the final KPIs and counters as JSON here"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing --out file; else an error"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("LiveConfig", "max_steps", self.max_steps, 0)
        check_range("LiveConfig", "status_s", self.status_s, 0)


def run(cfg: LiveConfig) -> int:
    """`mmjax live`: run the paper trader in the foreground with status lines; Ctrl-C stops it."""
    if cfg.out:
        refuse_existing(cfg.out, cfg.overwrite, "a KPI file")  # before the run, not after it
    print(PAPER_NOTICE, flush=True)
    runner, source = build_runner(cfg, cfg.max_steps)
    print(f"source: {source}", flush=True)
    snap = runner.state.snapshot(since=1 << 62)
    if snap.mode == "baseline":
        print(f"*** NO MODEL: quoting with the BASELINE {snap.quoter!r} (pass --policy policy.npz for a model) ***",
              flush=True)
    else:
        print(f"quoting with {snap.quoter}", flush=True)
    print(snap.fee_regime, flush=True)
    runner.start()
    try:
        while runner.running:
            runner.join(cfg.status_s if cfg.status_s > 0 else 1.0)
            if cfg.status_s > 0 and runner.running:
                print(status_line(latest(runner.state)), flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        runner.stop()
    snap = latest(runner.state)
    print(status_line(snap), flush=True)
    if runner.error is not None:
        print(f"error: {type(runner.error).__name__}: {runner.error}", flush=True)
    summary = {"source": source, "quoter": snap.quoter, "maker_fee_bps": snap.maker_fee_bps,
               "fee_regime": snap.fee_regime, "kpis": snap.kpis, "counts": runner.trader.counts, "paper_only": True}
    if cfg.out:
        write_json(cfg.out, summary)  # strict JSON: a KPI that is not a number yet is null
        print(f"wrote {cfg.out}", flush=True)
    return 1 if runner.error is not None else 0


def latest(state: LiveState) -> Snapshot:
    """A snapshot holding only the newest row (none before the first)."""
    return state.snapshot(since=state.version[1] - 1)


def status_line(snap: Snapshot) -> str:
    """One human line of the latest KPIs, the maker fee in force, the sides without a quote and the PnL attribution."""
    k = snap.kpis
    g = lambda key, fmt: ("-" if key not in k or k[key] != k[key] else fmt.format(k[key]))  # noqa: E731
    return (f"[{snap.feed_status}] {snap.quoter} | steps {g('steps', '{:,}')} | PnL {g('pnl', '{:+,.2f}')} | "
            f"inv {g('inventory', '{:+.4g}')} | fills {g('n_fills', '{:,}')} (queue {g('fills_behind_queue', '{:,}')} / "
            f"through {g('fills_traded_through', '{:,}')} / crossed {g('fills_crossed', '{:,}')}) | "
            f"post-only rejected {g('n_rejected', '{:,}')} | beyond depth {g('beyond_depth_rate', '{:.1%}')} | "
            f"fill rate {g('fill_rate', '{:.1%}')} | spread captured {g('spread_captured_bps', '{:.2f}')} bps | max DD {g('max_drawdown', '{:,.2f}')} | "
            f"{snap.fee_regime} | {_sides(snap)} | attribution $: spread {g('spread_usd', '{:+,.2f}')}, "
            f"fees paid {g('fees_usd', '{:+,.2f}')}, adverse 1 s {g('adverse_1s_usd', '{:+,.2f}')} / 10 s "
            f"{g('adverse_10s_usd', '{:+,.2f}')}, carry {g('carry_usd', '{:+,.2f}')}")


def _sides(snap: Snapshot) -> str:
    """The latest row's side states ("bid quoting, ask pulled"), or "no quotes yet" before the first row."""
    states = [snap.series.get(f"{side}_state") for side in ("bid", "ask")]
    if any(v is None or not len(v) for v in states):
        return "no quotes yet"
    return ", ".join(side_text(side, float(v[-1])) for side, v in zip(("bid", "ask"), states, strict=True))
