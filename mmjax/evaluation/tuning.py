"""Baseline tuning: each baseline's free parameter chosen on training episodes by the grid engine.

It sits downstream of the grid engine (`mmjax.evaluation.grid`), which itself runs the harness's quoters:
harness -> grid -> tuning, no circle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mmjax.env.market_env import EnvParams, MarketMakingEnv
from mmjax.evaluation import grid as G
from mmjax.evaluation.harness import BaselineCalibration, default_grid


class Tuned(NamedTuple):
    """A baseline's tuned setting and the grid it was chosen from."""

    value: float  # the free parameter (γ, ticks, threshold; `evaluate_command.TUNED_PARAM`)
    requote_margin: float  # the action mapping's hysteresis the baseline runs with (`EnvKnobs.requote_margin`)
    table: list[dict]  # one row per (margin, value): mean_pnl, map, fills_per_episode


def tune_baseline(env: MarketMakingEnv, params: EnvParams, starts: np.ndarray, name: str, calib: BaselineCalibration,
                  grid: np.ndarray | None = None, min_fills_per_episode: float = 1.0,
                  margins: Sequence[float] | None = None) -> Tuned:
    """Grid search of the free parameter by mean episode PnL on ``starts`` (training episodes only).

    Every (value, episode) pair is one lane of the grid engine (`mmjax.evaluation.grid.run_lanes`, what
    `mmjax backtest --grid` runs): all values in one program. Only values that trade (at least
    ``min_fills_per_episode`` fills per episode on average) compete: not trading is the abstain
    baseline's job. ``margins``: the `EnvKnobs.requote_margin` values to tune over as well (None: the one in
    ``params``), so that a baseline runs with the hysteresis that suits it, not one chosen for the agent.
    An empty grid (abstain) returns value 0 and an empty table.
    """
    grid = default_grid(name, params, calib) if grid is None else np.asarray(grid, np.float32)
    margins = [float(params.requote_margin)] if margins is None else sorted({float(m) for m in margins})
    if len(grid) == 0:
        return Tuned(0.0, margins[0], [])
    starts = np.asarray(starts, np.int32)
    S, V, M = len(starts), len(grid), len(margins)
    # lane (m * V + v) * S + s: margin m, value v, episode s
    inputs = G.tuning_inputs(name, np.tile(np.repeat(grid, S), M), calib)
    inputs.update({k: np.full(M * V * S, float(getattr(params, k)), np.float32) for k in G.TRACED_AXES})
    inputs["requote_margin"] = np.repeat(np.asarray(margins, np.float32), V * S)
    out = G.run_lanes(params, G.QUOTERS[name], inputs, [(np.tile(starts, M * V), params.episode_steps)],
                      chunk_configs=4096)
    per = {k: np.asarray(out[k], np.float64).reshape(M * V, S).mean(axis=1)
           for k in ("pnl", "mean_abs_position", "fills")}
    table = [{"value": float(v), "requote_margin": float(m), "mean_pnl": float(per["pnl"][i]),
              "map": float(per["mean_abs_position"][i]), "fills_per_episode": float(per["fills"][i])}
             for i, (m, v) in enumerate((m, v) for m in margins for v in grid)]
    # a quoter that never fills "wins" with PnL 0 and says nothing: the tuned opponent must trade
    trading = [r for r in table if r["fills_per_episode"] >= min_fills_per_episode] or table
    best = max(trading, key=lambda r: (r["mean_pnl"], -r["map"]))
    return Tuned(best["value"], best["requote_margin"], table)
