"""An order-by-order (L3) book: every resting order by id, each price level's orders in time priority.

Kept by Databento's book actions alone (``A`` add, ``C`` cancel, ``M`` modify, ``R`` clear); trades
(``T``) and fills (``F``) say what traded and change nothing here, as in Databento's own MBO book.
Prices are the file's integers (1e-9 units), so levels are exact; sizes are the file's integers.
Used by `mmjax import-dbn` (the L2 book on the grid) and by benchmarks/queue_truth.py (the true FIFO
queue ahead of a virtual order). NumPy/stdlib only.
"""

from __future__ import annotations

from bisect import bisect_left, insort

BID, ASK = 1, -1  # side codes: +1 bid, -1 ask (the orders/ dataset's ``side``)


class BookError(ValueError):
    """A book action that contradicts the book (unknown order id, duplicate add, over-cancel)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class L3Book:
    """Orders by id and per-side levels (price -> total size, price -> order ids in time priority)."""

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}  # id -> [side, price, size]
        self.level_sz: dict[int, dict[int, int]] = {BID: {}, ASK: {}}  # side -> price -> total size
        self.level_ids: dict[int, dict[int, dict[int, None]]] = {BID: {}, ASK: {}}  # side -> price -> ids, FIFO
        # sorted keys with the touch LAST (cheap edits near the touch): bid key = price, ask key = -price
        self._keys: dict[int, list[int]] = {BID: [], ASK: []}

    def clear(self) -> None:
        """``R``: every order is gone."""
        self.orders.clear()
        for side in (BID, ASK):
            self.level_sz[side].clear(), self.level_ids[side].clear(), self._keys[side].clear()

    def _join(self, oid: int, side: int, px: int, sz: int) -> None:
        levels = self.level_sz[side]
        if px not in levels:
            insort(self._keys[side], side * px)
            levels[px] = 0
            self.level_ids[side][px] = {}
        levels[px] += sz
        self.level_ids[side][px][oid] = None
        self.orders[oid] = [side, px, sz]

    def _leave(self, oid: int) -> None:
        side, px, sz = self.orders.pop(oid)
        levels = self.level_sz[side]
        levels[px] -= sz
        del self.level_ids[side][px][oid]
        if not self.level_ids[side][px]:
            del levels[px], self.level_ids[side][px]
            keys = self._keys[side]
            del keys[bisect_left(keys, side * px)]

    def add(self, oid: int, side: int, px: int, sz: int) -> None:
        """``A``: a new order at the back of its level's queue."""
        if oid in self.orders:
            raise BookError("order_id", f"add of order id {oid}, which is already resting")
        self._join(oid, side, px, sz)

    def cancel(self, oid: int, sz: int) -> None:
        """``C``: ``sz`` of the order leaves the book (all of it: the order is gone); it keeps its place."""
        order = self.orders.get(oid)
        if order is None:
            raise BookError("order_id", f"cancel of unknown order id {oid}")
        if sz > order[2]:
            raise BookError("size", f"cancel of {sz} from order id {oid}, which rests with {order[2]}")
        if sz == order[2]:
            self._leave(oid)
        else:
            order[2] -= sz
            self.level_sz[order[0]][order[1]] -= sz

    def modify(self, oid: int, side: int, px: int, sz: int) -> bool:
        """``M``: the order's new price and size; returns whether it kept its queue place.

        A size cut at the same price keeps the place; a new price or a larger size sends the order to
        the back of its (new) level (CME's and most venues' rule). An unknown id is an add (Databento).
        """
        order = self.orders.get(oid)
        if order is None:
            self._join(oid, side, px, sz)
            return False
        if order[0] != side:
            raise BookError("side", f"modify of order id {oid} changes its side")
        if px == order[1] and sz <= order[2]:
            self.level_sz[side][px] -= order[2] - sz
            order[2] = sz
            if sz == 0:
                self._leave(oid)
            return True
        self._leave(oid)
        if sz > 0:
            self._join(oid, side, px, sz)
        return False

    def best(self, side: int) -> int | None:
        """Best price of a side (1e-9 units), None when the side is empty."""
        keys = self._keys[side]
        return side * keys[-1] if keys else None

    def top(self, side: int, levels: int) -> tuple[list[int], list[int]]:
        """(prices, total sizes) of the best ``levels`` levels of a side, best first."""
        keys = self._keys[side][: -levels - 1 : -1]
        prices = [side * k for k in keys]
        return prices, [self.level_sz[side][p] for p in prices]
