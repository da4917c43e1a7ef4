"""The recorder's state machine: frames in, book rows, trades and requests out. Pure logic, no I/O.

Causality and proof: a book row of product P at grid time ``g`` holds P's book after every message received
at or before ``g``. It is written only once a later level2 message *of P* (``sequence_num`` contiguous)
proves P's stream was alive and complete up to ``g``, or a fresh snapshot equal to the book proves nothing
changed; heartbeats or other products' messages prove nothing about P.

A sequence jump, a malformed frame, an update before a snapshot, a persistently crossed book, a reconnect
or a snapshot that differs from a silent product's book invalidates that book: no rows until a fresh
snapshot, and the next row has ``after_gap=True``. Rows are also skipped (a gap) while P's market_trades
subscription is unconfirmed, since their trade intervals would be empty, and across a wall-clock step.
Trades are always written; those received in a gap lie in (t, t+1] ending at the ``after_gap`` row (unused by the loader).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recorder.book import L2Book
from recorder.config import RecordConfig
from recorder.protocol import parse_ts_ns
from recorder.status import Counters
from recorder.subscriptions import LEVEL2, TICKER, TRADES, Request, Subscriptions
from recorder.trades import SeenTrades, check_ticker, on_trades

# emit_book(product, ts_exchange_ns, ts_recv_ns, after_gap, bid_px, bid_sz, ask_px, ask_sz) with [L] arrays
EmitBook = Callable[[str, int, int, bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
# emit_trade(product, ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side)
EmitTrade = Callable[[str, int, int, str, float, float, int], None]

EARLIEST_EXCHANGE_NS = 946_684_800 * 10**9  # 2000-01-01: older event times are placeholders (1970-01-01)
ERROR_WINDOW_NS = 60 * 10**9  # `error_limit` counts venue errors over this window
TICK_NS = 100_000_000  # time-outs are checked at most this often (receive clock)


@dataclass
class ProductState:
    book: L2Book | None = None  # None: invalid, waiting for a snapshot
    next_grid_ns: int = 0  # first grid time not yet written
    last_row_ns: int | None = None
    pending_gap: bool = True  # the next row starts a new segment
    last_exchange_ns: int = 0  # 0: no real exchange time yet
    last_l2_ns: int | None = None  # receive time of the latest level2 event
    crossed_since_ns: int | None = None
    crossed_msgs: int = 0
    resync_since_ns: int | None = None  # a fresh snapshot has been asked for at this time
    snapshot_requests: int = 0  # level2 requests since the last snapshot
    seen: SeenTrades = field(default_factory=SeenTrades)  # trade ids, for duplicates


def ceil_grid(t_ns: int, grid_ns: int) -> int:
    return -(-t_ns // grid_ns) * grid_ns


class Engine:
    """Feed handler for one connection at a time: ``on_connect``, then ``on_frame`` per frame.

    The client drains ``requests`` (to send, in order) after each call, drops the connection when
    ``reconnect_reason`` is set and stops when ``fatal_reason`` is.
    """

    def __init__(self, products: list[str], emit_book: EmitBook, emit_trade: EmitTrade,
                 counters: Counters | None = None, cfg: RecordConfig | None = None):
        cfg = cfg if cfg is not None else RecordConfig(out="")
        if cfg.grid_ms <= 0 or cfg.levels <= 0:
            raise ValueError(f"grid_ms and levels must be positive, got {cfg.grid_ms}, {cfg.levels}")
        self.cfg = cfg
        self.products = list(products)
        self.state = {p: ProductState() for p in self.products}
        self.emit_book = emit_book
        self.emit_trade = emit_trade
        self.c = counters if counters is not None else Counters()
        self.levels = cfg.levels
        self.grid_ns = int(cfg.grid_ms) * 1_000_000
        channels = (TRADES, LEVEL2, "heartbeats") + ((TICKER,) if cfg.ticker else ())
        self.subs = Subscriptions(self.products, channels, int(cfg.subscribe_timeout_s * 1e9))
        self.expected_seq: int | None = None
        self.requests: list[Request] = []
        self.reconnect_reason: str | None = None  # set: the client must drop the connection
        self.reconnect_for_errors = False  # ... because the venue kept sending errors
        self.fatal_reason: str | None = None  # set: nothing more can be recorded
        self.last_error = ""
        self._errors: deque[int] = deque()
        self._next_tick_ns = 0
        self._resync_wanted: list[str] = []

    # ---- connection lifecycle -------------------------------------------------------------

    def on_connect(self, now_ns: int) -> None:
        """A new connection: sequence numbers restart, every book waits for its snapshot."""
        self.expected_seq = None
        self.reconnect_reason, self.reconnect_for_errors = None, False
        self._errors.clear()
        self.requests = self.subs.connect()
        self._resync_wanted.clear()
        for p in self.products:
            self._invalidate(p, now_ns, request=False)
            st = self.state[p]
            st.resync_since_ns = now_ns if p not in self.subs.refused else None  # the subscribe asks for one
            st.snapshot_requests += 1
            st.last_l2_ns = None

    def on_disconnect(self, now_ns: int, stopping: bool = False) -> None:
        """Connection lost: nothing after the last frame can be vouched for."""
        for p in self.products:
            self._invalidate(p, now_ns, request=False, count=not stopping)

    def on_sent(self, request: Request, now_ns: int) -> None:
        """The client is sending ``request`` now."""
        self.subs.on_sent(request, now_ns)

    def on_clock_step(self, now_ns: int) -> None:
        """The wall clock stepped: no row may bridge the jump, nor lie at or before one already written."""
        self.c.clock_steps += 1
        for st in self.state.values():
            if st.book is not None:
                self.c.book_gaps += 1
            st.pending_gap = True
            st.next_grid_ns = max(st.next_grid_ns, ceil_grid(now_ns, self.grid_ns) + self.grid_ns)
            st.crossed_since_ns = None if st.crossed_since_ns is None else now_ns
            st.resync_since_ns = None if st.resync_since_ns is None else now_ns
            st.last_l2_ns = None if st.last_l2_ns is None else now_ns
        self._errors.clear()

    def _invalidate(self, product: str, now_ns: int, request: bool = True, count: bool = True) -> None:
        st = self.state[product]
        if st.book is not None and count:
            self.c.book_gaps += 1
        st.book = None
        st.pending_gap = True
        st.crossed_since_ns = None
        st.crossed_msgs = 0
        if request and st.resync_since_ns is None and product not in self.subs.refused:
            st.resync_since_ns = now_ns
            self._resync_wanted.append(product)  # one request for all, at the end of the frame

    def _invalidate_all(self, now_ns: int) -> None:
        for p in self.products:
            self._invalidate(p, now_ns)

    def _resync(self, products: list[str], now_ns: int) -> None:
        """Ask for fresh level2 snapshots: unsubscribe and subscribe again on this connection."""
        self.c.resyncs += 1
        for p in products:
            st = self.state[p]
            st.resync_since_ns = now_ns
            st.snapshot_requests += 1
        self.requests += [("unsubscribe", LEVEL2, tuple(products)), ("subscribe", LEVEL2, tuple(products))]

    def _flush_resyncs(self, now_ns: int) -> None:
        wanted = [p for p in dict.fromkeys(self._resync_wanted) if p not in self.subs.refused]
        self._resync_wanted.clear()
        if wanted:
            self._resync(wanted, now_ns)

    # ---- frames ---------------------------------------------------------------------------

    def on_frame(self, recv_ns: int, text: str | bytes) -> None:
        """Handle one received frame stamped with the receive clock (ns)."""
        c = self.c
        c.frames += 1
        c.bytes_in += len(text)
        try:
            msg = json.loads(text)
            if not isinstance(msg, dict):
                raise ValueError("frame is not a JSON object")
        except ValueError:
            # unreadable: it may have been a book update, so every book is suspect
            c.malformed += 1
            self._invalidate_all(recv_ns)
            self._flush_resyncs(recv_ns)
            return
        seq = msg.get("sequence_num")
        if isinstance(seq, int):
            if self.expected_seq is not None and seq != self.expected_seq:
                c.seq_gaps += 1
                self._invalidate_all(recv_ns)
            self.expected_seq = seq + 1
        channel = msg.get("channel")
        try:
            if msg.get("type") == "error":
                self._on_error(recv_ns, msg)
            elif channel == "l2_data":
                self._on_l2(recv_ns, msg)
            elif channel == "market_trades":
                on_trades(recv_ns, msg, self._lookup_recorded, self.emit_trade, c)
            elif channel == "heartbeats":
                c.heartbeats += 1
            elif channel == "ticker":
                check_ticker(msg, self._lookup, c)
            elif channel == "subscriptions":
                self._on_subscriptions(recv_ns, msg)
            else:
                c.unknown_messages += 1  # the venue's docs: ignore what you do not support
        except (KeyError, TypeError, ValueError, AttributeError):
            c.malformed += 1
            self._invalidate_all(recv_ns)
        if recv_ns >= self._next_tick_ns:
            self._next_tick_ns = recv_ns + TICK_NS
            self._check_times(recv_ns)
        if self._resync_wanted:
            self._flush_resyncs(recv_ns)

    def _on_error(self, now_ns: int, msg: dict) -> None:
        """Classify: a refused subscribe is handled by isolation; other errors are tolerated up to a rate."""
        self.c.errors += 1
        text = str(msg.get("message", ""))
        if msg.get("reason"):
            text += f" ({msg['reason']})"
        self.last_error = text
        during_subscribe = self.subs.on_error(text)
        if during_subscribe or self.subs.awaiting():
            self.c.subscribe_errors += 1
            self.requests += during_subscribe
            return
        # no sequence number is lost by an error frame (the sequence check vouches for the books)
        self._errors.append(now_ns)
        while self._errors and now_ns - self._errors[0] > ERROR_WINDOW_NS:
            self._errors.popleft()
        if len(self._errors) > self.cfg.error_limit:
            self.reconnect_reason = f"venue sent {len(self._errors)} errors within 60 s, last: {text!r}"
            self.reconnect_for_errors = True

    def _on_subscriptions(self, now_ns: int, msg: dict) -> None:
        for ev in msg["events"]:
            confirmed, requests = self.subs.on_answer(now_ns, ev["subscriptions"])
            self.requests += requests
            for channel, p in confirmed:
                st = self.state[p]
                if channel == TRADES and st.book is not None:
                    # trades flow from now on: earlier rows would have empty trade intervals
                    st.next_grid_ns = max(st.next_grid_ns, ceil_grid(now_ns, self.grid_ns))
                    st.pending_gap = True
        self._drop_refused(now_ns)

    def _lookup_recorded(self, product_id) -> tuple[str, ProductState] | tuple[None, None]:
        p, st = self._lookup(product_id)
        return (None, None) if p in self.subs.refused else (p, st)

    def _lookup(self, product_id) -> tuple[str, ProductState] | tuple[None, None]:
        """(the id we asked for, its state) for an id the venue sent; (None, None): not ours."""
        st = self.state.get(product_id)
        if st is not None:
            return product_id, st
        p = self.subs.alias.get(product_id)
        return (p, self.state[p]) if p is not None else (None, None)

    def _on_l2(self, recv_ns: int, msg: dict) -> None:
        c = self.c
        for ev in msg["events"]:
            p, st = self._lookup(ev["product_id"])
            if st is None or p in self.subs.refused:
                continue  # a product we did not ask for
            updates = ev["updates"]
            kind = ev["type"]
            ts = self._exchange_ns(updates, msg)
            st.last_l2_ns = recv_ns
            if kind == "snapshot":
                self._on_snapshot(p, st, recv_ns, updates, ts)
            elif kind == "update":
                c.l2_updates_received += len(updates)
                if st.book is None:
                    c.l2_updates_in_gap += len(updates)
                    self._invalidate(p, recv_ns)  # update before snapshot: ask (once) for one
                    continue
                self._emit_until(p, recv_ns)  # P's stream is alive: rows before this message are proven
                before = st.book.unknown_deletes
                try:
                    st.book.apply(updates)
                except (KeyError, TypeError, ValueError):
                    # partly applied: the book is wrong; count the whole event as lost
                    c.l2_updates_in_gap += len(updates)
                    c.malformed += 1
                    self._invalidate(p, recv_ns)
                    continue
                c.l2_updates_applied += len(updates)
                c.unknown_deletes += st.book.unknown_deletes - before
                st.last_exchange_ns = max(st.last_exchange_ns, ts)
            else:
                c.malformed += 1  # an event we cannot interpret may have changed the book
                self._invalidate(p, recv_ns)
                continue
            self._check_crossed(p, recv_ns)

    def _on_snapshot(self, p: str, st: ProductState, recv_ns: int, updates: list, ts: int) -> None:
        c = self.c
        book = L2Book()
        book.load_snapshot(updates)
        c.snapshots += 1
        c.snapshot_levels += len(updates)
        if st.book is not None:  # asked for because P went silent: does the snapshot vouch for the book?
            if st.book.bids.size == book.bids.size and st.book.asks.size == book.asks.size:
                self._emit_until(p, recv_ns)
            else:
                c.stale_books += 1
                c.book_gaps += 1
                st.pending_gap = True
                st.next_grid_ns = max(st.next_grid_ns, ceil_grid(recv_ns, self.grid_ns))
        else:
            # the first row includes the snapshot: first grid time at or after its receipt
            st.next_grid_ns = max(st.next_grid_ns, ceil_grid(recv_ns, self.grid_ns))
        st.last_exchange_ns = max(st.last_exchange_ns, ts)
        st.book = book
        st.resync_since_ns = None
        st.snapshot_requests = 0
        st.crossed_since_ns = None
        st.crossed_msgs = 0

    @staticmethod
    def _exchange_ns(updates: list, msg: dict) -> int:
        """Latest real exchange time of an event (placeholders such as 1970-01-01 ignored); 0: none."""
        ts = max([parse_ts_ns(x) for x in {u["event_time"] for u in updates}]) if updates else 0
        if ts < EARLIEST_EXCHANGE_NS and "timestamp" in msg:
            ts = parse_ts_ns(msg["timestamp"])  # the frame's own time: the first real one we have
        return ts if ts >= EARLIEST_EXCHANGE_NS else 0

    def _emit_until(self, product: str, t_ns: int) -> None:
        st = self.state[product]
        if st.book is None or st.next_grid_ns >= t_ns:
            return
        grid = self.grid_ns
        if st.crossed_since_ns is not None or st.last_exchange_ns == 0 or not self.subs.live(TRADES, product):
            # never write a crossed book, a row with no exchange time, or one whose trade interval
            # is not being recorded; the hole makes the next row start a new segment
            if st.crossed_since_ns is not None and t_ns - st.crossed_since_ns > self.cfg.crossed_max_ms * 1e6:
                self.c.crossed_resyncs += 1
                self._invalidate(product, t_ns)
                return
            st.next_grid_ns = ceil_grid(t_ns, grid)
            return
        bp, bs, ap, az = st.book.top(self.levels)
        g = st.next_grid_ns
        while g < t_ns:
            after_gap = st.pending_gap or st.last_row_ns is None or g != st.last_row_ns + grid
            self.emit_book(product, st.last_exchange_ns, g, after_gap, bp, bs, ap, az)
            self.c.book_rows += 1
            st.pending_gap = False
            st.last_row_ns = g
            g += grid
        st.next_grid_ns = g

    def _check_crossed(self, product: str, recv_ns: int) -> None:
        st = self.state[product]
        if st.book is None:
            return
        if not st.book.crossed():
            st.crossed_since_ns = None
            st.crossed_msgs = 0
            return
        if st.crossed_since_ns is None:
            st.crossed_since_ns = recv_ns
        st.crossed_msgs += 1
        if (st.crossed_msgs > self.cfg.crossed_max_msgs
                or recv_ns - st.crossed_since_ns > self.cfg.crossed_max_ms * 1e6):
            self.c.crossed_resyncs += 1
            self._invalidate(product, recv_ns)

    # ---- time-outs ------------------------------------------------------------------------

    def _check_times(self, now_ns: int) -> None:
        """Unconfirmed subscriptions, overdue snapshots, silent products."""
        cfg = self.cfg
        self.requests += self.subs.check(now_ns)
        self._drop_refused(now_ns)
        active = self.subs.active()
        timeout_ns = cfg.resync_timeout_s * 1e9
        overdue = [p for p in active if self.state[p].resync_since_ns is not None
                   and now_ns - self.state[p].resync_since_ns > timeout_ns and self.subs.live(LEVEL2, p)]
        for p in overdue:
            if self.state[p].snapshot_requests >= cfg.snapshot_attempts:
                self.requests += self.subs.refuse(p, f"no level2 snapshot after {cfg.snapshot_attempts} requests")
        self._drop_refused(now_ns)
        overdue = [p for p in overdue if p not in self.subs.refused]
        if overdue and all(self.state[p].book is None for p in self.subs.active()):
            self.reconnect_reason = f"no snapshot for {overdue} within {cfg.resync_timeout_s} s"
        elif overdue:
            self._resync(overdue, now_ns)
        silent = [p for p in self.subs.active() if self.state[p].book is not None
                  and self.state[p].resync_since_ns is None and self.state[p].last_l2_ns is not None
                  and now_ns - self.state[p].last_l2_ns > cfg.product_silence_s * 1e9]
        if silent:
            self.c.silence_resyncs += len(silent)
            self._resync(silent, now_ns)

    def _drop_refused(self, now_ns: int) -> None:
        if not self.subs.newly_refused:
            return
        for p in self.subs.newly_refused:
            self.c.products_refused += 1
            st = self.state[p]
            st.book, st.resync_since_ns, st.pending_gap = None, None, True
        self.subs.newly_refused.clear()
        if not self.subs.active() and self.fatal_reason is None:
            self.fatal_reason = "no product left to record: " + "; ".join(
                f"{p}: {why}" for p, why in self.subs.refused.items())
