"""`PaperTrader`: book rows and trades in, simulated fills and marked-to-mid PnL out. PAPER ONLY. No jax.

Per book row t the trader: settles the quotes resting over (t-1, t] against that interval's
trades; updates the streaming features; asks the quoter for the next quotes; and returns a row for
the dashboard. Every rule of quoting, fills, the account, inventory gating and the agent features
is `mmjax.env.sim_np`'s (the environment's NumPy twin), applied to rows converted exactly as the
loader builds `MarketData` (`mmjax.live.rows`). What is written here is only the live session's
bookkeeping: buckets of trades by receive time, segments after gaps, and the running KPIs.

Causality: the quotes decided at grid time t see only book rows <= t and trades with receive time
<= t; they fill only by trades in (t+L-1, t+L], exactly as in the environment.

The exchange clock (docs/live.md): a trade fills in the interval it is received in, unless a book
row before that interval's start already reflects it (its exchange stamp is at or before the
newest stamp of the rows seen so far). The batch path puts such a trade into the earlier interval
ending at that row; live that interval is settled, so the trade fills nothing (it still feeds the
features, which run on the receive clock) and is counted in ``trades_shown_before_received``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from mmjax import schema
from mmjax.data.ticks import anchor_ticks
from mmjax.env import kpis as fill_kpis
from mmjax.env import sim_np
from mmjax.env.knobs import EnvKnobs
from mmjax.features import spec
from mmjax.features.stream import Normalizer, StreamingFeatures
from mmjax.live.attribution import LiveAttribution
from mmjax.live.feeds import BookEvent, TradeEvent
from mmjax.live.quoters import BaselineParams, QuoteContext, queue_view
from mmjax.live.rows import TickRows
from mmjax.live.state import SIDE_AT_LIMIT, SIDE_PULLED, SIDE_QUOTED, queue_ahead_size

NO_DECISION = (math.nan, math.nan)  # side states of an empty slot in flight (a segment's first rows)
BOTH_QUOTED = (SIDE_QUOTED, SIDE_QUOTED)


@dataclass
class SessionStats:
    """Running KPIs of a session, with the evaluation report's definitions (`mmjax.evaluation.metrics`)."""

    peak_pnl: float = 0.0  # $ (the start counts as a peak)
    max_drawdown: float = 0.0  # $, largest fall from the running peak
    fees: float = 0.0  # $
    volume: float = 0.0  # venue size units filled
    n_fills: int = 0
    # fills by kind ({fills_behind_queue, fills_traded_through, fills_crossed}: `mmjax.env.kpis.fills_by_kind`)
    by_kind: dict = field(default_factory=lambda: dict.fromkeys(fill_kpis.FILL_KIND_KEYS.values(), 0))
    n_beyond_fills: int = 0  # fills of orders resting beyond the stored depth (queue unknown)
    n_rejected: int = 0  # quotes post-only rejected on arrival (at or through the opposite touch)
    quote_sides: int = 0  # (side, step) pairs with a live order: the fill-rate denominator
    quote_sides_beyond: int = 0  # of them, orders resting beyond the stored depth
    captured_bps_x_size: float = 0.0  # sum of size * spread captured (bps of mid at the interval start)
    bid_pulled: int = 0  # decisions with no bid because the quoter pulled it
    ask_pulled: int = 0
    bid_at_limit: int = 0  # decisions with no bid because of the inventory limit
    ask_at_limit: int = 0

    def add_interval(self, s: sim_np.Settlement, state: sim_np.SimState, mid_s: float, anchor: int) -> None:
        """One settled interval and the orders after it; ``mid_s`` is the mid (ticks from anchor) when it started."""
        b, k = s.bid, s.ask
        bid, ask = state.bid, state.ask
        if bid is not None:
            self.quote_sides += 1
            self.quote_sides_beyond += bid.beyond
        if ask is not None:
            self.quote_sides += 1
            self.quote_sides_beyond += ask.beyond
        if s.bid_rejected or s.ask_rejected:
            self.n_rejected += s.bid_rejected + s.ask_rejected
        if not (b.size or k.size):
            return  # nothing else changes (adding zeros)
        self.fees += s.fee
        self.volume += b.size + k.size
        for f in (b, k):
            if f.size > 0:
                self.n_fills += 1
                self.n_beyond_fills += f.beyond
        for key, n in fill_kpis.fills_by_kind(b.kind, k.kind).items():
            self.by_kind[key] += n
        mid = mid_s + anchor  # absolute ticks: the edge is a ratio, ticks or $ alike
        if b.size:
            self.captured_bps_x_size += b.size * fill_kpis.bid_edge_bps(b.price + anchor, mid)
        if k.size:
            self.captured_bps_x_size += k.size * fill_kpis.ask_edge_bps(k.price + anchor, mid)

    def add_decision(self, bid_state: float, ask_state: float) -> None:
        """One decision's side states (`mmjax.live.state.SIDE_*`)."""
        if bid_state != SIDE_QUOTED or ask_state != SIDE_QUOTED:
            self.bid_pulled += bid_state == SIDE_PULLED
            self.ask_pulled += ask_state == SIDE_PULLED
            self.bid_at_limit += bid_state == SIDE_AT_LIMIT
            self.ask_at_limit += ask_state == SIDE_AT_LIMIT

    def add_mark(self, pnl: float) -> None:
        # max(peak, pnl) and max(drawdown, peak - pnl), without the builtin's call (every row)
        if pnl > self.peak_pnl:
            self.peak_pnl = pnl
        fall = self.peak_pnl - pnl
        if fall > self.max_drawdown:
            self.max_drawdown = fall


