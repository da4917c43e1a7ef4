"""Fixed, non-overlapping episodes of a split: their start rows, and env params pinned to one start.

Validation in `mmjax train --select-on-val` and the out-of-sample evaluation both run a policy on such
episodes, so every policy and every seed sees the same market windows, and no window reaches past its split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env.knobs import episode_span
from mmjax.env.market_env import EnvParams


def non_overlapping_starts(steps_to_gap: np.ndarray, lo: int, hi: int, episode_steps: int, latency_steps: int,
                           max_episodes: int | None = None) -> np.ndarray:
    """Start rows [N] int32 of disjoint gap-free windows inside [lo, hi), spread evenly if more than ``max_episodes`` fit."""
    span = episode_span(episode_steps, latency_steps)  # rows an episode reads, the fill at its last step included
    starts, t = [], lo
    while t + span <= hi:
        if steps_to_gap[t] > span:
            starts.append(t)
            t += span
        else:
            t += int(max(steps_to_gap[t], 1))  # skip to the next segment
    starts = np.asarray(starts, np.int32)
    if max_episodes is not None and len(starts) > max_episodes:
        starts = starts[np.linspace(0, len(starts) - 1, max_episodes).round().astype(int)]
    return starts


def pin_start(params: EnvParams, start: jax.Array) -> EnvParams:
    """Params whose only admissible episode start is ``start`` (a reset then draws nothing at random)."""
    span = episode_span(params.episode_steps, params.latency_steps)
    return params.replace(start_lo=jnp.asarray(start, jnp.int32), start_hi=jnp.asarray(start + span, jnp.int32))
