"""Recording -> features -> environment parameters per split: the shared front half of train/evaluate/demo."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmjax.data.loader import RawRecording, load_market
from mmjax.data.market import MarketData
from mmjax.data.splits import Split, chronological_splits
from mmjax.env.market_env import EnvParams, MarketMakingEnv, make_params
from mmjax.features.batch import MarketFeatures, compute_market_features, fit_norm, normalize
from mmjax.features.spec import FeatureNorm


@dataclass(frozen=True)
class MarketConfig:
    """How a recording becomes an environment: splits, episode length, quoting and reward knobs."""

    data: str = field(default="", metadata={"help": "recording directory (book/ and trades/ below it)"})
    product: str | None = field(default=None, metadata={"help": "product partition to load (default: the only one)"})
    split_fractions: str = field(default="0.7,0.15,0.15", metadata={"help": "train,val,test fractions of the rows, in time order"})
    split_gap_steps: int = field(default=3000, metadata={"help": "embargo rows between splits (3000 = 5 min of 100 ms)"})
    episode_steps: int = field(default=3000, metadata={"help": "steps per episode (3000 = 5 min of 100 ms)"})
    latency_steps: int = field(default=1, metadata={"help": "steps before a decided quote is live (>= 1)"})
    risk_aversion: float = field(default=0.01, metadata={"help": "reward risk aversion gamma in r = dPnL - gamma q^2 sigma^2 dt, 1/$ (see docs/env.md)"})
    maker_fee_bps: float = field(default=0.0, metadata={"help": "maker fee on fill notional, bps (negative = rebate; Coinbase top tier 0, entry tier 40)"})
    quote_size: float = field(default=0.01, metadata={"help": "size of each quote, venue size unit (BTC)"})
    max_inventory: float = field(default=0.1, metadata={"help": "inventory limit, venue size unit"})
    max_offset_bps: float = field(default=10.0, metadata={"help": "quote offset from mid at action +1, bps"})


# MarketConfig field -> EnvParams field
ENV_KNOBS = {"risk_aversion": "gamma", "maker_fee_bps": "maker_fee_bps", "quote_size": "quote_size",
             "max_inventory": "max_inventory", "max_offset_bps": "max_offset_bps"}


@dataclass
class Market:
    """A loaded recording with its features, the training-split normalization and the splits."""

    md: MarketData
    raw: RawRecording
    features: MarketFeatures
    norm: FeatureNorm
    splits: dict[str, Split]
    config: MarketConfig

    def env_params(self, split: Split | None, **overrides) -> EnvParams:
        """Environment parameters whose episodes start inside ``split`` (None: the whole recording)."""
        knobs = {env_name: getattr(self.config, name) for name, env_name in ENV_KNOBS.items()}
        knobs.update(episode_steps=self.config.episode_steps, latency_steps=self.config.latency_steps)
        knobs.update(overrides)
        obs = normalize(self.features.values, self.norm)
        return make_params(self.md, obs, self.features.sigma, split, **knobs)


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as e:
        raise ValueError(f"split_fractions: expected three comma-separated numbers, got {text!r}") from e
    if len(parts) != 3:
        raise ValueError(f"split_fractions: expected three numbers, got {text!r}")
    return parts  # type: ignore[return-value]


def load(config: MarketConfig, norm: FeatureNorm | None = None, calibration_split: Split | None = None) -> Market:
    """Load, compute features once, fit the normalization on the training split (or use ``norm``)."""
    md, raw = load_market(config.data, config.product)
    splits = chronological_splits(md.num_steps, parse_fractions(config.split_fractions), config.split_gap_steps)
    feats = compute_market_features(md)
    if norm is None:
        fit_on = calibration_split or splits["train"]
        norm = fit_norm(feats.values, fit_on.start, fit_on.stop)
    norm = FeatureNorm(mean=np.asarray(norm.mean, np.float32), std=np.asarray(norm.std, np.float32))
    return Market(md, raw, feats, norm, splits, config)


def save_norm(path: Path, norm: FeatureNorm) -> None:
    """Feature normalization as JSON (travels with the model)."""
    path.write_text(json.dumps({"mean": np.asarray(norm.mean).tolist(), "std": np.asarray(norm.std).tolist()}))


def load_norm(path: Path) -> FeatureNorm:
    d = json.loads(Path(path).read_text())
    return FeatureNorm(mean=np.asarray(d["mean"], np.float32), std=np.asarray(d["std"], np.float32))


def make_env() -> MarketMakingEnv:
    return MarketMakingEnv()

