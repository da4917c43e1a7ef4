"""`mmjax backtest`: one policy over a whole recording, one episode per gap-free segment (mmjax/evaluation/backtest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import outputs
from mmjax.evaluation import backtest as library
from mmjax.evaluation.backtest import segments
from mmjax.evaluation.configs import BacktestConfig
from mmjax.features.spec import FeatureNorm

__all__ = ["BacktestConfig", "backtest", "run", "segments"]

RESULT, GRID_REPORT = "a backtest result", "a grid report"  # what `outputs.refuse_existing` calls them


def _npz_setup(path: Path):
    """(knobs, feature norm, policy factory) of an exported policy.npz: the NumPy policy, called back from the scan."""
    from mmjax.env.knobs import knobs_from_mapping
    from mmjax.features.spec import NUM_FEATURES
    from mmjax.policy.numpy_policy import NumpyPolicy

    pol = NumpyPolicy.load(path, expected_obs_dim=NUM_FEATURES)  # before the scan compiles, not inside its callback
    knobs, _ = knobs_from_mapping(pol.action_mapping)
    norm = FeatureNorm(mean=np.asarray(pol.feature_mean, np.float32), std=np.asarray(pol.feature_std, np.float32))

    def factory(env, params):
        def act(obs):
            return np.asarray(pol.act(np.asarray(obs)), np.float32).reshape(2)

        def policy(obs, state, p):
            return jax.pure_callback(act, jax.ShapeDtypeStruct((2,), jnp.float32), obs)

        return policy

    return knobs, (norm if len(pol.feature_mean) else None), factory


def backtest(cfg: BacktestConfig, progress=print, factory=None) -> dict:
    """`mmjax.evaluation.backtest.backtest`, with a policy.npz run by the NumPy policy (called back from the scan)."""
    if factory is None and Path(cfg.policy).suffix == ".npz" and cfg.policy not in library.bl.BASELINES:
        return library.backtest(cfg, progress, setup=_npz_setup(Path(cfg.policy)))
    return library.backtest(cfg, progress, factory=factory)


def run_grid(cfg: BacktestConfig) -> int:
    """``--grid``: every configuration of the grid file in one program per static group; OUT/grid.parquet and more.

    OUT is built in a staging sibling and renamed into place only when complete (`outputs.staged_dir`)."""
    import dataclasses

    from mmjax.data.market import identity
    from mmjax.env.knobs import EnvKnobs
    from mmjax.evaluation import grid, grid_report, grid_spec

    if not cfg.out:
        raise outputs.UserError("backtest: --grid needs --out DIR")
    if not cfg.data:
        raise outputs.UserError("backtest: --data DIR is required")
    outputs.refuse_existing(cfg.out, cfg.overwrite, GRID_REPORT)  # before the grid runs, not after it
    plan = grid_spec.read_grid(cfg.grid)
    knobs = cfg.env.over(EnvKnobs())
    rec = grid.load(cfg.data, cfg.product)
    n = sum(len(next(iter(c.values()))) for c in plan.values())
    say = None if cfg.quiet else print
    if say:
        say(f"grid: {n:,} configurations ({', '.join(f'{q} {len(next(iter(c.values())))}' for q, c in plan.items())}) "
            f"over {len(rec.segs)} segment(s), {sum(b - a - 1 for a, b in rec.segs):,} steps each")
    t0, c0 = time.perf_counter(), time.process_time()
    rows = grid.run_plan(rec, plan, chunk_configs=cfg.chunk_configs, chunk_steps=cfg.chunk_steps, knobs=knobs,
                         progress=say)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    meta = {"data": cfg.data, "grid": cfg.grid, "configurations": n, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "market": identity(rec.market, rec.raw.meta), "knobs": dataclasses.asdict(knobs)}
    with outputs.staged_dir(cfg.out, cfg.overwrite, GRID_REPORT) as stage:  # all of the report, or nothing
        paths = {k: Path(cfg.out) / p.name for k, p in grid_report.write_all(rows, stage, meta).items()}
    print(grid_report.summary(grid_report.best_configs(rows)))
    print(f"{n:,} configurations in {seconds:.1f} s ({seconds / max(n, 1) * 1e3:.2f} ms each); wrote "
          + ", ".join(str(p) for p in paths.values()))
    return 0


def run(cfg: BacktestConfig) -> int:
    """CLI entry point: backtest, print the totals, write the JSON (``--grid``: `run_grid`).

    An existing --json file (--grid: --out directory) is refused before any work unless --overwrite."""
    if cfg.grid:
        return run_grid(cfg)
    if cfg.json:
        outputs.refuse_existing(cfg.json, cfg.overwrite, RESULT)  # before the backtest, not after it
    result = backtest(cfg, progress=None if cfg.quiet else print)
    keys = ("fills", "filled_size", "pnl", "mean_abs_position", "rejected_post_only", "steps", "segments")
    print("  ".join(f"{k} {result[k]:.6g}" if isinstance(result[k], float) else f"{k} {result[k]}" for k in keys))
    print("fills by kind: " + ", ".join(f"{k} {v}" for k, v in result["fills_by_kind"].items())
          + f"; quote-steps beyond the stored depth: {result['beyond_depth_steps']} of {result['quote_steps']}")
    if cfg.json:
        outputs.write_output_json(cfg.json, result, cfg.overwrite, RESULT)
        print(f"wrote {cfg.json}")
    return 0
