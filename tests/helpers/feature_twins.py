"""The streaming and batch feature twins, compared row by row."""

from __future__ import annotations

import numpy as np

from mmjax.data.loader import RawRecording
from mmjax.features.spec import MARKET_FEATURES, FeatureConfig
from mmjax.features.stream import StreamingFeatures

# |stream - batch| <= REL_TOL * max(|batch|, 1): relative error, with the features being O(1) by design
REL_TOL = 1e-5


def replay(raw: RawRecording, md, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Feed the recording event by event: each row's trades of (t-1, t], then the book row."""
    sf = StreamingFeatures(cfg, md.tick_size, md.px_anchor_ticks, md.levels, md.grid_ms)
    step = raw.trade_step()  # trade j lies in (step, step + 1]
    order = np.argsort(step, kind="stable")
    start = np.searchsorted(step[order], np.arange(-1, raw.num_steps))  # trades of (t-1, t] from start[t]
    values = np.zeros((raw.num_steps, len(MARKET_FEATURES)), np.float32)
    sigma = np.zeros(raw.num_steps)
    for t in range(raw.num_steps):
        for j in order[start[t]: start[t + 1]]:  # t = 0: trades before the first row (the loader drops them)
            sf.on_trade(raw.trade_px[j], raw.trade_sz[j], int(raw.trade_side[j]))
        values[t] = sf.on_book(raw.bid_px[t], raw.bid_sz[t], raw.ask_px[t], raw.ask_sz[t], bool(raw.after_gap[t]))
        sigma[t] = sf.sigma_ticks_per_sqrt_s
    return values, sigma


def assert_twins_agree(raw: RawRecording, md, cfg: FeatureConfig, what: str) -> None:
    from mmjax.features.batch import compute_market_features

    batch = compute_market_features(md, cfg)
    b = np.asarray(batch.values, np.float64)
    s, sigma = replay(raw, md, cfg)
    err = np.abs(s - b) / np.maximum(np.abs(b), 1.0)
    for j, name in enumerate(MARKET_FEATURES):
        r = int(err[:, j].argmax())
        assert err[r, j] <= REL_TOL, f"{what}: {name} row {r}: stream {s[r, j]} vs batch {b[r, j]}"
    b_sig = np.asarray(batch.sigma, np.float64)
    assert (np.abs(sigma - b_sig) <= REL_TOL * np.maximum(b_sig, 1.0)).all(), f"{what}: sigma differs"
