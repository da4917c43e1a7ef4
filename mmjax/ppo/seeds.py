"""`run_seeds`, the one training loop: K seeds of one PPO config trained as one jitted, vmapped program, each
written as its own run; ``vmap=False`` is the plain one-seed program (`mmjax.ppo.runner.run_training`).

The loop owns the compile cache (one compiled chunk per chunk length), the metric rows, the NaN guard, and
the order of writes after each chunk: metrics.jsonl first, then the checkpoint(s), then the learning curve
(a crash between the two writes leaves rows that a resume drops: `run_log._read_metrics`).

Seed k's key is ``PRNGKey(config.seed + k)``, the key a plain `run_training` with ``seed = config.seed + k``
uses, so run k is that single run (to float rounding: see docs/ppo.md). The chunk program is `PPO.run`
under `jax.vmap` over the train state; nothing of the update is copied here. Each run directory gets what
`run_training` writes (checkpoint.npz, metrics.jsonl, learning_curve.png), with the seed's own config.

With a `Validation` (`mmjax.ppo.selection`), each seed's deterministic policy is scored on fixed held-out
episodes every ``every_updates`` updates (and at the end); the selected state is the run's checkpoint.npz:
the best-scoring so far (ties keep the earlier), or with ``margin_se > 0`` the latest unless that best leads
it by more than margin_se paired standard errors (`selection.keep_best`; the best is then also kept as
checkpoint_best.npz). The latest state is checkpoint_last.npz (what a resume continues from), and
selection.json records the selected update, its score and standard error, the best update, and the
validation curve (each point's score and standard error).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.ppo import watchdog
from mmjax.ppo.checkpoint import load_checkpoint, save_checkpoint
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.distributed import is_main, to_host
from mmjax.ppo.run_log import (
    CHECKPOINT,
    CURVE,
    METRICS,
    _finite_or_raise,
    _progress_line,
    _read_metrics,
    plot_learning_curve,
    shown_row,
)
from mmjax.ppo.selection import (
    Validation,
    keep_best,
    make_validator,
    standard_error,
    summarize,
    val_name,
)
from mmjax.ppo.tensorboard import TensorBoardWriter
from mmjax.ppo.train import HParams, TrainState, check_teacher, make_ppo
from mmjax.ppo.wrappers import EPISODIC_LENGTH, EPISODIC_RETURN

SELECTION = "selection.json"  # per run: the selected update, its validation score, the validation curve
LAST_CHECKPOINT = "checkpoint_last.npz"  # per run, with a Validation: the latest state (resume point)
BEST_CHECKPOINT = "checkpoint_best.npz"  # per run, with a Validation whose margin_se > 0: the best-scoring state


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """[K, 2] keys: seed k's is ``PRNGKey(seed + k)``, the key of a single run with that seed."""
    return jnp.stack([jax.random.PRNGKey(seed + k) for k in range(num_seeds)])


def _seed(tree, k: int):
    return jax.tree.map(lambda x: x[k], tree)


