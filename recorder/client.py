"""Asyncio WebSocket client: connect, subscribe, read, resync, reconnect with backoff + jitter.

The reader task only parses, updates books and puts rows on the writer's queue; the disk is the
writer thread's business. Rate limits (Coinbase: 8 connections/s and 8 unauthenticated messages/s
per IP): our messages are spaced by ``send_interval_s`` (default 0.2 s, i.e. <= 5/s) and reconnects
wait at least ``backoff_base_s`` (default 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
import threading
import time

import websockets

from mmjax import schema
from recorder.engine import Engine
from recorder.protocol import (
    DEFAULT_CHANNELS,
    credentials_from_env,
    redact,
    sign_jwt,
    subscribe_message,
)
from recorder.status import Counters, status_line, write_status_file
from recorder.writer import Writer

log = logging.getLogger("recorder")
SOURCE = "coinbase-advanced-trade"
HEALTHY_CONNECTION_S = 30.0  # a connection that lived this long resets the backoff


class _Clock:
    """Receive clock: wall time in ns, never going backwards (stamps stay sorted)."""

    def __init__(self):
        self.last = 0

    def now_ns(self) -> int:
        t = time.time_ns()
        if t <= self.last:
            t = self.last + 1
        self.last = t
        return t


class Recorder:
    """One recording session: a writer thread plus connections made one after another."""

    def __init__(self, cfg, writer: Writer | None = None, counters: Counters | None = None):
        self.cfg = cfg
        self.products = cfg.product_list()
        ticks = cfg.tick_sizes()
        self.c = counters if counters is not None else Counters()
        metas = {p: schema.RecordingMeta(product=p, tick_size=ticks[p], size_unit=p.split("-")[0],
                                         grid_ms=cfg.grid_ms, levels=cfg.levels, source=SOURCE)
                 for p in self.products}
        self.writer = writer if writer is not None else Writer(cfg.out, metas, cfg.flush_s, cfg.raw, self.c)
        self.engine = Engine(self.products, self.writer.put_book, self.writer.put_trade, self.c,
                             levels=cfg.levels, grid_ms=cfg.grid_ms, crossed_max_ms=cfg.crossed_max_ms,
                             crossed_max_msgs=cfg.crossed_max_msgs)
        self.channels = list(DEFAULT_CHANNELS) + (["ticker"] if cfg.ticker else [])
        self.credentials = credentials_from_env()
        self.clock = _Clock()
        self.rng = random.Random(cfg.seed)
        self.stop = asyncio.Event()
        self.disconnect_reasons: list[str] = []

    # ---- messages we send -------------------------------------------------------------------

    def _message(self, channel: str, kind: str = "subscribe") -> dict:
        jwt = sign_jwt(*self.credentials) if self.credentials else None  # one fresh JWT per message
        return subscribe_message(channel, self.products, jwt, kind)

    async def _sender(self, ws, outbox: asyncio.Queue) -> None:
        """Send queued messages no faster than ``send_interval_s`` (venue rate limit)."""
        last = 0.0
        while True:
            msg = await outbox.get()
            wait = last + self.cfg.send_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = json.dumps(msg)
            await ws.send(text)
            last = time.monotonic()
            self.writer.put_raw(self.clock.now_ns(), "send", json.dumps(redact(msg)))

    # ---- one connection ---------------------------------------------------------------------

    async def _connection(self) -> str:
        """Run one connection until it fails or we stop; returns why it ended."""
        cfg = self.cfg
        async with websockets.connect(cfg.url, max_size=int(cfg.max_frame_mb * 2**20), open_timeout=10,
                                      close_timeout=2, ping_interval=20, ping_timeout=20,
                                      max_queue=None) as ws:
            self.c.connections += 1
            now = self.clock.now_ns()
            self.writer.put_raw(now, "conn", cfg.url)  # connection boundary: sequence_num restarts
            self.engine.on_connect(now)
            outbox: asyncio.Queue = asyncio.Queue()
            for ch in self.channels:  # one subscribe per channel, well within the venue's 5 s
                outbox.put_nowait(self._message(ch))
            sender = asyncio.create_task(self._sender(ws, outbox))
            stopper = asyncio.create_task(self.stop.wait())
            try:
                return await self._read(ws, outbox, sender, stopper)
            finally:
                for task in (sender, stopper):
                    task.cancel()
                for task in (sender, stopper):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self.engine.on_disconnect(self.clock.now_ns(), stopping=self.stop.is_set())

    async def _read(self, ws, outbox, sender, stopper) -> str:
        cfg, engine = self.cfg, self.engine
        timeout_ns = int(cfg.resync_timeout_s * 1e9)
        while True:
            recv = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait({recv, stopper, sender}, timeout=cfg.watchdog_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if recv not in done:
                recv.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await recv
                if stopper in done:
                    return "stopped"
                if sender in done:
                    return f"send failed: {sender.exception()!r}"
                self.c.watchdog_timeouts += 1
                return f"watchdog: no frame for {cfg.watchdog_s} s"
            frame = recv.result()  # raises ConnectionClosed -> reconnect
            now = self.clock.now_ns()
            if isinstance(frame, bytes):
                frame = frame.decode("utf-8", errors="replace")
            self.writer.put_raw(now, "recv", frame)
            engine.on_frame(now, frame)
            if engine.reconnect_reason:
                return engine.reconnect_reason
            if engine.resync_requests:
                products = sorted(engine.resync_requests)
                engine.resync_requests.clear()
                self.c.resyncs += 1
                log.warning("book gap for %s: resubscribing level2 for a fresh snapshot", products)
                for kind in ("unsubscribe", "subscribe"):
                    msg = self._message("level2", kind)
                    msg["product_ids"] = products
                    outbox.put_nowait(msg)
            overdue = engine.resync_overdue(now, timeout_ns)
            if overdue:
                return f"no snapshot for {overdue} within {cfg.resync_timeout_s} s"

    # ---- the session ------------------------------------------------------------------------

    async def run(self) -> Counters:
        """Connect, record and reconnect until stopped; flushes everything before returning."""
        cfg = self.cfg
        self.writer.start()
        status = asyncio.create_task(self._status_loop())
        deadline = asyncio.get_running_loop().call_later(cfg.duration_s, self.stop.set) if cfg.duration_s > 0 else None
        attempt = 0
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    reason = await self._connection()
                except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self.stop.is_set():
                    break
                self.c.reconnects += 1
                self.disconnect_reasons.append(reason)
                attempt = 0 if time.monotonic() - started > HEALTHY_CONNECTION_S else attempt + 1
                # exponential backoff with "equal jitter": never 0, never synchronised with other clients
                delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** max(0, attempt - 1))
                delay *= self.rng.uniform(0.5, 1.0)
                log.warning("disconnected (%s); reconnecting in %.2f s", reason, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
        finally:
            if deadline is not None:
                deadline.cancel()
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status
            await asyncio.get_running_loop().run_in_executor(None, self.writer.close)
            self._report_status()
        return self.c

    async def _status_loop(self) -> None:
        last = self.c.as_dict()
        t0 = time.monotonic()
        period = self.cfg.status_s if self.cfg.status_s > 0 else 1.0
        while True:
            await asyncio.sleep(period)
            if self.writer.failed:
                log.error("writer failed: %r; stopping", self.writer.error)
                self.stop.set()
            now = time.monotonic()
            self.c.queue_depth = self.writer.q.qsize()
            if self.cfg.status_s > 0:
                log.info(status_line(self.c, last, now - t0))
                await asyncio.get_running_loop().run_in_executor(None, self._report_status)  # off the reader
            last, t0 = self.c.as_dict(), now

    def _report_status(self) -> None:
        if self.cfg.status_file:
            write_status_file(self.cfg.status_file, self.c, {"time_ns": time.time_ns()})


async def record(cfg) -> Counters:
    """Record with SIGINT/SIGTERM wired to a clean stop (when run in the main thread)."""
    rec = Recorder(cfg)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for sig in signals:
        loop.add_signal_handler(sig, rec.stop.set)
    try:
        return await rec.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def main(cfg) -> int:
    """Blocking entry point: 0 on a clean stop, 1 if writing failed."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        counters = asyncio.run(record(cfg))
    except Exception as exc:  # WriterError, bad config: a clear message, non-zero exit
        log.error("recording failed: %s", exc)
        return 1
    log.info("done: %s", json.dumps(counters.as_dict()))
    return 0
