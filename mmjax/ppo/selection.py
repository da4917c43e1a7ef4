"""Checkpoint selection on held-out episodes: score each seed's deterministic policy on fixed episodes.

The trainer knows no particular env: `Validation.pin(env_params, start)` makes env params whose reset starts
the episode ``start`` and nothing else (for the market env, `mmjax.env.episodes.pin_start`), and
`Validation.starts` lists those episodes (fixed, non-overlapping windows of the validation split). Every seed
and every validation sees the same episodes, so scores compare across updates and seeds.

Which checkpoint is kept (`keep_best`): the best-scoring one, or, with ``margin_se > 0``, the latest unless
the best leads it by more than ``margin_se`` standard errors of the paired per-episode difference (same
episodes, so the pairing removes the episodes' common noise). A best that leads the latest by noise alone is
no evidence that the earlier policy is better; the latest has trained on more data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.ppo import distributions as dist
from mmjax.ppo.wrappers import EPISODIC_RETURN

VAL_PREFIX = "val/"  # metric rows carry the validation means as val/<short name>, e.g. val/pnl


class Validation(NamedTuple):
    """Where and how to validate: env params of the held-out split, episode starts, and the score metric."""

    env_params: Any  # params of the held-out split (env data passed as an argument, never baked in)
    starts: jax.Array  # [N] int32 episode starts
    pin: Callable[[Any, jax.Array], Any]  # (env_params, start) -> params whose only episode starts there
    num_steps: int  # steps per validation episode (the env's episode length; static: the scan's length)
    metric: str = "mm/pnl"  # the EpisodeStats metric whose mean over the N episodes is the score (higher wins)
    every_updates: int = 0  # validate after every this many updates; 0: after every chunk (and always at the end)
    margin_se: float = 0.0  # keep the best over the latest only when it leads by more than this many paired SEs; 0: the best


def val_name(metric: str) -> str:
    """The metrics-row key of a validation mean: ``mm/pnl`` -> ``val/pnl``."""
    return VAL_PREFIX + metric.rsplit("/", 1)[-1]


def make_validator(ppo, pin: Callable[[Any, jax.Array], Any], num_steps: int):
    """Pure ``validate(params_out, env_params, starts [N]) -> {metric: [N]}``: one deterministic episode per start.

    Each episode runs `num_steps` steps; a metric is read where the first episode ends (an env that
    terminates early resets to the same pinned start, and that second episode is ignored)."""
    obs_clip = ppo.config.obs_clip

    def one_episode(params, env_params, start):
        p = pin(env_params, start)
        key = jax.random.PRNGKey(0)  # resets of a pinned env draw nothing at random
        obs, state = ppo.env.reset(key, p)

        def step(carry, _):
            obs, state, seen = carry
            # full float32 matmuls: the policy scored here is the one evaluation and the NumPy export run
            with jax.default_matmul_precision("float32"):
                mean, _ = ppo.actor.apply(params["actor"], params["obs_norm"].normalize(obs, obs_clip))
            obs, state, _, _, _, info = ppo.env.step(key, state, dist.deterministic(mean), p)
            first = info["episode_done"] & ~seen
            return (obs, state, seen | info["episode_done"]), (first, info["episode"])

        _, (first, episode) = jax.lax.scan(step, (obs, state, jnp.zeros((), bool)), None, length=num_steps)
        return {name: jnp.where(first, x, 0.0).sum() for name, x in episode.items()} | {"ended": first.any()}

    def validate(params, env_params, starts):
        return jax.vmap(one_episode, in_axes=(None, None, 0))(params, env_params, starts)

    return validate


def summarize(per_episode: dict, metric: str) -> dict[str, float]:
    """{val/<name>: mean over episodes} of one seed's per-episode metrics [N] (NumPy), plus the episode count."""
    out = {val_name(k): float(v.mean()) for k, v in per_episode.items() if k != "ended"}
    out[VAL_PREFIX + "episodes"] = float(per_episode["ended"].sum())
    if val_name(metric) not in out:
        raise KeyError(f"validation metric {metric!r} is not an episode metric; have "
                       f"{sorted(k for k in per_episode if k != 'ended')} (e.g. {EPISODIC_RETURN!r})")
    return out


def standard_error(x) -> float:
    """Standard error of the mean of per-episode values [N] (sample std, ddof 1 / sqrt N); 0 for N < 2."""
    x = np.asarray(x, np.float64)
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def keep_best(best, latest, margin_se: float) -> tuple[bool, float]:
    """(keep the best-scoring checkpoint rather than the latest?, SE of its paired lead), from per-episode scores.

    ``best`` and ``latest`` [N] score the same N episodes. With ``margin_se == 0`` the best is always kept (ties
    kept the earlier one when it was chosen); otherwise only when mean(best - latest) > margin_se * SE(best - latest).
    """
    diff = np.asarray(best, np.float64) - np.asarray(latest, np.float64)
    se = standard_error(diff)
    return (margin_se == 0.0 or float(diff.mean()) > margin_se * se), se
