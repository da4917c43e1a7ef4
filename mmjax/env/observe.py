"""The JAX observation: `agent_features` and `get_obs`, the one place an observation is built.

Twins of `mmjax.env.sim_np.agent_features` and `ReferenceMarketEnv._obs` (docs/env.md, "Observation"):
both read only what the agent knows at its decision (its account at row t, the time, its known orders).
`MarketMakingEnv.reset_at` and `step_env` both call `get_obs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmjax.env import inverse
from mmjax.env.state import EnvParams, EnvState, mid_ticks


def agent_features(state: EnvState, params: EnvParams) -> jax.Array:
    """[3] inventory_frac, time_left_frac, unrealized_pnl_scaled at the state's row (see docs/env.md)."""
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
    return jnp.stack([
        inv / params.max_inventory,
        (params.episode_steps - state.time).astype(jnp.float32) / params.episode_steps,
        upnl / unit,
    ]).astype(jnp.float32)


def get_obs(market_features: jax.Array, state: EnvState, params: EnvParams) -> jax.Array:
    """[F_M + len(AGENT_FEATURES)] the observation at the state's row: its market features, then the agent's."""
    return jnp.concatenate([market_features, agent_features(state, params)])
