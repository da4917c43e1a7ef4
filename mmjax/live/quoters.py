"""Quoters of the paper trader: an exported policy, or a closed-form baseline. No jax.

A quoter maps the environment's observation (and, for baselines, a `QuoteContext`) to an action
(bid, ask) in [-1, 1]; `mmjax.env.sim_np.quote_prices` turns it into tick prices or a pulled side, as in the env.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np


class QuoteContext(NamedTuple):
    """What a baseline needs besides the observation (all causal: known at the decision time)."""

    inventory: float  # venue size unit
    quote_size: float  # venue size unit per quote
    mid_ticks: float  # mid of the decision's book row, ticks from the anchor
    best_bid: int  # ticks from the anchor
    best_ask: int
    anchor_ticks: int  # absolute price of tick 0, ticks
    sigma_ticks_per_sqrt_s: float  # running volatility estimate of mid
    time_left_s: float  # horizon left for finite-horizon quoters (Avellaneda-Stoikov)
    max_offset_bps: float  # the env's action range (mmjax/env/actions.py)
    # the queue-aware quoter's inputs (`queue_view`): book row t's touch and the agent's own orders
    touch_lots: tuple[int, int] = (0, 0)  # lots shown at the best bid and best ask
    queue_frac: tuple[float, float] = (0.0, 0.0)  # own order's queue ahead / lots shown at its price (0: none)
    at_touch: tuple[bool, bool] = (False, False)  # a live order rests at its side's best price
    inventory_frac: float = 0.0  # inventory / max_inventory

    @property
    def mid_abs_ticks(self) -> float:
        """Mid price in ticks (absolute, anchor included)."""
        return self.mid_ticks + self.anchor_ticks


def queue_view(state, book, p) -> tuple[tuple[int, int], tuple[float, float], tuple[bool, bool]]:
    """(touch lots, queue_frac, at_touch), each (bid, ask), of a `sim_np.SimState` at the decision on ``book``
    (row t): the NumPy twin of `mmjax.evaluation.harness.queue_view` (tests/test_queue_aware.py pins them)."""
    from mmjax.env import sim_np

    touch = (p.lots(book.bid_sz[0]), p.lots(book.ask_sz[0]))
    best = (book.bid_px[0], book.ask_px[0])
    frac, at = [0.0, 0.0], [False, False]
    for i, order in enumerate((state.bid, state.ask)):
        if order is not None and order.remaining > 0 and order.price == best[i]:
            at[i] = True
            # float32 like the device twin
            frac[i] = min(float(sim_np.f32(sim_np.f32(order.queue_ahead) / sim_np.f32(max(touch[i], 1)))), 1.0)
    return touch, (frac[0], frac[1]), (at[0], at[1])


class Quoter(Protocol):
    name: str  # shown on the dashboard, e.g. "model: policy.npz"
    mode: str  # "model" or "baseline"
    # optional ``needs_context = False``: the quoter reads only ``obs`` and is called with ctx None (default True)

    def act(self, obs: np.ndarray, ctx: QuoteContext | None) -> tuple[float, float]:
        """obs [F] float32 -> (bid, ask) action in [-1, 1] (any 2-sequence of floats)."""
        ...


@dataclass
class BaselineParams:
    """Parameters of the baseline quoters (defaults are sane for BTC-USD at $0.01 ticks)."""

    fixed_offset_bps: float = 2.0  # bps of mid, both sides
    as_gamma_per_tick_lot: float = 1e-5  # risk aversion; BTC-USD sigma is ~400 ticks/sqrt(s) at $0.01 ticks
    as_k_per_tick: float = 0.1  # fill-intensity decay: half spread ~ 1/k ticks when gamma -> 0
    as_horizon_s: float = 10.0  # rolling horizon T - t, s (a live session has no end)
    queue_threshold: float = 0.7  # queue-aware run-over threshold (`mmjax.policy.baselines.queue_aware_action`; tune it
    # with `mmjax evaluate`, whose report prints the tuned value)


LIVE_BASELINES = ("fixed", "avellaneda_stoikov", "queue_aware")


class BaselineQuoter:
    """A closed-form quoter from `mmjax.policy.baselines`, as used by the evaluation harness."""

    mode = "baseline"

    def __init__(self, kind: str, params: BaselineParams):
        from mmjax.policy import baselines

        if kind not in LIVE_BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(LIVE_BASELINES)}, got {kind!r}")
        self.kind, self.params, self._bl = kind, params, baselines
        self.name = f"baseline: {kind}"

    def act(self, obs: np.ndarray, ctx: QuoteContext) -> np.ndarray:
        p, bl = self.params, self._bl
        if self.kind == "queue_aware":
            from mmjax.env.knobs import action_range_ticks

            k_max = action_range_ticks(ctx.mid_ticks, ctx.anchor_ticks, ctx.max_offset_bps)
            return np.asarray(bl.queue_aware_action(ctx.touch_lots, ctx.queue_frac, ctx.at_touch, ctx.inventory_frac,
                                                    np.float32(p.queue_threshold), k_max), np.float64)
        if self.kind == "fixed":
            b, a = bl.fixed_offsets(p.fixed_offset_bps, np.float32(0.0))
        else:
            q_lots = ctx.inventory / ctx.quote_size if ctx.quote_size > 0 else 0.0
            b, a = bl.avellaneda_stoikov_offsets(q_lots, ctx.sigma_ticks_per_sqrt_s, max(ctx.time_left_s, 0.0),
                                                 ctx.mid_abs_ticks, p.as_gamma_per_tick_lot, p.as_k_per_tick)
        # the env's order semantics: the nearest ticks at or beyond the offsets (mmjax.policy.baselines.quotes_to_action)
        return np.asarray(bl.quotes_to_action(np.float64(b), np.float64(a), ctx.mid_ticks, ctx.best_bid, ctx.best_ask,
                                              ctx.anchor_ticks, ctx.max_offset_bps), np.float64)


class ModelQuoter:
    """An exported PPO policy (`NumpyPolicy`, NumPy only) fed the environment's observation."""

    mode = "model"
    needs_context = False  # the observation is all it reads: the trader skips building a QuoteContext (ctx None)

    def __init__(self, path: str):
        from pathlib import Path

        from mmjax.features.spec import NUM_FEATURES, NUM_MARKET_FEATURES, FeatureNorm, spec_hash
        from mmjax.policy.numpy_policy import NumpyPolicy, PolicyFileError

        # the spec hash ties the file to these exact features (names, order, windows, clips)
        self.policy = NumpyPolicy.load(path, expected_spec_hash=spec_hash(), expected_obs_dim=NUM_FEATURES)
        mean, std = self.policy.feature_mean, self.policy.feature_std
        if mean.shape != (NUM_MARKET_FEATURES,) or std.shape != (NUM_MARKET_FEATURES,):
            raise PolicyFileError(f"{path}: fields 'features/norm_mean'/'features/norm_std' have shapes {mean.shape}/"
                                  f"{std.shape}, expected [{NUM_MARKET_FEATURES}]: export the training normalization")
        self.norm = FeatureNorm(mean=mean, std=std)
        self.mapping = dict(self.policy.action_mapping)  # env knobs the policy was trained with
        self.path = str(path)
        self.name = f"model: {Path(path).name}"

    def act(self, obs: np.ndarray, ctx: QuoteContext | None = None) -> tuple[float, float]:
        a = self.policy.act(obs).tolist()
        # tanh keeps a finite action in [-1, 1]; anything else (NaN, a wrong shape) is refused
        if len(a) != 2 or not (-1.0 <= a[0] <= 1.0 and -1.0 <= a[1] <= 1.0):
            raise ValueError(f"{self.path}: policy returned {a!r}; expected 2 finite numbers in [-1, 1]")
        return a[0], a[1]
