"""Microstructure features: the spec (names, order, clips), a JAX batch twin and a NumPy streaming twin.

Importing this package imports no jax; import `mmjax.features.batch` for the JAX side.
"""

from mmjax.features.spec import (
    AGENT_FEATURES,
    MARKET_FEATURES,
    NUM_FEATURES,
    NUM_MARKET_FEATURES,
    FeatureConfig,
    FeatureNorm,
    spec_hash,
)

__all__ = [
    "AGENT_FEATURES",
    "MARKET_FEATURES",
    "NUM_FEATURES",
    "NUM_MARKET_FEATURES",
    "FeatureConfig",
    "FeatureNorm",
    "spec_hash",
]
