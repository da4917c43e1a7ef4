"""The NumPy simulator's values: its parameters, book rows, trades, orders, fills, account and state.

Immutable (NamedTuples and a frozen dataclass), shared by the rules in `mmjax.env.sim_np`, which
re-exports every name here; callers use them as ``sim_np.Book``, ``sim_np.SimState`` and so on.
Prices are ticks from the recording's anchor, sizes venue size units, money $. NumPy/stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from mmjax.data.layout import DEFAULT_LOT_SIZE, LOT_CAP, sim_lot
from mmjax.env.knobs import EnvKnobs
from mmjax.features.spec import COUNT_CAP_STEPS

BID, ASK = "bid", "ask"
NO_KIND = 0  # fill kind of "no fill" (mmjax.env.fill_kinds.FILL_KINDS has the others)


@dataclass(frozen=True)
class SimParams:
    """What the rules need besides the state: the knobs and the market's units."""

    knobs: EnvKnobs
    tick_size: float  # $ per tick
    anchor_ticks: int  # absolute price of tick 0, ticks
    dt_s: float  # seconds per grid step (grid_ms / 1000)
    lot_size: float = DEFAULT_LOT_SIZE  # the market's size step, venue units (RecordingMeta.lot_size)
    contract_type: str = "linear"  # or "inverse": sizes are contracts of contract_value $ (RecordingMeta)
    contract_value: float = 0.0  # inverse: $ per contract
    # the derived values below are cached (frozen params, frozen knobs): the live trader reads them every row

    @cached_property
    def inverse(self) -> Inverse | None:
        """The inverse contract's terms for the account rules; None on a linear contract."""
        return Inverse(self.contract_value, self.anchor_ticks) if self.contract_type == "inverse" else None

    @cached_property
    def lot(self) -> float:
        """The fill rules' lot: the market's, refined to divide quote_size (as `make_params` does)."""
        return sim_lot(self.lot_size, self.knobs.quote_size)[0]

    def lots(self, size: float) -> int:
        """Venue size units -> whole lots, capped like the device's int32 lot counts."""
        n = round(size / self.lot)
        return n if n < LOT_CAP else LOT_CAP

    @cached_property
    def quote_lots(self) -> int:
        return round(self.knobs.quote_size / self.lot)

    @cached_property
    def max_lots(self) -> int:
        """The inventory limit in whole lots (floored with the device's 1e-3 lot tolerance)."""
        return math.floor(self.knobs.max_inventory / self.lot + 1e-3)


class Inverse(NamedTuple):
    """What the account rules need of an inverse contract besides the tick."""

    value: float  # $ per contract
    anchor_ticks: int  # absolute price of tick 0, ticks

    def usd(self, ticks: float, tick: float) -> float:
        """$ price of ``ticks`` from the anchor."""
        return (ticks + self.anchor_ticks) * tick


class Book(NamedTuple):
    """One book row in ticks from the anchor, levels best first; an empty level has size 0."""

    bid_px: Sequence[float]  # [L] ticks, descending
    bid_sz: Sequence[float]  # [L] venue size units
    ask_px: Sequence[float]  # [L] ticks, ascending
    ask_sz: Sequence[float]  # [L]

    @property
    def mid(self) -> float:
        """Mid price, ticks from the anchor (a half-integer)."""
        return (self.bid_px[0] + self.ask_px[0]) / 2.0


class Trades(NamedTuple):
    """Taker trades of one interval (s, s+1] by side: prices (ticks) and their volumes, any order or padding."""

    sell_px: Sequence[float]  # taker sells: they hit bids
    sell_vol: Sequence[float]
    buy_px: Sequence[float]  # taker buys: they lift asks
    buy_vol: Sequence[float]


NO_TRADES = Trades((), (), (), ())


class Order(NamedTuple):
    """A venue order."""

    price: int  # ticks from the anchor
    remaining: int  # whole lots still to fill
    queue_ahead: int  # lots displayed ahead of us at price (LOT_CAP: unknown, beyond the stored depth)
    beyond: bool = False  # joined beyond the stored depth and not seen within it since


class Fill(NamedTuple):
    """What one side filled over an interval (size 0: nothing; price 0 when the side had no order)."""

    size: float  # venue size units: lots * lot
    price: int  # the order's own price, ticks
    crossed: bool  # filled because the opposite touch moved through it
    kind: int = NO_KIND  # FILL_QUEUE, FILL_THROUGH or FILL_CROSSED (mmjax.env.fill_kinds)
    lots: int = 0
    beyond: bool = False  # the order rested over the interval with an unknown queue (beyond the depth)


NO_FILL = Fill(0.0, 0, False)
Quotes = tuple[int | None, int | None]  # (bid, ask) ticks of one decision; None = that side does not quote


class Account(NamedTuple):
    """Money since ``mid0`` (the env's episode start, the live session's first row), in $."""

    mid0: float  # ticks from anchor: cash is relative to holding the traded size at mid0
    inventory: float = 0.0  # venue size units, + long
    cash: float = 0.0  # $ (inverse: coin)
    entry: float = 0.0  # average entry price of the inventory, ticks from mid0
    pnl: float = 0.0  # $ marked to the mid: cash + inventory * (mid - mid0) * tick (linear; inverse: `mark`)
    inventory_lots: int = 0  # the exact inventory in whole lots (inventory = inventory_lots * lot)


class SimState(NamedTuple):
    """Venue orders, order messages in flight, what the agent knows, and the account."""

    bid: Order | None  # venue orders (after the last settle)
    ask: Order | None
    pipeline: tuple[Quotes, ...]  # quotes of the decisions in flight, oldest first (None: a cancel)
    account: Account
    messages: tuple[tuple[bool, bool], ...] = ()  # per pipeline slot: (bid, ask) sent a message
    known: Quotes = (None, None)  # the order prices the agent knows it has
    age: tuple[int, int] = (0, 0)  # steps each venue order has rested (0: placed at this row, or none), capped
    since_fill: tuple[int, int] = (COUNT_CAP_STEPS, COUNT_CAP_STEPS)  # steps since each side's last fill, capped


class Settlement(NamedTuple):
    """The result of one interval."""

    bid: Fill
    ask: Fill
    fee: float  # $, negative = rebate (inverse: the coin fee at the interval's mark mid)
    dpnl: float  # $ change of the marked PnL over the interval
    bid_rejected: bool = False  # post-only rejected the bid arriving at s+1
    ask_rejected: bool = False
