"""Closed-form market-making baselines as pure functions: fixed, Avellaneda-Stoikov, GLFT, signal-aware, queue-aware.

Everything here works on NumPy and JAX arrays alike (``xp`` is the array module), so the same
quoters run vmapped inside the JAX evaluation harness and one step at a time in the NumPy live engine.
This module imports no jax.

Units (one system for all three): prices and distances in ticks, volatility ``sigma`` in ticks per
sqrt(second), time in seconds, inventory ``q_lots`` in quote lots (inventory / quote size), intensity
``A`` in fills per second at the touch, decay ``k`` per tick, risk aversion ``gamma`` per tick per lot.
Quotes come out as offsets from mid in bps, then as actions in [-1, 1] of the environment's own mapping
(`mmjax.env.actions`: ticks behind each touch, or a pulled side) through `quotes_to_action` and
`ticks_to_action`, so every baseline has exactly the agent's order semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASELINES = ("abstain", "fixed", "avellaneda_stoikov", "glft", "signal_aware", "queue_aware")

# Signal-aware quoter: horizon of the mid forecast, grid rows, and the ridge penalty per training row.
FORECAST_HORIZON_STEPS = 10  # 1 s at 100 ms: the horizon over which a passive fill's adverse selection shows
RIDGE_PENALTY_PER_ROW = 1e-3  # lambda = this * n_rows on standardized (z-scored) features
# Queue-aware quoter: how much the inventory fraction on the side that would grow |inventory| adds to that
# side's run-over score (1: a side pulls whenever |inventory| / max_inventory alone exceeds the threshold).
QUEUE_INVENTORY_SKEW = 1.0


@dataclass(frozen=True)
class FillIntensity:
    """lambda(delta) = A * exp(-k * delta): fill intensity of a quote delta ticks from mid."""

    A_per_s: float  # fills per second at zero distance
    k_per_tick: float  # decay per tick of distance
    r2: float  # goodness of the log-linear fit


def ticks_to_action(d_ticks, k_max_ticks, xp=np):
    """The action at the middle of the band that quotes ``d`` ticks behind the touch (-1: one tick inside).

    The inverse of the env's action mapping (mmjax/env/actions.py): ``d`` is clipped to [-1, K].
    """
    from mmjax.env.knobs import ACTION_NEAR_TICKS as NEAR
    from mmjax.env.knobs import ACTION_PULL_ABOVE as PULL

    d = xp.clip(xp.asarray(d_ticks, dtype=xp.float32), -1.0, k_max_ticks)
    u_near = (d + 1.5) / (2 * (NEAR + 1))
    span = xp.maximum(k_max_ticks - NEAR, 0.0) + 1.0
    u_far = 0.5 + (d - NEAR + 0.5) / (2.0 * span)
    u = xp.where(d < NEAR, u_near, u_far)
    return u * (1.0 + PULL) - 1.0


def quotes_to_action(bid_offset_bps, ask_offset_bps, mid_ticks, best_bid, best_ask, anchor_ticks, max_offset_bps,
                     xp=np):
    """Offsets from mid (bps) -> the action [..., 2] that quotes the nearest ticks at or beyond them.

    A bid ``o`` bps below the mid is the price floor(mid - o) ticks: so many ticks behind the best bid
    (negative = inside the spread, where only one tick of improvement exists); asks alike.
    """
    from mmjax.env.knobs import action_range_ticks

    mid_abs = mid_ticks + anchor_ticks
    k_max = action_range_ticks(mid_ticks, anchor_ticks, max_offset_bps, xp=xp)  # the env's K, float32 like the env's
    bid_px = xp.floor(mid_ticks - bid_offset_bps * mid_abs * 1e-4)
    ask_px = xp.ceil(mid_ticks + ask_offset_bps * mid_abs * 1e-4)
    a_bid = ticks_to_action(best_bid - bid_px, k_max, xp=xp)
    a_ask = ticks_to_action(ask_px - best_ask, k_max, xp=xp)
    return xp.stack([a_bid, a_ask], axis=-1)


def ticks_to_bps(delta_ticks, mid_abs_ticks):
    """Distance in ticks -> bps of the absolute mid (mid expressed in ticks, anchor included)."""
    return delta_ticks / mid_abs_ticks * 1e4


def fixed_offsets(offset_bps, like, xp=np):
    """The "TWAP" baseline: the same symmetric offset at every step, whatever the state."""
    o = xp.zeros_like(like, dtype=xp.float32) + offset_bps
    return o, o


def avellaneda_stoikov_offsets(q_lots, sigma_ticks, time_left_s, mid_abs_ticks, gamma, k_per_tick, xp=np):
    """Avellaneda-Stoikov (2008) finite-horizon quotes as (bid, ask) offsets from mid in bps.

    reservation r = m - q * gamma * sigma^2 * (T - t);  total spread = gamma sigma^2 (T - t) + (2/gamma) ln(1 + gamma/k).
    """
    var_tau = sigma_ticks**2 * time_left_s
    reservation_shift = -q_lots * gamma * var_tau
    half_spread = 0.5 * (gamma * var_tau + (2.0 / gamma) * xp.log1p(gamma / k_per_tick))
    bid_ticks = half_spread - reservation_shift  # distance below mid
    ask_ticks = half_spread + reservation_shift  # distance above mid
    return ticks_to_bps(bid_ticks, mid_abs_ticks), ticks_to_bps(ask_ticks, mid_abs_ticks)


def glft_offsets(q_lots, sigma_ticks, mid_abs_ticks, gamma, k_per_tick, A_per_s, xp=np):
    """Gueant-Lehalle-Fernandez-Tapia (2013) asymptotic quotes as (bid, ask) offsets in bps.

    delta_b = c1 + (2q + 1)/2 * c2 * sigma,  delta_a = c1 - (2q - 1)/2 * c2 * sigma, with
    c1 = ln(1 + gamma/k) / gamma and c2 = sqrt(gamma / (2 A k) * (1 + gamma/k)^(1 + k/gamma)).
    """
    c1 = xp.log1p(gamma / k_per_tick) / gamma
    c2 = xp.sqrt(gamma / (2.0 * A_per_s * k_per_tick) * (1.0 + gamma / k_per_tick) ** (1.0 + k_per_tick / gamma))
    bid_ticks = c1 + (2.0 * q_lots + 1.0) / 2.0 * c2 * sigma_ticks
    ask_ticks = c1 - (2.0 * q_lots - 1.0) / 2.0 * c2 * sigma_ticks
    return ticks_to_bps(bid_ticks, mid_abs_ticks), ticks_to_bps(ask_ticks, mid_abs_ticks)


@dataclass(frozen=True)
class MidForecast:
    """Ridge forecast of the mid move over ``horizon_steps`` rows, in ticks: f = features[t] @ weights + bias."""

    weights: np.ndarray  # [F_M] ticks per unit of each (normalized) feature
    bias: float  # ticks
    horizon_steps: int
    r2_train: float  # in-sample R^2 on the fitting rows (honest out-of-sample skill shows in the evaluation)


def fit_mid_forecast(features: np.ndarray, mid_ticks: np.ndarray, steps_to_gap: np.ndarray, start: int, stop: int,
                     horizon_steps: int = FORECAST_HORIZON_STEPS, penalty_per_row: float = RIDGE_PENALTY_PER_ROW
                     ) -> MidForecast:
    """Fit on rows t in [start, stop - h) whose move mid[t+h] - mid[t] stays inside one gap-free segment.

    Only rows of the fitting window are read (the target of row t ends at t + h < stop), so a forecast
    fitted on the training split knows nothing of later rows.
    """
    h = int(horizon_steps)
    t = np.arange(start, max(start, stop - h))
    t = t[np.asarray(steps_to_gap)[t] > h]
    if len(t) < 2:  # the ridge penalty keeps a short window well-posed; fewer than 2 rows say nothing
        raise ValueError(f"rows [{start}, {stop}) hold {len(t)} usable rows: too few to fit a mid forecast")
    X = np.asarray(features, np.float64)[t]
    y = np.asarray(mid_ticks, np.float64)[t + h] - np.asarray(mid_ticks, np.float64)[t]
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / sd
    lam = penalty_per_row * len(t)
    w_z = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    w = w_z / sd
    b = float(y.mean() - mu @ w)
    resid = y - (X @ w + b)
    return MidForecast(weights=w.astype(np.float32), bias=b, horizon_steps=h,
                       r2_train=float(1.0 - resid.var() / max(y.var(), 1e-12)))


def signal_aware_offsets(q_lots, sigma_ticks, time_left_s, mid_abs_ticks, gamma, k_per_tick, forecast_ticks, xp=np):
    """Avellaneda-Stoikov quotes around a forecast-shifted mid (Cartea-Jaimungal short-term alpha, one horizon),
    and the sides to pull: (bid_bps, ask_bps, pull [..., 2] bool).

    The reservation price moves by the forecast mid move: a bid is placed as if the mid were already
    ``forecast_ticks`` higher (so an expected fall pushes the bid away and pulls the ask in). A side is
    pulled when the forecast move reaches beyond the half spread (the flat quote's distance from the
    mid, which inventory does not change): the mid is expected to pass through a price there, so a
    fill is expected to mark at a loss.
    """
    b, a = avellaneda_stoikov_offsets(q_lots, sigma_ticks, time_left_s, mid_abs_ticks, gamma, k_per_tick, xp=xp)
    shift_bps = ticks_to_bps(forecast_ticks, mid_abs_ticks)
    half_spread_bps = 0.5 * (b + a)
    pull = xp.stack([-shift_bps >= half_spread_bps, shift_bps >= half_spread_bps], axis=-1)
    return b - shift_bps, a + shift_bps, pull


def queue_aware_action(touch_lots, queue_frac, at_touch, inventory_frac, threshold, k_max_ticks, xp=np):
    """The queue-aware quoter (hftbacktest's queue-position and book-pressure examples): the action [..., 2].

    It joins the touch on both sides, and a constant action re-quotes the same price, so a resting order
    keeps its place in the queue. A side is pulled when its run-over score exceeds ``threshold`` (the one
    tuned parameter; its score lies in [0, 2]):

        score = P(own level empties first) * queue position + QUEUE_INVENTORY_SKEW * inventory that side would grow

    * P(own level empties first) = opposite touch / (own touch + opposite touch), the gambler's-ruin odds
      that the thinner touch queue is used up first under balanced flow (0.5 on an empty book);
    * queue position = ``queue_frac`` (the queue ahead as a fraction of the size shown at the order's price,
      the observation's ``queue_frac``) for an order resting at the touch, 1 otherwise (a new order joins the
      back): a fill at the back of the queue comes only as the level is run over, so it is the one that is
      adversely selected, while an order near the front is filled with a queue still behind it;
    * inventory that side would grow: max(inventory_frac, 0) on the bid, max(-inventory_frac, 0) on the ask.

    Inputs, all known at the decision (book row t and the agent's own order state): ``touch_lots`` [..., 2]
    the sizes shown at the best bid and best ask (any one unit), ``queue_frac`` [..., 2] in [0, 1],
    ``at_touch`` [..., 2] bool (a live order rests at its side's best price), ``inventory_frac`` [...]
    inventory / max_inventory; ``k_max_ticks`` the env's action range K.
    """
    from mmjax.env.knobs import ACTION_PULL

    touch = xp.asarray(touch_lots, dtype=xp.float32)
    own, opp = touch, touch[..., ::-1]
    total = own + opp
    p_first = xp.where(total > 0, opp / xp.where(total > 0, total, 1.0), 0.5)
    position = xp.where(xp.asarray(at_touch), xp.clip(xp.asarray(queue_frac, dtype=xp.float32), 0.0, 1.0), 1.0)
    inv = xp.asarray(inventory_frac, dtype=xp.float32)
    grow = xp.stack([xp.maximum(inv, 0.0), xp.maximum(-inv, 0.0)], axis=-1)
    score = p_first * position + QUEUE_INVENTORY_SKEW * grow
    join = ticks_to_action(xp.zeros_like(score), k_max_ticks, xp=xp)
    return xp.where(score > threshold, xp.float32(ACTION_PULL), join).astype(xp.float32)


def calibrate_fill_intensity(
    mid_ticks: np.ndarray,
    buy_px: np.ndarray,
    buy_px_vol: np.ndarray,
    sell_px: np.ndarray,
    sell_px_vol: np.ndarray,
    dt_s: float,
    start: int,
    stop: int,
    max_delta_ticks: float | None = None,
    num_deltas: int = 24,
) -> FillIntensity:
    """Fit lambda(delta) = A exp(-k delta) on rows [start, stop) (the training split only).

    A quote delta ticks from mid at row t "fills" if some taker traded at or through it in (t, t+1]:
    a bid at mid - delta against taker sells, an ask at mid + delta against taker buys. Both sides
    pooled; k and A are then least squares on log intensity over a grid of distances.
    """
    mid = np.asarray(mid_ticks[start:stop], np.float64)
    bvol = np.asarray(buy_px_vol[start:stop]) > 0
    svol = np.asarray(sell_px_vol[start:stop]) > 0
    # farthest traded distance from mid per row and side (0 where nothing traded)
    buy_reach = np.where(bvol, np.asarray(buy_px[start:stop], np.float64) - mid[:, None], -np.inf).max(axis=1)
    sell_reach = np.where(svol, mid[:, None] - np.asarray(sell_px[start:stop], np.float64), -np.inf).max(axis=1)
    reach = np.concatenate([buy_reach, sell_reach])
    traded = reach[np.isfinite(reach)]
    if len(traded) < 10:
        raise ValueError(f"rows [{start}, {stop}) hold too few trades ({len(traded)}) to calibrate fill intensity")
    if max_delta_ticks is None:
        max_delta_ticks = float(np.quantile(traded, 0.995))
    deltas = np.linspace(0.5, max(max_delta_ticks, 1.0), num_deltas)
    n_rows = 2 * len(mid)
    prob = np.array([(reach >= d).sum() / n_rows for d in deltas])
    ok = prob > 0
    lam = prob[ok] / dt_s
    x, y = deltas[ok], np.log(lam)
    if len(x) < 2:
        raise ValueError("fill intensity is zero beyond the first distance; cannot fit k")
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    r2 = 1.0 - resid.var() / max(y.var(), 1e-12)
    k = max(-slope, 1e-6)
    return FillIntensity(A_per_s=float(np.exp(intercept)), k_per_tick=float(k), r2=float(r2))
