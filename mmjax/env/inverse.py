"""Inverse contracts on the device: the account in coin, the PnL marked in $ (docs/env.md, "Inverse contracts").

A size is a number of contracts of ``value`` $ each (`MarketData.contract_value`, e.g. 100 on Binance
COIN-M BTC); q contracts at price P are a position of q V / P coin, and their PnL in coin from P to
P' is q V (1/P - 1/P'). `MarketMakingEnv.step_env` uses these functions in place of the linear account
when the market is inverse (a static branch: the linear program is compiled exactly as before):

    cash  += s V (1/P - 1/M0) - fee        coin; s = + contracts bought / - sold at P; M0 = mid0 in $
    fee    = maker_fee_bps 1e-4 |s| V / P  coin (the notional of a fill is |s| V $)
    pnl    = (cash - q V (1/M - 1/M0)) M   $ at the mark mid M

Cash is relative to holding the traded contracts at mid0, as in the linear account, so that the
anchor cancels and float32 numbers stay small. Prices enter in ticks from the anchor (int32 or
float32), ``tick`` is $ per tick; every function is elementwise (shapes as given).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def usd(ticks: jax.Array, anchor: int, tick: jax.Array) -> jax.Array:
    """$ price of ``ticks`` from the anchor (float32; exact in ticks below 2^24)."""
    return (jnp.asarray(ticks, jnp.float32) + jnp.float32(anchor)) * tick


def _fill_usd(fill: jax.Array, fill_px: jax.Array, anchor: int, tick: jax.Array) -> jax.Array:
    """[2] $ prices of the fills; no fill: any non-zero price (its terms are 0)."""
    return jnp.where(fill > 0, usd(fill_px, anchor, tick), 1.0)


def fill_flow(signed: jax.Array, fill: jax.Array, fill_px: jax.Array, mid0: jax.Array, anchor: int, tick: jax.Array,
              value: float) -> jax.Array:
    """[] float32 coin cash flow s V (1/P - 1/M0) of the two sides' fills ([2] each) summed."""
    px = _fill_usd(fill, fill_px, anchor, tick)  # [2] $
    m0 = usd(mid0, anchor, tick)
    rel = (fill_px.astype(jnp.float32) - mid0) * tick  # [2] $ P - M0, exact in ticks
    flow = -signed * jnp.float32(value) * rel / (px * m0)  # [2] coin: s V (M0 - P) / (P M0)
    return flow[0] + flow[1]


def fill_fee(fill: jax.Array, fill_px: jax.Array, anchor: int, tick: jax.Array, value: float,
             fee_bps: jax.Array) -> jax.Array:
    """[] float32 coin maker fee of the two sides' fills ([2] each) summed: fee_bps 1e-4 |s| V / P."""
    fee = fee_bps * 1e-4 * jnp.float32(value) * (fill / _fill_usd(fill, fill_px, anchor, tick))  # [2] coin
    return fee[0] + fee[1]


def mark(cash: jax.Array, inv: jax.Array, mid: jax.Array, mid0: jax.Array, anchor: int, tick: jax.Array,
         value: float) -> jax.Array:
    """$ PnL at the mid ``mid``: the coin PnL (cash - q V (1/M - 1/M0)) times M, written without the cancellation."""
    m, m0 = usd(mid, anchor, tick), usd(mid0, anchor, tick)
    return cash * m + inv * jnp.float32(value) * (mid - mid0) * tick / m0


def exposure(inv: jax.Array, mid: jax.Array, anchor: int, tick: jax.Array, value: float) -> jax.Array:
    """Coin-equivalent position q V / M: the $ PnL of q contracts over a move dM is this times dM (to first order)."""
    return inv * jnp.float32(value) / usd(mid, anchor, tick)


def unrealized(inv: jax.Array, mid: jax.Array, mid0: jax.Array, entry: jax.Array, anchor: int,
               value: float) -> jax.Array:
    """$ value at the mid of the open position's coin PnL: q V (M - P_e) / P_e, P_e = mid0 + entry (ticks)."""
    return inv * jnp.float32(value) * (mid - mid0 - entry) / (mid0 + entry + jnp.float32(anchor))
