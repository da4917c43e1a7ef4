"""The observation spec: feature names, order, windows and clips. The one place the list lives.

Imports no jax: the streaming twin, the exporter and the NumPy policy read it too.
The batch (`mmjax.features.batch`) and streaming (`mmjax.features.stream`) twins compute
`MARKET_FEATURES` in this order; the environment appends `AGENT_FEATURES`.
Windows are in grid steps (100 ms on the default grid); docs/features.md gives each formula.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from mmjax.outputs import UserError

MARKET_FEATURES: tuple[str, ...] = (
    "obi_l1",  # L1 order-book imbalance, [-1, 1]
    "obi_l5",  # imbalance of the first obi_levels levels, [-1, 1]
    "microprice_dev_rel",  # L1 microprice minus mid, in rolling-mean half-spreads
    "ofi_short",  # Cont-Kukanov-Stoikov OFI over ofi_short_steps, in stds from its vol_long_steps mean square
    "ofi_long",  # same over ofi_long_steps
    "trade_imb_short",  # (buy - sell) / (buy + sell) taker volume over trade_short_steps, [-1, 1]
    "trade_imb_long",  # same over trade_long_steps
    "trade_rate_rel_log",  # shrunk log ratio of the trade rate over intensity_steps to its vol_long_steps mean
    "kyle_lambda_std",  # ridge regression slope of mid change on signed volume, standardized
    "rv_ratio_mid_log",  # half shrunk log ratio of vol_mid_steps to vol_long_steps realized variance
    "rv_ratio_log",  # same with vol_short_steps
    "spread_rel_log",  # log(capped spread / its vol_long_steps mean)
    "spread_z",  # z-score of the spread against its rolling mean and std
    "depth_slope_bid",  # slope of cumulative bid depth vs distance, in (total depth / max distance)
    "depth_slope_ask",  # same on the ask side
    "touch_depth_rel_log",  # log of touch depth relative to its rolling mean (shrunk)
    "momentum_z",  # mid change over momentum_steps / its expected std from long realized vol
)
# The agent's own orders, per side (bid then ask), from what it knows at its decision (docs/env.md,
# "Observation"): each O(1) and bounded, scaled by the constants below.
ORDER_FEATURE_KINDS: tuple[str, ...] = (
    "order_live",  # 1 if the side has an order resting at the venue, else 0
    "order_dist_log",  # its distance behind its own-side touch, ticks: sign(d) log1p(|d|) / log1p(ORDER_DIST_SCALE_TICKS), [-1, 1]
    "queue_ahead_log",  # the fill model's queue ahead of it, in quote sizes: log1p(q) / log1p(QUEUE_SCALE_QUOTES), [0, 1]
    "queue_frac",  # that queue as a fraction of the size displayed at its price (1: beyond the stored depth), [0, 1]
    "order_age_log",  # steps it has rested: log1p(n) / log1p(COUNT_CAP_STEPS), [0, 1]
    "msg_in_flight",  # 1 if an order message of this side is on its way to the venue (latency > 1 step)
    "since_fill_log",  # steps since the side's last fill: log1p(n) / log1p(COUNT_CAP_STEPS), 1 = never (or long ago)
)
ORDER_FEATURES: tuple[str, ...] = tuple(f"{side}_{kind}" for side in ("bid", "ask") for kind in ORDER_FEATURE_KINDS)
ORDER_DIST_SCALE_TICKS = 64  # a quote this many ticks behind its touch scores 1
QUEUE_SCALE_QUOTES = 1000  # a queue of this many quote sizes ahead scores 1
COUNT_CAP_STEPS = 1000  # order age and steps since a fill saturate here (100 s on the 100 ms grid)
AGENT_FEATURES: tuple[str, ...] = ("inventory_frac", "time_left_frac", "unrealized_pnl_scaled", *ORDER_FEATURES)
NUM_MARKET_FEATURES = len(MARKET_FEATURES)
NUM_FEATURES = NUM_MARKET_FEATURES + len(AGENT_FEATURES)  # 34: 17 market, 3 account, 2 x 7 order features
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(MARKET_FEATURES)}

# Raw-value clips (lo, hi) applied by both twins before normalization, so a rare extreme row (a
# liquidation burst, a blown-out spread) cannot dominate the fitted std. Bounded features keep
# their natural range. Every feature is scale-free (a ratio, a log ratio to a causal baseline, or a
# causal z-score), so a level shift of volatility, activity, spread or size unit moves none of
# them for longer than its baseline window (docs/features.md).
RAW_CLIPS: dict[str, tuple[float, float]] = {
    "obi_l1": (-1.0, 1.0),
    "obi_l5": (-1.0, 1.0),
    "microprice_dev_rel": (-25.0, 25.0),
    "ofi_short": (-20.0, 20.0),
    "ofi_long": (-20.0, 20.0),
    "trade_imb_short": (-1.0, 1.0),
    "trade_imb_long": (-1.0, 1.0),
    "trade_rate_rel_log": (-5.0, 5.0),
    "kyle_lambda_std": (-10.0, 10.0),
    "rv_ratio_mid_log": (-5.0, 5.0),
    "rv_ratio_log": (-5.0, 5.0),
    "spread_rel_log": (-5.0, 5.0),
    "spread_z": (-20.0, 20.0),
    "depth_slope_bid": (-5.0, 5.0),
    "depth_slope_ask": (-5.0, 5.0),
    "touch_depth_rel_log": (-5.0, 5.0),
    "momentum_z": (-20.0, 20.0),
}
assert tuple(RAW_CLIPS) == MARKET_FEATURES

# Denominator guard for sizes, volumes and trade counts: below any venue's lot size, so it only matters at 0.
SIZE_EPS = 1e-12
# Denominator guard for variances in ticks^2 (only matters when they are exactly 0).
VAR_EPS = 1e-12
# Int32 headroom for the exact spread variance n*sum(s^2) - sum(s)^2 (see FeatureConfig).
_INT32_MAX = 2**31 - 1
# (short, long) window pairs: the short window must not exceed the long one it is compared with.
WINDOW_ORDER: tuple[tuple[str, str], ...] = (
    ("vol_short_steps", "vol_long_steps"), ("vol_mid_steps", "vol_long_steps"), ("kyle_steps", "vol_long_steps"),
    ("intensity_steps", "vol_long_steps"), ("ofi_short_steps", "vol_long_steps"), ("ofi_long_steps", "vol_long_steps"))


@dataclass(frozen=True)
class FeatureConfig:
    """Windows and constants of the market features (part of `spec_hash`: a model is tied to them)."""

    obi_levels: int = field(default=5, metadata={"help": "levels per side of the deep book imbalance"})
    ofi_short_steps: int = field(default=10, metadata={"help": "short OFI window, grid steps (1 s at 100 ms)"})
    ofi_long_steps: int = field(default=100, metadata={"help": "long OFI window, grid steps"})
    trade_short_steps: int = field(default=50, metadata={"help": "short trade-imbalance window, grid steps"})
    trade_long_steps: int = field(default=600, metadata={"help": "long trade-imbalance window, grid steps"})
    intensity_steps: int = field(default=100, metadata={"help": "trade-rate window, grid steps"})
    kyle_steps: int = field(default=600, metadata={"help": "Kyle's lambda regression window, grid steps"})
    kyle_ridge: float = field(
        default=0.1, metadata={"help": "ridge on Kyle's lambda, as a fraction of the window's typical sum of squared signed volume"})
    vol_short_steps: int = field(default=100, metadata={"help": "short realized-volatility window, grid steps"})
    vol_mid_steps: int = field(default=600, metadata={"help": "medium realized-volatility window, grid steps"})
    vol_long_steps: int = field(
        default=3000, metadata={"help": "long realized-volatility window (also `sigma`, scales and baselines), grid steps"})
    spread_steps: int = field(default=600, metadata={"help": "spread z-score window, grid steps"})
    spread_clip_ticks: int = field(default=50, metadata={"help": "spread cap for the spread statistics (z-score, baseline, microprice scale), ticks"})
    spread_var_floor_ticks2: float = field(
        default=0.25, metadata={"help": "added to the rolling spread variance, ticks^2 (a constant spread gives z = 0)"})
    touch_steps: int = field(default=600, metadata={"help": "touch-depth rolling mean window, grid steps"})
    momentum_steps: int = field(default=50, metadata={"help": "momentum horizon, grid steps"})
    shrink: float = field(
        default=0.05, metadata={"help": "log-ratio shrinkage toward the long mean (bounds log ratios below)"})
    momentum_floor_ticks: float = field(default=0.5, metadata={"help": "floor on the momentum scale, ticks"})

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name.endswith("_steps") and (not isinstance(v, int) or v < 1):
                raise UserError(f"FeatureConfig.{f.name} must be a positive int, got {v!r}")
        if self.obi_levels < 1:
            raise UserError(f"FeatureConfig.obi_levels must be >= 1, got {self.obi_levels}")
        if self.spread_clip_ticks < 1:
            raise UserError(f"FeatureConfig.spread_clip_ticks must be >= 1, got {self.spread_clip_ticks}")
        # n * sum(s^2) and sum(s)^2 must both fit int32 so the variance numerator is exact
        if (self.spread_steps * self.spread_clip_ticks) ** 2 > _INT32_MAX:
            raise UserError(
                f"FeatureConfig: (spread_steps * spread_clip_ticks)^2 = "
                f"{(self.spread_steps * self.spread_clip_ticks) ** 2} overflows int32; shorten the window or the cap")
        if self.vol_long_steps * self.spread_clip_ticks > _INT32_MAX:  # the spread baseline's integer sum
            raise UserError("FeatureConfig: vol_long_steps * spread_clip_ticks overflows int32")
        if self.kyle_ridge <= 0 or self.shrink <= 0 or self.spread_var_floor_ticks2 <= 0 or self.momentum_floor_ticks <= 0:
            raise UserError("FeatureConfig: kyle_ridge, shrink, spread_var_floor_ticks2, momentum_floor_ticks must be > 0")
        # each short window lies inside its baseline, so the log ratios stay bounded (docs/features.md)
        for short, long in WINDOW_ORDER:
            if getattr(self, short) > getattr(self, long):
                raise UserError(f"FeatureConfig: {short} ({getattr(self, short)}) must not exceed "
                                 f"{long} ({getattr(self, long)})")


class FeatureNorm(NamedTuple):
    """Per-feature z-score statistics fitted on training rows; travels with the model."""

    mean: np.ndarray  # [F_M] float32
    std: np.ndarray  # [F_M] float32, > 0


# A feature whose training std is below this is constant there: it normalizes to 0, not to noise.
STD_FLOOR = 1e-6
Z_CLIP = 5.0


def spec_dict(cfg: FeatureConfig | None = None) -> dict:
    """Everything that fixes the meaning of an observation vector, as plain JSON-able data."""
    cfg = cfg or FeatureConfig()
    return {
        "market_features": list(MARKET_FEATURES),
        "agent_features": list(AGENT_FEATURES),
        "agent_scales": {"order_dist_ticks": ORDER_DIST_SCALE_TICKS, "queue_quotes": QUEUE_SCALE_QUOTES,
                         "count_cap_steps": COUNT_CAP_STEPS},
        "num_features": NUM_FEATURES,
        "raw_clips": {k: list(v) for k, v in RAW_CLIPS.items()},
        "z_clip": Z_CLIP,
        "eps": {"size": SIZE_EPS, "var": VAR_EPS, "std_floor": STD_FLOOR},
        "config": dataclasses.asdict(cfg),
    }


def spec_hash(cfg: FeatureConfig | None = None) -> str:
    """sha256 (hex) of the spec: names, order, windows, clips. The exporter stores it with the model."""
    blob = json.dumps(spec_dict(cfg), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


# The windows (FeatureConfig fields) each market feature reads: its value is its steady one only once
# every one of them holds a full window of its segment's rows. A feature absent here reads one row.
FEATURE_WINDOWS: dict[str, tuple[str, ...]] = {
    "microprice_dev_rel": ("spread_steps",),
    "ofi_short": ("ofi_short_steps", "vol_long_steps"),
    "ofi_long": ("ofi_long_steps", "vol_long_steps"),
    "trade_imb_short": ("trade_short_steps",),
    "trade_imb_long": ("trade_long_steps",),
    "trade_rate_rel_log": ("intensity_steps", "vol_long_steps"),
    "kyle_lambda_std": ("kyle_steps", "vol_long_steps"),
    "rv_ratio_mid_log": ("vol_mid_steps", "vol_long_steps"),
    "rv_ratio_log": ("vol_short_steps", "vol_long_steps"),
    "spread_rel_log": ("vol_long_steps",),
    "spread_z": ("spread_steps",),
    "touch_depth_rel_log": ("touch_steps",),
    "momentum_z": ("momentum_steps", "vol_long_steps"),
}
assert set(FEATURE_WINDOWS) <= set(MARKET_FEATURES)
# A feature with fewer rows than this whose windows have filled in the fitting split is not fitted there.
MIN_FIT_ROWS = 100


class WindowNotFilledWarning(UserWarning):
    """A split is too short for a feature's window: its statistics fall back to the fixed scale of its raw clips."""


