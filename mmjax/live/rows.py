"""One book row and one interval's trades as `sim_np` reads them, by the loader's rules (`mmjax.data.ticks`). No jax.

The rules (ticks from the anchor, the empty-level fill, the trade reach) live in `mmjax.data.ticks`,
shared with the loader; this module only wraps their one-row forms into `sim_np.Book` and
`sim_np.Trades` (tests/test_live_rows.py checks them bit for bit against the loader's arrays). The
trader converts each row once and hands the same `Book` to the streaming features
(`StreamingFeatures.on_book_ticks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mmjax.data.ticks import RowTicks, interval_reach
from mmjax.env.sim_np import NO_TRADES, Book, Trades


class TickRows:
    """Row converter for one session: prices in $ -> ticks from ``anchor_ticks``, trade sizes -> lots of ``lot_size``."""

    def __init__(self, tick_size: float, anchor_ticks: int, levels: int, lot_size: float):
        if not lot_size > 0:
            raise ValueError(f"TickRows: bad lot_size={lot_size}")
        self._rows = RowTicks(tick_size, anchor_ticks, levels)
        self.tick_size, self.anchor, self.levels, self.lot = self._rows.tick_size, self._rows.anchor, levels, float(lot_size)

    def book(self, bid_px, bid_sz, ask_px, ask_sz) -> Book:
        """One book row ([L] prices $, NaN on empty levels; [L] sizes) -> `Book` in int ticks from the anchor."""
        return Book(*self._rows.book(bid_px, bid_sz, ask_px, ask_sz))

    def trades(self, trades: Sequence) -> Trades:
        """One interval's trades (objects with price $, size, taker_side) -> per side its reach and the size there."""
        if not trades:
            return NO_TRADES  # a quiet interval (most rows on a quiet market)
        sell_px, sell_lots, buy_px, buy_lots = interval_reach(trades, self.tick_size, self.anchor, self.lot)
        if sell_px is None and buy_px is None:
            return NO_TRADES
        lot = self.lot
        sell = ((sell_px,), (sell_lots * lot,)) if sell_px is not None else ((), ())
        buy = ((buy_px,), (buy_lots * lot,)) if buy_px is not None else ((), ())
        return Trades(*sell, *buy)
