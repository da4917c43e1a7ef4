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
    # sizes in whole lots of ``lot_size`` (int32, exact: the loader converts from float64); None on a
    # hand-made market: `size_lots` then derives them from the float32 sizes
    bid_lots: jax.Array | None = None  # [T, L] int32
    ask_lots: jax.Array | None = None  # [T, L] int32
    buy_px_lots: jax.Array | None = None  # [T, M] int32 volume at each buy price, lots
    sell_px_lots: jax.Array | None = None  # [T, M] int32
    lot_size: float = struct.field(pytree_node=False, default=DEFAULT_LOT_SIZE)  # venue size units per lot

    @property
    def num_steps(self) -> int:
        return self.mid.shape[0]

    @property
    def levels(self) -> int:
        return self.bid_px.shape[1]

    @property
    def dt_s(self) -> float:
        return self.grid_ms / 1000.0

    def to_price(self, ticks: jax.Array | np.ndarray) -> np.ndarray:
        """Absolute prices (float64, host) from anchored ticks."""
        return (np.asarray(ticks, np.float64) + self.px_anchor_ticks) * self.tick_size

    def size_lots(self) -> dict[str, np.ndarray]:
        """The four size arrays in whole lots (int32, host): stored ones, else derived from the float sizes."""
        out = {}
        for name, src in (("bid_lots", "bid_sz"), ("ask_lots", "ask_sz"), ("buy_px_lots", "buy_px_vol"),
                          ("sell_px_lots", "sell_px_vol")):
            stored = getattr(self, name)
            out[name] = np.asarray(stored) if stored is not None else to_lots(np.asarray(getattr(self, src)), self.lot_size)
        return out

    def slice(self, start: int, stop: int) -> MarketData:
        """Rows [start, stop) as a new MarketData (the first row becomes a segment start)."""
        sl = jax.tree_util.tree_map(lambda a: a[start:stop], self)
        after_gap = sl.after_gap.at[0].set(True)
        steps = jnp.minimum(sl.steps_to_gap, stop - start - jnp.arange(stop - start))
        return sl.replace(after_gap=after_gap, steps_to_gap=steps.astype(jnp.int32))