def warmup_rows(cfg: FeatureConfig | None = None) -> dict[str, tuple[str | None, int]]:
    """Per market feature: (its longest window's FeatureConfig field, the segment rows it needs to fill); (None, 1) for one row."""
    cfg = cfg or FeatureConfig()
    out = {}
    for name in MARKET_FEATURES:
        wins = FEATURE_WINDOWS.get(name, ())
        # momentum compares with the mid momentum_steps rows back: it needs one row more than its horizon
        need = {w: getattr(cfg, w) + (w == "momentum_steps") for w in wins}
        out[name] = max(need.items(), key=lambda kv: kv[1]) if need else (None, 1)
    return out


def segment_age(after_gap: np.ndarray) -> np.ndarray:
    """[T] bool segment starts -> [T] int64 rows since the start of each row's segment (0 at a start)."""
    after_gap = np.asarray(after_gap, bool).copy()
    idx = np.arange(len(after_gap))
    after_gap[:1] = True
    return idx - np.maximum.accumulate(np.where(after_gap, idx, 0))


def fit_mask(after_gap: np.ndarray, start: int, stop: int, cfg: FeatureConfig | None = None) -> np.ndarray:
    """[stop - start, F_M] bool: the rows of [start, stop) whose values each feature's statistics are fitted on.

    Those where all the feature's windows have filled in their segment (a warming-up window gives
    values the steady state never shows: a ratio of two equal windows is 0, and a tiny fitted std
    saturates later rows). A feature with fewer than MIN_FIT_ROWS such rows gets no row: the split is
    too short for its window, a `WindowNotFilledWarning` names both, and `fixed_scale` stands in.
    """
    age = segment_age(after_gap)[start:stop]
    mask = np.zeros((len(age), NUM_MARKET_FEATURES), bool)
    short = []
    for j, (name, (window, rows)) in enumerate(warmup_rows(cfg).items()):
        mask[:, j] = age + 1 >= rows
        if mask[:, j].sum() < MIN_FIT_ROWS:
            mask[:, j] = False
            short.append(f"{name} ({window} = {rows:,} rows)")
    if short:
        import warnings

        longest = int(age.max(initial=-1)) + 1
        warnings.warn(f"rows [{start:,}, {stop:,}) (longest gap-free stretch {longest:,} rows) are too short to fill "
                      f"the window of {', '.join(short)} on {MIN_FIT_ROWS} rows or more: those features use the fixed "
                      f"scale of their raw clips (spec.fixed_scale) instead of fitted statistics; record longer to fit them",
                      WindowNotFilledWarning, stacklevel=2)
    return mask


