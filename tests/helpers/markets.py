"""MarketData built in memory: a hand-set book (make_market) and a random one (random_market)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mmjax.data.market import NO_PRICE, MarketData, steps_to_gap


def make_market(best_bid, spread=1, levels=3, depth=1.0, trades=(), *, bid_sz=None, ask_sz=None,
                after_gap=None, slots=4, tick=0.01, anchor=20_000, grid_ms=100) -> MarketData:
    """Contiguous book (levels one tick apart) around ``best_bid`` [T]; trades = [(row, 'buy'|'sell', px, vol)]."""
    bb = np.asarray(best_bid, np.int64)
    T = len(bb)
    spread = np.broadcast_to(np.asarray(spread, np.int64), (T,))
    bid_px = bb[:, None] - np.arange(levels)[None]
    ask_px = (bb + spread)[:, None] + np.arange(levels)[None]
    bid_sz = np.full((T, levels), depth, np.float32) if bid_sz is None else np.asarray(bid_sz, np.float32)
    ask_sz = np.full((T, levels), depth, np.float32) if ask_sz is None else np.asarray(ask_sz, np.float32)
    agg = {"buy": [dict() for _ in range(T)], "sell": [dict() for _ in range(T)]}
    for row, side, px, vol in trades:
        agg[side][row][px] = agg[side][row].get(px, 0.0) + vol
    out = {}
    for side, pad, asc in (("buy", NO_PRICE, True), ("sell", -NO_PRICE, False)):
        px = np.full((T, slots), pad, np.int32)
        vol = np.zeros((T, slots), np.float32)
        for t, d in enumerate(agg[side]):
            for i, p in enumerate(sorted(d, reverse=not asc)[:slots]):
                px[t, i], vol[t, i] = p, d[p]
        out[side] = (px, vol)
    ag = np.zeros(T, bool) if after_gap is None else np.asarray(after_gap, bool).copy()
    ag[0] = True
    return MarketData(
        bid_px=jnp.asarray(bid_px, jnp.int32), bid_sz=jnp.asarray(bid_sz), ask_px=jnp.asarray(ask_px, jnp.int32),
        ask_sz=jnp.asarray(ask_sz), mid=jnp.asarray((bid_px[:, 0] + ask_px[:, 0]) / 2, jnp.float32),
        t_s=jnp.arange(T, dtype=jnp.float32) * grid_ms / 1000, after_gap=jnp.asarray(ag),
        steps_to_gap=jnp.asarray(steps_to_gap(ag)),
        buy_vol=jnp.asarray(out["buy"][1].sum(1)), sell_vol=jnp.asarray(out["sell"][1].sum(1)),
        buy_px=jnp.asarray(out["buy"][0]), buy_px_vol=jnp.asarray(out["buy"][1]),
        sell_px=jnp.asarray(out["sell"][0]), sell_px_vol=jnp.asarray(out["sell"][1]),
        n_trades=jnp.zeros(T, jnp.int32), tick_size=tick, px_anchor_ticks=anchor, grid_ms=grid_ms)


def random_market(T=4000, seed=0, levels=5, slots=4, anchor=20_000, gap_at=()) -> MarketData:
    """A random-walk book with random depth and taker flow at several prices near the touch."""
    rng = np.random.default_rng(seed)
    bb = 100 + np.cumsum(rng.integers(-1, 2, T) * (rng.random(T) < 0.3))
    spread = rng.choice([1, 1, 1, 2, 3], T)
    trades = []
    for t in range(T):
        for _ in range(rng.poisson(1.5)):
            side = "buy" if rng.random() < 0.5 else "sell"
            depth = int(rng.geometric(0.4)) - 1  # 0 = at the touch
            px = bb[t] + spread[t] + depth if side == "buy" else bb[t] - depth
            trades.append((t, side, int(px), float(np.round(rng.exponential(0.01), 4) + 1e-4)))
    ag = np.zeros(T, bool)
    ag[list(gap_at)] = True
    return make_market(bb, spread, levels, trades=trades, bid_sz=rng.exponential(0.02, (T, levels)),
                       ask_sz=rng.exponential(0.02, (T, levels)), after_gap=ag, slots=slots, anchor=anchor)

U = 100  # lots per size unit in these tests: sizes below are written in units, the rules work in lots


def lots(x):
    """Sizes in units -> int32 lots."""
    return jnp.asarray(np.rint(np.asarray(x, np.float64) * U), jnp.int32)


def trades(sells=(), buys=()):
    """[(px, vol)] per side -> (oriented reach [2], lots traded at it [2]), as the loader aggregates them."""
    reach, at = np.full(2, NO_PRICE, np.int32), np.zeros(2)
    for side, flow, sign in ((0, sells, 1), (1, buys, -1)):
        if flow:
            reach[side] = min(sign * p for p, _ in flow)
            at[side] = sum(v for p, v in flow if sign * p == reach[side])
    return jnp.asarray(reach), lots(at)
