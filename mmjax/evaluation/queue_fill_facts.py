"""Fills of a quote joined at the back of the touch, through the env's own fill rules: rate, markouts, queue place.

The touch quoter of `mmjax.evaluation.fill_facts` (one lot per side at each touch, d = 0) runs over every
gap-free segment of a recording, and every step's fills and orders are kept: a new order joins at the
back of the queue displayed at its price (the env's rule, `mmjax.env.fills.arrive`), so its queue ahead
at arrival is where it joined. Per fill: the wait from the order's arrival to the fill, the queue it joined
behind (lots), and its markout after h, ``maker_side * (mid(t + 1 + h) - price) / price`` in bps (the
convention of `mmjax.market.facts.markouts`; fill in (t, t+1]). Fills are split at the median queue
joined behind: "front" (joined behind a short queue, near its front) and "back" (the back of a deep
queue). On a queue-true large-tick book the back fills come later and are adversely selected more.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.loader import load_market
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import MarketMakingEnv, make_params
from mmjax.evaluation.backtest import segments
from mmjax.evaluation.fill_facts import fill_knobs, touch_quoter
from mmjax.features.batch import compute_market_features
from mmjax.market.facts import MARKOUT_HORIZONS_S

# name -> (kind, meaning), compared like `mmjax.market.facts.FACTS`
BACKQ_FACTS: dict[str, tuple[str, str]] = {
    "backq_fills_per_hour": ("rel", "fills per hour of a one-lot quote joined at the back of each touch"),
    **{f"backq_markout_bps_{h}s": ("rel", f"mean markout of those fills after {h} s, bps") for h in MARKOUT_HORIZONS_S},
    "backq_wait_s_front": ("rel", "median wait from arrival to fill, fills that joined behind a short queue, s"),
    "backq_wait_s_back": ("rel", "median wait from arrival to fill, fills that joined at the back of a deep queue, s"),
    **{f"backq_markout_bps_{h}s_{w}": ("rel", f"mean {h} s markout of the {w} fills, bps")
       for h in MARKOUT_HORIZONS_S for w in ("front", "back")},
}


def _segment_runner(env: MarketMakingEnv, policy):
    """Jitted: ``n`` steps from the reset at row ``a``; per step the fills, their prices and the orders after it."""

    def run(a, n, params):
        obs, state = env.reset_at(a, params)

        def body(carry, _):
            obs, state = carry
            obs2, state2, _, _, info = env.step_env(jax.random.PRNGKey(0), state, policy(obs, state, params), params)
            out = (jnp.stack([info["bid_fill"], info["ask_fill"]]), jnp.stack([info["bid_fill_px"], info["ask_fill_px"]]),
                   state2.orders.px, state2.orders.remaining, state2.orders.queue_ahead)
            return (obs2, state2), out

        return jax.lax.scan(body, (obs, state), None, length=n)[1]

    return jax.jit(run, static_argnums=1)


def _join_steps(px: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """[S, 2] for each step, the first step of the run of the same live order (same price, never emptied)."""
    S = len(px)
    new = np.ones((S, 2), bool)
    new[1:] = (px[1:] != px[:-1]) | (remaining[:-1] <= 0) | (remaining[1:] < remaining[:-1])
    idx = np.where(new, np.arange(S)[:, None], 0)
    return np.maximum.accumulate(idx, axis=0)


def back_of_touch_fills(data: str, product: str | None = None) -> dict[str, float]:
    """`BACKQ_FACTS` of the recording at ``data`` (NaN where it has too few fills to define one)."""
    md, raw = load_market(data, product)
    knobs = fill_knobs(float(md.lot_size)).over(EnvKnobs())
    feats = compute_market_features(md)
    params = make_params(md, np.zeros_like(np.asarray(feats.values)), np.asarray(feats.sigma), None, knobs)
    env = MarketMakingEnv()
    runner = _segment_runner(env, touch_quoter(0)(env, params))
    mid = np.asarray(md.mid, np.float64)  # [T] ticks from the anchor
    anchor, dt_s = float(md.px_anchor_ticks), raw.meta.grid_ms / 1000.0
    rows = []  # per fill: (wait s, queue joined behind, markouts...)
    steps = 0
    for a, b in segments(np.asarray(md.after_gap)):
        n = b - a - 1  # steps t = a .. b-2
        fill, fpx, opx, rem, qa = (np.asarray(x) for x in runner(jnp.int32(a), n, params))
        steps += n
        join = _join_steps(opx, rem)
        for k, side in zip(*np.nonzero(fill > 0), strict=True):
            if k == 0:
                continue  # no order was live before the segment's first step
            j = join[k - 1, side]  # the order live over the fill's interval arrived after step j
            t = a + k  # the fill lies in (t, t+1]
            price = float(fpx[k, side])
            sign = 1.0 if side == 0 else -1.0
            marks = [sign * (mid[t + 1 + h] - price) / (price + anchor) * 1e4 if t + 1 + h < b else np.nan
                     for h in (int(round(h_s / dt_s)) for h_s in MARKOUT_HORIZONS_S)]
            rows.append(((k - j) * dt_s, float(qa[j, side]), *marks))
    return _summarize(np.asarray(rows, np.float64).reshape(-1, 2 + len(MARKOUT_HORIZONS_S)), steps * dt_s / 3600.0)


def _summarize(fills: np.ndarray, hours: float) -> dict[str, float]:
    """Fill records [N, 2 + H] (wait s, queue joined behind, markout per horizon) -> `BACKQ_FACTS`."""
    nan = float("nan")
    mean = lambda x: float(np.nanmean(x)) if np.isfinite(x).sum() else nan  # noqa: E731
    out = {"backq_fills_per_hour": len(fills) / hours if hours > 0 else nan}
    for i, h in enumerate(MARKOUT_HORIZONS_S):
        out[f"backq_markout_bps_{h}s"] = mean(fills[:, 2 + i])
    deep = fills[:, 1] > np.median(fills[:, 1]) if len(fills) else np.zeros(0, bool)
    for w, sel in (("front", ~deep), ("back", deep)):
        out[f"backq_wait_s_{w}"] = float(np.median(fills[sel, 0])) if sel.sum() >= 5 else nan
        for i, h in enumerate(MARKOUT_HORIZONS_S):
            out[f"backq_markout_bps_{h}s_{w}"] = mean(fills[sel, 2 + i]) if sel.sum() >= 5 else nan
    return {k: out[k] for k in BACKQ_FACTS}
