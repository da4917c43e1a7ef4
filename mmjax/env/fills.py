"""Pure JAX fill rules of the market-making simulator (docs/env.md states each rule in full).

Both sides share one code path in *oriented* ticks: the bid side as is, the ask side negated
(``oriented = SIDE_SIGN * price``). In oriented ticks a higher price is always the more
aggressive quote, the opposite touch crosses us when ``opp_best <= p``, and takers that hit us
trade at oriented prices ``<= p`` (for asks: buy prices ``>= p``). Arrays carry a side axis of
size 2 (``[..., 2]``, index 0 = bid, 1 = ask) and broadcast over any leading batch axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mmjax.data.market import NO_PRICE

BID, ASK = 0, 1
SIDE_SIGN = (1, -1)  # oriented = sign * price; +1 bid, -1 ask
# Oriented price of "no order": below any book or trade, never equal to a live quote.
NO_ORDER_PX = -int(NO_PRICE)


@struct.dataclass
class Orders:
    """The live resting order of each side, in oriented ticks. Remaining 0 means no order."""

    px: jax.Array  # [..., 2] int32 oriented ticks
    remaining: jax.Array  # [..., 2] int32 lots (whole venue lots: fills never leave dust)
    queue_ahead: jax.Array  # [..., 2] int32 lots displayed ahead of us at px


def no_orders(batch_shape: tuple[int, ...] = ()) -> Orders:
    """Both sides empty."""
    shape = (*batch_shape, 2)
    return Orders(
        px=jnp.full(shape, NO_ORDER_PX, jnp.int32),
        remaining=jnp.zeros(shape, jnp.int32),
        queue_ahead=jnp.zeros(shape, jnp.int32),
    )


def orient(bid: jax.Array, ask: jax.Array) -> jax.Array:
    """Stack bid and ask arrays into oriented ticks along a new axis -2 ([..., 2, K])."""
    return jnp.stack([bid, -ask], axis=-2)


def quote_prices(
    action: jax.Array,  # [..., 2] in [-1, 1]: bid, ask
    mid_ticks: jax.Array,  # [...] float32 half-integer ticks from the anchor
    best_bid: jax.Array,  # [...] int32
    best_ask: jax.Array,  # [...] int32
    max_offset_bps: jax.Array,
    anchor_ticks: float,
) -> tuple[jax.Array, jax.Array]:
    """Action -> (bid, ask) int32 ticks: offset_bps = (a+1)/2*max, bid below mid, ask above, never a taker."""
    a = jnp.clip(action.astype(jnp.float32), -1.0, 1.0)
    offset_bps = (a + 1.0) * 0.5 * max_offset_bps  # [..., 2]
    # 1 bp of the absolute mid in ticks; float32 on purpose (the NumPy twin reproduces it exactly)
    ticks_per_bps = (mid_ticks + jnp.float32(anchor_ticks)) * jnp.float32(1e-4)
    off = offset_bps * ticks_per_bps[..., None]
    bid = jnp.floor(mid_ticks - off[..., 0]).astype(jnp.int32)
    ask = jnp.ceil(mid_ticks + off[..., 1]).astype(jnp.int32)
    # strictly on our side of the mid (an even spread at offset 0 would put bid == ask) ...
    bid = jnp.minimum(bid, jnp.ceil(mid_ticks).astype(jnp.int32) - 1)
    ask = jnp.maximum(ask, jnp.floor(mid_ticks).astype(jnp.int32) + 1)
    # ... and never through the opposite touch (we are a maker)
    bid = jnp.minimum(bid, best_ask - 1)
    ask = jnp.maximum(ask, best_bid + 1)
    return bid, ask


def displayed_size(level_px: jax.Array, level_lots: jax.Array, px: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lots shown at ``px`` in one book row ([..., L] levels, [...] px) and whether px is a level."""
    hit = level_px == px[..., None]
    return jnp.sum(jnp.where(hit, level_lots, 0), axis=-1), jnp.any(hit, axis=-1)


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
    level_px: jax.Array,  # [..., 2, L] oriented book row s (the row the message arrives at)
    level_lots: jax.Array,  # [..., 2, L] int32
    opp_best: jax.Array,  # [..., 2] opposite touch in row s, oriented like our side: (best ask, -best bid)
) -> tuple[Orders, jax.Array]:
    """Messages reach the venue at s: cancel/replace the side's order by a fresh post-only one; else it rests on.

    Returns (orders, rejected [..., 2]): a fresh order at or through the opposite touch of row s
    would take liquidity, so the venue rejects it (post-only) and that side has no order.
    """
    fresh = msg & (msg_px != NO_ORDER_PX)
    rejected = fresh & (opp_best <= msg_px)
    placed = fresh & ~rejected
    # a fresh order queues behind what is displayed at p in row s; 0 if p improves the touch or is no level
    queue_new, _ = displayed_size(level_px, level_lots, msg_px)
    return Orders(
        px=jnp.where(msg, jnp.where(placed, msg_px, NO_ORDER_PX), orders.px).astype(jnp.int32),
        remaining=jnp.where(msg, jnp.where(placed, quote_lots, 0), orders.remaining).astype(jnp.int32),
        queue_ahead=jnp.where(msg, jnp.where(placed, queue_new, 0), orders.queue_ahead).astype(jnp.int32),
    ), rejected


