"""What a training run writes and shows, shared by the one training loop (`mmjax.ppo.seeds.run_seeds`): the
file names, metrics.jsonl reading (rows past the last checkpoint dropped), the learning-curve PNG, the NaN guard
and the progress line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import numpy as np

from mmjax.outputs import atomic_write_bytes
from mmjax.ppo.train import TrainState
from mmjax.ppo.wrappers import EPISODIC_RETURN

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"


def _finite_or_raise(metrics: dict[str, np.ndarray], state: TrainState, first_update: int) -> None:
    for name, vals in metrics.items():
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            raise FloatingPointError(f"NaN guard: metric {name!r} is {vals[bad[0]]} at update "
                                     f"{first_update + int(bad[0]) + 1}; stopping (last checkpoint kept)")
    for path, leaf in jax.tree_util.tree_flatten_with_path(state.params)[0]:
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise FloatingPointError(f"NaN guard: parameter {jax.tree_util.keystr(path)} is non-finite; "
                                     "stopping (last checkpoint kept)")


def _read_metrics(path: Path, upto_update: int) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Rows written after the last checkpoint (a crash between the two writes) are redone on resume.
    return [r for r in rows if r["update"] <= upto_update]


def plot_learning_curve(rows: list[dict], out_png: Path, keys: tuple[str, ...] = (EPISODIC_RETURN,),
                        selected_step: int | None = None) -> None:
    """The episode metrics `keys` (those present in `rows`) against env steps, one panel each, as a PNG.

    `selected_step`: the env step of the selected checkpoint, marked in every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, len(keys) or 1, figsize=(6 * max(len(keys), 1), 4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=False):
        pts = [(r["global_step"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), lw=1.2)
        if selected_step is not None:
            ax.axvline(selected_step, color="tab:orange", ls="--", lw=1, label="selected checkpoint")
            ax.legend(loc="best", fontsize=8)
        ax.set_xlabel("env steps")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(out_png, buf.getvalue())  # Ctrl-C mid-write never leaves a truncated PNG


def _bar(done: int, total: int, width: int = 20) -> str:
    """`[#########...........]  45%`: a plain-text bar that reads the same in a terminal and in a log file."""
    frac = min(max(done / max(total, 1), 0.0), 1.0)
    filled = int(round(frac * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {100 * frac:3.0f}%"


def _eta(seconds: float) -> str:
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _progress_line(row: dict, sps: float, total_updates: int, batch_size: int | None = None,
                   extra: tuple[str, ...] = ()) -> str:
    """One progress line per chunk: bar, update, steps, SPS, ETA, the CleanRL metrics and the `extra` ones.

    Each `extra` metric shows under the last part of its name (``group/name`` as ``name``)."""

    def fmt(key, spec):
        v = row.get(key)
        return "n/a" if v is None else format(v, spec)

    eta = ""
    if batch_size and sps > 0:
        eta = f" ETA {_eta((total_updates - row['update']) * batch_size / sps)}"
    line = (f"update {row['update']}/{total_updates} {_bar(row['update'], total_updates)} "
            f"step {row['global_step']} SPS {sps:,.0f}{eta} "
            f"return {fmt('charts/episodic_return', '.3f')} kl {fmt('losses/approx_kl', '.4f')} "
            f"clipfrac {fmt('losses/clipfrac', '.3f')} ev {fmt('losses/explained_variance', '.3f')}")
    for key in extra:
        line += f" {key.rsplit('/', 1)[-1]} {fmt(key, '.4f')}"
    return line


def shown_row(chunk_rows: list[dict], episode_metrics: tuple[str, ...]) -> dict:
    """A chunk's last row, with the episode metrics of its latest update that completed episodes (long
    episodes end only every few updates)."""
    shown = dict(chunk_rows[-1])
    for r in reversed(chunk_rows):
        if r.get(EPISODIC_RETURN) is not None:
            shown.update({k: r[k] for k in episode_metrics})
            break
    return shown
