"""The grid file of `mmjax backtest --grid GRID.toml|json`: per quoter, a list of values per axis; their product.

    [env]                        # swept for every quoter below (a quoter's own table may override an axis)
    max_inventory = [0.05, 0.1]
    latency_steps = [1, 2]       # static: each value is its own program

    [fixed]
    half_spread_bps = {linspace = [0.1, 3.0, 30]}   # or ticks = [-1, 0, 1, 2]

    [avellaneda_stoikov]
    gamma = {logspace = [-3, 1, 9]}                  # 10^-3 .. 10^1
    fit_window_s = [60, 0]                           # 0: the whole recording

A value is a number, a list of numbers, ``{linspace = [first, last, count]}`` or ``{logspace = [first
exponent, last exponent, count]}``. JSON takes the same shape. The quoters and their axes are in
`mmjax.evaluation.grid_quoters.QUOTERS`; the env axes in `mmjax.evaluation.grid.ENV_AXES`.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from pathlib import Path

import numpy as np

from mmjax.evaluation.grid import ENV_AXES
from mmjax.evaluation.grid_quoters import QUOTERS, Columns
from mmjax.outputs import UserError

MAX_CONFIGS = 1_000_000  # a typo in a count should not try to run 10^9 configurations


def _values(path: Path, where: str, v) -> list[float]:
    """One axis's values: a number, a list, or a linspace / logspace table."""
    if isinstance(v, dict):
        if len(v) != 1 or next(iter(v)) not in ("linspace", "logspace"):
            raise UserError(f"{path}: {where}: a table must be {{linspace = [a, b, n]}} or {{logspace = [a, b, n]}}, got {v}")
        kind, args = next(iter(v.items()))
        if not (isinstance(args, list) and len(args) == 3 and float(args[2]).is_integer() and args[2] >= 1):
            raise UserError(f"{path}: {where}: {kind} takes [first, last, count >= 1], got {args}")
        fn = np.linspace if kind == "linspace" else np.logspace
        return [float(x) for x in fn(float(args[0]), float(args[1]), int(args[2]))]
    items = v if isinstance(v, list) else [v]
    if not items:
        raise UserError(f"{path}: {where}: an empty list sweeps nothing")
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise UserError(f"{path}: {where}: values must be finite numbers, got {x!r}")
        out.append(float(x))
    return out


def read_grid(path: str | Path) -> dict[str, Columns]:
    """Parse a grid file into quoter -> columns (axis -> [N] values, the product of its lists)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such grid file")
    text = path.read_text()
    try:
        spec = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from exc
    if not isinstance(spec, dict):
        raise UserError(f"{path}: the grid must be a table of quoters")
    env = spec.pop("env", {})
    bad = set(env) - set(ENV_AXES)
    if bad:
        raise UserError(f"{path}: [env] has no axis {sorted(bad)}; the env axes: {list(ENV_AXES)}")
    if not spec:
        raise UserError(f"{path}: no quoter table; add one of {sorted(QUOTERS)}")
    plan = {}
    for name, table in spec.items():
        if name not in QUOTERS:
            raise UserError(f"{path}: unknown quoter [{name}]; choose from {sorted(QUOTERS)} (or [env])")
        if not isinstance(table, dict):
            raise UserError(f"{path}: [{name}] must be a table of axes")
        axes = {**env, **table}
        bad = set(axes) - set(QUOTERS[name].axes) - set(ENV_AXES)
        if bad:
            raise UserError(f"{path}: [{name}] has no axis {sorted(bad)}; its axes: {[*QUOTERS[name].axes, *ENV_AXES]}")
        lists = {a: _values(path, f"[{name}] {a}", v) for a, v in axes.items()}
        n = math.prod(len(v) for v in lists.values())
        if n > MAX_CONFIGS:
            raise UserError(f"{path}: [{name}] sweeps {n:,} configurations, more than {MAX_CONFIGS:,}")
        if not lists:  # a bare [quoter]: its defaults, once
            plan[name] = {QUOTERS[name].axes[0]: np.full(1, np.nan)}
            continue
        prod = list(itertools.product(*lists.values())) if lists else [()]
        plan[name] = {a: np.asarray([p[i] for p in prod], np.float64) for i, a in enumerate(lists)}
    return plan
