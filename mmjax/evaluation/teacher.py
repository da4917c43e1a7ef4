"""A tuned baseline as PPO's teacher (`PPOConfig.bc_coef`): calibrated and tuned on the training split only.

The teacher is the evaluation's own baseline (`harness.baseline_policy`), calibrated on the training
split's rows and tuned by the same grid search (`tuning.tune_baseline`) on training episodes, within
the agent's action range (its actions must be ones the agent can take). Nothing from the validation or
test split is read. `mmjax train --teacher NAME` (and `mmjax demo`, through its TrainConfig) builds it here.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env import build
from mmjax.evaluation import harness as H
from mmjax.evaluation.configs import EvaluateConfig
from mmjax.evaluation.tuning import tune_baseline
from mmjax.outputs import UserError
from mmjax.runs.config import check_teacher_name

# training episodes the teacher's parameter is tuned on: `mmjax evaluate --tune-episodes`' default, its one home
TUNE_EPISODES = EvaluateConfig.__dataclass_fields__["tune_episodes"].default


def teacher_for(name: str) -> Callable[[build.Market, Callable], Callable[[object, object], jax.Array]]:
    """``(market, progress) -> teacher(env_state, env_params) -> [2] action``: ``name`` tuned on ``market``'s training split."""
    check_teacher_name(name)

    def build_teacher(market: build.Market, progress=print):
        win = market.splits["train"]
        params = market.env_params(win)  # the agent's own action range
        k = market.knobs
        starts = H.non_overlapping_starts(np.asarray(market.md.steps_to_gap), win.start, win.stop, k.episode_steps,
                                          k.latency_steps, TUNE_EPISODES)
        if len(starts) == 0:
            raise UserError(f"--teacher {name}: no episode of {k.episode_steps} steps fits in the training split")
        calib = H.calibrate(params, win.start, win.stop)
        value = tune_baseline(build.make_env(), params, starts, name, calib).value  # at the agent's own margin
        progress(f"teacher {name}: tuned on {len(starts)} training episodes, value {value:.4g}; PPO clones its actions "
                 "at the start of training (--bc-coef, --bc-anneal-frac)")
        policy = H.baseline_policy(name, jnp.float32(value), calib)
        return lambda state, env_params: policy(None, state, env_params)

    return build_teacher
