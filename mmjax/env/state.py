"""The JAX env's values: `EnvState` (one episode), `EnvParams` (data and knobs), and one step's `Fill` and `Settlement`.

The twins of `mmjax.env.sim_types` (`SimState`, `SimParams`, `Fill`, `Settlement`), as pytrees: prices in
oriented int32 ticks from the anchor where noted, sizes in whole lots, money $ (an inverse contract's
cash is coin). The rules that read and write them are in `mmjax.env.steps`, `mmjax.env.account` and
`mmjax.env.observe`; `mmjax.env.market_env` composes them and re-exports these names.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from mmjax.data.market import MarketData
from mmjax.env import fills

SIGN = jnp.array(fills.SIDE_SIGN, jnp.int32)  # [2] bid +1, ask -1


@struct.dataclass
class EnvState(environment.EnvState):
    """One episode in progress. ``time`` counts steps taken; ``t`` is the current book row."""

    t: jax.Array  # [] int32 book row of the current observation
    mid0: jax.Array  # [] float32 mid at the episode start, ticks from anchor (money is marked from here)
    inventory: jax.Array  # [] float32 venue size units (BTC); + long; = inventory_lots * lot_size exactly
    inventory_lots: jax.Array  # [] int32 whole lots (the exact inventory: fills are whole lots)
    cash: jax.Array  # [] float32 $ relative to holding the traded size at mid0 (see docs/env.md); coin if inverse
    entry_ticks: jax.Array  # [] float32 average entry price of the inventory, ticks from mid0
    pnl: jax.Array  # [] float32 $ mark-to-market since the episode start: cash + inventory * (mid - mid0) (linear)
    best: jax.Array  # [2] int32 oriented touch of row t: (best bid, -best ask)
    sigma_t: jax.Array  # [] float32 sigma of row t, ticks per sqrt(s)
    orders: fills.Orders  # venue orders live over (t, t+1], oriented
    known_px: jax.Array  # [2] int32 oriented price of the order the agent knows it has (NO_ORDER_PX: none)
    pipe_px: jax.Array  # [L-1, 2] int32 order messages in flight (oldest first), oriented; NO_ORDER_PX: cancel
    pipe_msg: jax.Array  # [L-1, 2] bool: a message was sent in that slot
    n_crossed: jax.Array  # [] int32 crossed fills this episode
    n_rejected: jax.Array  # [] int32 post-only rejections this episode
    # what the agent knows of its own orders at row t, for its observation (`mmjax.env.observe`)
    order_age: jax.Array  # [2] int32 steps the venue order has rested (0: placed at row t, or none), capped
    since_fill: jax.Array  # [2] int32 steps since the side's last fill, capped at COUNT_CAP_STEPS (= never)
    shown_lots: jax.Array  # [2] int32 lots row t displays at the venue order's price (-1: beyond the stored depth)


@struct.dataclass
class EnvParams:
    """Market data plus reward/quoting knobs. Array and float fields are traced (vmappable)."""

    market: MarketData
    features: jax.Array  # [T, F_M] float32 normalized market features (row t uses data up to t)
    sigma: jax.Array  # [T] float32 realized volatility of mid, ticks per sqrt(second), causal
    # derived by make_params: everything the agent learns at row r packed in one int32 row (floats
    # stored as their bits), so that a step is one gather (see `pack_rows` for the layout)
    rows: jax.Array  # [T, F_M + 8 + 2 NF] int32 (sizes in whole lots of lot_size)
    book_blocks: jax.Array  # [T, 2, NF, 2B] int32 every stored level in blocks (`mmjax.env.depth`)
    valid_starts: jax.Array  # [K] int32 rows an episode may start at (gap-free for the whole episode)
    valid_before: jax.Array  # [T+1] int32 number of valid starts < t
    # the traced knobs of `EnvKnobs` (meaning, unit and default there), as float32 scalars
    quote_size: jax.Array  # []
    max_inventory: jax.Array  # []
    maker_fee_bps: jax.Array  # []
    risk_aversion: jax.Array  # []
    eta: jax.Array  # []
    max_offset_bps: jax.Array  # []
    requote_margin: jax.Array  # [] action units
    start_lo: jax.Array  # [] int32 first row of the split (inclusive)
    start_hi: jax.Array  # [] int32 end row of the split (exclusive); episodes end before it
    episode_steps: int = struct.field(pytree_node=False)  # EnvKnobs.episode_steps (static: shapes)
    latency_steps: int = struct.field(pytree_node=False)  # EnvKnobs.latency_steps
    # size lot of the fill rules, venue units: the market's lot, refined to divide quote_size (make_params)
    lot_size: float = struct.field(pytree_node=False, default=1e-8)

    @property
    def max_steps_in_episode(self) -> int:
        return self.episode_steps


class Fill(NamedTuple):
    """What each side filled over one interval ([2] each: bid, ask); the twin of `sim_types.Fill`."""

    size: jax.Array  # [2] float32 venue size units: lots * lot
    price: jax.Array  # [2] int32 ticks from the anchor: the live order's own price (meaningful where size > 0)
    kind: jax.Array  # [2] int32 FILL_QUEUE / FILL_THROUGH / FILL_CROSSED, NO_FILL without a fill
    lots: jax.Array  # [2] int32 whole lots
    live: jax.Array  # [2] bool: the side had a live order over the interval
    beyond: jax.Array  # [2] bool: that live order's queue was unknown (it joined beyond the stored depth)

    @property
    def crossed(self) -> jax.Array:
        """[2] bool: filled because the opposite touch moved through the order."""
        return self.kind == fills.FILL_CROSSED


class Settlement(NamedTuple):
    """The result of one interval; the twin of `sim_types.Settlement`."""

    fill: Fill
    fee: jax.Array  # [] float32 $, negative = rebate (inverse: the coin fee at the interval's mark mid)
    dpnl: jax.Array  # [] float32 $ change of the marked PnL over the interval
    rejected: jax.Array  # [2] bool: post-only rejected the order arriving at s+1


def mid_ticks(best: jax.Array) -> jax.Array:
    """[] float32 mid, ticks from the anchor, of an oriented touch ``best`` [2] = (best bid, -best ask)."""
    return (best[0] - best[1]).astype(jnp.float32) * 0.5


def max_lots(params: EnvParams) -> jax.Array:
    """[] int32 the inventory limit in whole lots (the twin of `SimParams.max_lots`)."""
    # the tolerance absorbs float32 rounding of the quotient
    return jnp.floor(params.max_inventory / jnp.float32(params.lot_size) + 1e-3).astype(jnp.int32)
