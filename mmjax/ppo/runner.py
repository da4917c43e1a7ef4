"""`run_training`: PPO in jitted chunks of updates, with progress lines, metrics.jsonl, a learning-curve
PNG and a checkpoint after every chunk; `resume=True` continues bit-exactly; a NaN guard stops the run.

In a multi-process run (`mmjax.ppo.distributed`) every process runs this loop; process 0 alone prints and
writes files, and sharded state is gathered to the host (a collective) before checkpointing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from mmjax.ppo import watchdog
from mmjax.ppo.checkpoint import load_checkpoint, save_checkpoint
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.distributed import is_main, to_host
from mmjax.ppo.tensorboard import TensorBoardWriter
from mmjax.ppo.train import HParams, TrainState, make_ppo
from mmjax.ppo.wrappers import EPISODIC_LENGTH, EPISODIC_RETURN

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
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


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


def _place(host_state: TrainState, init, key, hp, env_params) -> TrainState:
    """Put a loaded (NumPy) state on the devices, laid out as `init` lays out a fresh one."""
    if jax.process_count() == 1:
        return jax.device_put(host_state)
    # Across processes: build each global array from the (identical) host copy every process loaded.
    shardings = init.lower(key, hp, env_params).compile().output_shardings
    return jax.tree.map(lambda x, sh: jax.make_array_from_callback(np.shape(x), sh, lambda idx: np.asarray(x)[idx]),
                        host_state, shardings)


def run_training(config: PPOConfig, env, env_params, out_dir, resume: bool = False,
                 progress: Callable[[str], Any] = print, tensorboard_dir: str | None = None) -> dict:
    """Train in chunks, logging and checkpointing each; returns {"params", "metrics", "out_dir", "updates"}.

    `tensorboard_dir`: also write every metric row there as TensorBoard scalars (needs tensorboardX)."""
    config.validate()
    main = is_main()
    if not main:
        progress = lambda *_: None  # noqa: E731 - process 0 speaks for the run
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = out / CHECKPOINT, out / METRICS
    ppo = make_ppo(config, env, env_params)
    extra = tuple(k for k in ppo.episode_metrics if k not in (EPISODIC_RETURN, EPISODIC_LENGTH))  # final_info ones
    hp = HParams.from_config(config)
    init = jax.jit(ppo.init)
    key = jax.random.PRNGKey(config.seed)

    rows: list[dict] = []
    if resume and ckpt_path.exists():
        template = jax.eval_shape(init, key, hp, env_params)
        state, meta = load_checkpoint(ckpt_path, template)
        if meta.get("config") != config.to_json():
            raise ValueError(f"{ckpt_path}: written by a different config; refusing to resume "
                             f"(checkpoint {meta.get('config')}, now {config.to_json()})")
        state = _place(state, init, key, hp, env_params)
        rows = _read_metrics(metrics_path, int(state.update))
        progress(f"resumed from {ckpt_path} at update {int(state.update)}")
    else:
        if ckpt_path.exists():
            progress(f"starting fresh in {out} (existing checkpoint will be overwritten; pass resume=True to continue)")
        elif resume:
            progress(f"no checkpoint in {out}; starting fresh")
        state = init(key, hp, env_params)
    board = None
    if main:
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if tensorboard_dir:  # events past the checkpoint (or all, starting fresh) are purged: they are redone
            board = TensorBoardWriter(tensorboard_dir, resume_after_step=int(state.update) * config.batch_size)

    total = config.num_updates
    chunk_fns: dict[int, Callable] = {}
    try:
        while int(state.update) < total:
            start = int(state.update)
            n = min(config.updates_per_chunk, total - start)
            if n not in chunk_fns:  # compile once per chunk length (at most two: full and the last)
                t0 = time.perf_counter()
                chunk_fns[n] = jax.jit(ppo.run, static_argnums=3).lower(state, hp, env_params, n).compile()
                progress(f"compiled a {n}-update chunk in {time.perf_counter() - t0:.1f} s")
                watchdog.beat(f"compiled a {n}-update chunk")
            # An AOT-compiled chunk insists on its input shardings (multi-device, or a freshly loaded state).
            state = jax.device_put(state, chunk_fns[n].input_shardings[0][0])
            t0 = time.perf_counter()
            new_state, metrics = chunk_fns[n](state, hp, env_params)
            metrics = to_host(metrics)
            sps = n * config.batch_size / (time.perf_counter() - t0)
            host_state = to_host(new_state)  # collective across processes; a plain device_get in one
            _finite_or_raise(metrics, host_state, start)
            state = new_state

            chunk_rows = []
            for i in range(n):
                u = start + i + 1
                row = {"update": u, "global_step": u * config.batch_size, "charts/SPS": sps}
                for k, v in metrics.items():
                    row[k] = float(v[i])
                if row["charts/episodes"] == 0:  # no episode ended in this rollout: no return to report
                    for k in ppo.episode_metrics:
                        row[k] = None
                chunk_rows.append(row)
            rows += chunk_rows
            if main:
                with metrics_path.open("a") as f:  # metrics first, then the checkpoint (see _read_metrics)
                    f.writelines(json.dumps(r) + "\n" for r in chunk_rows)
                if board is not None:
                    board.write(chunk_rows)
                save_checkpoint(ckpt_path, host_state, {"config": config.to_json(), "update": str(int(host_state.update))})
                plot_learning_curve(rows, out / CURVE, (EPISODIC_RETURN, *extra))
            progress(_progress_line(shown_row(chunk_rows, ppo.episode_metrics), sps, total, config.batch_size, extra))
            watchdog.beat(f"update {int(host_state.update)}/{total}")
    finally:
        if board is not None:
            board.close()

    if jax.process_count() > 1:
        state = to_host(state)  # global arrays cannot be read outside jit on one process
    return {"params": ppo.params_out(state), "metrics": rows[-1] if rows else {}, "out_dir": str(out),
            "updates": int(state.update), "state": state}


