"""Paper trading on a replayed or live order-book stream. PAPER ONLY: this module never sends an order.

Per grid step (100 ms by default) the engine: settles the quotes resting over the interval just ended
against the trades of that interval, with the environment's own fill rules (queue, latency, crossing,
fees); marks PnL to mid; updates the streaming features; asks the quoter (an exported policy, or a
baseline) for the next quotes; and publishes a row of state for the dashboard.

Causality: the quotes decided at grid time t see only book rows <= t and trades with receive time
<= t; they are filled only by trades in (t, t+1], exactly as in the environment.

No jax here: the engine runs on a laptop next to a live feed.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from mmjax import schema

# ---------------------------------------------------------------------------------------------
# EVENTS AND FEEDS


@dataclass(frozen=True)
class BookEvent:
    """One book snapshot on the grid (prices NaN on empty levels)."""

    ts_recv_ns: int
    after_gap: bool
    bid_px: np.ndarray  # [L] float64
    bid_sz: np.ndarray  # [L] float64
    ask_px: np.ndarray  # [L] float64
    ask_sz: np.ndarray  # [L] float64


@dataclass(frozen=True)
class TradeEvent:
    """One trade; belongs to grid interval (t, t+1] by its receive time."""

    ts_recv_ns: int
    price: float
    size: float
    taker_side: int  # +1 taker bought, -1 taker sold


Event = BookEvent | TradeEvent


class Feed(Protocol):
    """A source of events in receive-time order (trades at time == a grid time come before that row)."""

    meta: schema.RecordingMeta

    def events(self) -> Iterator[Event]: ...

    def status(self) -> str: ...


def merge_events(ts_book_ns: np.ndarray, ts_trade_ns: np.ndarray) -> np.ndarray:
    """[T + N] order of events: -(i+1) for book row i, j for trade j; trades at ts <= row time go first.

    A trade at exactly grid time t+1 lies in (t, t+1], so it must be seen before book row t+1.
    """
    # searchsorted(side="left"): number of book rows strictly before each trade
    pos = np.searchsorted(ts_book_ns, ts_trade_ns, side="left")
    order = np.concatenate([np.arange(len(ts_book_ns)) * 2 + 1, pos * 2])  # trades before row `pos`
    ids = np.concatenate([-(np.arange(len(ts_book_ns)) + 1), np.arange(len(ts_trade_ns))])
    return ids[np.argsort(order, kind="stable")]


class ReplayFeed:
    """Replays a `RawRecording` at ``speed`` x real time (0: as fast as possible); pausable."""

    def __init__(self, raw, speed: float = 1.0, loop: bool = False):
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.raw = raw
        self.meta = raw.meta
        self.loop = loop
        self._speed = float(speed)
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._state = "idle"
        self._rebase = True
        self._wall0, self._ts0 = 0.0, 0
        self._order = merge_events(raw.ts_recv_ns, raw.trade_ts_recv_ns)

    # controls, callable from any thread
    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"speed must be >= 0, got {speed}")
        with self._lock:
            self._speed = float(speed)
            self._rebase = True

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        with self._lock:
            self._rebase = True
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._paused.clear()

    def status(self) -> str:
        if self._state == "running" and self._paused.is_set():
            return "paused"
        return self._state

    def _event(self, k: int, shift_ns: int) -> Event:
        r = self.raw
        if k < 0:
            i = -k - 1
            return BookEvent(int(r.ts_recv_ns[i]) + shift_ns, bool(r.after_gap[i]),
                             r.bid_px[i], r.bid_sz[i], r.ask_px[i], r.ask_sz[i])
        return TradeEvent(int(r.trade_ts_recv_ns[k]) + shift_ns, float(r.trade_px[k]),
                          float(r.trade_sz[k]), int(r.trade_side[k]))

    def events(self) -> Iterator[Event]:
        r = self.raw
        span_ns = int(r.ts_recv_ns[-1] - r.ts_recv_ns[0]) + self.meta.grid_ms * 1_000_000
        shift_ns = 0  # later passes of a loop are shifted so that receive time keeps increasing
        self._state = "running"
        try:
            while True:
                with self._lock:
                    self._rebase = True
                first_row = True
                for k in self._order:
                    ev = self._event(int(k), shift_ns)
                    if first_row and isinstance(ev, BookEvent):
                        ev, first_row = dataclasses.replace(ev, after_gap=True), False  # a loop is a gap
                    if not self._pace(ev.ts_recv_ns):
                        return
                    yield ev
                if not self.loop:
                    return
                shift_ns += span_ns
        finally:
            self._state = "finished"

    def _pace(self, ts_ns: int) -> bool:
        """Wait until the event is due at the current speed (and while paused); False once stopped."""
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.02)
                continue
            with self._lock:
                if self._rebase:
                    self._wall0, self._ts0, self._rebase = time.monotonic(), ts_ns, False
                speed, wall0, ts0 = self._speed, self._wall0, self._ts0
            if speed == 0:
                return True
            wait = wall0 + (ts_ns - ts0) / 1e9 / speed - time.monotonic()
            if wait <= 0:
                return True
            time.sleep(min(wait, 0.05))
        return False


class _QueueWriter:
    """Stands in for the recorder's Parquet writer: hands rows of one product to the engine, writes nothing."""

    def __init__(self, product: str):
        import queue

        self.product = product
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.failed, self.error = False, None

    def put_book(self, product, ts_exchange_ns, ts_recv_ns, after_gap, bid_px, bid_sz, ask_px, ask_sz) -> None:
        if product == self.product:
            self.q.put(BookEvent(int(ts_recv_ns), bool(after_gap), np.asarray(bid_px, np.float64),
                                 np.asarray(bid_sz, np.float64), np.asarray(ask_px, np.float64),
                                 np.asarray(ask_sz, np.float64)))

    def put_trade(self, product, ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side) -> None:
        if product == self.product:
            self.q.put(TradeEvent(int(ts_recv_ns), float(price), float(size), int(taker_side)))

    def put_raw(self, recv_ns, direction, frame) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self, timeout_s: float | None = None) -> None:
        pass