def _chunk_end(start: int, total: int, per_chunk: int, val_every: int) -> int:
    """End update of the chunk from `start`: at most `per_chunk` long, and ending on each validation update."""
    end = min(start + per_chunk, total)
    if val_every:
        end = min(end, (start // val_every + 1) * val_every)
    return end


def _mean_row(rows: list[dict]) -> dict:
    """Mean over seeds of each metric (None where no seed has it)."""
    out = dict(rows[0])  # update and global_step: the same for every seed
    for k in set(rows[0]) - {"update", "global_step"}:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def _fmt(vals) -> str:
    return "[" + ", ".join("n/a" if v is None else f"{v:.3f}" for v in vals) + "]"


class _Best:
    """One seed's validations: the best-scoring state so far, the selected one (`selection.keep_best`), the curve."""

    def __init__(self, margin_se: float = 0.0):
        self.margin_se = margin_se
        self.score, self.update, self.state, self.per_episode = -np.inf, 0, None, None  # the best so far
        self.sel_score, self.sel_update, self.sel_state, self.lead_se = -np.inf, 0, None, 0.0  # checkpoint.npz
        self.curve = []

    def offer(self, update: int, score: float, per_episode, state) -> tuple[bool, bool]:
        """Record a validation; returns (the selected checkpoint changed, the best changed)."""
        x = np.asarray(per_episode, np.float64)
        self.curve.append({"update": update, "score": score, "se": standard_error(x)})
        best_changed = score > self.score  # strictly: a tie keeps the earlier checkpoint
        if best_changed:
            self.score, self.update, self.state, self.per_episode = score, update, state, x
        keep, self.lead_se = (True, 0.0) if self.per_episode is None else keep_best(self.per_episode, x, self.margin_se)
        pick = (self.score, self.update, self.state) if keep else (score, update, state)
        changed = pick[1] != self.sel_update
        self.sel_score, self.sel_update, self.sel_state = pick
        return changed, best_changed

    def record(self, v: Validation, batch_size: int) -> dict:
        se = {p["update"]: p["se"] for p in self.curve}
        return {"metric": v.metric, "selected_update": self.sel_update,
                "selected_global_step": self.sel_update * batch_size, "val_score": self.sel_score,
                "val_se": se.get(self.sel_update), "best_update": self.update, "best_score": self.score,
                "margin_se": self.margin_se, "best_lead_se": self.lead_se,
                "best_per_episode": [float(x) for x in self.per_episode] if self.per_episode is not None else None,
                "val_episodes": int(np.shape(v.starts)[0]),
                "val_starts": [int(s) for s in np.asarray(v.starts)], "val_curve": self.curve}


def _resume(dirs, configs, template, validation, progress):
    """Per-seed host states (and bests) from each run directory, or None when none has a checkpoint."""
    name = LAST_CHECKPOINT if validation else CHECKPOINT
    have = [(d / name).exists() for d in dirs]
    if not any(have):
        progress(f"no {name} in {dirs[0] if len(dirs) == 1 else f'{dirs[0].parent}/...'}; starting fresh")
        return None
    if not all(have):
        raise FileNotFoundError(f"resume: {name} missing in {[str(d) for d, h in zip(dirs, have, strict=True) if not h]}")
    states, bests = [], []
    for d, c in zip(dirs, configs, strict=True):
        state, meta = load_checkpoint(d / name, template)
        if meta.get("config") != c.to_json():
            raise ValueError(f"{d / name}: written by a different config; refusing to resume "
                             f"(checkpoint {meta.get('config')}, now {c.to_json()})")
        states.append(state)
        best = _Best(validation.margin_se if validation else 0.0)
        if validation and (d / SELECTION).exists():  # absent: stopped before its first validation
            sel = json.loads((d / SELECTION).read_text())
            best.sel_score, best.sel_update = sel["val_score"], sel["selected_update"]
            best.sel_state = load_checkpoint(d / CHECKPOINT, template)[0]
            best.score, best.update = sel.get("best_score", best.sel_score), sel.get("best_update", best.sel_update)
            best.state = (load_checkpoint(d / BEST_CHECKPOINT, template)[0] if (d / BEST_CHECKPOINT).exists()
                          else best.sel_state)
            if sel.get("best_per_episode") is not None:
                best.per_episode = np.asarray(sel["best_per_episode"], np.float64)
            best.curve = [p for p in sel["val_curve"] if p["update"] <= int(state.update)]
        bests.append(best)
    updates = {int(s.update) for s in states}
    if len(updates) != 1:
        raise ValueError(f"resume: the seeds' checkpoints are at different updates {sorted(updates)}")
    u = updates.pop()
    progress(f"resumed from {dirs[0] / name} at update {u}" if len(dirs) == 1 else f"resumed {len(dirs)} seeds at update {u}")
    return states, bests


def _place(host_state: TrainState, init, key, hp, env_params) -> TrainState:
    """Put a loaded (NumPy) one-seed state on the devices, laid out as `init` lays out a fresh one."""
    if jax.process_count() == 1:
        return jax.device_put(host_state)
    # Across processes: build each global array from the (identical) host copy every process loaded.
    shardings = init.lower(key, hp, env_params).compile().output_shardings
    return jax.tree.map(lambda x, sh: jax.make_array_from_callback(np.shape(x), sh, lambda idx: np.asarray(x)[idx]),
                        host_state, shardings)


def run_seeds(config: PPOConfig, env, env_params, out_dirs: Sequence[str | Path], validation: Validation | None = None,
              resume: bool = False, progress: Callable[[str], Any] = print, tensorboard_dir: str | None = None,
              vmap: bool = True, teacher=None) -> list[dict]:
    """Train seeds ``config.seed + k`` for k < len(out_dirs) at once, seed k into ``out_dirs[k]``.

    Returns one dict per seed, {"params", "metrics", "out_dir", "updates", "state", "selection"} ("selection":
    the selection.json record, or None); "params" and "state" are the selected checkpoint's.

    ``vmap=False``: one directory, the plain program (no seed axis), the numbers of a single run; it alone runs
    across processes and writes TensorBoard scalars (`tensorboard_dir`), and it takes no `validation`."""
    config.validate()
    dirs = [Path(d) for d in out_dirs]
    num = len(dirs)
    if not vmap and (num != 1 or validation is not None):
        raise ValueError("run_seeds(vmap=False): one run directory and no validation (run_training)")
    if vmap and (jax.process_count() > 1 or tensorboard_dir):
        raise ValueError("run_seeds: several seeds or validation selection in a multi-process run, or with TensorBoard, "
                         "are not supported; run one seed per process group")
    main = is_main()
    if not main:
        progress = lambda *_: None  # noqa: E731 - process 0 speaks for the run
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    configs = [dataclasses.replace(config, seed=config.seed + k) for k in range(num)]
    check_teacher(config, teacher)
    ppo = make_ppo(config, env, env_params, teacher)  # teacher: `make_ppo`'s (config.bc_coef)
    extra = tuple(k for k in ppo.episode_metrics if k not in (EPISODIC_RETURN, EPISODIC_LENGTH))  # final_info ones
    hp = HParams.from_config(config)
    if vmap:
        keys = seed_keys(config.seed, num)
        init = jax.jit(jax.vmap(ppo.init, in_axes=(0, None, None)))
        template_key = keys[0]
    else:
        keys = template_key = jax.random.PRNGKey(config.seed)
        init = jax.jit(ppo.init)
    # the host view of the device state and metrics: a leading seed axis, also without vmap
    seeded = (lambda tree: tree) if vmap else (lambda tree: jax.tree.map(lambda x: np.asarray(x)[None], tree))
    updated = (lambda st: int(st.update[0])) if vmap else (lambda st: int(st.update))

    loaded = None
    if resume:
        template = jax.eval_shape(ppo.init, template_key, hp, env_params)
        loaded = _resume(dirs, configs, template, validation, progress)
    elif any((d / CHECKPOINT).exists() for d in dirs):
        progress(f"starting fresh in {dirs[0]} (existing checkpoint will be overwritten; `mmjax train --resume` continues it instead)")
    if loaded is None:
        state, bests = init(keys, hp, env_params), [_Best(validation.margin_se if validation else 0.0) for _ in dirs]
        rows = [[] for _ in dirs]
    else:
        host_states, bests = loaded
        state = (jax.device_put(jax.tree.map(lambda *xs: np.stack(xs), *host_states)) if vmap
                 else _place(host_states[0], init, keys, hp, env_params))
        rows = [_read_metrics(d / METRICS, int(host_states[0].update)) for d in dirs]
    board = None
    if main:
        for d, r in zip(dirs, rows, strict=True):
            (d / METRICS).write_text("".join(json.dumps(x) + "\n" for x in r))
        if tensorboard_dir:  # events past the checkpoint (or all, starting fresh) are purged: they are redone
            board = TensorBoardWriter(tensorboard_dir, resume_after_step=updated(state) * config.batch_size)

    validate = None
    if validation is not None:
        validate = jax.jit(jax.vmap(make_validator(ppo, validation.pin, validation.num_steps), in_axes=(0, None, None)))
        starts = jnp.asarray(validation.starts, jnp.int32)
    curve_keys = (EPISODIC_RETURN, *extra, *((val_name(validation.metric),) if validation else ()))
    total, bs = config.num_updates, config.batch_size
    chunk_fns: dict[int, Callable] = {}
    try:
        while (start := updated(state)) < total:
            n = _chunk_end(start, total, config.updates_per_chunk, validation.every_updates if validation else 0) - start
            if n not in chunk_fns:  # compile once per chunk length (at most two without validation: full and last)
                t0 = time.perf_counter()
                if vmap:
                    run_n = jax.vmap(lambda s, h, p, n=n: ppo.run(s, h, p, n), in_axes=(0, None, None))
                    chunk_fns[n] = jax.jit(run_n).lower(state, hp, env_params).compile()
                else:
                    chunk_fns[n] = jax.jit(ppo.run, static_argnums=3).lower(state, hp, env_params, n).compile()
                progress(f"compiled a {n}-update chunk{f' of {num} seeds' if vmap else ''} in "
                         f"{time.perf_counter() - t0:.1f} s")
                watchdog.beat(f"compiled a {n}-update chunk")
            # An AOT-compiled chunk insists on its input shardings (multi-device, or a freshly loaded state).
            state = jax.device_put(state, chunk_fns[n].input_shardings[0][0])
            t0 = time.perf_counter()
            state, metrics = chunk_fns[n](state, hp, env_params)
            metrics = seeded(to_host(metrics))  # {name: [K, n]}
            sps = n * bs / (time.perf_counter() - t0)  # per seed; all K seeds ran in that wall time
            host = seeded(to_host(state))  # a collective across processes; a plain device_get in one
            for k in range(num):
                try:
                    _finite_or_raise({name: v[k] for name, v in metrics.items()}, _seed(host, k), start)
                except FloatingPointError as e:
                    raise FloatingPointError(f"seed {configs[k].seed}: {e}" if vmap else str(e)) from None
            end = start + n
            chunk_rows = [_rows(metrics, k, start, n, bs, sps, ppo.episode_metrics) for k in range(num)]
            val_due = validation is not None and (not validation.every_updates or end % validation.every_updates == 0
                                                  or end == total)
            improved = [(False, False)] * num  # (selected changed, best changed)
            if val_due:
                per_episode = jax.device_get(validate(ppo.params_out(state), validation.env_params, starts))
                for k in range(num):
                    summary = summarize(_seed(per_episode, k), validation.metric)
                    chunk_rows[k][-1].update(summary)
                    improved[k] = bests[k].offer(end, summary[val_name(validation.metric)],
                                                 _seed(per_episode, k)[validation.metric], _seed(host, k))
            for k in range(num):
                rows[k] += chunk_rows[k]
            if main:
                _write_chunk(dirs, configs, chunk_rows, rows, host, bests, improved, validation, val_due, end, bs,
                             curve_keys, board)
            progress(_chunk_line(chunk_rows, ppo.episode_metrics, sps, total, bs, extra, configs, bests, validation,
                                 val_due, vmap))
            watchdog.beat(f"update {end}/{total}")
    finally:
        if board is not None:
            board.close()

    if not vmap:  # the device state itself, as a single run returns it (global arrays gathered across processes)
        chosen = state if jax.process_count() == 1 else to_host(state)
        return [{"params": ppo.params_out(chosen), "metrics": rows[0][-1] if rows[0] else {}, "out_dir": str(dirs[0]),
                 "updates": int(chosen.update), "state": chosen, "selection": None}]
    host = jax.device_get(state)
    results = []
    for k, d in enumerate(dirs):
        chosen = bests[k].sel_state if validation is not None and bests[k].sel_state is not None else _seed(host, k)
        results.append({"params": ppo.params_out(chosen), "metrics": rows[k][-1] if rows[k] else {}, "out_dir": str(d),
                        "updates": int(host.update[k]), "state": chosen,
                        "selection": bests[k].record(validation, bs) if validation is not None else None})
    return results


def _rows(metrics: dict, k: int, start: int, n: int, bs: int, sps: float, episode_metrics) -> list[dict]:
    """Seed k's metric rows of a chunk of `n` updates from update `start` (episode metrics None where none ended)."""
    out = []
    for i in range(n):
        u = start + i + 1
        row = {"update": u, "global_step": u * bs, "charts/SPS": sps}
        row.update({name: float(v[k, i]) for name, v in metrics.items()})
        if row["charts/episodes"] == 0:  # no episode ended in this rollout: no return to report
            row.update({name: None for name in episode_metrics})
        out.append(row)
    return out


def _write_chunk(dirs, configs, chunk_rows, rows, host, bests, improved, validation, val_due, end, bs, curve_keys,
                 board) -> None:
    """Each run's files after a chunk: metrics first, then the checkpoint(s) (see run_log._read_metrics), the curve."""
    for k, d in enumerate(dirs):
        with (d / METRICS).open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in chunk_rows[k])
        if board is not None:
            board.write(chunk_rows[k])
        meta = {"config": configs[k].to_json(), "update": str(end)}
        if validation is None:
            save_checkpoint(d / CHECKPOINT, _seed(host, k), meta)
        else:
            selected, best = improved[k]
            if selected:
                save_checkpoint(d / CHECKPOINT, bests[k].sel_state, {**meta, "update": str(bests[k].sel_update),
                                                                     "selected_on": validation.metric,
                                                                     "val_score": repr(bests[k].sel_score)})
            if best and validation.margin_se > 0:  # the latest may be selected: keep the best to compare with
                save_checkpoint(d / BEST_CHECKPOINT, bests[k].state, {**meta, "update": str(bests[k].update),
                                                                      "val_score": repr(bests[k].score)})
            save_checkpoint(d / LAST_CHECKPOINT, _seed(host, k), meta)
            if val_due:
                (d / SELECTION).write_text(json.dumps(bests[k].record(validation, bs), indent=2))
        plot_learning_curve(rows[k], d / CURVE, curve_keys,
                            selected_step=bests[k].update * bs if bests[k].state is not None else None)


def _chunk_line(chunk_rows, episode_metrics, sps, total, bs, extra, configs, bests, validation, val_due, vmap) -> str:
    """The progress line of a chunk: the plain one of a single run; with vmap, the seed mean and each seed's values."""
    shown = [shown_row(r, episode_metrics) for r in chunk_rows]
    if not vmap:
        return _progress_line(shown[0], sps, total, bs, extra)
    line = _progress_line(_mean_row(shown), sps * len(configs), total, bs * len(configs), extra)
    line += f" | seeds {[c.seed for c in configs]} return {_fmt(r.get(EPISODIC_RETURN) for r in shown)}"
    line += "".join(f" {m.rsplit('/', 1)[-1]} {_fmt(r.get(m) for r in shown)}" for m in extra)
    if val_due:
        vk = val_name(validation.metric)
        line += (f" | {vk} {_fmt(r[vk] for r in shown)} selected {_fmt(b.sel_score for b in bests)} "
                 f"at updates {[b.sel_update for b in bests]}")
    return line
