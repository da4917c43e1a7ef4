"""Pure JAX fill rules of the market-making simulator (docs/env.md states each rule in full).

Both sides share one code path in *oriented* ticks: the bid side as is, the ask side negated
(``oriented = SIDE_SIGN * price``). In oriented ticks a higher price is always the more
aggressive quote, the opposite touch crosses us when ``opp_best <= p``, and takers that hit us
trade at oriented prices ``<= p`` (for asks: buy prices ``>= p``). Arrays carry a side axis of
size 2 (``[..., 2]``, index 0 = bid, 1 = ask) and broadcast over any leading batch axes. Sizes
are int32 whole lots.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mmjax.data.layout import LOT_CAP
from mmjax.data.market import NO_PRICE
from mmjax.env.fill_kinds import FILL_CROSSED, FILL_QUEUE, FILL_THROUGH, NO_FILL  # noqa: F401 (re-exported)

BID, ASK = 0, 1
SIDE_SIGN = (1, -1)  # oriented = sign * price; +1 bid, -1 ask
# Oriented price of "no order": below any book or trade, never equal to a live quote.
NO_ORDER_PX = -int(NO_PRICE)
# Queue ahead of an order that joined beyond the stored depth: unknown, so never the queue's front
UNSEEN_QUEUE = LOT_CAP


@struct.dataclass
class Orders:
    """The venue order of each side, in oriented ticks. Remaining 0 means no order."""

    px: jax.Array  # [..., 2] int32 oriented ticks
    remaining: jax.Array  # [..., 2] int32 lots (whole venue lots: fills never leave dust)
    queue_ahead: jax.Array  # [..., 2] int32 lots displayed ahead of us at px
    beyond: jax.Array  # [..., 2] bool: joined beyond the stored depth and not seen within it since


def no_orders(batch_shape: tuple[int, ...] = ()) -> Orders:
    """Both sides empty."""
    shape = (*batch_shape, 2)
    return Orders(
        px=jnp.full(shape, NO_ORDER_PX, jnp.int32),
        remaining=jnp.zeros(shape, jnp.int32),
        queue_ahead=jnp.zeros(shape, jnp.int32),
        beyond=jnp.zeros(shape, bool),
    )


def orient(bid: jax.Array, ask: jax.Array) -> jax.Array:
    """Stack bid and ask arrays into oriented ticks along a new axis -2 ([..., 2, K])."""
    return jnp.stack([bid, -ask], axis=-2)


def order_messages(known_px: jax.Array, want_px: jax.Array, want_on: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A decision -> order messages, against the order state the agent knows ([..., 2] each).

    Quoting the price of the known order sends nothing (the order keeps its queue place); any
    other decision sends a cancel/replace: a new order at ``want_px``, or a cancel (NO_ORDER_PX)
    when the side does not quote. Returns (message price = the newly known order, message sent).
    """
    want = jnp.where(want_on, want_px, NO_ORDER_PX).astype(jnp.int32)
    return want, want != known_px


def arrive(
    orders: Orders,
    msg_px: jax.Array,  # [..., 2] int32 oriented price of the arriving message (NO_ORDER_PX: cancel)
    msg: jax.Array,  # [..., 2] bool: a message reaches the venue at row s
    quote_lots: jax.Array,  # [] int32 size of a new order, lots
    shown_lots: jax.Array,  # [..., 2] int32 lots displayed in row s at msg_px where msg, else at orders.px
    within: jax.Array,  # [..., 2] bool: that price is within row s's stored depth
    opp_best: jax.Array,  # [..., 2] opposite touch in row s, oriented like our side: (best ask, -best bid)
) -> tuple[Orders, jax.Array]:
    """Row s: a message cancels/replaces the side's order by a fresh post-only one; else the order rests on.

    A fresh order queues behind the lots displayed at its price (0 if it improves the touch or
    falls between levels), or behind an unknown queue (UNSEEN_QUEUE, flagged ``beyond``) when the
    price is beyond the stored depth. A resting order's queue cannot exceed what row s displays at
    its price: cancellations ahead shrink it, and an emptied level within the depth makes it 0
    (hftbacktest's risk-averse queue). Returns (orders, rejected [..., 2]): a fresh order at or
    through the opposite touch would take liquidity, so the venue rejects it (post-only).
    """
    fresh = msg & (msg_px != NO_ORDER_PX)
    rejected = fresh & (opp_best <= msg_px)
    placed = fresh & ~rejected
    queue_new = jnp.where(within, shown_lots, UNSEEN_QUEUE)
    queue_kept = jnp.where(within, jnp.minimum(orders.queue_ahead, shown_lots), orders.queue_ahead)
    return Orders(
        px=jnp.where(msg, jnp.where(placed, msg_px, NO_ORDER_PX), orders.px).astype(jnp.int32),
        remaining=jnp.where(msg, jnp.where(placed, quote_lots, 0), orders.remaining).astype(jnp.int32),
        queue_ahead=jnp.where(msg, jnp.where(placed, queue_new, 0), queue_kept).astype(jnp.int32),
        beyond=jnp.where(msg, placed & ~within, orders.beyond & ~within),
    ), rejected


def known_after(known_px: jax.Array, orders: Orders, in_flight: jax.Array) -> jax.Array:
    """What the agent knows at the next decision: an order it saw end (filled, rejected) is gone.

    With a message still in flight the known order is that message's, whatever became of the older one.
    """
    return jnp.where((orders.remaining <= 0) & ~in_flight, NO_ORDER_PX, known_px).astype(jnp.int32)


def settle(
    orders: Orders,  # live during (s, s+1]
    reach_px: jax.Array,  # [..., 2] oriented furthest price taker flow traded at against each side in (s, s+1]
    reach_lots: jax.Array,  # [..., 2] int32 lots traded exactly at reach_px
    opp_best_s: jax.Array,  # [..., 2] oriented opposite touch in book row s (bid side: best ask)
    opp_best_s1: jax.Array,  # [..., 2] same in book row s+1
) -> tuple[Orders, jax.Array, jax.Array]:
    """Fill the live orders over (s, s+1]; returns (orders at s+1, fill lots [..., 2] int32, fill kind [..., 2]).

    With price-time priority, flow that traded beyond our price had emptied our level first: the
    order fills in full (FILL_THROUGH). Flow that stopped exactly at our price eats the queue
    ahead first (FILL_QUEUE). A book whose opposite touch reaches our price fills the remainder
    (FILL_CROSSED). Every fill is at our own price p. The inventory limit is not the venue's: it gates
    new orders at the decision (`steps.decide`), never a fill of an order already at the venue.
    """
    p, rem, queue = orders.px, orders.remaining, orders.queue_ahead
    live = rem > 0
    crossed = live & ((opp_best_s <= p) | (opp_best_s1 <= p))
    through = live & (reach_px < p)
    at_p = jnp.where(reach_px == p, reach_lots, 0)
    fill = jnp.where(crossed | through, rem, jnp.minimum(rem, jnp.maximum(0, at_p - queue)))
    kind = jnp.where(fill > 0, jnp.where(crossed, FILL_CROSSED, jnp.where(through, FILL_THROUGH, FILL_QUEUE)), NO_FILL)
    queue = jnp.where(through, 0, jnp.maximum(0, queue - at_p))
    return orders.replace(remaining=rem - fill, queue_ahead=queue), fill, kind.astype(jnp.int32)