class RecorderFeed:
    """Live Coinbase public market data through `recorder` (same book builder and grid as recordings).

    Read-only market data: nothing here can place an order. The recorder emits a book row only once
    a later frame proves nothing was lost, so trades may arrive before the row that precedes them;
    the trader buckets trades by receive time, not arrival order.
    """

    def __init__(self, product: str, tick_size: float, levels: int = 20, grid_ms: int = 100,
                 url: str = "wss://advanced-trade-ws.coinbase.com", idle_s: float = 1.0):
        from recorder.config import RecordConfig

        self.meta = schema.RecordingMeta(product=product, tick_size=tick_size, size_unit=product.split("-")[0],
                                         grid_ms=grid_ms, levels=levels, source="coinbase-live")
        self.cfg = RecordConfig(out="", products=product, url=url, levels=levels, grid_ms=grid_ms,
                                tick_size=repr(float(tick_size)), status_s=0.0)
        self.idle_s = idle_s
        self._writer = _QueueWriter(product)
        self._state = "connecting"
        self._stop = threading.Event()
        self._loop = None
        self._rec = None

    def status(self) -> str:
        if self._rec is not None and self._rec.disconnect_reasons and self._state == "running":
            c = self._rec.c
            if c.connections <= c.reconnects:  # the latest connection has ended, not yet back
                return "disconnected"
        return self._state

    def stop(self) -> None:
        self._stop.set()
        loop, rec = self._loop, self._rec
        if loop is not None and rec is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(rec.stop.set)
            except RuntimeError:  # the loop closed in between: the recorder has already stopped
                pass

    def _thread_main(self) -> None:
        import asyncio

        from recorder.client import Recorder

        async def main():
            self._loop = asyncio.get_running_loop()
            self._rec = Recorder(self.cfg, writer=self._writer)
            if self._stop.is_set():
                return
            await self._rec.run()

        try:
            asyncio.run(main())
        except Exception as exc:  # surfaced as the feed status
            self._writer.error = exc
        finally:
            self._state = "disconnected" if not self._stop.is_set() else "finished"

    def events(self) -> Iterator[Event]:
        import queue

        thread = threading.Thread(target=self._thread_main, name="recorder-feed", daemon=True)
        thread.start()
        try:
            while not self._stop.is_set():
                try:
                    ev = self._writer.q.get(timeout=self.idle_s)
                except queue.Empty:
                    if not thread.is_alive():
                        return
                    continue
                self._state = "running"
                yield ev
        finally:
            self.stop()
            thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# STATE PUBLISHED TO THE DASHBOARD

# One value per grid step. Prices in quote currency; inventory in the venue's size unit.
SERIES = (
    "t_ms",  # receive-clock grid time, ms since the epoch (UTC)
    "mid",  # mid price
    "pnl",  # cash + inventory * mid, net of fees
    "inventory",  # position
    "drawdown",  # pnl - running max pnl (<= 0)
    "spread_z",  # z-score of the quoted market spread vs its running mean/std
    "bid_quote",  # our bid price resting over (t, t+1]; NaN when not quoting
    "ask_quote",  # our ask price; NaN when not quoting
    "fills",  # cumulative number of fills
)


@dataclass
class Snapshot:
    """What the dashboard reads in one refresh: new history rows since a version, plus the latest state."""

    version: int  # rows appended so far (monotone; a reset starts a new ``epoch``)
    epoch: int  # bumped when history is cleared (policy switch): clients must redraw
    series: dict[str, np.ndarray]  # name -> [n] rows with version in (since, version]
    complete: bool  # True when ``series`` holds every row after ``since`` (else: ring overwrote some)
    book: BookEvent | None
    kpis: dict[str, float]
    mode: str  # "model" or "baseline"
    quoter: str  # quoter name, e.g. "model: policy.npz" or "baseline: fixed"
    feed_status: str  # "running", "paused", "finished", "connecting", "disconnected", ...
    event_age_s: float  # wall seconds since the engine last received an event (inf: never)
    inventory_limit: float
    speed: float | None  # replay speed, None for a live feed
    notes: tuple[str, ...] = ()