def fixed_scale() -> FeatureNorm:
    """Statistics that need no fit: each feature's raw clip range mapped onto [-Z_CLIP, Z_CLIP] (float32)."""
    lo, hi = raw_clip_bounds()
    return FeatureNorm(mean=((lo + hi) / 2).astype(np.float32), std=((hi - lo) / (2 * Z_CLIP)).astype(np.float32))


def fit_stats(rows: np.ndarray, mask: np.ndarray) -> FeatureNorm:
    """Per-feature mean and std (two-pass, float64, floored at STD_FLOOR) of ``rows`` [N, F_M] where ``mask``
    [N, F_M]; a feature without a row takes `fixed_scale`. float32 like the model's observation."""
    rows = np.asarray(rows, np.float64)
    n = mask.sum(axis=0)
    denom = np.maximum(n, 1)
    mean = np.where(mask, rows, 0.0).sum(axis=0) / denom
    std = np.sqrt(np.where(mask, (rows - mean) ** 2, 0.0).sum(axis=0) / denom)
    fixed = fixed_scale()
    return FeatureNorm(mean=np.where(n > 0, mean, fixed.mean).astype(np.float32),
                       std=np.where(n > 0, np.maximum(std, STD_FLOOR), fixed.std).astype(np.float32))


def raw_clip_bounds() -> tuple[np.ndarray, np.ndarray]:
    """[F_M] lower and upper raw clips, float32, in feature order."""
    lo = np.array([RAW_CLIPS[n][0] for n in MARKET_FEATURES], np.float32)
    hi = np.array([RAW_CLIPS[n][1] for n in MARKET_FEATURES], np.float32)
    return lo, hi
