"""`LiveRunner`: feed -> trader -> `LiveState` in a background thread; the dashboard's control surface. No jax."""

from __future__ import annotations

import dataclasses
import threading

from mmjax.live.feeds import BookEvent
from mmjax.live.state import LiveState


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
                       speed=self.speed if self.can_set_speed else None, feed_status="connecting",
                       maker_fee_bps=self.trader.knobs.maker_fee_bps)

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

