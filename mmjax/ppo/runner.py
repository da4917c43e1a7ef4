"""`run_training`: PPO in jitted chunks of updates, with progress lines, metrics.jsonl, a learning-curve
PNG and a checkpoint after every chunk; `resume=True` continues bit-exactly; a NaN guard stops the run.

It is the one-seed case of the one training loop, `mmjax.ppo.seeds.run_seeds` with ``vmap=False``: the plain
(unvmapped) program of seed ``config.seed``, so its numbers are those of a single run. In a multi-process run
(`mmjax.ppo.distributed`) every process runs the loop; process 0 alone prints and writes files, and sharded
state is gathered to the host (a collective) before checkpointing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmjax.ppo.config import PPOConfig
from mmjax.ppo.run_log import CHECKPOINT, CURVE, METRICS, _progress_line  # noqa: F401 - re-exported for their users
from mmjax.ppo.seeds import run_seeds


def run_training(config: PPOConfig, env, env_params, out_dir, resume: bool = False,
                 progress: Callable[[str], Any] = print, tensorboard_dir: str | None = None, teacher=None) -> dict:
    """Train in chunks, logging and checkpointing each; returns {"params", "metrics", "out_dir", "updates", "state"}.

    `tensorboard_dir`: also write every metric row there as TensorBoard scalars (needs tensorboardX)."""
    [result] = run_seeds(config, env, env_params, [out_dir], resume=resume, progress=progress,
                         tensorboard_dir=tensorboard_dir, vmap=False, teacher=teacher)
    result.pop("selection")
    return result
