"""Asyncio WebSocket client: connect, subscribe, read, resync, reconnect with backoff + jitter.

The reader task only parses, updates books and puts rows on the writer's queue; the disk is the
writer thread's business. Rate limits (Coinbase: 8 connections/s and 8 unauthenticated messages/s
per IP): our messages are spaced by ``send_interval_s`` (default 0.2 s, i.e. <= 5/s) and reconnects
wait at least ``backoff_base_s`` (default 1 s).

Failures end the session at once and say why (`Recorder.failure`): the writer failing (disk),
venue errors that outlast ``error_reconnects_max`` reconnects, or no product left to record.
A status file that cannot be written is logged and retried; it never stops recording.
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
from recorder.clock import ReceiveClock
from recorder.config import RecordConfig
from recorder.engine import Engine
from recorder.instruments import Instrument, resolve_instruments
from recorder.protocol import credentials_from_env, redact, sign_jwt, subscribe_message
from recorder.status import Counters, status_line, write_status_file
from recorder.writer import Writer, WriterError

log = logging.getLogger("recorder")
SOURCE = "coinbase-advanced-trade"
HEALTHY_CONNECTION_S = 30.0  # a connection that lived this long resets the backoff
EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3


def recording_metas(cfg: RecordConfig, instruments: dict[str, Instrument]) -> dict[str, schema.RecordingMeta]:
    """File metadata per product (tick and lot from the venue or the overrides)."""
    return {p: schema.RecordingMeta(product=p, tick_size=ins.tick_size, size_unit=p.split("-")[0],
                                    grid_ms=cfg.grid_ms, levels=cfg.levels, source=SOURCE, lot_size=ins.lot_size)
            for p, ins in instruments.items()}


class Recorder:
    """One recording session: a writer thread plus connections made one after another.

    ``writer``: anything with the `Writer` interface (the live trader passes a queue); without one,
    tick and lot sizes are resolved (`resolve_instruments`) and a Parquet `Writer` is made.
    ``time_source``: ``wall_ns()``/``mono_ns()`` for the receive clock (tests step it).
    """

    def __init__(self, cfg: RecordConfig, writer=None, counters: Counters | None = None, time_source=None,
                 instruments: dict[str, Instrument] | None = None):
        self.cfg = cfg
        self.products = cfg.product_list()
        self.c = counters if counters is not None else Counters()
        if writer is None:
            metas = recording_metas(cfg, instruments if instruments is not None else resolve_instruments(cfg))
            writer = Writer(cfg.out, metas, cfg.flush_s, cfg.raw, self.c)
        self.writer = writer
        self.engine = Engine(self.products, writer.put_book, writer.put_trade, self.c, cfg)
        self.credentials = credentials_from_env()
        self.clock = ReceiveClock(int(cfg.clock_step_ms * 1e6), time_source)
        self.rng = random.Random(cfg.seed)
        self.stop = asyncio.Event()
        self.disconnect_reasons: list[str] = []
        self.failure: str | None = None  # set: the session failed (exit 1)
        self._status_error: str | None = None
        self._logged_refused: list[str] = []

    def _now(self) -> int:
        """Receive stamp; a wall-clock step is handed to the engine as a gap."""
        now = self.clock.now_ns()
        step = self.clock.take_step()
        if step:
            log.warning("wall clock stepped by %+.3f s: receive clock re-anchored, gap recorded", step / 1e9)
            self.engine.on_clock_step(now)
        return now

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            log.error("%s; stopping", reason)
        self.stop.set()

    # ---- messages we send -------------------------------------------------------------------

    def _message(self, request) -> dict:
        kind, channel, products = request
        jwt = sign_jwt(*self.credentials) if self.credentials else None  # one fresh JWT per message
        return subscribe_message(channel, list(products), jwt, kind)

    async def _sender(self, ws, outbox: asyncio.Queue) -> None:
        """Send queued requests no faster than ``send_interval_s`` (venue rate limit)."""
        last = 0.0
        while True:
            request = await outbox.get()
            wait = last + self.cfg.send_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            msg = self._message(request)
            now = self._now()
            self.engine.on_sent(request, now)  # before the answer can possibly arrive
            await ws.send(json.dumps(msg))
            last = time.monotonic()
            self.writer.put_raw(now, "send", json.dumps(redact(msg)))

    def _drain_requests(self, outbox: asyncio.Queue) -> None:
        for request in self.engine.requests:
            outbox.put_nowait(request)
        self.engine.requests = []

    # ---- one connection ---------------------------------------------------------------------

    async def _connection(self) -> str:
        """Run one connection until it fails or we stop; returns why it ended."""
        cfg = self.cfg
        async with websockets.connect(cfg.url, max_size=int(cfg.max_frame_mb * 2**20), open_timeout=10,
                                      close_timeout=2, ping_interval=20, ping_timeout=20,
                                      max_queue=None) as ws:
            self.c.connections += 1
            now = self._now()
            self.writer.put_raw(now, "conn", cfg.url)  # connection boundary: sequence_num restarts
            self.engine.on_connect(now)
            outbox: asyncio.Queue = asyncio.Queue()
            self._drain_requests(outbox)  # one subscribe per channel, well within the venue's 5 s
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
                self.engine.on_disconnect(self._now(), stopping=self.stop.is_set())

    async def _read(self, ws, outbox, sender, stopper) -> str:
        cfg, engine = self.cfg, self.engine
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
            now = self._now()
            if isinstance(frame, bytes):
                frame = frame.decode("utf-8", errors="replace")
            self.writer.put_raw(now, "recv", frame)
            engine.on_frame(now, frame)
            for p in list(engine.subs.refused)[len(self._logged_refused):]:
                self._logged_refused.append(p)
                log.error("product %s dropped for this session (%s); recording the others", p, engine.subs.refused[p])
            if engine.fatal_reason:
                self._fail(engine.fatal_reason)
                return engine.fatal_reason
            if engine.reconnect_reason:
                return engine.reconnect_reason
            self._drain_requests(outbox)

    # ---- the session ------------------------------------------------------------------------

    async def run(self) -> Counters:
        """Connect, record and reconnect until stopped or failed; flushes everything before returning."""
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        self.writer.on_failure = lambda exc: loop.call_soon_threadsafe(self._fail, f"writing failed: {exc!r}")
        self.writer.start()
        status = asyncio.create_task(self._status_loop())
        deadline = loop.call_later(cfg.duration_s, self.stop.set) if cfg.duration_s > 0 else None
        attempt = error_streak = 0
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
                healthy = time.monotonic() - started > HEALTHY_CONNECTION_S
                error_streak = error_streak + 1 if self.engine.reconnect_for_errors else (0 if healthy else error_streak)
                if error_streak >= cfg.error_reconnects_max:
                    self._fail(f"the venue keeps sending errors ({error_streak} reconnects did not help): {reason}")
                    break
                attempt = 0 if healthy else attempt + 1
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
            with contextlib.suppress(BaseException):
                await status
            try:
                await loop.run_in_executor(None, self.writer.close)
            except WriterError as exc:
                self.failure = str(exc)
            self._report_status()
        return self.c

    async def _status_loop(self) -> None:
        last = self.c.as_dict()
        t0 = time.monotonic()
        period = self.cfg.status_s if self.cfg.status_s > 0 else 1.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            if getattr(self.writer, "failed", False):  # writers without on_failure
                self._fail(f"writing failed: {self.writer.error!r}")
            now = time.monotonic()
            self.c.queue_depth = self.writer.q.qsize()
            if self.cfg.status_s > 0:
                log.info(status_line(self.c, last, now - t0))
                await loop.run_in_executor(None, self._report_status)  # off the reader
            last, t0 = self.c.as_dict(), now

    def products_state(self) -> dict[str, dict]:
        """Per product: state (recording, waiting for a snapshot, stopped, or dropped and why), last row time."""
        eng = self.engine

        def state(p):
            if p in eng.subs.refused:
                return f"dropped: {eng.subs.refused[p]}"
            if self.stop.is_set():
                return "stopped"
            return "recording" if eng.state[p].book is not None else "waiting for a snapshot"

        return {p: {"state": state(p), "last_row_ns": eng.state[p].last_row_ns} for p in self.products}

    def _report_status(self) -> None:
        if not self.cfg.status_file:
            return
        extra = {"time_ns": time.time_ns(), "products": self.products_state(), "failure": self.failure}
        try:
            write_status_file(self.cfg.status_file, self.c, extra)
        except OSError as exc:  # logged and retried at the next tick; recording goes on
            self.c.status_file_errors += 1
            if str(exc) != self._status_error:
                log.error("cannot write the status file: %s (retrying every tick; recording goes on)", exc)
            self._status_error = str(exc)
        else:
            self._status_error = None

    def exit_code(self) -> int:
        """0: all products recorded; 3: some dropped; 1: the session failed. Logs why."""
        if self.failure:
            log.error("recording failed: %s", self.failure)
            return EXIT_FAILED
        if self.engine.subs.refused:
            log.error("recorded without %s", "; ".join(f"{p} ({why})" for p, why in self.engine.subs.refused.items()))
            return EXIT_PARTIAL
        return EXIT_OK


async def record(cfg: RecordConfig) -> Recorder:
    """Record with SIGINT/SIGTERM wired to a clean stop (when run in the main thread)."""
    rec = Recorder(cfg)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for sig in signals:
        loop.add_signal_handler(sig, rec.stop.set)
    try:
        await rec.run()
        return rec
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def main(cfg: RecordConfig) -> int:
    """Blocking entry point; the exit status is `Recorder.exit_code` (1 for a bad configuration)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        rec = asyncio.run(record(cfg))
    except (ValueError, RuntimeError, OSError) as exc:  # bad config, no tick size, unusable output dir
        log.error("recording failed: %s", exc)
        return EXIT_FAILED
    code = rec.exit_code()
    log.info("done: %s", json.dumps(rec.c.as_dict()))
    return code
