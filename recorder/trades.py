"""market_trades and ticker frames: trades out (taker side, de-duplicated), ticker cross-checks counted.

Coinbase's ``market_trades.side`` is the maker's side; trades are stored with the taker's. The trades
snapshot sent on subscribe is history from before we listened: stamping it with our receive clock
would misplace it, so it is not written (its ids are remembered so that no trade is written twice).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from mmjax.schema import maker_side_to_taker
from recorder.protocol import parse_ts_ns
from recorder.status import Counters

TRADE_IDS_REMEMBERED = 20_000  # per product, to drop duplicates across resubscribes


class SeenTrades:
    """The last `TRADE_IDS_REMEMBERED` trade ids of one product."""

    __slots__ = ("ids", "order")

    def __init__(self):
        self.ids: set[str] = set()
        self.order: deque[str] = deque()

    def add(self, tid: str) -> bool:
        """Remember ``tid``; False when it was already known (a duplicate)."""
        if tid in self.ids:
            return False
        self.ids.add(tid)
        self.order.append(tid)
        if len(self.order) > TRADE_IDS_REMEMBERED:
            self.ids.discard(self.order.popleft())
        return True


# lookup(venue product id) -> (our product id, its state with .seen and .book), or (None, None)
Lookup = Callable[[str], tuple]


def on_trades(recv_ns: int, msg: dict, lookup: Lookup, emit_trade, c: Counters) -> None:
    """Emit every new trade of a ``market_trades`` frame; raises ValueError on a malformed trade."""
    for ev in msg["events"]:
        trades = ev["trades"]
        if ev.get("type") == "snapshot":
            c.trades_snapshot_skipped += len(trades)
            for t in trades:
                _, st = lookup(t["product_id"])
                if st is not None:
                    st.seen.add(str(t["trade_id"]))
            continue
        for t in trades:
            p, st = lookup(t["product_id"])
            if st is None:
                continue
            tid = str(t["trade_id"])
            if tid in st.seen.ids:
                c.trades_duplicate += 1
                continue
            price, size = float(t["price"]), float(t["size"])
            if not (price > 0.0 and size > 0.0 and price < float("inf") and size < float("inf")):
                raise ValueError(f"trade {t!r}: price and size must be positive")
            side = maker_side_to_taker(t["side"])
            ts = parse_ts_ns(t["time"])
            st.seen.add(tid)
            emit_trade(p, ts, recv_ns, tid, price, size, side)
            c.trades += 1


def check_ticker(msg: dict, lookup: Lookup, c: Counters) -> None:
    """Cross-check: the ticker's best bid/ask should equal our book's top (counted, not acted on)."""
    for ev in msg["events"]:
        if ev.get("type") != "update":
            continue
        for tk in ev["tickers"]:
            _, st = lookup(tk.get("product_id"))
            if st is None or st.book is None:
                continue
            c.tickers_checked += 1
            if st.book.bids.best() != float(tk["best_bid"]) or st.book.asks.best() != float(tk["best_ask"]):
                c.ticker_mismatches += 1