class LiveState:
    """Thread-safe ring buffer of the last ``capacity`` steps plus the latest book, KPIs and mode."""

    def __init__(self, capacity: int = 36_000):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._buf = {k: np.full(capacity, np.nan) for k in SERIES}  # each [C]
        self._version = 0
        self._epoch = 0
        self._book: BookEvent | None = None
        self._kpis: dict[str, float] = {}
        self._info = {"mode": "baseline", "quoter": "", "feed_status": "connecting",
                      "inventory_limit": float("nan"), "speed": None, "notes": ()}
        self._last_event_wall = -math.inf

    def append(self, row: dict[str, float], book: BookEvent, kpis: dict[str, float]) -> None:
        """Publish one step: a value for every name in `SERIES`, the book it saw, and current KPIs."""
        with self._lock:
            i = self._version % self.capacity
            for k in SERIES:
                self._buf[k][i] = row[k]
            self._version += 1
            self._book = book
            self._kpis = dict(kpis)

    def touch(self) -> None:
        """Record that an event arrived now (drives the stale-feed banner)."""
        self._last_event_wall = time.monotonic()

    def set_info(self, **info) -> None:
        """Update mode / quoter / feed_status / inventory_limit / speed / notes."""
        unknown = set(info) - set(self._info)
        if unknown:
            raise KeyError(f"unknown LiveState info keys {sorted(unknown)}")
        with self._lock:
            self._info.update(info)

    def clear(self) -> None:
        """Drop history (e.g. on a policy switch); clients see a new epoch and redraw."""
        with self._lock:
            for v in self._buf.values():
                v.fill(np.nan)
            self._version = 0
            self._epoch += 1
            self._kpis = {}

    @property
    def version(self) -> tuple[int, int]:
        with self._lock:
            return self._epoch, self._version

    def snapshot(self, since: int = 0, epoch: int | None = None) -> Snapshot:
        """Rows after version ``since`` (all kept rows if ``epoch`` differs from the current one)."""
        with self._lock:
            v = self._version
            if epoch is not None and epoch != self._epoch:
                since = 0
            since = min(max(since, 0), v)
            lo = max(since, v - self.capacity)
            n = v - lo
            idx = (np.arange(lo, v) % self.capacity) if n else np.zeros(0, np.int64)  # [n]
            series = {k: self._buf[k][idx] for k in SERIES}
            age = time.monotonic() - self._last_event_wall
            return Snapshot(
                version=v, epoch=self._epoch, series=series, complete=lo == since, book=self._book,
                kpis=dict(self._kpis), mode=self._info["mode"], quoter=self._info["quoter"],
                feed_status=self._info["feed_status"], event_age_s=age,
                inventory_limit=self._info["inventory_limit"], speed=self._info["speed"],
                notes=tuple(self._info["notes"]),
            )


# ---------------------------------------------------------------------------------------------
# QUOTERS: an exported policy, or a closed-form baseline; both return an action [2] in [-1, 1]


@dataclass(frozen=True)
class QuoteContext:
    """What a baseline needs besides the observation (all causal: known at the decision time)."""

    inventory: float  # venue size unit
    quote_size: float  # venue size unit per quote
    mid_abs_ticks: float  # mid price in ticks (absolute, no anchor)
    sigma_ticks_per_sqrt_s: float  # running volatility estimate of mid
    time_left_s: float  # horizon left for finite-horizon quoters (Avellaneda-Stoikov)
    max_offset_bps: float  # the env's action range: offset = (a + 1) / 2 * max_offset_bps


class Quoter(Protocol):
    name: str  # shown on the dashboard, e.g. "model: policy.npz"
    mode: str  # "model" or "baseline"

    def act(self, obs: np.ndarray, ctx: QuoteContext) -> np.ndarray: ...


@dataclass
class BaselineParams:
    """Parameters of the baseline quoters (defaults are sane for BTC-USD at $0.01 ticks)."""

    fixed_offset_bps: float = 2.0  # bps of mid, both sides
    as_gamma_per_tick_lot: float = 1e-5  # risk aversion; BTC-USD sigma is ~400 ticks/sqrt(s) at $0.01 ticks
    as_k_per_tick: float = 0.1  # fill-intensity decay: half spread ~ 1/k ticks when gamma -> 0
    as_horizon_s: float = 10.0  # rolling horizon T - t, s (a live session has no end)


class BaselineQuoter:
    """A closed-form quoter from `mmjax.baselines`, as used by the evaluation harness."""

    mode = "baseline"

    def __init__(self, kind: str, params: BaselineParams):
        from mmjax import baselines

        if kind not in ("fixed", "avellaneda_stoikov"):
            raise ValueError(f"baseline must be 'fixed' or 'avellaneda_stoikov', got {kind!r}")
        self.kind, self.params, self._bl = kind, params, baselines
        self.name = f"baseline: {kind}"

    def act(self, obs: np.ndarray, ctx: QuoteContext) -> np.ndarray:
        p, bl = self.params, self._bl
        if self.kind == "fixed":
            b, a = bl.fixed_offsets(p.fixed_offset_bps, np.float32(0.0))
        else:
            q_lots = ctx.inventory / ctx.quote_size if ctx.quote_size > 0 else 0.0
            b, a = bl.avellaneda_stoikov_offsets(q_lots, ctx.sigma_ticks_per_sqrt_s, max(ctx.time_left_s, 0.0),
                                                 ctx.mid_abs_ticks, p.as_gamma_per_tick_lot, p.as_k_per_tick)
        return np.asarray(bl.offsets_to_action(np.float64(b), np.float64(a), ctx.max_offset_bps), np.float64)


