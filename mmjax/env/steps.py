"""The JAX step rules: `decide` (a decision -> order messages) and `settle` (one interval of the venue).

Twins of `mmjax.env.sim_np.decide` / `gate_quotes` and `sim_np.settle` (docs/env.md, "The two twins").
`settle` composes the fill rules (`mmjax.env.fills`), the account (`mmjax.env.account`) and the
arrivals, in sim_np's order: the venue orders fill over (s, s+1], the account books the fills and
marks at s+1, then the message arriving at s+1 acts against row s+1, and the agent learns which of
its known orders ended.

As in sim_np, the pipeline of messages in flight is first in, first out: `decide` appends one slot
(``latency_steps`` slots in the state it returns), `settle` pops the oldest (``latency_steps - 1`` again).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmjax.env import account, actions, depth, fills, inverse
from mmjax.env.rows import Row
from mmjax.env.state import SIGN, EnvParams, EnvState, Fill, Settlement, max_lots, mid_ticks
from mmjax.features.spec import COUNT_CAP_STEPS


def gate_quotes(quoting: jax.Array, inventory_lots: jax.Array, limit_lots: jax.Array) -> jax.Array:
    """[2] bool: the inventory limit at decision time, in whole lots: no bid at q >= max, no ask at q <= -max."""
    return quoting & jnp.stack([inventory_lots < limit_lots, inventory_lots > -limit_lots])


def decide(state: EnvState, action: jax.Array, params: EnvParams) -> tuple[EnvState, jax.Array]:
    """The decision at row t (its touch, the inventory at t, the orders known at t) -> messages arriving at t+L.

    Returns (the state with the decision's slot appended to the pipeline, quoting [2] bool: False = pulled).
    """
    mid_t = mid_ticks(state.best)
    bid_q, ask_q, quoting = actions.quote_prices(action, state.best[0], -state.best[1], mid_t,
                                                 params.market.px_anchor_ticks, params.max_offset_bps,
                                                 state.known_px, params.requote_margin)
    want_on = gate_quotes(quoting, state.inventory_lots, max_lots(params))  # pulled, or at the inventory limit
    known, msg = fills.order_messages(state.known_px, jnp.stack([bid_q, -ask_q]), want_on)
    return state.replace(known_px=known, pipe_px=jnp.concatenate([state.pipe_px, known[None]], axis=0),
                         pipe_msg=jnp.concatenate([state.pipe_msg, msg[None]], axis=0)), quoting


def settle(state: EnvState, row: Row, params: EnvParams) -> tuple[EnvState, Settlement]:
    """The interval (t, t+1] against packed row t+1 (``row``): fills, account, mark, then the arrivals at t+1.

    ``state`` is the one `decide` returned (its pipeline one slot long); the result's time, row, touch
    and sigma are still those of row t (the step advances them).
    """
    # FILL THE LIVE ORDERS OVER (t, t+1]
    live_before = state.orders.remaining > 0  # [2] orders live over (t, t+1]
    orders, lots, kind = fills.settle(state.orders, row.reach_px, row.reach_lots, -state.best[::-1], -row.best[::-1])
    fill = Fill(size=lots.astype(jnp.float32) * jnp.float32(params.lot_size), price=SIGN * state.orders.px, kind=kind,
                lots=lots, live=live_before, beyond=state.orders.beyond & live_before)

    # THE ACCOUNT, MARKED AT ROW t+1
    fee = account.fill_fee(fill, params)
    mid_1 = mid_ticks(row.best)
    acct = account.mark(account.book_fills(state, fill, fee, params), mid_1, params)
    mkt = params.market
    if mkt.inverse:  # coin -> $ at the mark, for info and reports
        fee = fee * inverse.usd(mid_1, mkt.px_anchor_ticks, jnp.float32(mkt.tick_size))

    # THE MESSAGE ARRIVING AT t+1 ACTS AGAINST ROW t+1; ONE DEPTH LOOKUP PER SIDE
    pipe_px, pipe_msg = state.pipe_px, state.pipe_msg
    quote_lots = jnp.rint(params.quote_size / jnp.float32(params.lot_size)).astype(jnp.int32)
    look_px = jnp.where(pipe_msg[0], pipe_px[0], orders.px)  # the arriving order's price, else the resting one's
    shown, within = depth.lookup(params.book_blocks, state.t + 1, row.fences, row.limit, look_px)
    live, rejected = fills.arrive(orders, pipe_px[0], pipe_msg[0], quote_lots, shown, within, -row.best[::-1])
    # fills of (t, t+1] and rejections at t+1 are known at the next decision
    known = fills.known_after(state.known_px, live, jnp.any(pipe_msg[1:], axis=0))
    crossed, n_rejected = fill.crossed.astype(jnp.int32), rejected.astype(jnp.int32)
    # what the agent knows of its orders at t+1: a message that arrived starts its order's clock
    age = jnp.where(pipe_msg[0] | (live.remaining <= 0), 0, jnp.minimum(state.order_age + 1, COUNT_CAP_STEPS))
    since_fill = jnp.where(fill.lots > 0, 0, jnp.minimum(state.since_fill + 1, COUNT_CAP_STEPS))
    out = acct.replace(orders=live, known_px=known, pipe_px=pipe_px[1:], pipe_msg=pipe_msg[1:],
                       n_crossed=state.n_crossed + crossed[0] + crossed[1],
                       n_rejected=state.n_rejected + n_rejected[0] + n_rejected[1],
                       order_age=age.astype(jnp.int32), since_fill=since_fill.astype(jnp.int32),
                       shown_lots=jnp.where(within, shown, -1).astype(jnp.int32))
    return out, Settlement(fill, fee, acct.pnl - state.pnl, rejected)
