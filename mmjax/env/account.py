"""The JAX account and reward: fees, cash, entry price, inventory, the mark and the reward of one interval.

Each function is the twin of the `mmjax.env.sim_np` function of the same name (docs/env.md, "The two
twins"); tests/test_reference.py and tests/test_inverse.py pin each pair together on rollouts. Money
is $, float32; an inverse contract's cash and fee are coin (`mmjax.env.inverse`, a static branch: the
linear program compiles exactly as if the inverse one did not exist).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmjax.env import inverse
from mmjax.env.state import SIGN, EnvParams, EnvState, Fill


def fill_fee(fill: Fill, params: EnvParams) -> jax.Array:
    """[] maker fee on the fills' notional in the account's currency ($; inverse: coin), negative = rebate."""
    mkt = params.market
    tick = jnp.float32(mkt.tick_size)
    if mkt.inverse:
        return inverse.fill_fee(fill.size, fill.price, mkt.px_anchor_ticks, tick, mkt.contract_value,
                                params.maker_fee_bps)
    notional = fill.size * (fill.price + mkt.px_anchor_ticks).astype(jnp.float32)  # [2] size * ticks
    return params.maker_fee_bps * 1e-4 * tick * (notional[0] + notional[1])


def book_fills(state: EnvState, fill: Fill, fee: jax.Array, params: EnvParams) -> EnvState:
    """Cash, entry price and inventory after one interval's fills (the bid's applied first); pnl unchanged."""
    mkt = params.market
    tick = jnp.float32(mkt.tick_size)
    q = state.inventory
    signed = SIGN.astype(jnp.float32) * fill.size  # [2] + bought, - sold
    rel_px = fill.price.astype(jnp.float32) - state.mid0  # [2] ticks from mid0
    if mkt.inverse:
        flow_coin = inverse.fill_flow(signed, fill.size, fill.price, state.mid0, mkt.px_anchor_ticks, tick,
                                      mkt.contract_value)
        cash = state.cash + flow_coin - fee
    else:
        flow = signed * rel_px  # [2]; sums of two written out: a reduce is its own kernel on XLA:CPU
        cash = state.cash - tick * (flow[0] + flow[1]) - fee
    inv_lots = state.inventory_lots + fill.lots[0] - fill.lots[1]
    inv = inv_lots.astype(jnp.float32) * jnp.float32(params.lot_size)  # ten fills of 0.01 make exactly float32(0.1)
    entry = update_entry(update_entry(state.entry_ticks, q, signed[0], rel_px[0]), q + signed[0], signed[1], rel_px[1])
    return state.replace(cash=cash, inventory=inv, inventory_lots=inv_lots, entry_ticks=entry)


def update_entry(entry: jax.Array, q: jax.Array, dq: jax.Array, px: jax.Array) -> jax.Array:
    """Average entry price after trading ``dq`` at ``px`` from inventory ``q`` (ticks from mid0)."""
    q1 = q + dq
    grows = q * dq > 0
    flips_or_opens = (q1 * q <= 0) & (q1 != 0)  # from flat, or through zero: the rest is new at px
    avg = (jnp.abs(q) * entry + jnp.abs(dq) * px) / jnp.maximum(jnp.abs(q1), 1e-30)
    out = jnp.where(grows, avg, jnp.where(flips_or_opens, px, entry))
    return jnp.where((dq == 0) | (q1 == 0), jnp.where(q1 == 0, 0.0, entry), out)


def mark(state: EnvState, mid: jax.Array, params: EnvParams) -> EnvState:
    """PnL marked to ``mid`` (ticks from anchor), $; inverse: the coin PnL times the mid (`inverse.mark`)."""
    mkt = params.market
    tick = jnp.float32(mkt.tick_size)
    if mkt.inverse:
        pnl = inverse.mark(state.cash, state.inventory, mid, state.mid0, mkt.px_anchor_ticks, tick, mkt.contract_value)
    else:
        pnl = state.cash + state.inventory * (mid - state.mid0) * tick
    return state.replace(pnl=pnl)


def reward(dpnl: jax.Array, q: jax.Array, sigma_ticks: jax.Array, mid_t: jax.Array, mid_t1: jax.Array,
           params: EnvParams) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(reward, risk penalty, dampening penalty) of one step, $; q is the inventory held over the interval."""
    mkt = params.market
    tick = jnp.float32(mkt.tick_size)
    if mkt.inverse:  # the risk terms see the coin-equivalent position: its $ PnL over the step is that times the move
        q = inverse.exposure(q, mid_t, mkt.px_anchor_ticks, tick, mkt.contract_value)
    sigma_px = sigma_ticks * tick  # $ per sqrt(s) per unit size
    risk = params.risk_aversion * q * q * sigma_px * sigma_px * jnp.float32(mkt.dt_s)
    damp = params.eta * jnp.maximum(0.0, q * (mid_t1 - mid_t) * tick)
    return dpnl - risk - damp, risk, damp
