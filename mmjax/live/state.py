"""`LiveState`: what the paper trader publishes to the dashboard, a thread-safe ring buffer of rows. No jax."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from mmjax.data.layout import LOT_CAP
from mmjax.env.knobs import FEE_PRESETS, fee_preset_name
from mmjax.live.feeds import BookEvent

# Why a side has a quote or not, per decision (the `bid_state` / `ask_state` series); NaN: no decision yet
SIDE_QUOTED = 0.0  # the decision quotes this side
SIDE_PULLED = 1.0  # the quoter chose no quote on this side (its action is in the pull region)
SIDE_AT_LIMIT = 2.0  # the inventory limit stops this side (`sim_np.gate_quotes`), whatever the quoter chose
SIDE_TEXT = {SIDE_QUOTED: "quoting", SIDE_PULLED: "pulled", SIDE_AT_LIMIT: "at inventory limit"}

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
    "bid_state",  # why the bid quotes or not: SIDE_QUOTED / SIDE_PULLED / SIDE_AT_LIMIT (NaN: no decision yet)
    "ask_state",
    "fills",  # cumulative number of fills
    "bid_queue_ahead",  # size ahead of our resting bid at t by the fill model's estimate; NaN: none; inf: unknown
    "ask_queue_ahead",
)


def queue_ahead_size(order, lot: float) -> float:
    """The fill model's queue ahead of a resting ``order`` (`sim_np.Order` or None), venue size units.

    NaN without a live order; inf when the queue is unknown (the order joined beyond the stored depth).
    """
    if order is None or order.remaining <= 0:
        return math.nan
    return math.inf if order.queue_ahead >= LOT_CAP else order.queue_ahead * lot


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
    maker_fee_bps: float = float("nan")  # the maker fee in force, bps of notional (negative = rebate)

    @property
    def fee_regime(self) -> str:
        """The maker fee in force with its preset name, e.g. "maker fee: rebate (−0.5 bps)"."""
        return fee_regime_text(self.maker_fee_bps)


def fee_regime_text(fee_bps: float) -> str:
    """'maker fee: <preset> (<bps>)' (`mmjax.env.knobs.FEE_PRESETS`), or the bps alone when no preset has it."""
    if not math.isfinite(fee_bps):
        return "maker fee: unknown"
    bps = f"{fee_bps:+g} bps".replace("-", "\u2212") if fee_bps else "0 bps"
    name = fee_preset_name(fee_bps)
    return f"maker fee: {name} ({bps})" if name in FEE_PRESETS else f"maker fee: {bps} (no preset)"


def side_text(side: str, state: float) -> str:
    """A side's state for a badge: "bid quoting", "ask pulled", "bid at inventory limit", "ask: no decision yet"."""
    return f"{side} {SIDE_TEXT[state]}" if state in SIDE_TEXT else f"{side}: no decision yet"


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
                      "inventory_limit": float("nan"), "speed": None, "notes": (), "maker_fee_bps": float("nan")}
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
        """Update mode / quoter / feed_status / inventory_limit / speed / notes / maker_fee_bps."""
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
                notes=tuple(self._info["notes"]), maker_fee_bps=self._info["maker_fee_bps"],
            )

