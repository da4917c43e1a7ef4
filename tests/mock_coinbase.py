"""A loopback mock of Coinbase Advanced Trade WebSocket that replays a real capture, with faults.

The mock is a tiny exchange: a market task walks through the capture's ``recv`` frames (faster than
real time by ``speed``) and keeps the *true* full-depth book of every product. Each connection
answers subscribe/unsubscribe messages with ``subscriptions`` acks, gets a fresh snapshot of the
true book on every ``level2`` subscribe, then the capture's frames for what it subscribed to, with
``sequence_num`` renumbered from 0 per connection (as the venue does). Faults (`Fault`) hit the
first matching market frame at or after replay index ``at``:

- ``drop``: that frame is not sent but its sequence number is used (a gap the client must see)
- ``malformed``: a truncated copy of the frame is sent (bad JSON, sequence number used)
- ``error``: an ``{"type": "error"}`` message is sent before the frame
- ``disconnect``: the TCP connection is aborted (no close frame)
- ``stall``: nothing (not even heartbeats) is sent on that connection for ``duration_s``
- ``slow_consumer``: the venue's slow-consumer policy: an error message, then close code 1008
- ``cross``: an extra bogus bid above the best ask is sent (not part of the true market), so the
  client's book is crossed until it resyncs
- ``silence``: that product's level2 frames stop on that connection (no sequence number used) while
  everything else, heartbeats included, goes on, until the client subscribes level2 for it again

Venue behaviours (constructor arguments):

- ``unknown_products``: what a subscribe naming a product the market does not have gets.
  ``"ghost"``: acknowledged, then nothing (no snapshot, no trades); ``"lenient"``: the unknown ids
  are left out of the ``subscriptions`` ack; ``"strict"``: the whole message is refused with an error
  frame and nothing in it is subscribed
- ``usdc_alias``: ``X-USDC`` is served as ``X-USD``, and frames and acks carry ``X-USD`` (Coinbase:
  USDC products "return the same data as the corresponding USD based products")
- ``error_every_s``: an ``{"type": "error"}`` frame (no sequence number) to every connection on a timer

Binds 127.0.0.1 only, on a free port. Used by tests and benchmarks, never by the recorder itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import websockets
from websockets.asyncio.server import serve

CHANNEL_OF = {"l2_data": "level2", "market_trades": "market_trades", "ticker": "ticker",
              "heartbeats": "heartbeats", "candles": "candles"}
FAULT_KINDS = ("drop", "malformed", "error", "disconnect", "stall", "slow_consumer", "cross", "silence")
UNKNOWN_PRODUCT_MODES = ("ghost", "lenient", "strict")


def load_capture(path: str | Path) -> list[tuple[float, str, str]]:
    """Capture lines ``(recv_ts, dir, frame)`` from a gzip JSONL file."""
    out = []
    with gzip.open(path, "rt") as fh:
        for i, line in enumerate(fh):
            d = json.loads(line)
            if d.get("dir") not in ("send", "recv"):
                continue
            out.append((float(d["recv_ts"]), d["dir"], d["frame"]))
            if not isinstance(d["frame"], str):
                raise ValueError(f"{path}: line {i + 1}: 'frame' must be a string")
    return out


@dataclass
class Fault:
    kind: str
    at: int  # replay index (market frames after the initial snapshots) at or after which it fires
    channel: str | None = "l2_data"  # only frames of this channel trigger it (None: any)
    product: str | None = "BTC-USD"  # only frames about this product trigger it (None: any)
    duration_s: float = 0.0  # stall length
    fired: bool = False

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {self.kind!r}")


def _product_of(msg: dict) -> str | None:
    ev = (msg.get("events") or [{}])[0]
    if "product_id" in ev:
        return ev["product_id"]
    for key in ("trades", "tickers"):
        if ev.get(key):
            return ev[key][0].get("product_id")
    return None


class TrueBook:
    """The market's full-depth book, keeping Coinbase's exact decimal strings."""

    def __init__(self):
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}
        self.event_time = ""

    def apply(self, updates: list[dict], reset: bool = False) -> None:
        if reset:
            self.bids, self.asks = {}, {}
        for u in updates:
            side = self.bids if u["side"] == "bid" else self.asks
            px = float(u["price_level"])
            if float(u["new_quantity"]) == 0.0:
                side.pop(px, None)
            else:
                side[px] = (u["price_level"], u["new_quantity"])
            self.event_time = u["event_time"]

    def snapshot_updates(self) -> list[dict]:
        out = [{"side": "bid", "event_time": self.event_time, "price_level": p, "new_quantity": q}
               for _, (p, q) in sorted(self.bids.items(), reverse=True)]
        out += [{"side": "offer", "event_time": self.event_time, "price_level": p, "new_quantity": q}
                for _, (p, q) in sorted(self.asks.items())]
        return out

    def top(self, levels: int) -> tuple[list[float], list[float], list[float], list[float]]:
        b = sorted(self.bids, reverse=True)[:levels]
        a = sorted(self.asks)[:levels]
        return (b, [float(self.bids[p][1]) for p in b], a, [float(self.asks[p][1]) for p in a])


class _Conn:
    def __init__(self, ws, cid: int):
        self.ws = ws
        self.id = cid
        self.seq = itertools.count()
        self.subs: dict[str, set[str]] = {}
        self.out: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.stall_until = 0.0
        self.silenced: set[str] = set()  # products whose level2 frames are withheld (fault "silence")


class MockCoinbase:
    """Replays ``capture`` (from `load_capture`) to every client; see the module docstring."""

    def __init__(self, capture: list[tuple[float, str, str]], speed: float = 20.0,
                 faults: list[Fault] | None = None, idle_heartbeat_s: float = 0.05,
                 max_pending: int = 100_000, unknown_products: str = "ghost", usdc_alias: bool = False,
                 error_every_s: float = 0.0):
        if unknown_products not in UNKNOWN_PRODUCT_MODES:
            raise ValueError(f"unknown_products must be one of {UNKNOWN_PRODUCT_MODES}, got {unknown_products!r}")
        self.unknown_products = unknown_products
        self.usdc_alias = usdc_alias
        self.error_every_s = error_every_s
        self.errors_sent = 0
        frames = [(ts, json.loads(f)) for ts, d, f in capture if d == "recv"]
        self.books: dict[str, TrueBook] = {}
        self.trades: dict[str, deque] = {}
        start = 0
        for i, (_, msg) in enumerate(frames):  # the market opens after the capture's snapshots
            if msg.get("channel") == "l2_data" and msg["events"][0]["type"] == "snapshot":
                start = i + 1
        for _, msg in frames[:start]:
            self._advance(msg)
        self.replay = [(ts, msg) for ts, msg in frames[start:] if msg.get("channel") != "subscriptions"]
        self.speed = speed
        self.faults = list(faults or [])
        self.idle_heartbeat_s = idle_heartbeat_s
        self.max_pending = max_pending
        self.conns: list[_Conn] = []
        self.conn_ids = itertools.count()
        self.position = 0  # replay frames already applied to the market
        self.market_started = asyncio.Event()
        self.market_done = asyncio.Event()
        self.received: list[tuple[int, dict]] = []  # (conn id, message) the clients sent
        self.dropped: list[tuple[int, dict]] = []  # (conn id, message) withheld by a fault
        self.connections = 0
        self.port: int | None = None
        self._server = None
        self._market_task = None
        self._error_task = None

    # ---- market --------------------------------------------------------------------------

    def _advance(self, msg: dict) -> None:
        ch = msg.get("channel")
        if ch == "l2_data":
            for ev in msg["events"]:
                self.books.setdefault(ev["product_id"], TrueBook()).apply(ev["updates"], ev["type"] == "snapshot")
        elif ch == "market_trades":
            for ev in msg["events"]:
                for t in reversed(ev["trades"]) if ev["type"] == "snapshot" else ev["trades"]:
                    self.trades.setdefault(t["product_id"], deque(maxlen=100)).append(t)

    async def _market(self) -> None:
        await self.market_started.wait()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        base = self.replay[0][0] if self.replay else 0.0
        for i, (ts, msg) in enumerate(self.replay):
            delay = t0 + (ts - base) / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._advance(msg)
            self.position = i + 1
            for conn in list(self.conns):
                self._deliver(conn, i, msg)
        self.market_done.set()
        hb = itertools.count(10**6)
        while True:  # keep clients alive after the capture ends, like the venue's heartbeats
            await asyncio.sleep(self.idle_heartbeat_s)
            for conn in list(self.conns):
                if "heartbeats" in conn.subs:
                    self._send(conn, {"channel": "heartbeats", "timestamp": "2026-08-09T21:06:13Z",
                                      "events": [{"current_time": "idle", "heartbeat_counter": next(hb)}]})

    def _wants(self, conn: _Conn, msg: dict) -> bool:
        sub = conn.subs.get(CHANNEL_OF.get(msg.get("channel"), ""))
        if sub is None:
            return False
        if msg.get("channel") == "heartbeats":
            return True
        prod = _product_of(msg)
        if msg.get("channel") == "l2_data" and prod in conn.silenced:
            return False
        return prod is None or prod in sub

    def _fault_for(self, i: int, msg: dict) -> Fault | None:
        for f in self.faults:
            if (not f.fired and i >= f.at and (f.channel is None or msg.get("channel") == f.channel)
                    and (f.product is None or _product_of(msg) == f.product)):
                return f
        return None

    def _deliver(self, conn: _Conn, i: int, msg: dict) -> None:
        if conn.closed or not self._wants(conn, msg):
            return
        fault = self._fault_for(i, msg)
        if fault is None:
            self._send(conn, msg)
            return
        fault.fired = True
        kind = fault.kind
        if kind == "drop":
            next(conn.seq)  # the number is used: the client sees a jump
            self.dropped.append((conn.id, msg))
        elif kind == "malformed":
            text = json.dumps({**msg, "sequence_num": next(conn.seq)})
            conn.out.put_nowait(text[: len(text) // 2])
        elif kind == "error":
            conn.out.put_nowait(json.dumps({"type": "error", "message": "mock: injected error"}))
            self._send(conn, msg)
        elif kind == "disconnect":
            conn.out.put_nowait(("abort", None))
        elif kind == "stall":
            conn.out.put_nowait(("stall", fault.duration_s))
            self._send(conn, msg)
        elif kind == "slow_consumer":
            conn.out.put_nowait(json.dumps({"type": "error", "message": "slow consumer: closing connection"}))
            conn.out.put_nowait(("close", 1008))
        elif kind == "silence":
            conn.silenced.add(_product_of(msg))
        elif kind == "cross":
            self._send(conn, msg)
            book = self.books[_product_of(msg)]
            best_ask = min(book.asks)
            bogus = {"channel": "l2_data", "timestamp": msg["timestamp"], "events": [{
                "type": "update", "product_id": _product_of(msg), "updates": [{
                    "side": "bid", "event_time": book.event_time,
                    "price_level": f"{best_ask + 1.0:.2f}", "new_quantity": "0.5"}]}]}
            self._send(conn, bogus)

    def _send(self, conn: _Conn, msg: dict) -> None:
        if conn.closed:
            return
        if conn.out.qsize() > self.max_pending:  # the venue drops clients that cannot keep up
            conn.out.put_nowait(("close", 1008))
            conn.closed = True
            return
        conn.out.put_nowait(json.dumps({**msg, "sequence_num": next(conn.seq)}))

    # ---- connections ---------------------------------------------------------------------

    async def _pump(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await conn.out.get()
            if isinstance(item, tuple):
                what, arg = item
                if what == "abort":
                    conn.closed = True
                    conn.ws.transport.abort()
                    return
                if what == "close":
                    conn.closed = True
                    await conn.ws.close(arg, "slow consumer")
                    return
                if what == "stall":
                    conn.stall_until = loop.time() + arg
                    await asyncio.sleep(arg)
                continue
            await conn.ws.send(item)

    async def _handler(self, ws) -> None:
        conn = _Conn(ws, next(self.conn_ids))
        self.connections += 1
        self.conns.append(conn)
        pump = asyncio.create_task(self._pump(conn))
        try:
            async for text in ws:
                if conn.closed:
                    break
                try:
                    msg = json.loads(text)
                    kind, channel = msg["type"], msg["channel"]
                    products = msg.get("product_ids", ["heartbeats"]) if channel != "heartbeats" else ["heartbeats"]
                    if kind not in ("subscribe", "unsubscribe") or channel not in CHANNEL_OF.values():
                        raise ValueError(f"bad type/channel {kind!r}/{channel!r}")
                except (ValueError, KeyError, TypeError) as exc:
                    conn.out.put_nowait(json.dumps({"type": "error", "message": f"mock: {exc}"}))
                    continue
                self.received.append((conn.id, msg))
                products = [self._served(p) for p in products]
                unknown = [p for p in products if channel != "heartbeats" and p not in self.books]
                if unknown and kind == "subscribe" and self.unknown_products == "strict":
                    conn.out.put_nowait(json.dumps({"type": "error", "message": "Failed to subscribe",
                                                    "reason": f"unknown product ids {unknown}"}))
                    continue
                if unknown and kind == "subscribe" and self.unknown_products == "lenient":
                    products = [p for p in products if p not in unknown]
                if kind == "subscribe" and channel == "level2":
                    conn.silenced.difference_update(products)
                if kind == "subscribe":
                    conn.subs.setdefault(channel, set()).update(products)
                else:
                    conn.subs.get(channel, set()).difference_update(products)
                    if not conn.subs.get(channel):
                        conn.subs.pop(channel, None)
                self._send(conn, {"channel": "subscriptions", "timestamp": "2026-08-09T21:05:48Z",
                                  "events": [{"subscriptions": {c: sorted(p) for c, p in conn.subs.items()}}]})
                if kind == "subscribe" and channel == "level2":
                    for p in products:
                        book = self.books.get(p)
                        if book is not None:
                            self._send(conn, {"channel": "l2_data", "timestamp": "2026-08-09T21:05:48Z", "events": [
                                {"type": "snapshot", "product_id": p, "updates": book.snapshot_updates()}]})
                    self.market_started.set()
                elif kind == "subscribe" and channel == "market_trades":
                    trades = [t for p in products for t in self.trades.get(p, ())]
                    self._send(conn, {"channel": "market_trades", "timestamp": "2026-08-09T21:05:48Z",
                                      "events": [{"type": "snapshot", "trades": trades[::-1]}]})
        except websockets.ConnectionClosed:
            pass
        finally:
            conn.closed = True
            self.conns.remove(conn)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    def _served(self, product: str) -> str:
        if self.usdc_alias and product.endswith("-USDC") and product[:-1] in self.books:
            return product[:-1]
        return product

    async def _errors(self) -> None:
        while True:
            await asyncio.sleep(self.error_every_s)
            for conn in list(self.conns):
                if not conn.closed:
                    self.errors_sent += 1
                    conn.out.put_nowait(json.dumps({"type": "error", "message": "mock: periodic error"}))

    async def start(self) -> int:
        """Listen on 127.0.0.1 at a free port; returns the port."""
        self._server = await serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        self._market_task = asyncio.create_task(self._market())
        if self.error_every_s > 0:
            self._error_task = asyncio.create_task(self._errors())
        return self.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        for task in (self._market_task, self._error_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)


class MockInThread:
    """Run a `MockCoinbase` on its own event loop in a daemon thread (for subprocess tests)."""

    def __init__(self, *args, **kwargs):
        self._args, self._kwargs = args, kwargs
        self.loop = asyncio.new_event_loop()
        self.mock: MockCoinbase | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def boot():
            self.mock = MockCoinbase(*self._args, **self._kwargs)
            await self.mock.start()
            self._ready.set()

        self.loop.run_until_complete(boot())
        self.loop.run_forever()

    def __enter__(self) -> MockCoinbase:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("mock server did not start")
        return self.mock

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.mock.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
