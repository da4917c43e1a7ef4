"""`MarketData`: a recording as a pytree of fixed-shape device arrays, ready for jit and vmap.

Prices are int32 ticks relative to an anchor (``px_anchor_ticks``), because float32 cannot hold
$95,123.45 to the cent while small tick offsets are exact in int32 and float32 alike.
Absolute price = (ticks + px_anchor_ticks) * tick_size.

Time index ``t`` is the book grid. The trade aggregates at ``t`` describe what traded in the
interval (t, t+1] on the receive clock: data the agent has not seen when it acts at ``t``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mmjax.data.layout import DEFAULT_LOT_SIZE, DEFAULT_TRADE_SLOTS, NO_PRICE, steps_to_gap, to_lots  # noqa: F401 (re-exported)
from mmjax.data.ticks import reach_from_slots


@struct.dataclass
class MarketData:
    """One recording on the grid. T rows, L book levels, M trade price slots."""

    bid_px: jax.Array  # [T, L] int32 ticks from anchor, best first; empty levels extrapolated
    bid_sz: jax.Array  # [T, L] float32, 0 on empty levels
    ask_px: jax.Array  # [T, L] int32
    ask_sz: jax.Array  # [T, L] float32
    mid: jax.Array  # [T] float32 ticks from anchor ((best bid + best ask) / 2)
    t_s: jax.Array  # [T] float32 seconds since the first row (for display; use row indices to compute)
    after_gap: jax.Array  # [T] bool, first row of each gap-free segment
    steps_to_gap: jax.Array  # [T] int32 rows from t (inclusive) to the end of t's segment
    buy_vol: jax.Array  # [T] float32 taker-buy volume in (t, t+1]
    sell_vol: jax.Array  # [T] float32 taker-sell volume in (t, t+1]
    buy_px: jax.Array  # [T, M] int32 distinct taker-buy prices in (t, t+1], ascending; NO_PRICE pad
    buy_px_vol: jax.Array  # [T, M] float32 volume at each buy price (last slot folds deeper prices)
    sell_px: jax.Array  # [T, M] int32 distinct taker-sell prices, descending; -NO_PRICE pad
    sell_px_vol: jax.Array  # [T, M] float32
    n_trades: jax.Array  # [T] int32 number of trades in (t, t+1]
    tick_size: float = struct.field(pytree_node=False)
    px_anchor_ticks: int = struct.field(pytree_node=False)
    grid_ms: int = struct.field(pytree_node=False)
    # What the fill rules read, exact (the loader builds them from the float64 recording); None on a
    # hand-made market, where `depth` and `trade_reach` derive them from the fields above. Oriented
    # ticks: a side's prices as is for bids, negated for asks (higher = nearer the other side).
    book_px: jax.Array | None = None  # [T, 2, K] int32 oriented level prices, best first; K >= L every stored level
    book_lots: jax.Array | None = None  # [T, 2, K] int32 lots, 0 on empty levels
    reach_px: jax.Array | None = None  # [T, 2] int32 oriented furthest price taker flow traded in (t, t+1] against
    # each side (bids: the lowest taker-sell price; asks: minus the highest taker-buy price); NO_PRICE if none
    reach_lots: jax.Array | None = None  # [T, 2] int32 lots traded at reach_px in (t, t+1]
    lot_size: float = struct.field(pytree_node=False, default=DEFAULT_LOT_SIZE)  # venue size units per lot
    # the contract (mmjax.schema): "linear", or "inverse" with sizes in contracts of contract_value quote
    # currency each (0.0 when linear). Static: the env compiles one program per contract type.
    contract_type: str = struct.field(pytree_node=False, default="linear")
    contract_value: float = struct.field(pytree_node=False, default=0.0)

    @property
    def num_steps(self) -> int:
        return self.mid.shape[0]

    @property
    def inverse(self) -> bool:
        """Sizes are inverse contracts (PnL settles in the base coin; docs/env.md, "Inverse contracts")."""
        return self.contract_type == "inverse"

    @property
    def levels(self) -> int:
        return self.bid_px.shape[1]

    @property
    def dt_s(self) -> float:
        return self.grid_ms / 1000.0

    def to_price(self, ticks: jax.Array | np.ndarray) -> np.ndarray:
        """Absolute prices (float64, host) from anchored ticks."""
        return (np.asarray(ticks, np.float64) + self.px_anchor_ticks) * self.tick_size

    def depth(self) -> tuple[np.ndarray, np.ndarray]:
        """([T, 2, K] oriented level prices, [T, 2, K] lots) on the host: stored, else from the top L levels."""
        if self.book_px is not None:
            return np.asarray(self.book_px), np.asarray(self.book_lots)
        px = np.stack([np.asarray(self.bid_px), -np.asarray(self.ask_px)], axis=1)
        lots = np.stack([to_lots(np.asarray(self.bid_sz), self.lot_size), to_lots(np.asarray(self.ask_sz), self.lot_size)], axis=1)
        return px.astype(np.int32), lots

    def trade_reach(self) -> tuple[np.ndarray, np.ndarray]:
        """([T, 2] oriented furthest traded price, [T, 2] lots at it) on the host: stored, else from the slots.

        From the slots it is exact where an interval traded at most M distinct prices per side (the
        last slot folds deeper ones); markets built by the loader store the exact values.
        """
        if self.reach_px is not None:
            return np.asarray(self.reach_px), np.asarray(self.reach_lots)
        return reach_from_slots(self.sell_px, self.sell_px_vol, self.buy_px, self.buy_px_vol, self.lot_size)

    def slice(self, start: int, stop: int) -> MarketData:
        """Rows [start, stop) as a new MarketData (the first row becomes a segment start)."""
        sl = jax.tree_util.tree_map(lambda a: a[start:stop], self)
        after_gap = sl.after_gap.at[0].set(True)
        steps = jnp.minimum(sl.steps_to_gap, stop - start - jnp.arange(stop - start))
        return sl.replace(after_gap=after_gap, steps_to_gap=steps.astype(jnp.int32))



def identity(md: MarketData, meta) -> dict[str, float | str]:
    """What a report must name to be read right (``meta``: the recording's `RecordingMeta`): the product,
    its tick ($), lot and size unit, and its contract (contract_value: quote currency per inverse contract, 0.0 linear)."""
    return {"product": meta.product, "tick_size": md.tick_size, "lot_size": md.lot_size, "size_unit": meta.size_unit,
            "contract_type": md.contract_type, "contract_value": md.contract_value}