class ModelQuoter:
    """An exported PPO policy (`mmjax.policy.numpy_policy.NumpyPolicy`, NumPy only) fed the environment's observation."""

    mode = "model"

    def __init__(self, path: str):
        from pathlib import Path

        from mmjax.features.spec import NUM_FEATURES, NUM_MARKET_FEATURES, FeatureNorm, spec_hash
        from mmjax.policy.numpy_policy import NumpyPolicy, PolicyFileError

        # the spec hash ties the file to these exact features (names, order, windows, clips)
        self.policy = NumpyPolicy.load(path, expected_spec_hash=spec_hash())
        if self.policy.obs_dim != NUM_FEATURES:
            raise PolicyFileError(f"{path}: observation has {self.policy.obs_dim} entries, the env has {NUM_FEATURES}")
        mean, std = self.policy.feature_mean, self.policy.feature_std
        if mean.shape != (NUM_MARKET_FEATURES,) or std.shape != (NUM_MARKET_FEATURES,):
            raise PolicyFileError(f"{path}: fields 'features/norm_mean'/'features/norm_std' have shapes {mean.shape}/"
                                  f"{std.shape}, expected [{NUM_MARKET_FEATURES}]: export the training normalization")
        self.norm = FeatureNorm(mean=mean, std=std)
        self.mapping = dict(self.policy.action_mapping)  # env knobs the policy was trained with
        self.path = str(path)
        self.name = f"model: {Path(path).name}"

    def act(self, obs: np.ndarray, ctx: QuoteContext) -> np.ndarray:
        a = np.asarray(self.policy.act(obs), np.float64).reshape(-1)
        if a.shape != (2,) or not np.isfinite(a).all():
            raise ValueError(f"{self.path}: policy returned {a!r}; expected 2 finite numbers in [-1, 1]")
        return np.clip(a, -1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# TRADER: one grid step at a time, with the environment's fill simulator


@dataclass(frozen=True)
class TraderParams:
    """The environment's quoting knobs (same names, units and defaults as `mmjax.env.market_env`)."""

    quote_size: float = 0.01  # venue size units per quote
    max_inventory: float = 0.1  # venue size units; a side stops quoting at the limit
    max_offset_bps: float = 10.0  # offset from mid at action +1, bps of mid
    maker_fee_bps: float = 0.0  # fee on fill notional, bps (negative = rebate)
    latency_steps: int = 1  # a decision goes live this many grid steps later
    episode_steps: int = 3000  # the policy's episode length: time_left_frac cycles over it


@dataclass
class _Account:
    """Money since the session start, in the env's convention: cash relative to holding at mid0."""

    mid0: float = 0.0  # ticks from anchor
    inventory: float = 0.0
    cash: float = 0.0  # $
    entry: float = 0.0  # ticks from mid0
    pnl: float = 0.0  # $
    peak_pnl: float = 0.0
    max_drawdown: float = 0.0
    fees: float = 0.0
    volume: float = 0.0
    n_fills: int = 0
    n_crossed: int = 0
    quote_sides: int = 0  # (side, step) pairs with a live order: the fill-rate denominator
    captured_bps_x_size: float = 0.0  # sum of size * spread captured (bps of mid at the interval start)


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
    """Book rows and trades in, simulated fills and marked-to-mid PnL out. Single-threaded, deterministic.

    Fills use `mmjax.env.reference.FillSimulator` (the environment's rules); book rows and trades
    become ticks and per-interval trade slots exactly as the loader builds `MarketData`.
    """

    def __init__(self, meta: schema.RecordingMeta, quoter, params: TraderParams = TraderParams(),
                 feature_cfg=None, norm=None, baseline: BaselineParams | None = None,
                 trade_slots: int | None = None, record_steps: bool = False):
        from mmjax.data.layout import DEFAULT_TRADE_SLOTS
        from mmjax.env.reference import FillSimulator
        from mmjax.features.spec import FEATURE_INDEX, FeatureConfig

        if params.quote_size <= 0 or params.max_inventory <= 0 or params.max_offset_bps < 0:
            raise ValueError(f"need quote_size > 0, max_inventory > 0, max_offset_bps >= 0; got {params}")
        if params.episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1, got {params.episode_steps}")
        self.meta, self.quoter, self.params = meta, quoter, params
        self.feature_cfg = feature_cfg or FeatureConfig()
        self.norm = norm  # FeatureNorm for the model's observation; None: raw features (baselines only)
        self.baseline = baseline or BaselineParams()
        self.trade_slots = trade_slots or DEFAULT_TRADE_SLOTS
        self.sim = FillSimulator(params.quote_size, params.max_inventory, params.latency_steps)
        self._z_idx = FEATURE_INDEX["spread_z"]
        self.acct = _Account()
        self.anchor: int | None = None
        self.features = None
        self._pending: list[TradeEvent] = []  # trades not yet assigned to an interval
        self._prev = None  # (ts_ns, BookRow, mid ticks) of the previous accepted row
        self._force_gap = False
        self.time = 0  # settled intervals since the segment start (the env's ``time``)
        self.steps = 0
        self.counts = {"rows": 0, "trades": 0, "crossed_rows_dropped": 0, "trades_late": 0, "trades_in_gaps": 0,
                       "trades_before_first_row": 0, "gaps": 0}
        self.record_steps = record_steps
        self.records: list[StepRecord] = []

    # -- inputs ---------------------------------------------------------------------------------
    def on_trade(self, ev: TradeEvent) -> None:
        """Buffer a trade; it is assigned to its interval (t-1, t] when book row t arrives."""
        if not (ev.size > 0 and math.isfinite(ev.size) and ev.price > 0 and ev.taker_side in (-1, 1)):
            raise ValueError(f"bad trade {ev!r}: size and price must be > 0, taker_side +1 or -1")
        self.counts["trades"] += 1
        if self._prev is not None and ev.ts_recv_ns <= self._prev[0]:
            self.counts["trades_late"] += 1  # its interval is already settled: too late to fill anything
            return
        self._pending.append(ev)

    def on_book(self, ev: BookEvent) -> dict[str, float] | None:
        """Settle (t-1, t], mark to mid, decide the quotes at t; returns the dashboard row (None: row dropped)."""
        from mmjax.env.reference import BookRow
        from mmjax.features.stream import StreamingFeatures
        from mmjax.features.stream import normalize as normalize_features

        tick, p = self.meta.tick_size, self.params
        if np.isnan(ev.bid_px[0]) or np.isnan(ev.ask_px[0]) or ev.bid_px[0] >= ev.ask_px[0]:
            # one-sided or crossed/locked: dropped like the loader does, and the next row starts a segment
            self.counts["crossed_rows_dropped"] += 1
            self._force_gap = True
            return None
        bid_t, ask_t = np.rint(ev.bid_px / tick), np.rint(ev.ask_px / tick)  # [L]
        if self.anchor is None:
            self.anchor = int(np.rint((bid_t[0] + ask_t[0]) / 2))
            self.features = StreamingFeatures(self.feature_cfg, tick, self.anchor, len(ev.bid_px), self.meta.grid_ms)
        bid_i, ask_i = _book_ticks(ev, tick, self.anchor)  # [L] int, as the loader builds MarketData
        book = BookRow(bid_i, np.asarray(ev.bid_sz, np.float64), ask_i, np.asarray(ev.ask_sz, np.float64))
        mid = (bid_i[0] + ask_i[0]) / 2.0
        now = [tr for tr in self._pending if tr.ts_recv_ns <= ev.ts_recv_ns]  # trades of (t-1, t]
        self._pending = [tr for tr in self._pending if tr.ts_recv_ns > ev.ts_recv_ns]
        self.counts["rows"] += 1
        a = self.acct
        new_segment = self._prev is None or ev.after_gap or self._force_gap
        self._force_gap = False
        if new_segment:
            key = "trades_before_first_row" if self._prev is None else "trades_in_gaps"
            self.counts[key] += len(now)
            self.counts["gaps"] += self._prev is not None
            self.sim.reset()  # no order survives a gap
            self.time = 0
            if self._prev is None:
                a.mid0 = mid
            fill = None
        else:
            fill = self._settle(book, now)
            self.time += 1
        a.pnl = a.cash + a.inventory * (mid - a.mid0) * tick
        a.peak_pnl = max(a.peak_pnl, a.pnl)
        a.max_drawdown = max(a.max_drawdown, a.peak_pnl - a.pnl)

        # FEATURES AND THE DECISION AT t (data up to t only)
        for tr in now:
            self.features.on_trade(tr.price, tr.size, tr.taker_side)
        raw = self.features.on_book(ev.bid_px, ev.bid_sz, ev.ask_px, ev.ask_sz, new_segment)  # [F_M]
        market = normalize_features(raw, self.norm) if self.norm is not None else raw
        obs = np.concatenate([market, self._agent_features(mid)]).astype(np.float32)  # [F]
        mid_abs_ticks = mid + self.anchor
        ctx = QuoteContext(inventory=a.inventory, quote_size=p.quote_size, mid_abs_ticks=mid_abs_ticks,
                           sigma_ticks_per_sqrt_s=self.features.sigma_ticks_per_sqrt_s,
                           time_left_s=self.baseline.as_horizon_s, max_offset_bps=p.max_offset_bps)
        action = np.asarray(self.quoter.act(obs, ctx), np.float64)
        bid_q, ask_q = _quote_prices(action, mid, int(bid_i[0]), int(ask_i[0]), p.max_offset_bps, self.anchor)
        q = a.inventory
        self.sim.decide(bid_q if q < p.max_inventory else None, ask_q if q > -p.max_inventory else None)
        self._prev = (ev.ts_recv_ns, book, mid)
        self.steps += 1
        if self.record_steps:
            self.records.append(StepRecord(
                ev.ts_recv_ns, *(fill if fill else (0.0, 0.0, 0, 0, 0.0)), a.pnl, a.inventory, action))
        live_bid, live_ask = self.sim.pending[0]  # the orders going live for (t, t+1]
        to_px = lambda x: float("nan") if x is None else (x + self.anchor) * tick  # noqa: E731
        return {"t_ms": ev.ts_recv_ns / 1e6, "mid": mid_abs_ticks * tick, "pnl": a.pnl, "inventory": a.inventory,
                "drawdown": a.pnl - a.peak_pnl, "spread_z": float(raw[self._z_idx]),
                "bid_quote": to_px(live_bid), "ask_quote": to_px(live_ask), "fills": float(a.n_fills)}

    # -- internals -------------------------------------------------------------------------------
    def _settle(self, book, trades: list[TradeEvent]):
        """Fill the live orders over (t-1, t] with the env's rules and update the account."""
        from mmjax.env.reference import TradeFlow, _avg_entry

        tick, a = self.meta.tick_size, self.acct
        _, book_s, mid_s = self._prev
        flow = TradeFlow(*_trade_slots(trades, tick, self.anchor, self.trade_slots))
        q = a.inventory
        fills = self.sim.step(book_s, book, flow, q)
        b, k = fills["bid"], fills["ask"]
        a.quote_sides += sum(o is not None for o in self.sim.orders.values())
        fee = self.params.maker_fee_bps * 1e-4 * tick * (b.size * (b.price + self.anchor) + k.size * (k.price + self.anchor))
        a.cash += -b.size * (b.price - a.mid0) * tick + k.size * (k.price - a.mid0) * tick - fee
        a.entry = _avg_entry(a.entry, q, b.size, b.price - a.mid0)
        a.entry = _avg_entry(a.entry, q + b.size, -k.size, k.price - a.mid0)
        a.inventory = q + b.size - k.size
        a.fees += fee
        a.volume += b.size + k.size
        a.n_fills += (b.size > 0) + (k.size > 0)
        a.n_crossed += int(b.crossed) + int(k.crossed)
        # spread captured against the mid when the fill's interval started (as mmjax.evaluation.metrics)
        a.captured_bps_x_size += b.size * (mid_s - b.price) / (mid_s + self.anchor) * 1e4
        a.captured_bps_x_size += k.size * (k.price - mid_s) / (mid_s + self.anchor) * 1e4
        return b.size, k.size, b.price, k.price, fee

    def _agent_features(self, mid: float) -> np.ndarray:
        """[3] inventory_frac, time_left_frac, unrealized_pnl_scaled, as the environment computes them."""
        a, p, tick = self.acct, self.params, self.meta.tick_size
        E = p.episode_steps
        upnl = a.inventory * (mid - a.mid0 - a.entry) * tick
        notional_bp = p.max_inventory * (mid + self.anchor) * tick * 1e-4
        time_left = (E - self.time % E) / E  # a live session is a run of back-to-back episodes
        return np.array([a.inventory / p.max_inventory, time_left, upnl / (notional_bp * max(p.max_offset_bps, 1e-6))])

    def kpis(self) -> dict[str, float]:
        """Running KPIs, with the evaluation report's definitions (`mmjax.evaluation.metrics`)."""
        a = self.acct
        return {"pnl": a.pnl, "inventory": a.inventory, "n_fills": a.n_fills, "volume": a.volume, "fees": a.fees,
                "fill_rate": a.n_fills / a.quote_sides if a.quote_sides else 0.0,
                "spread_captured_bps": a.captured_bps_x_size / a.volume if a.volume > 0 else float("nan"),
                "max_drawdown": a.max_drawdown, "n_crossed": a.n_crossed, "steps": self.steps}


def _quote_prices(action, mid, best_bid, best_ask, max_offset_bps, anchor):
    from mmjax.env.reference import quote_prices

    return quote_prices(action, mid, best_bid, best_ask, max_offset_bps, anchor)


def _book_ticks(ev: BookEvent, tick: float, anchor: int) -> tuple[np.ndarray, np.ndarray]:
    """One row's [L] bid and ask prices -> int ticks from the anchor, empty levels filled as the loader does."""
    from mmjax.data.loader import level_ticks

    return (level_ticks(np.asarray(ev.bid_px, np.float64)[None], tick, anchor, -1)[0].astype(np.int64),
            level_ticks(np.asarray(ev.ask_px, np.float64)[None], tick, anchor, +1)[0].astype(np.int64))


def _trade_slots(trades: list[TradeEvent], tick: float, anchor: int, slots: int):
    """One interval's trades -> (sell_px, sell_vol, buy_px, buy_vol) [M] slots, exactly as the loader folds them."""
    from mmjax.data.loader import LoadReport
    from mmjax.data.loader import aggregate_trade_slots as loader_slots

    n = len(trades)
    px = np.array([t.price for t in trades], np.float64)
    sz = np.array([t.size for t in trades], np.float64)
    side = np.array([t.taker_side for t in trades], np.int8)
    px_ticks = np.rint(px / tick).astype(np.int64) - anchor
    step = np.zeros(n, np.int64)
    rep = LoadReport()
    buy_px, buy_vol = loader_slots(step, side == schema.TAKER_BUY, px_ticks, sz, 1, slots, True, rep)
    sell_px, sell_vol = loader_slots(step, side == schema.TAKER_SELL, px_ticks, sz, 1, slots, False, rep)
    return (sell_px[0].astype(np.int64), sell_vol[0].astype(np.float64),
            buy_px[0].astype(np.int64), buy_vol[0].astype(np.float64))


# ---------------------------------------------------------------------------------------------
# RUNNER: feed -> trader -> LiveState in a background thread; the dashboard's control surface


class LiveRunner:
    """Drives a `PaperTrader` from a feed in a thread; pause/resume, speed and quoter switches are thread-safe."""

    def __init__(self, feed, make_trader, quoters: dict[str, object], quoter: str, state: LiveState,
                 inventory_limit: float, max_steps: int = 0):
        if quoter not in quoters:
            raise ValueError(f"quoter {quoter!r} not among {sorted(quoters)}")
        self.feed, self.state = feed, state
        self.product = feed.meta.product
        self._make_trader = make_trader
        self._quoters = quoters  # name -> Quoter
        self._lock = threading.Lock()
        self._pending_quoter: str | None = None
        self.quoter_name = quoter
        self.trader = make_trader(quoters[quoter])
        self.error: BaseException | None = None
        self.max_steps = max_steps  # stop after this many book rows (0: until the feed ends)
        self._hold = threading.Event()  # pause of a feed that cannot pause itself (live)
        self._resume_gap = False
        self._rows = 0
        self._thread = threading.Thread(target=self._run, name="paper-trader", daemon=True)
        state.set_info(mode=quoters[quoter].mode, quoter=quoters[quoter].name, inventory_limit=inventory_limit,
                       speed=self.speed if self.can_set_speed else None, feed_status="connecting")

    # controls
    def quoter_options(self) -> list[dict]:
        return [{"label": q.name, "value": k} for k, q in self._quoters.items()]

    @property
    def can_set_speed(self) -> bool:
        return hasattr(self.feed, "set_speed")

    @property
    def speed(self) -> float | None:
        return getattr(self.feed, "speed", None)

    def set_speed(self, speed: float) -> None:
        self.feed.set_speed(speed)
        self.state.set_info(speed=speed)

    @property
    def paused(self) -> bool:
        return self.feed.paused if hasattr(self.feed, "pause") else self._hold.is_set()

    def pause(self) -> None:
        """Replay: the clock stops. Live feed: events are skipped until resume, which then starts a new segment."""
        if hasattr(self.feed, "pause"):
            self.feed.pause()
        else:
            self._hold.set()
        self.state.set_info(feed_status="paused")

    def resume(self) -> None:
        if hasattr(self.feed, "resume"):
            self.feed.resume()
        elif self._hold.is_set():
            self._resume_gap = True
            self._hold.clear()
        self.state.set_info(feed_status=self._status())

    def _status(self) -> str:
        return "paused" if self._hold.is_set() else self.feed.status()

    def set_quoter(self, name: str) -> None:
        """Switch quoters at the next book row; the paper account and history start afresh."""
        if name not in self._quoters:
            raise ValueError(f"quoter {name!r} not among {sorted(self._quoters)}")
        with self._lock:
            self._pending_quoter = name

    # thread
    def start(self) -> LiveRunner:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self.feed.stop()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_sync(self) -> None:
        """Process the whole feed in this thread (tests, `mmjax live` without a dashboard)."""
        self._run()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            status = None
            for ev in self.feed.events():
                self.state.touch()
                if self._hold.is_set():
                    continue  # paused live feed: the market goes on without us
                if isinstance(ev, BookEvent):
                    if self._resume_gap:
                        ev, self._resume_gap = dataclasses.replace(ev, after_gap=True), False
                    with self._lock:
                        switch, self._pending_quoter = self._pending_quoter, None
                    if switch is not None:
                        q = self._quoters[switch]
                        self.trader = self._make_trader(q)
                        self.quoter_name = switch
                        self.state.clear()
                        self.state.set_info(mode=q.mode, quoter=q.name)
                    row = self.trader.on_book(ev)
                    if row is not None:
                        self.state.append(row, ev, self.trader.kpis())
                    self._rows += 1
                    if self.max_steps and self._rows >= self.max_steps:
                        self.feed.stop()
                else:
                    self.trader.on_trade(ev)
                s = self._status()
                if s != status:
                    self.state.set_info(feed_status=s)
                    status = s
        except BaseException as exc:  # surfaced on the dashboard and re-raised by run_sync
            self.error = exc
            self.state.set_info(feed_status="error", notes=(f"engine stopped: {type(exc).__name__}: {exc}",))
            return
        self.state.set_info(feed_status=self._status())


# ---------------------------------------------------------------------------------------------
# CONFIG AND COMMAND: `mmjax live`

PAPER_NOTICE = "PAPER TRADING ONLY: mmjax never sends an order; fills are simulated with the environment's rules."


@dataclass
class EngineConfig:
    """Market source, quoter and the environment's quoting knobs, shared by `mmjax live` and `mmjax dashboard`."""

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
                                                     "choices": ["fixed", "avellaneda_stoikov"]})
    quote_size: float = field(default=0.01, metadata={"help": "size per quote, venue size unit (as the env's quote_size)"})
    max_inventory: float = field(default=0.1, metadata={"help": "position limit, venue size unit; a side stops quoting at it"})
    max_offset_bps: float = field(default=10.0, metadata={"help": "quote offset from mid at action +1, bps"})
    maker_fee_bps: float = field(default=0.0, metadata={"help": "maker fee on fill notional, bps (negative = rebate)"})
    latency_steps: int = field(default=1, metadata={"help": "grid steps before a decision goes live"})
    episode_steps: int = field(default=3000, metadata={"help": "the policy's episode length, grid steps (time_left_frac cycles over it)"})
    fixed_offset_bps: float = field(default=2.0, metadata={"help": "fixed baseline: offset from mid on both sides, bps"})
    as_gamma: float = field(default=1e-5, metadata={"help": "Avellaneda-Stoikov risk aversion, per tick per lot"})
    as_k_per_tick: float = field(default=0.1, metadata={"help": "Avellaneda-Stoikov fill-intensity decay, per tick"})
    as_horizon_s: float = field(default=10.0, metadata={"help": "Avellaneda-Stoikov rolling horizon, s"})
    history_s: float = field(default=3600.0, metadata={"help": "history kept for the dashboard, s of grid time"})
    cache_dir: str | None = field(default=None, metadata={"help": "where the built-in market is cached (default: $XDG_CACHE_HOME/mmjax or ~/.cache/mmjax)"})
    builtin_hours: float = field(default=0.25, metadata={"help": "length of the built-in market, hours"})

    def trader_params(self) -> TraderParams:
        return TraderParams(self.quote_size, self.max_inventory, self.max_offset_bps, self.maker_fee_bps,
                            self.latency_steps, self.episode_steps)

    def baseline_params(self) -> BaselineParams:
        return BaselineParams(self.fixed_offset_bps, self.as_gamma, self.as_k_per_tick, self.as_horizon_s)


