"""Recording -> features -> environment parameters per split: the loader behind train, evaluate, demo and `mmjax.make`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmjax.data.loader import RawRecording, load_market
from mmjax.data.market import MarketData
from mmjax.data.splits import Split, chronological_splits
from mmjax.env.data_config import DataConfig, parse_fractions
from mmjax.env.knobs import EnvKnobs  # noqa: F401 - re-exported for callers building a Market
from mmjax.env.params import make_params
from mmjax.env.state import EnvParams
from mmjax.features.batch import MarketFeatures, compute_market_features, fit_norm, normalize
from mmjax.features.spec import FeatureNorm
from mmjax.outputs import UserError


@dataclass
class Market:
    """A loaded recording with its features, the training-split normalization, the splits and the knobs."""

    md: MarketData
    raw: RawRecording
    features: MarketFeatures
    norm: FeatureNorm
    splits: dict[str, Split]
    config: DataConfig
    knobs: EnvKnobs

    def env_params(self, split: Split | None, **overrides) -> EnvParams:
        """Environment parameters whose episodes start inside ``split`` (None: the whole recording)."""
        obs = normalize(self.features.values, self.norm)
        return make_params(self.md, obs, self.features.sigma, split, self.knobs, **overrides)


def load(config: DataConfig, knobs: EnvKnobs | None = None, norm: FeatureNorm | None = None,
         calibration_split: Split | None = None) -> Market:
    """Load, compute features once, fit the normalization on the training split (or use ``norm``)."""
    md, raw = load_market(config.data, config.product)
    T, gap = md.num_steps, config.split_gap_steps
    if T <= 2 * gap:  # every command splits the rows (`mmjax evaluate --split all` too: its norm and tuning do)
        raise UserError(f"{config.data}: {T:,} rows, but the train/val/test splits need more than 2 x the embargo "
                         f"of {gap:,} rows between them (--split-gap-steps); lower it or use a longer recording")
    splits = chronological_splits(T, parse_fractions(config.split_fractions), gap)
    feats = compute_market_features(md)
    if norm is None:
        fit_on = calibration_split or splits["train"]
        norm = fit_norm(feats.values, fit_on.start, fit_on.stop, md.after_gap)  # on rows whose windows filled
    norm = FeatureNorm(mean=np.asarray(norm.mean, np.float32), std=np.asarray(norm.std, np.float32))
    return Market(md, raw, feats, norm, splits, config, knobs or EnvKnobs())


def save_norm(path: Path, norm: FeatureNorm) -> None:
    """Feature normalization as JSON (travels with the model)."""
    path.write_text(json.dumps({"mean": np.asarray(norm.mean).tolist(), "std": np.asarray(norm.std).tolist()}))


def load_norm(path: Path) -> FeatureNorm:
    d = json.loads(Path(path).read_text())
    return FeatureNorm(mean=np.asarray(d["mean"], np.float32), std=np.asarray(d["std"], np.float32))


# The built-in market behind `MarketMakingEnv.default_params` and `mmjax.make`: 15 minutes, episodes of 1 min.
BUILTIN_HOURS = 0.25
BUILTIN_KNOBS = EnvKnobs(episode_steps=600)


@lru_cache(maxsize=4)  # one load per process and argument set: a recording on disk never changes
def builtin_params(knobs: EnvKnobs = BUILTIN_KNOBS, cache_dir: str | None = None) -> EnvParams:
    """EnvParams over the built-in market (generated once into the cache), whole recording, training-split norm."""
    from mmjax.data.builtin import builtin_market

    path = builtin_market(cache_dir, BUILTIN_HOURS)
    market = load(DataConfig(data=path, split_gap_steps=600), knobs)
    return market.env_params(None)