@dataclass
class StepRecord:
    """What happened over one interval (t-1, t] plus the decision at t (for tests and traces)."""

    t_ns: int
    bid_fill: float
    ask_fill: float
    bid_fill_px: int  # ticks from anchor (meaningful where the fill > 0)
    ask_fill_px: int
    fee: float
    pnl: float
    inventory: float
    action: np.ndarray  # [2] decided at t


class PaperTrader:
    """Book rows and trades in, `sim_np`'s fills and account out. Single-threaded, deterministic."""

    def __init__(self, meta: schema.RecordingMeta, quoter, knobs: EnvKnobs | None = None, feature_cfg=None,
                 norm=None, baseline: BaselineParams | None = None, record_steps: bool = False):
        self.meta, self.quoter = meta, quoter
        self.knobs = knobs or EnvKnobs()
        self.feature_cfg = feature_cfg or spec.FeatureConfig()
        self.norm = norm  # FeatureNorm for the model's observation; None: raw features (baselines only)
        self._normalize = Normalizer(norm, tail=spec.NUM_FEATURES - spec.NUM_MARKET_FEATURES) if norm is not None else None
        self.baseline = baseline or BaselineParams()
        self._z_idx = spec.FEATURE_INDEX["spread_z"]
        self.stats = SessionStats()
        self.anchor: int | None = None  # set by the first row, as the loader anchors a recording
        self.params: sim_np.SimParams | None = None
        self.state: sim_np.SimState | None = None
        self.ticks: TickRows | None = None
        self.features = None
        self._pending: list[TradeEvent] = []  # trades not yet assigned to an interval
        self._pending_max_ts = -1  # latest receive time among them, ns
        self._pending_min_ex = 1 << 62  # earliest known exchange time among them, ns
        self._shown_ns = -1  # newest exchange stamp of the rows accepted so far (-1: none known)
        self._prev: tuple[int, sim_np.Book, float] | None = None  # (ts_ns, book, mid) of the previous accepted row
        self._force_gap = False
        self.time = 0  # settled intervals since the segment start (the env's ``time``)
        self.steps = 0
        self.counts = {"rows": 0, "trades": 0, "crossed_rows_dropped": 0, "trades_late": 0, "trades_in_gaps": 0,
                       "trades_before_first_row": 0, "trades_shown_before_received": 0, "gaps": 0}
        self.record_steps = record_steps
        self.records: list[StepRecord] = []
        self.attribution = LiveAttribution(meta.grid_ms, meta.tick_size, 0)  # re-anchored by the first row
        self._sides: deque[tuple[float, float]] = deque()  # side states per decision in flight, as state.pipeline

    @property
    def account(self) -> sim_np.Account:
        """The paper account (cash, inventory, entry, PnL), zero before the first row."""
        return self.state.account if self.state is not None else sim_np.Account(0.0)

    # -- inputs ---------------------------------------------------------------------------------
    def on_trade(self, ev: TradeEvent) -> None:
        """Buffer a trade; it is assigned to its interval (t-1, t] when book row t arrives."""
        if not (0 < ev.size < math.inf and ev.price > 0 and (ev.taker_side == 1 or ev.taker_side == -1)):
            raise ValueError(f"bad trade {ev!r}: size and price must be > 0, taker_side +1 or -1")
        self.counts["trades"] += 1
        ts = ev.ts_recv_ns
        if self._prev is not None and ts <= self._prev[0]:
            self.counts["trades_late"] += 1  # its interval is already settled: too late to fill anything
            return
        self._pending.append(ev)
        if ts > self._pending_max_ts:
            self._pending_max_ts = ts
        if 0 <= ev.ts_exchange_ns < self._pending_min_ex:
            self._pending_min_ex = ev.ts_exchange_ns

    def on_book(self, ev: BookEvent) -> dict[str, float] | None:
        """Settle (t-1, t], mark to mid, decide the quotes at t; returns the dashboard row (None: row dropped)."""
        if not ev.bid_px[0] < ev.ask_px[0]:  # NaN (one-sided), crossed or locked
            # dropped like the loader does, and the next row starts a segment
            self.counts["crossed_rows_dropped"] += 1
            self._force_gap = True
            return None
        if self.ticks is None:
            self._start(ev)
        p, tick = self.params, self.meta.tick_size
        book = self.ticks.book(ev.bid_px, ev.bid_sz, ev.ask_px, ev.ask_sz)
        mid = book.mid
        self.attribution.on_row(mid)
        ts = ev.ts_recv_ns
        now = self._pending  # trades of (t-1, t]
        # the exchange clock: some of them may already show in an earlier row (rare: filtered only then)
        shown_earlier = self._pending_min_ex <= self._shown_ns
        if self._pending_max_ts > ts:  # live trades may arrive ahead of their row
            now = [tr for tr in now if tr.ts_recv_ns <= ts]
            self._pending = [tr for tr in self._pending if tr.ts_recv_ns > ts]
            self._pending_max_ts = max(tr.ts_recv_ns for tr in self._pending)
            self._pending_min_ex = min((tr.ts_exchange_ns for tr in self._pending if tr.ts_exchange_ns >= 0),
                                       default=1 << 62)
        else:
            self._pending, self._pending_max_ts, self._pending_min_ex = [], -1, 1 << 62
        self.counts["rows"] += 1
        new_segment = self._prev is None or ev.after_gap or self._force_gap
        self._force_gap = False
        settled = None
        if new_segment:
            key = "trades_before_first_row" if self._prev is None else "trades_in_gaps"
            self.counts[key] += len(now)
            self.counts["gaps"] += self._prev is not None
            # no order survives a gap; the inventory (a real position) does
            self.state = sim_np.reset(mid, p) if self.state is None else sim_np.cancel_all(self.state, p)
            self.state = self.state._replace(account=sim_np.mark(self.state.account, mid, tick, p.inverse))
            self._sides = deque([NO_DECISION] * len(self.state.pipeline))
            self.time = 0
        else:
            _, book_s, mid_s = self._prev
            fill_now = self._not_yet_shown(now) if shown_earlier else now
            trades = self.ticks.trades(fill_now) if fill_now else sim_np.NO_TRADES  # a quiet interval: no call
            self.state, settled = sim_np.settle(self.state, book_s, book, trades, p)
            self.stats.add_interval(settled, self.state, mid_s, self.anchor)
            self.attribution.on_fills(settled, mid_s)
            self.time += 1
        if ev.ts_exchange_ns > self._shown_ns:
            self._shown_ns = ev.ts_exchange_ns
        acct = self.state.account
        self.stats.add_mark(acct.pnl)

        # FEATURES AND THE DECISION AT t (data up to t only)
        for tr in now:
            self.features.on_trade(tr.price, tr.size, tr.taker_side)
        knobs = self.knobs
        agent = sim_np.agent_features(self.state, book, self.time % knobs.episode_steps, p)
        # [F] float32: the market features (the row converted once, above), then the agent's: one array a row
        obs = self.features.on_book_ticks(*book, new_segment, agent)
        spread_z = obs.item(self._z_idx)  # before the normalization (the dashboard's raw z-score)
        if self._normalize is not None:
            self._normalize(obs, out=obs)  # the market features; the agent's pass through unchanged
        quoter = self.quoter
        # a quoter that reads only the observation (`needs_context = False`: the model) gets no context
        ctx = None if not getattr(quoter, "needs_context", True) else QuoteContext(
            acct.inventory, knobs.quote_size, mid, int(book.bid_px[0]), int(book.ask_px[0]), self.anchor,
            self.features.sigma_ticks_per_sqrt_s, self.baseline.as_horizon_s, knobs.max_offset_bps,
            *queue_view(self.state, book, p), acct.inventory / knobs.max_inventory)
        action = quoter.act(obs, ctx)
        self.state = sim_np.decide(self.state, action, book, p)
        sides = side_states(self.state.pipeline[-1], acct.inventory_lots, p.max_lots)
        if sides is not BOTH_QUOTED:  # nearly every row quotes both sides: nothing to count
            self.stats.add_decision(*sides)
        self._sides.append(sides)
        while len(self._sides) > len(self.state.pipeline):  # the decisions in flight, oldest first
            self._sides.popleft()
        self._prev = (ts, book, mid)
        self.steps += 1
        if self.record_steps:
            s = settled or sim_np.Settlement(sim_np.NO_FILL, sim_np.NO_FILL, 0.0, 0.0)
            self.records.append(StepRecord(ts, s.bid.size, s.ask.size, s.bid.price, s.ask.price, s.fee, acct.pnl,
                                           acct.inventory, np.array(action, np.float64)))
        live_bid, live_ask = self.state.pipeline[0]  # the orders going live for (t, t+1]
        bid_state, ask_state = self._sides[0]  # and why a side has none
        return {"t_ms": ts / 1e6, "mid": (mid + self.anchor) * tick, "pnl": acct.pnl, "inventory": acct.inventory,
                "drawdown": acct.pnl - self.stats.peak_pnl, "spread_z": spread_z,
                "bid_quote": math.nan if live_bid is None else (live_bid + self.anchor) * tick,
                "ask_quote": math.nan if live_ask is None else (live_ask + self.anchor) * tick,
                "bid_state": bid_state, "ask_state": ask_state, "fills": float(self.stats.n_fills),
                "bid_queue_ahead": queue_ahead_size(self.state.bid, p.lot),
                "ask_queue_ahead": queue_ahead_size(self.state.ask, p.lot)}

    def _not_yet_shown(self, now: list[TradeEvent]) -> list[TradeEvent]:
        """The trades of ``now`` that no earlier row reflects (the exchange clock); the others are counted."""
        keep = [tr for tr in now if not 0 <= tr.ts_exchange_ns <= self._shown_ns]
        self.counts["trades_shown_before_received"] += len(now) - len(keep)
        return keep

    def _start(self, ev: BookEvent) -> None:
        """The first row anchors the session's ticks, as the loader anchors a recording."""
        tick = self.meta.tick_size
        self.anchor = anchor_ticks(ev.bid_px[0], ev.ask_px[0], tick)
        self.params = sim_np.SimParams(self.knobs, tick, self.anchor, self.meta.grid_ms / 1000.0,
                                       self.meta.lot_size or sim_np.DEFAULT_LOT_SIZE,  # the recording's lot
                                       self.meta.contract_type, self.meta.contract_value or 0.0)  # and contract
        self.ticks = TickRows(tick, self.anchor, len(ev.bid_px), self.params.lot_size)
        self.features = StreamingFeatures(self.feature_cfg, tick, self.anchor, len(ev.bid_px), self.meta.grid_ms)
        self.attribution = LiveAttribution(self.meta.grid_ms, tick, self.anchor,
                                           self.params.contract_value if self.params.inverse else 0.0)

    def kpis(self) -> dict[str, float]:
        """Running KPIs, with the evaluation report's definitions (`mmjax.evaluation.metrics`)."""
        s, a = self.stats, self.account
        return {"pnl": a.pnl, "inventory": a.inventory, "n_fills": s.n_fills, "volume": s.volume, "fees": s.fees,
                "fill_rate": fill_kpis.per_quote_side(s.n_fills, s.quote_sides),
                "spread_captured_bps": s.captured_bps_x_size / s.volume if s.volume > 0 else float("nan"),
                "max_drawdown": s.max_drawdown, **s.by_kind, "n_rejected": s.n_rejected,
                "n_beyond_fills": s.n_beyond_fills, "beyond_depth_rate": fill_kpis.per_quote_side(s.quote_sides_beyond, s.quote_sides),
                "bid_pulled": s.bid_pulled, "ask_pulled": s.ask_pulled, "bid_at_limit": s.bid_at_limit,
                "ask_at_limit": s.ask_at_limit, "steps": self.steps, **self.attribution.totals(a.pnl)}


def side_states(decided: sim_np.Quotes, inventory_lots: int, max_lots: int) -> tuple[float, float]:
    """Per side of a decision: quoted, or why not. The inventory limit (`sim_np.gate_quotes`) names itself
    where it applies, whatever the quoter chose; any other side without a price was pulled by the quoter."""
    if decided[0] is not None and decided[1] is not None:
        return BOTH_QUOTED  # nearly every row: no tuple to build
    gate = sim_np.gate_quotes((0, 0), inventory_lots, max_lots)  # None on the sides the limit stops
    return tuple(SIDE_QUOTED if q is not None else (SIDE_AT_LIMIT if g is None else SIDE_PULLED)
                 for q, g in zip(decided, gate, strict=True))
