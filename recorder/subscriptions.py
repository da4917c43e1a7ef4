"""Which (channel, product) subscriptions the venue has confirmed, and which products it refuses.

Coinbase answers each subscribe with a ``subscriptions`` message listing everything now subscribed,
or with an ``{"type": "error"}`` frame; a strict server refuses a whole message that names one
unknown product, a lenient one leaves that product out of its answer. So:

- a pair is confirmed when an answer lists it (ids mapped back: -USDC is served as -USD);
- a pair sent before an error frame and still unconfirmed at the next answer, or unconfirmed after
  ``timeout_ns``, failed: if its message named several products, each is asked for alone (the good
  ones are recorded at once); asked for alone and failed ``strikes_max`` times, the product is
  refused for the session and unsubscribed everywhere, and the others go on;
- after such an error a heartbeats subscribe is sent, so that an answer soon follows.

Pure bookkeeping: it returns requests ``(kind, channel, product ids)``; the client sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

TRADES, LEVEL2, TICKER, HEARTBEATS = "market_trades", "level2", "ticker", "heartbeats"
REQUIRED = (TRADES, LEVEL2)  # a product without these is not recorded
# trades first: they flow before the first book row, whose interval needs them
SUBSCRIBE_ORDER = (TRADES, HEARTBEATS, TICKER, LEVEL2)
Request = tuple[str, str, tuple[str, ...]]
BARRIER: Request = ("subscribe", HEARTBEATS, ())


@dataclass
class _Pair:
    sent_ns: int | None = None  # last subscribe sent and not yet confirmed
    alone: bool = False  # that subscribe named this product alone
    confirmed: bool = False
    strikes: int = 0


class Subscriptions:
    """State of one session's subscriptions; `connect` starts each connection afresh."""

    def __init__(self, products: list[str], channels: tuple[str, ...], timeout_ns: int, strikes_max: int = 2):
        self.products = list(products)
        self.channels = tuple(ch for ch in SUBSCRIBE_ORDER if ch in channels and ch != HEARTBEATS)
        self.alias = {p[:-1]: p for p in products if p.endswith("-USDC")}  # served id -> asked id
        self.timeout_ns = timeout_ns
        self.strikes_max = strikes_max
        self.refused: dict[str, str] = {}  # product -> why, for the whole session
        self.newly_refused: list[str] = []  # drained by the engine
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self._error_ns: int | None = None
        self._error_text = ""

    def canonical(self, product_id: str) -> str | None:
        """The id we asked for, for an id the venue sent (None: not ours)."""
        if product_id in self.products:
            return product_id
        return self.alias.get(product_id)

    def active(self) -> list[str]:
        return [p for p in self.products if p not in self.refused]

    def live(self, channel: str, product: str) -> bool:
        pair = self.pairs.get((channel, product))
        return pair is not None and pair.confirmed

    def awaiting(self) -> bool:
        """Some subscribe was sent and is not yet confirmed."""
        return any(pair.sent_ns is not None for pair in self.pairs.values())

    def connect(self) -> list[Request]:
        """A new connection: nothing is subscribed; the subscribes to send, one per channel."""
        products = tuple(self.active())
        self.pairs = {(ch, p): _Pair() for ch in self.channels for p in products}
        self._error_ns = None
        return [("subscribe", ch, () if ch == HEARTBEATS else products)
                for ch in SUBSCRIBE_ORDER if ch == HEARTBEATS or ch in self.channels]

    def on_sent(self, request: Request, now_ns: int) -> None:
        kind, channel, products = request
        if kind != "subscribe":
            return
        for p in products:
            pair = self.pairs.get((channel, p))
            if pair is not None and not pair.confirmed:
                pair.sent_ns, pair.alone = now_ns, len(products) == 1

    def on_answer(self, now_ns: int, subscribed: dict) -> tuple[list[tuple[str, str]], list[Request]]:
        """A ``subscriptions`` message: (pairs newly confirmed, requests to send)."""
        confirmed = []
        for channel, ids in subscribed.items():
            for pid in ids if isinstance(ids, list) else ():
                p = self.canonical(str(pid))
                pair = self.pairs.get((channel, p))
                if pair is not None and not pair.confirmed:
                    pair.confirmed, pair.sent_ns, pair.strikes = True, None, 0
                    confirmed.append((channel, p))
        requests: list[Request] = []
        if self._error_ns is not None:
            err = self._error_ns
            self._error_ns = None
            requests = self._judge(lambda pair: pair.sent_ns is not None and pair.sent_ns <= err, self._error_text)
        return confirmed, requests

    def on_error(self, text: str) -> list[Request]:
        """An error frame; if subscribes are pending it is taken as a refusal (a barrier is returned)."""
        if not self.awaiting():
            return []
        first = self._error_ns is None
        self._error_ns = max(pair.sent_ns for pair in self.pairs.values() if pair.sent_ns is not None)
        self._error_text = text
        return [BARRIER] if first else []

    def check(self, now_ns: int) -> list[Request]:
        """Time-outs: pairs unconfirmed for longer than ``timeout_ns``."""
        return self._judge(lambda pair: pair.sent_ns is not None and now_ns - pair.sent_ns > self.timeout_ns,
                           f"not confirmed within {self.timeout_ns / 1e9:g} s")

    def _judge(self, failed, reason: str) -> list[Request]:
        again: list[tuple[str, str]] = []
        refuse: dict[str, str] = {}
        for (channel, p), pair in list(self.pairs.items()):
            if pair.confirmed or not failed(pair):
                continue
            pair.sent_ns = None
            if pair.alone:
                pair.strikes += 1
                if pair.strikes >= self.strikes_max:
                    if channel in REQUIRED:
                        refuse[p] = f"{channel} refused: {reason}"
                    else:
                        del self.pairs[(channel, p)]  # optional channel: go on without it
                    continue
            again.append((channel, p))
        requests: list[Request] = []
        for p, why in refuse.items():
            requests += self.refuse(p, why)
        return requests + [("subscribe", ch, (p,)) for ch, p in again if p not in self.refused]

    def refuse(self, product: str, reason: str) -> list[Request]:
        """Give ``product`` up for the session; the unsubscribes for what was confirmed of it."""
        if product in self.refused:
            return []
        self.refused[product] = reason
        self.newly_refused.append(product)
        requests = [("unsubscribe", ch, (product,)) for ch in self.channels if self.live(ch, product)]
        for ch in self.channels:
            self.pairs.pop((ch, product), None)
        return requests
