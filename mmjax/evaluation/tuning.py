"""Baseline tuning: each baseline's free parameter chosen on training episodes by the grid engine.

It sits downstream of the grid engine (`mmjax.evaluation.grid`), which itself runs the harness's quoters:
harness -> grid -> tuning, no circle."""

from __future__ import annotations

import numpy as np

from mmjax.env.market_env import EnvParams, MarketMakingEnv
from mmjax.evaluation import grid as G
from mmjax.evaluation.harness import BaselineCalibration, default_grid


def tune_baseline(env: MarketMakingEnv, params: EnvParams, starts: np.ndarray, name: str, calib: BaselineCalibration,
                  grid: np.ndarray | None = None, min_fills_per_episode: float = 1.0) -> tuple[float, list[dict]]:
    """Grid search of the free parameter by mean episode PnL on ``starts`` (training episodes only).

    Every (value, episode) pair is one lane of the grid engine (`mmjax.evaluation.grid.run_lanes`, what
    `mmjax backtest --grid` runs): all values in one program. Only values that trade (at least
    ``min_fills_per_episode`` fills per episode on average) compete: not trading is the abstain
    baseline's job. Returns (best value, one row per grid value); an empty grid (abstain) returns (0, []).
    """
    grid = default_grid(name, params, calib) if grid is None else np.asarray(grid, np.float32)
    if len(grid) == 0:
        return 0.0, []
    starts = np.asarray(starts, np.int32)
    S, V = len(starts), len(grid)
    inputs = G.tuning_inputs(name, np.repeat(grid, S), calib)  # lane v * S + s: value v, episode s
    inputs.update({k: np.full(V * S, float(getattr(params, k)), np.float32) for k in G.TRACED_AXES})
    out = G.run_lanes(params, G.QUOTERS[name], inputs, [(np.tile(starts, V), params.episode_steps)],
                      chunk_configs=4096)
    per = {k: np.asarray(out[k], np.float64).reshape(V, S).mean(axis=1) for k in ("pnl", "mean_abs_position", "fills")}
    table = [{"value": float(v), "mean_pnl": float(per["pnl"][i]), "map": float(per["mean_abs_position"][i]),
              "fills_per_episode": float(per["fills"][i])} for i, v in enumerate(grid)]
    # a quoter that never fills "wins" with PnL 0 and says nothing: the tuned opponent must trade
    trading = [r for r in table if r["fills_per_episode"] >= min_fills_per_episode] or table
    best = max(trading, key=lambda r: (r["mean_pnl"], -r["map"]))
    return best["value"], table
