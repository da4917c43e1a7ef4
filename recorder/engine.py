"""The recorder's state machine: frames in, book rows and trades out. Pure logic, no I/O.

Causality: a book row at grid time ``g`` holds the book after every message received at or
before ``g``, and is written only once a later frame (any channel, ``sequence_num`` contiguous)
proves nothing was lost up to ``g``. A sequence jump, a malformed frame, an error, an update
before a snapshot, a persistently crossed book or a reconnect invalidates the book: no rows are
written until a fresh snapshot arrives, and the first row after that has ``after_gap=True``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mmjax.schema import maker_side_to_taker
from recorder.book import L2Book
from recorder.protocol import parse_ts_ns
from recorder.status import Counters

# emit_book(product, ts_exchange_ns, ts_recv_ns, after_gap, bid_px, bid_sz, ask_px, ask_sz) with [L] arrays
EmitBook = Callable[[str, int, int, bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
# emit_trade(product, ts_exchange_ns, ts_recv_ns, trade_id, price, size, taker_side)
EmitTrade = Callable[[str, int, int, str, float, float, int], None]

TRADE_IDS_REMEMBERED = 20_000  # per product, to drop duplicates across resubscribes


@dataclass
class ProductState:
    book: L2Book | None = None  # None: invalid, waiting for a snapshot
    next_grid_ns: int = 0  # first grid time not yet written
    last_row_ns: int | None = None
    pending_gap: bool = True  # the next row starts a new segment
    last_exchange_ns: int = 0
    crossed_since_ns: int | None = None
    crossed_msgs: int = 0
    resync_since_ns: int | None = None  # a fresh snapshot has been asked for at this time
    trade_ids: set = field(default_factory=set)
    trade_order: deque = field(default_factory=deque)


class Engine:
    """Feed handler for one connection at a time. Call ``on_connect`` then ``on_frame`` per frame."""

    def __init__(self, products: list[str], emit_book: EmitBook, emit_trade: EmitTrade,
                 counters: Counters | None = None, levels: int = 20, grid_ms: int = 100,
                 crossed_max_ms: float = 1000.0, crossed_max_msgs: int = 50):
        if grid_ms <= 0 or levels <= 0:
            raise ValueError(f"grid_ms and levels must be positive, got {grid_ms}, {levels}")
        self.products = list(products)
        self.state = {p: ProductState() for p in self.products}
        self.emit_book = emit_book
        self.emit_trade = emit_trade
        self.c = counters if counters is not None else Counters()
        self.levels = levels
        self.grid_ns = int(grid_ms) * 1_000_000
        self.crossed_max_ns = int(crossed_max_ms * 1e6)
        self.crossed_max_msgs = crossed_max_msgs
        self.expected_seq: int | None = None
        self.resync_requests: set[str] = set()  # drained by the client: unsubscribe+subscribe level2
        self.reconnect_reason: str | None = None  # set: the client must drop the connection

    # ---- connection lifecycle -------------------------------------------------------------

    def on_connect(self, now_ns: int) -> None:
        """A new connection: sequence numbers restart, every book waits for its snapshot."""
        self.expected_seq = None
        self.reconnect_reason = None
        self.resync_requests.clear()
        for p in self.products:
            self._invalidate(p, now_ns, request=False)
            self.state[p].resync_since_ns = now_ns  # the subscribe itself asks for a snapshot

    def on_disconnect(self, now_ns: int, stopping: bool = False) -> None:
        """Connection lost: nothing after the last frame can be vouched for."""
        for p in self.products:
            self._invalidate(p, now_ns, request=False, count=not stopping)

    def resync_overdue(self, now_ns: int, timeout_ns: int) -> list[str]:
        """Products whose requested snapshot has not come within ``timeout_ns``."""
        return [p for p, st in self.state.items()
                if st.resync_since_ns is not None and now_ns - st.resync_since_ns > timeout_ns]

    def _invalidate(self, product: str, now_ns: int, request: bool = True, count: bool = True) -> None:
        st = self.state[product]
        if st.book is not None and count:
            self.c.book_gaps += 1
        st.book = None
        st.pending_gap = True
        st.crossed_since_ns = None
        st.crossed_msgs = 0
        if request and st.resync_since_ns is None:
            st.resync_since_ns = now_ns
            self.resync_requests.add(product)

    def _invalidate_all(self, now_ns: int) -> None:
        for p in self.products:
            self._invalidate(p, now_ns)

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
            return
        if msg.get("type") == "error":
            c.errors += 1
            self._invalidate_all(recv_ns)
            self.reconnect_reason = f"venue error: {msg.get('message', msg)!r}"
            return
        seq = msg.get("sequence_num")
        if isinstance(seq, int):
            if self.expected_seq is not None and seq != self.expected_seq:
                c.seq_gaps += 1
                self._invalidate_all(recv_ns)
            self.expected_seq = seq + 1
        # rows for grid times before this frame: the book as it stood, proven complete by this frame
        for p in self.products:
            self._emit_until(p, recv_ns)
        channel = msg.get("channel")
        try:
            if channel == "l2_data":
                self._on_l2(recv_ns, msg)
            elif channel == "market_trades":
                self._on_trades(recv_ns, msg)
            elif channel == "heartbeats":
                c.heartbeats += 1
            elif channel == "ticker":
                self._on_ticker(msg)
        except (KeyError, TypeError, ValueError, AttributeError):
            c.malformed += 1
            self._invalidate_all(recv_ns)

    def _emit_until(self, product: str, t_ns: int) -> None:
        st = self.state[product]
        if st.book is None or st.next_grid_ns >= t_ns:
            return
        grid = self.grid_ns
        if st.crossed_since_ns is not None:
            # never write a crossed book; the hole makes the next row start a new segment
            if t_ns - st.crossed_since_ns > self.crossed_max_ns:
                self.c.crossed_resyncs += 1
                self._invalidate(product, t_ns)
                return
            st.next_grid_ns += -(-(t_ns - st.next_grid_ns) // grid) * grid
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

    def _on_l2(self, recv_ns: int, msg: dict) -> None:
        c = self.c
        for ev in msg["events"]:
            product = ev["product_id"]
            st = self.state.get(product)
            updates = ev["updates"]
            if st is None:
                continue  # a product we did not ask for
            kind = ev["type"]
            if updates:
                ts = max(parse_ts_ns(x) for x in {u["event_time"] for u in updates})
            else:
                ts = parse_ts_ns(msg["timestamp"])
            if kind == "snapshot":
                book = L2Book()
                book.load_snapshot(updates)
                c.snapshots += 1
                c.snapshot_levels += len(updates)
                if st.book is None:
                    st.last_exchange_ns = ts
                    # the first row includes the snapshot: first grid time at or after its receipt
                    st.next_grid_ns = -(-recv_ns // self.grid_ns) * self.grid_ns
                else:
                    st.last_exchange_ns = max(st.last_exchange_ns, ts)
                st.book = book
                st.resync_since_ns = None
                self.resync_requests.discard(product)
                st.crossed_since_ns = None
                st.crossed_msgs = 0
            elif kind == "update":
                c.l2_updates_received += len(updates)
                if st.book is None:
                    c.l2_updates_in_gap += len(updates)
                    self._invalidate(product, recv_ns)  # update before snapshot: ask (once) for one
                    continue
                before = st.book.unknown_deletes
                try:
                    st.book.apply(updates)
                except (KeyError, TypeError, ValueError):
                    # partly applied: the book is wrong; count the whole event as lost
                    c.l2_updates_in_gap += len(updates)
                    c.malformed += 1
                    self._invalidate(product, recv_ns)
                    continue
                c.l2_updates_applied += len(updates)
                c.unknown_deletes += st.book.unknown_deletes - before
                st.last_exchange_ns = max(st.last_exchange_ns, ts)
            else:
                raise ValueError(f"l2_data event type {kind!r}")
            self._check_crossed(product, recv_ns)

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
        if st.crossed_msgs > self.crossed_max_msgs or recv_ns - st.crossed_since_ns > self.crossed_max_ns:
            self.c.crossed_resyncs += 1
            self._invalidate(product, recv_ns)

    def _on_trades(self, recv_ns: int, msg: dict) -> None:
        c = self.c
        for ev in msg["events"]:
            trades = ev["trades"]
            if ev.get("type") == "snapshot":
                # history from before we subscribed: stamping it with our receive clock would lie
                c.trades_snapshot_skipped += len(trades)
                for t in trades:
                    st = self.state.get(t["product_id"])
                    if st is not None:
                        self._remember_trade(st, str(t["trade_id"]))
                continue
            for t in trades:
                st = self.state.get(t["product_id"])
                if st is None:
                    continue
                tid = str(t["trade_id"])
                if tid in st.trade_ids:
                    c.trades_duplicate += 1
                    continue
                price, size = float(t["price"]), float(t["size"])
                if not (price > 0.0 and size > 0.0 and price < float("inf") and size < float("inf")):
                    raise ValueError(f"trade {t!r}: price and size must be positive")
                side = maker_side_to_taker(t["side"])
                ts = parse_ts_ns(t["time"])
                self._remember_trade(st, tid)
                self.emit_trade(t["product_id"], ts, recv_ns, tid, price, size, side)
                c.trades += 1

    @staticmethod
    def _remember_trade(st: ProductState, tid: str) -> None:
        if tid in st.trade_ids:
            return
        st.trade_ids.add(tid)
        st.trade_order.append(tid)
        if len(st.trade_order) > TRADE_IDS_REMEMBERED:
            st.trade_ids.discard(st.trade_order.popleft())

    def _on_ticker(self, msg: dict) -> None:
        """Cross-check: the ticker's best bid/ask should equal our book's top (counted, not acted on)."""
        for ev in msg["events"]:
            if ev.get("type") != "update":
                continue
            for tk in ev["tickers"]:
                st = self.state.get(tk.get("product_id"))
                if st is None or st.book is None:
                    continue
                self.c.tickers_checked += 1
                if (st.book.bids.best() != float(tk["best_bid"])
                        or st.book.asks.best() != float(tk["best_ask"])):
                    self.c.ticker_mismatches += 1