@dataclass
class LiveConfig(EngineConfig):
    """Paper-trade a replayed recording or the live feed and print status lines. No real orders, ever."""

    max_steps: int = field(default=0, metadata={"help": "stop after this many grid steps (0 = until the feed ends)"})
    status_s: float = field(default=5.0, metadata={"help": "seconds between status lines (0 = none)"})
    out: str | None = field(default=None, metadata={"help": "write the final KPIs and counters as JSON here"})


def builtin_market(cache_dir: str | None = None, hours: float = 0.25, seed: int = 0) -> str:
    """Path of the built-in synthetic market, generated once into the cache (offline, deterministic)."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from mmjax.data.synth import SynthConfig
    from mmjax.data.synth import run as synth_run

    base = Path(cache_dir) if cache_dir else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmjax"
    path = base / f"builtin-seed{seed}-{hours:g}h"
    if (path / schema.BOOK_DIR).is_dir():
        return str(path)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".builtin-", dir=base))
    try:
        synth_run(SynthConfig(out=str(tmp), hours=hours, seed=seed))
        try:
            os.replace(tmp, path)  # atomic: a concurrent or interrupted run never leaves half a market
        except OSError:
            if not (path / schema.BOOK_DIR).is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


def build_runner(cfg: EngineConfig, max_steps: int = 0) -> tuple[LiveRunner, str]:
    """Feed + quoters + state from a config; returns the runner (not started) and a one-line source description."""
    from mmjax.data.loader import read_recording

    if cfg.live and cfg.replay:
        raise ValueError("choose --replay DIR or --live, not both")
    if cfg.live:
        products = [p.strip() for p in cfg.products.split(",") if p.strip()]
        if len(products) != 1:
            raise ValueError(f"--products: the paper trader quotes one product, got {products}")
        feed = RecorderFeed(products[0], cfg.tick_size)
        source = f"live Coinbase feed {products[0]} (public market data)"
    else:
        path = cfg.replay or builtin_market(cfg.cache_dir, cfg.builtin_hours)
        raw = read_recording(path, cfg.product)
        feed = ReplayFeed(raw, cfg.speed, loop=cfg.loop)
        source = f"replay {'built-in market ' if not cfg.replay else ''}{path} ({raw.meta.product}, {raw.num_steps:,} rows)"
    bp, tp = cfg.baseline_params(), cfg.trader_params()
    quoters: dict[str, object] = {}
    norm = None
    notes: list[str] = []
    if cfg.policy:
        model = ModelQuoter(cfg.policy)
        quoters["model"] = model
        norm = model.norm
        tp, notes = apply_policy_mapping(tp, model.mapping)
    for kind in ("fixed", "avellaneda_stoikov"):
        quoters[kind] = BaselineQuoter(kind, bp)
    start = "model" if cfg.policy else cfg.baseline
    capacity = max(1, int(cfg.history_s * 1000 / feed.meta.grid_ms))
    state = LiveState(capacity)
    meta = feed.meta

    def make_trader(q):
        return PaperTrader(meta, q, tp, norm=norm, baseline=bp)

    runner = LiveRunner(feed, make_trader, quoters, start, state, inventory_limit=tp.max_inventory,
                        max_steps=max_steps)
    if not cfg.policy:
        notes.append(f"No --policy given: quoting with the {cfg.baseline} baseline.")
    state.set_info(notes=tuple(notes))
    for n in notes:
        print(f"note: {n}", flush=True)
    return runner, source


def apply_policy_mapping(tp: TraderParams, mapping: dict[str, float]) -> tuple[TraderParams, list[str]]:
    """The env knobs stored with a policy (e.g. max_offset_bps) win over flags: the action means nothing otherwise."""
    known = {f.name: f.type for f in dataclasses.fields(TraderParams)}
    changes, notes = {}, []
    for k, v in mapping.items():
        if k in known:
            v = int(v) if k in ("latency_steps", "episode_steps") else float(v)
            if getattr(tp, k) != v:
                notes.append(f"{k} = {v:g} from the policy file (flag/default was {getattr(tp, k):g})")
            changes[k] = v
    return dataclasses.replace(tp, **changes), notes


def run(cfg: LiveConfig) -> int:
    """`mmjax live`: run the paper trader in the foreground with status lines; Ctrl-C stops it."""
    import json

    print(PAPER_NOTICE, flush=True)
    runner, source = build_runner(cfg, cfg.max_steps)
    print(f"source: {source}", flush=True)
    snap = runner.state.snapshot(since=1 << 62)
    if snap.mode == "baseline":
        print(f"*** NO MODEL: quoting with the BASELINE {snap.quoter!r} (pass --policy policy.npz for a model) ***",
              flush=True)
    else:
        print(f"quoting with {snap.quoter}", flush=True)
    runner.start()
    try:
        while runner.running:
            runner.join(cfg.status_s if cfg.status_s > 0 else 1.0)
            if cfg.status_s > 0 and runner.running:
                print(status_line(runner.state.snapshot(since=1 << 62)), flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        runner.stop()
    snap = runner.state.snapshot(since=1 << 62)
    print(status_line(snap), flush=True)
    if runner.error is not None:
        print(f"error: {type(runner.error).__name__}: {runner.error}", flush=True)
    summary = {"source": source, "quoter": snap.quoter, "kpis": snap.kpis, "counts": runner.trader.counts,
               "paper_only": True}
    if cfg.out:
        from pathlib import Path

        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps(summary, indent=2, default=float))
        print(f"wrote {cfg.out}", flush=True)
    return 1 if runner.error is not None else 0


def status_line(snap: Snapshot) -> str:
    """One human line of the latest KPIs."""
    k = snap.kpis
    g = lambda key, fmt: ("-" if key not in k or k[key] != k[key] else fmt.format(k[key]))  # noqa: E731
    return (f"[{snap.feed_status}] {snap.quoter} | steps {g('steps', '{:,}')} | PnL {g('pnl', '{:+,.2f}')} | "
            f"inv {g('inventory', '{:+.4g}')} | fills {g('n_fills', '{:,}')} | fill rate {g('fill_rate', '{:.1%}')} | "
            f"spread captured {g('spread_captured_bps', '{:.2f}')} bps | max DD {g('max_drawdown', '{:,.2f}')}")
