"""The JAX observation: `agent_features` and `get_obs`, the one place an observation is built.

Twins of `mmjax.env.sim_np.agent_features` and `ReferenceMarketEnv._obs` (docs/env.md, "Observation"):
both read only what the agent knows at its decision (its account at row t, the time, its known orders).
`MarketMakingEnv.reset_at` and `step_env` both call `get_obs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env import fills, inverse
from mmjax.env.state import EnvParams, EnvState, mid_ticks
from mmjax.features.spec import COUNT_CAP_STEPS, ORDER_DIST_SCALE_TICKS, QUEUE_SCALE_QUOTES


def agent_features(state: EnvState, params: EnvParams) -> jax.Array:
    """[17] inventory_frac, time_left_frac, unrealized_pnl_scaled, then `order_features` (`spec.AGENT_FEATURES`)."""
    mkt = params.market
    inv, mid = state.inventory, mid_ticks(state.best)
    if mkt.inverse:  # the notional of max_inventory contracts is max_inventory x contract_value $
        upnl = inverse.unrealized(inv, mid, state.mid0, state.entry_ticks, mkt.px_anchor_ticks, mkt.contract_value)
        notional = params.max_inventory * jnp.float32(mkt.contract_value)
    else:
        upnl = inv * (mid - state.mid0 - state.entry_ticks) * jnp.float32(mkt.tick_size)
        mid_usd = (mid + jnp.float32(mkt.px_anchor_ticks)) * jnp.float32(mkt.tick_size)
        notional = params.max_inventory * mid_usd
    # 1.0 = a full inventory carrying a gain of max_offset_bps
    unit = notional * 1e-4 * jnp.maximum(params.max_offset_bps, 1e-6)
    account = jnp.stack([
        inv / params.max_inventory,
        (params.episode_steps - state.time).astype(jnp.float32) / params.episode_steps,
        upnl / unit,
    ]).astype(jnp.float32)
    return jnp.concatenate([account, order_features(state, params)])


def order_features(state: EnvState, params: EnvParams) -> jax.Array:
    """[2 x 7] the agent's own orders at row t, bid's then ask's (`spec.ORDER_FEATURE_KINDS`, docs/env.md).

    From what it knows at its decision: its venue order after the fills of (t-1, t] and the arrivals
    at t (the simulator reports both at the next decision), the fill model's queue estimate (data up
    to row t), and its own messages in flight.
    """
    o = state.orders
    live = o.remaining > 0  # [2]
    f32 = jnp.float32
    d = (state.best - o.px).astype(f32)  # [2] ticks behind the own-side touch (oriented: both sides alike)
    dist = jnp.clip(jnp.sign(d) * jnp.log1p(jnp.abs(d)) / f32(np.log1p(ORDER_DIST_SCALE_TICKS)), -1.0, 1.0)
    quote_lots = jnp.rint(params.quote_size / f32(params.lot_size))
    queue = o.queue_ahead.astype(f32)
    queue_log = jnp.minimum(jnp.log1p(queue / quote_lots) / f32(np.log1p(QUEUE_SCALE_QUOTES)), 1.0)
    queue_log = jnp.where(o.queue_ahead >= fills.UNSEEN_QUEUE, 1.0, queue_log)  # unknown (beyond the depth): the back
    shown = state.shown_lots
    frac = jnp.where(shown < 0, 1.0, jnp.minimum(queue / jnp.maximum(shown, 1).astype(f32), 1.0))
    per_count = f32(np.log1p(COUNT_CAP_STEPS))
    age = jnp.log1p(state.order_age.astype(f32)) / per_count
    flight = jnp.any(state.pipe_msg, axis=0).astype(f32)
    since = jnp.log1p(state.since_fill.astype(f32)) / per_count
    zero = jnp.zeros((2,), f32)
    per_side = jnp.stack([live.astype(f32), jnp.where(live, dist, zero), jnp.where(live, queue_log, zero),
                          jnp.where(live, frac, zero), jnp.where(live, age, zero), flight, since])  # [7, 2]
    return per_side.T.reshape(-1)


def get_obs(market_features: jax.Array, state: EnvState, params: EnvParams) -> jax.Array:
    """[F_M + len(AGENT_FEATURES)] the observation at the state's row: its market features, then the agent's."""
    return jnp.concatenate([market_features, agent_features(state, params)])
