"""Full-depth L2 book of one product (snapshot + absolute updates) and its top-L view."""

from __future__ import annotations

from bisect import bisect_left, insort

import numpy as np


class SideBook:
    """One side: price -> size, plus a sorted key list with the best level LAST.

    Best-last keeps inserts and deletes near the touch (the common case) cheap: ``list.insert``
    only moves the few entries behind the insertion point.
    """

    __slots__ = ("is_bid", "size", "keys")

    def __init__(self, is_bid: bool):
        self.is_bid = is_bid
        self.size: dict[float, float] = {}
        self.keys: list[float] = []  # bids: +price ascending; asks: -price ascending

    def load(self, levels: dict[float, float]) -> None:
        """Replace the side with ``levels`` (zero sizes already removed)."""
        self.size = levels
        self.keys = sorted(levels) if self.is_bid else sorted(-p for p in levels)

    def set(self, px: float, sz: float) -> bool:
        """Set an absolute size (0 deletes); False when deleting a level that was not there."""
        size = self.size
        if sz == 0.0:
            if px not in size:
                return False
            del size[px]
            k = px if self.is_bid else -px
            del self.keys[bisect_left(self.keys, k)]
            return True
        if px not in size:
            if not 0.0 < px < float("inf"):
                raise ValueError(f"price_level {px!r} must be a positive finite number")
            insort(self.keys, px if self.is_bid else -px)
        size[px] = sz
        return True

    def best(self) -> float | None:
        if not self.keys:
            return None
        k = self.keys[-1]
        return k if self.is_bid else -k

    def top(self, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """([L] prices best first, NaN where empty; [L] sizes, 0 where empty)."""
        px = np.full(levels, np.nan)
        sz = np.zeros(levels)
        ks = self.keys[: -levels - 1 : -1]
        n = len(ks)
        if n:
            p = np.array(ks) if self.is_bid else -np.array(ks)
            px[:n] = p
            sz[:n] = [self.size[x] for x in p.tolist()]
        return px, sz

    def __len__(self) -> int:
        return len(self.size)


class L2Book:
    """Full-depth book of one product. Prices and sizes are floats parsed from Coinbase's decimal strings."""

    __slots__ = ("bids", "asks", "unknown_deletes")

    def __init__(self):
        self.bids = SideBook(True)
        self.asks = SideBook(False)
        self.unknown_deletes = 0  # "0" for a level we do not hold (harmless; counted)

    def load_snapshot(self, updates: list[dict]) -> None:
        """Replace the whole book with a ``snapshot`` event's updates."""
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        for u in updates:
            side = u["side"]
            sz = float(u["new_quantity"])
            if sz < 0.0 or sz != sz:
                raise ValueError(f"snapshot level {u!r}: new_quantity must be >= 0")
            if sz == 0.0:
                continue
            if side == "bid":
                bids[float(u["price_level"])] = sz
            elif side == "offer" or side == "ask":
                asks[float(u["price_level"])] = sz
            else:
                raise ValueError(f"snapshot level {u!r}: side must be bid or offer")
        bad = [p for p in (*bids, *asks) if not 0.0 < p < float("inf")]
        if bad:
            raise ValueError(f"snapshot price_level {bad[0]!r} must be a positive finite number")
        self.bids.load(bids)
        self.asks.load(asks)

    def apply(self, updates: list[dict]) -> None:
        """Apply an ``update`` event's absolute level sizes."""
        bids, asks = self.bids, self.asks
        for u in updates:
            side = u["side"]
            sz = float(u["new_quantity"])
            if sz < 0.0 or sz != sz:
                raise ValueError(f"update level {u!r}: new_quantity must be >= 0")
            if side == "bid":
                ok = bids.set(float(u["price_level"]), sz)
            elif side == "offer" or side == "ask":
                ok = asks.set(float(u["price_level"]), sz)
            else:
                raise ValueError(f"update level {u!r}: side must be bid or offer")
            if not ok:
                self.unknown_deletes += 1

    def crossed(self) -> bool:
        """Best bid >= best ask (crossed or locked)."""
        b, a = self.bids.best(), self.asks.best()
        return b is not None and a is not None and b >= a

    def top(self, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Top ``levels`` per side: bid_px, bid_sz, ask_px, ask_sz, each [L]."""
        bp, bs = self.bids.top(levels)
        ap, az = self.asks.top(levels)
        return bp, bs, ap, az