def known_after(known_px: jax.Array, orders: Orders, in_flight: jax.Array) -> jax.Array:
    """What the agent knows at the next decision: an order it saw end (filled, rejected) is gone.

    With a message still in flight the known order is that message's, whatever became of the older one.
    """
    return jnp.where((orders.remaining <= 0) & ~in_flight, NO_ORDER_PX, known_px).astype(jnp.int32)


def trade_volumes(px: jax.Array, trade_px: jax.Array, trade_lots: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Taker lots against ``px`` in one interval: (exactly at px, strictly through px), oriented, int32."""
    at = jnp.sum(jnp.where(trade_px == px[..., None], trade_lots, 0), axis=-1)
    # several slots may each hold up to LOT_CAP: add in float32 (only its min with the order matters)
    thr = jnp.sum(jnp.where(trade_px < px[..., None], trade_lots, 0).astype(jnp.float32), axis=-1)
    return at, jnp.minimum(thr, 2.0**30).astype(jnp.int32)


def settle(
    orders: Orders,  # live during (s, s+1]
    trade_px: jax.Array,  # [..., 2, M] oriented taker prices of aggregate row s (hitting each side)
    trade_lots: jax.Array,  # [..., 2, M] int32
    opp_best_s: jax.Array,  # [..., 2] oriented opposite touch in book row s (bid side: best ask)
    opp_best_s1: jax.Array,  # [..., 2] same in book row s+1
    room: jax.Array,  # [..., 2] int32 lots each side may still fill before the inventory limit
    next_px: jax.Array,  # [..., 2, L] oriented book row s+1 (for cancellations ahead of us)
    next_lots: jax.Array,  # [..., 2, L] int32
) -> tuple[Orders, jax.Array, jax.Array]:
    """Fill the live orders over (s, s+1]; returns (orders at s+1, fill lots [...,2] int32, crossed [...,2])."""
    p, rem, queue = orders.px, orders.remaining, orders.queue_ahead
    v_at, v_thr = trade_volumes(p, trade_px, trade_lots)
    # both terms are <= 2^30 lots, so their sum fits in int32
    trade_fill = jnp.minimum(rem, jnp.maximum(0, v_at - queue) + v_thr)
    # the touch moved through our price: the whole remainder fills at p
    crossed = (rem > 0) & ((opp_best_s <= p) | (opp_best_s1 <= p))
    fill = jnp.minimum(jnp.where(crossed, rem, trade_fill), jnp.maximum(room, 0))
    # trades through p clear everything ahead; trades at p eat the queue first
    queue = jnp.where(v_thr > 0, 0, jnp.maximum(0, queue - v_at))
    # cancellations: the queue ahead cannot exceed what row s+1 still shows at p
    shown_lots, shown = displayed_size(next_px, next_lots, p)
    queue = jnp.where(shown, jnp.minimum(queue, shown_lots), queue)
    return Orders(px=p, remaining=rem - fill, queue_ahead=queue), fill, crossed & (fill > 0)
