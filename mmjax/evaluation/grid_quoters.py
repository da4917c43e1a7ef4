"""The quoters a grid sweeps (`mmjax backtest --grid`): each is a name, its parameter axes and two functions.

``inputs(params, columns)`` turns the swept values of N configurations ([N] per axis, NaN where an axis
takes its default) into the traced inputs of the policy, [N, ...] NumPy arrays (a closed form's fill
intensity fitted on its window, a forecast fitted at its horizon); ``policy(inputs of one
configuration)`` returns the harness policy, traced values closed over, so one program runs them all
vmapped. The quote rules themselves live in `mmjax.evaluation.harness.baseline_policy` and
`offset_policy` (what `mmjax backtest` runs): a grid configuration quotes exactly as the single backtest.

Adding a quoter (the queue-aware one, say) is one more `Quoter` in ``QUOTERS``: its axes, how its
inputs are computed, and its policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env.market_env import EnvParams
from mmjax.evaluation import harness as H
from mmjax.outputs import UserError
from mmjax.policy import baselines as bl

Columns = dict[str, np.ndarray]  # axis -> [N] values (NaN: the default)


@dataclass(frozen=True)
class Quoter:
    """A quoter of the grid: its own axes (the env knobs are everyone's), its inputs and its policy."""

    name: str
    axes: tuple[str, ...]
    inputs: Callable[[EnvParams, Columns], dict[str, np.ndarray]]  # -> [N, ...] float32 per input
    policy: Callable[[dict[str, jax.Array]], H.Policy]  # one configuration's inputs -> policy
    doc: str = ""


def _given(col: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if col is None else np.asarray(col, np.float64)


def _fixed_inputs(params: EnvParams, cols: Columns) -> dict[str, np.ndarray]:
    n = len(next(iter(cols.values())))
    ticks, hs = _given(cols.get("ticks"), n), _given(cols.get("half_spread_bps"), n)
    if np.isfinite(ticks).any():
        if np.isfinite(hs).any():
            raise UserError("grid: fixed takes ticks or half_spread_bps, not both (two [fixed] runs if you need both)")
        if (ticks < -1).any() or not np.isfinite(ticks).all():
            raise UserError(f"grid: fixed ticks must be whole numbers >= -1 (one tick inside the touch), got {ticks.min()}")
        return {"ticks": ticks.astype(np.float32)}
    hs = np.where(np.isfinite(hs), hs, 1.0)  # `mmjax backtest --half-spread-bps` default
    if (hs < 0).any():
        raise UserError(f"grid: fixed half_spread_bps must be >= 0, got {hs.min()}")
    return {"half_spread_bps": hs.astype(np.float32)}


def _fixed_policy(v: dict[str, jax.Array]) -> H.Policy:
    if "ticks" in v:
        return H.baseline_policy("fixed", v["ticks"], None)
    return H.offset_policy(v["half_spread_bps"])


def _queue_inputs(params: EnvParams, cols: Columns) -> dict[str, np.ndarray]:
    n = len(next(iter(cols.values())))
    th = _given(cols.get("threshold"), n)
    th = np.where(np.isfinite(th), th, float(np.median(H.QUEUE_THRESHOLDS)))
    if (th <= 0).any():
        raise UserError(f"grid: queue_aware threshold must be > 0, got {th.min()}")
    return {"threshold": th.astype(np.float32)}


def _queue_policy(v: dict[str, jax.Array]) -> H.Policy:
    return H.baseline_policy("queue_aware", v["threshold"], None)


def fit_rows(params: EnvParams, fit_window_s: float) -> int:
    """Rows [0, n) a closed form is fitted on: the first ``fit_window_s`` seconds (0: the whole recording)."""
    T = params.market.num_steps
    if not fit_window_s >= 0:
        raise UserError(f"grid: fit_window_s must be >= 0 (0: the whole recording), got {fit_window_s}")
    return T if fit_window_s == 0 else int(min(T, max(2, round(fit_window_s / params.market.dt_s))))


def _closed_form(name: str) -> Quoter:
    def inputs(params: EnvParams, cols: Columns) -> dict[str, np.ndarray]:
        n = len(next(iter(cols.values())))
        window = np.where(np.isfinite(w := _given(cols.get("fit_window_s"), n)), w, 0.0)
        horizon = _given(cols.get("forecast_horizon_steps"), n)
        horizon = np.where(np.isfinite(horizon), horizon, bl.FORECAST_HORIZON_STEPS)
        if (horizon < 1).any() or (horizon != np.round(horizon)).any():
            raise UserError("grid: forecast_horizon_steps must be whole numbers >= 1")
        gamma = _given(cols.get("gamma"), n)
        if (gamma <= 0).any():
            raise UserError(f"grid: {name} gamma must be > 0, got {np.nanmin(gamma)}")
        fits: dict[tuple[int, int], H.BaselineCalibration] = {}
        out: dict[str, list] = {k: [] for k in ("gamma", "A_per_s", "k_per_tick", "forecast_weights", "forecast_bias")}
        for g, w, h in zip(gamma, window, horizon, strict=True):
            key = (fit_rows(params, w), int(h))
            if key not in fits:  # one fit per window and horizon, however many gammas share it
                fits[key] = H.calibrate(params, 0, key[0], horizon_steps=key[1])
            c = fits[key]
            # the backtest's default: the middle of the evaluation's grid on this calibration
            out["gamma"].append(g if np.isfinite(g) else float(np.median(H.default_grid(name, params, c))))
            out["A_per_s"].append(c.A_per_s)
            out["k_per_tick"].append(c.k_per_tick)
            out["forecast_weights"].append(c.forecast_weights)
            out["forecast_bias"].append(c.forecast_bias)
        return {k: np.asarray(v, np.float32) for k, v in out.items()}

    def policy(v: dict[str, jax.Array]) -> H.Policy:
        calib = H.BaselineCalibration(v["A_per_s"], v["k_per_tick"], 0.0, v["forecast_weights"], v["forecast_bias"])
        return H.baseline_policy(name, jnp.asarray(v["gamma"], jnp.float32), calib)

    axes = ("gamma", "fit_window_s") + (("forecast_horizon_steps",) if name == "signal_aware" else ())
    return Quoter(name, axes, inputs, policy, doc=f"{name}: risk aversion gamma per tick per lot, fit window in s")


def tuning_inputs(name: str, values: np.ndarray, calib: H.BaselineCalibration) -> dict[str, np.ndarray]:
    """A baseline's inputs at ``values`` of its free parameter ([N]: ticks behind the touch, or gamma) with ``calib``
    (`tuning.tune_baseline`: one calibration on the tuning window for every value)."""
    v = np.asarray(values, np.float32)
    if name == "fixed":
        return {"ticks": v}
    if name == "queue_aware":
        return {"threshold": v}
    n = len(v)
    return {"gamma": v, "A_per_s": np.full(n, calib.A_per_s, np.float32), "k_per_tick": np.full(n, calib.k_per_tick, np.float32),
            "forecast_weights": np.tile(np.asarray(calib.forecast_weights, np.float32).reshape(1, -1), (n, 1)),
            "forecast_bias": np.full(n, calib.forecast_bias, np.float32)}


QUOTERS: dict[str, Quoter] = {
    "fixed": Quoter("fixed", ("ticks", "half_spread_bps"), _fixed_inputs, _fixed_policy,
                    doc="fixed: ticks behind each touch, or at least half_spread_bps from the mid"),
    **{n: _closed_form(n) for n in ("avellaneda_stoikov", "glft", "signal_aware")},
    "queue_aware": Quoter("queue_aware", ("threshold",), _queue_inputs, _queue_policy,
                          doc="queue_aware: joins the touch; pulls a side whose run-over score passes threshold"),
}
