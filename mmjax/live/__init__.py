"""Paper trading on a replayed or live order-book stream. PAPER ONLY: this package never sends an order.

    feeds     book/trade events, `ReplayFeed` (a recording), `RecorderFeed` (live Coinbase market data)
    rows      one row and one interval's trades in ticks, exactly as the loader builds `MarketData`
    quoters   `ModelQuoter` (an exported policy) and `BaselineQuoter`
    trader    `PaperTrader`: drives the environment's NumPy simulator (`mmjax.env.sim_np`) row by row
    attribution  `LiveAttribution`: the running PnL attribution (spread, fees, adverse selection, carry)
    state     `LiveState`: the rows published to the dashboard
    runner    `LiveRunner`: feed -> trader -> state in a thread, with pause/speed/quoter controls
    engine    `EngineConfig` and `build_runner` (shared by `mmjax live` and `mmjax dashboard`)
    command   `mmjax live` (`LiveConfig`, `run`)

No jax, flax, gymnax or gymnasium anywhere on this path (tests/test_live_imports.py).
"""

from mmjax.data.builtin import builtin_market
from mmjax.live.engine import PAPER_NOTICE, EngineConfig, build_runner
from mmjax.live.feeds import (
    BookEvent,
    Event,
    Feed,
    RecorderFeed,
    ReplayFeed,
    TradeEvent,
    merge_events,
)
from mmjax.live.quoters import BaselineParams, BaselineQuoter, ModelQuoter, QuoteContext, Quoter
from mmjax.live.runner import LiveRunner
from mmjax.live.state import SERIES, LiveState, Snapshot
from mmjax.live.trader import PaperTrader, SessionStats, StepRecord

__all__ = [
    "PAPER_NOTICE", "SERIES", "BaselineParams", "BaselineQuoter", "BookEvent", "EngineConfig", "Event", "Feed",
    "LiveRunner", "LiveState", "ModelQuoter", "PaperTrader", "QuoteContext", "Quoter", "RecorderFeed", "ReplayFeed",
    "SessionStats", "Snapshot", "StepRecord", "TradeEvent", "build_runner", "builtin_market", "merge_events",
]
