"""`mmjax sweep`: a grid of PPO and env hyperparameters x seeds on a recording, as one jitted program.

Every grid point trains `--seeds` seeds on the training split (one `jax.jit` of nested `vmap`s, see
`mmjax.ppo.grid`), then runs its deterministic policy on `--val-episodes` episodes of the validation
split. The point with the best mean validation score (over seeds) wins. Writes to `--out`:
``sweep_table.csv`` and ``sweep_table.md`` (one row per grid point), ``sweep.png`` (score per point, one
dot per seed) and ``sweep_best.json`` (the winning values and the `mmjax train` flags that train it).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from mmjax.env import build
from mmjax.outputs import UserError, refuse_existing, staged_dir, write_json
from mmjax.runs import flags
from mmjax.runs.config import GRID_FLAGS, SELECT, SweepConfig

TABLE, TABLE_MD, PLOT, BEST = "sweep_table.csv", "sweep_table.md", "sweep.png", "sweep_best.json"


def _scores(val: dict, select: str) -> np.ndarray:
    """[G, S] validation score of every grid point and seed."""
    m = np.asarray(val[SELECT[select]])
    if select == "sharpe":
        std = np.asarray(val[SELECT[select] + ":std"])
        return np.where(std > 0, m / np.where(std > 0, std, 1.0), 0.0)
    return m


def _last_return(metrics: dict) -> np.ndarray:
    """[G, S] training episodic return of the last update in which episodes ended."""
    ret, n = np.asarray(metrics["charts/episodic_return"]), np.asarray(metrics["charts/episodes"])
    idx = np.where(n > 0, np.arange(n.shape[-1]), -1).max(axis=-1)
    return np.take_along_axis(ret, np.maximum(idx, 0)[..., None], axis=-1)[..., 0]


def table_rows(cfg: SweepConfig, points: dict, out: dict) -> list[dict]:
    """One row per grid point: its values, the validation score (mean and spread over seeds) and more."""
    score, val = _scores(out["val"], cfg.select), out["val"]
    rows = []
    for g in range(len(next(iter(points.values())))):
        row = {GRID_FLAGS[f][1]: float(str(points[f][g])) for f in points}  # str: float32's shortest repr
        row.update({f"val_{cfg.select}": float(score[g].mean()), f"val_{cfg.select}_seed_std": float(score[g].std()),
                    "val_pnl": float(np.mean(val["mm/pnl"][g])), "val_return": float(np.mean(val["charts/episodic_return"][g])),
                    "val_episodes": float(np.mean(val["episodes"][g])),
                    "train_return": float(np.mean(_last_return(out["metrics"])[g])),
                    "seed_scores": [float(x) for x in score[g]]})
        rows.append(row)
    return rows


def write_outputs(cfg: SweepConfig, rows: list[dict], out_dir: Path) -> dict:
    """Table (CSV, Markdown), plot and winning config; returns the winner's record."""
    cols = [k for k in rows[0] if k != "seed_scores"]
    with open(out_dir / TABLE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(f"{r[c]:.4g}" for c in cols) + " |" for r in rows]
    (out_dir / TABLE_MD).write_text("\n".join(md) + "\n")

    key = f"val_{cfg.select}"
    best = max(range(len(rows)), key=lambda i: rows[i][key])
    winner = {GRID_FLAGS[f][1]: rows[best][GRID_FLAGS[f][1]] for f in GRID_FLAGS}
    train = cfg.train_config(winner)
    record = {"select": cfg.select, "score": rows[best][key], "point": winner, "row": rows[best],
              "train_flags": flags.leaves(train.core),
              "command": flags.command_line("train", train, first=("data", "out"))}
    write_json(out_dir / BEST, record)
    _plot(rows, key, best, out_dir / PLOT)
    return record


def _plot(rows: list[dict], key: str, best: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in GRID_FLAGS.values() if len({r[k[1]] for r in rows}) > 1] or list(GRID_FLAGS.values())[:1]
    labels = [", ".join(f"{n[1]}={r[n[1]]:g}" for n in names) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    ax.bar(x, [r[key] for r in rows], color=["tab:orange" if i == best else "tab:blue" for i in x], alpha=0.6)
    for i, r in enumerate(rows):
        ax.plot([i] * len(r["seed_scores"]), r["seed_scores"], "k.", ms=4)
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"{key} (validation split; dots: seeds)")
    ax.set_title("mmjax sweep (orange: winner)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(cfg: SweepConfig, progress=print) -> int:
    """Load the recording, run the grid program, write the outputs (under the watchdog: `mmjax.ppo.watchdog`).

    An existing --out is refused before any work unless --overwrite; the outputs are built in a staging
    sibling and renamed into place only when all are written (`mmjax.outputs.staged_dir`)."""
    from mmjax.ppo.watchdog import watching

    refuse_existing(cfg.out, cfg.overwrite, "a sweep")  # before the compile, not after it

    with watching(cfg.out, "sweep", "a sweep is one program and does not resume: rerun the same command",
                  progress=progress) as wd:
        return _sweep(cfg, wd.wrap(progress))


def _sweep(cfg: SweepConfig, progress) -> int:
    if not cfg.core.data.data:
        raise UserError("--data DIR is required (a recording; `mmjax synth` makes one)")
    import jax

    from mmjax.ppo.grid import cartesian, make_grid_program
    from mmjax.ppo.wrappers import EpisodeStats

    axes = cfg.axes()
    points = cartesian(axes)
    n_points = len(points["lr_grid"])
    market = build.load(cfg.core.data, cfg.core.env)
    train_params = market.env_params(market.splits["train"])
    val_params = market.env_params(market.splits["val"])
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    hp_axes = {f: name for f, (kind, name) in GRID_FLAGS.items() if kind == "hp"}
    env_axes = {f: name for f, (kind, name) in GRID_FLAGS.items() if kind == "env"}  # EnvParams field = knob name
    program, _ = make_grid_program(cfg.core.ppo, env, train_params, list(hp_axes.values()),
                                   env_axes, val_envs=cfg.val_episodes)
    named = {hp_axes.get(f, f): v for f, v in points.items()}  # HParams axes under their field names
    keys = jax.random.split(jax.random.PRNGKey(cfg.core.ppo.seed), cfg.seeds)
    progress(f"sweep: {n_points} grid points x {cfg.seeds} seeds x {cfg.core.ppo.total_timesteps:,} steps on "
             f"{market.splits['train']}; validation {cfg.val_episodes} episodes on {market.splits['val']}")
    t0 = time.perf_counter()
    compiled = jax.jit(program).lower(named, keys, train_params, val_params).compile()
    t1 = time.perf_counter()
    out = jax.device_get(compiled(named, keys, train_params, val_params))
    progress(f"compiled in {t1 - t0:.1f} s, ran in {time.perf_counter() - t1:.1f} s "
             f"({n_points * cfg.seeds * cfg.core.ppo.total_timesteps / (time.perf_counter() - t1):,.0f} env steps/s)")
    out_dir = Path(cfg.out)
    rows = table_rows(cfg, points, out)
    with staged_dir(out_dir, cfg.overwrite, "a sweep") as stage:  # all four outputs, or none
        best = write_outputs(cfg, rows, stage)
    progress((out_dir / TABLE_MD).read_text().rstrip())
    progress(f"winner ({cfg.select} {best['score']:.4g} on the validation split): {best['point']}")
    progress(f"train it: {best['command']}")
    progress(f"wrote {out_dir / TABLE}, {out_dir / TABLE_MD}, {out_dir / PLOT}, {out_dir / BEST}")
    return 0
