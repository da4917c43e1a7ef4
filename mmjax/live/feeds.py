"""Market-data sources of the paper trader: book and trade events, a replay of a recording, the live feed.

Read-only market data: nothing here can place an order. No jax.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mmjax import schema
from mmjax.outputs import UserError


@dataclass(frozen=True)
class BookEvent:
    """One book snapshot on the grid (prices NaN on empty levels)."""

    ts_recv_ns: int
    after_gap: bool
    bid_px: np.ndarray  # [L] float64
    bid_sz: np.ndarray  # [L] float64
    ask_px: np.ndarray  # [L] float64
    ask_sz: np.ndarray  # [L] float64
    ts_exchange_ns: int = -1  # the venue's stamp of the newest message the row reflects (-1: unknown)


@dataclass(frozen=True)
class TradeEvent:
    """One trade; belongs to grid interval (t, t+1] by its receive time."""

    ts_recv_ns: int
    price: float
    size: float
    taker_side: int  # +1 taker bought, -1 taker sold
    ts_exchange_ns: int = -1  # the venue's stamp (-1: unknown)


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
            raise UserError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
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
            raise UserError(f"speed must be >= 0, got {speed}")
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
                             r.bid_px[i], r.bid_sz[i], r.ask_px[i], r.ask_sz[i], int(r.ts_exchange_ns[i]) + shift_ns)
        return TradeEvent(int(r.trade_ts_recv_ns[k]) + shift_ns, float(r.trade_px[k]),
                          float(r.trade_sz[k]), int(r.trade_side[k]), int(r.trade_ts_exchange_ns[k]) + shift_ns)

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
                                 np.asarray(ask_sz, np.float64), int(ts_exchange_ns)))

    def put_trade(self, product, ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side) -> None:
        if product == self.product:
            self.q.put(TradeEvent(int(ts_recv_ns), float(price), float(size), int(taker_side), int(ts_exchange_ns)))

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

