"""Fill counts per hour of the fixed quoter d ticks behind the touch, measured with `mmjax backtest`.

The quoter rests one order per side at ``best_bid - d`` and ``best_ask + d`` of the decision's row
(d = 0, 1, 3 ticks, and d = 1 bp of the mid rounded up to ticks), through the env's own order,
queue and fill rules: the same machinery as `mmjax backtest`, one run per distance. Both markets of
a comparison get the same knobs (`fill_knobs`), so only the market differs.
"""

from __future__ import annotations

import jax.numpy as jnp

from mmjax.env import actions
from mmjax.env.knobs import EnvKnobs, EnvOverrides
from mmjax.evaluation.backtest import BacktestConfig, backtest
from mmjax.policy import baselines as bl

# fact name -> (ticks behind the touch, extra bps of the mid behind the touch)
FILL_DISTANCES: dict[str, tuple[int, float]] = {
    "fills_per_hour_0tick": (0, 0.0), "fills_per_hour_1tick": (1, 0.0),
    "fills_per_hour_3tick": (3, 0.0), "fills_per_hour_1bp": (0, 1.0),
}
RANGE_BPS = 50.0  # action range wide enough for any of these quotes on a wide-spread book


def _action_behind_touch(d, state, params):
    """[2] action quoting ``d`` [] ticks behind each touch (the env's action mapping, `mmjax.env.actions`)."""
    mkt = params.market
    k_max = actions.max_ticks(mkt.mid[state.t], mkt.px_anchor_ticks, params.max_offset_bps)
    return bl.ticks_to_action(jnp.stack([d, d]), k_max, xp=jnp)


def touch_quoter(d_ticks: int, d_bps: float = 0.0):
    """Policy factory: quote ``d_ticks`` (+ ``d_bps`` of the mid, rounded up to whole ticks) behind each touch."""

    def factory(env, params):
        def policy(obs, state, p):
            mkt = p.market
            per_bp = (mkt.mid[state.t] + jnp.float32(mkt.px_anchor_ticks)) * jnp.float32(1e-4)
            d = jnp.float32(d_ticks) + jnp.ceil(jnp.float32(d_bps) * per_bp - jnp.float32(1e-6))
            return _action_behind_touch(d, state, p)

        return policy

    return factory


def fill_knobs(lot_size: float) -> EnvOverrides:
    """The backtest knobs every fill-count comparison uses: default quote size, at least one lot."""
    q = max(EnvKnobs().quote_size, float(lot_size))
    return EnvOverrides(quote_size=q, max_inventory=10 * q, max_offset_bps=RANGE_BPS)


def fills_per_hour(data: str, lot_size: float, grid_ms: int, product: str | None = None,
                   names=tuple(FILL_DISTANCES)) -> dict[str, float]:
    """``{fills_per_hour_*: fills per hour}`` of the touch quoter at each distance ``names`` of `FILL_DISTANCES`."""
    out = {}
    for name in names:
        d, bps = FILL_DISTANCES[name]
        cfg = BacktestConfig(data=str(data), product=product, quiet=True, env=fill_knobs(lot_size))
        res = backtest(cfg, progress=None, factory=touch_quoter(d, bps))
        hours = res["steps"] * grid_ms / 1000.0 / 3600.0
        out[name] = res["fills"] / hours if hours > 0 else float("nan")
    return out
