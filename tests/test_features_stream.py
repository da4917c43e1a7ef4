"""Specification of the streaming twin (`mmjax.features.stream`): same values as the batch, no jax."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from test_features_batch import SMALL, real_dirs, synth_dir, toy_recording  # noqa: F401 (fixtures)

from mmjax.data.loader import RawRecording, load_market, to_market_data
from mmjax.features import spec
from mmjax.features.spec import MARKET_FEATURES, FeatureConfig, FeatureNorm
from mmjax.features.stream import StreamingFeatures, normalize

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


def test_stream_imports_no_jax():
    code = ("import sys; import mmjax.features.stream, mmjax.features.spec, mmjax.features; "
            "bad = [m for m in sys.modules if m == 'jax' or m.startswith(('jax.', 'jaxlib', 'flax'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("cfg", [FeatureConfig(), SMALL], ids=["default", "small"])
def test_twins_agree_on_a_toy_book_with_gaps_thin_levels_and_quiet_spells(cfg):
    raw = toy_recording(seed=11)
    assert_twins_agree(raw, to_market_data(raw), cfg, "toy")


def test_twins_agree_on_the_synthetic_market(synth_dir):  # noqa: F811
    md, raw = load_market(synth_dir)
    assert_twins_agree(raw, md, FeatureConfig(), "synth")


def test_twins_agree_on_real_data(real_dirs):  # noqa: F811
    for name, path in real_dirs.items():
        md, raw = load_market(path)
        assert_twins_agree(raw, md, FeatureConfig(), name)


def test_trades_before_a_gap_row_are_dropped_like_the_loader_drops_them():
    sf = StreamingFeatures(SMALL, 0.01, 6_000_000, 2)
    bid, ask = np.array([60000.0, 59999.99]), np.array([60000.01, 60000.02])
    sz = np.array([1.0, 1.0])
    sf.on_book(bid, sz, ask, sz, True)
    sf.on_trade(60000.01, 2.0, 1)
    v = sf.on_book(bid, sz, ask, sz, True)  # the interval ending here crosses a gap
    assert v[MARKET_FEATURES.index("trade_imb_short")] == 0.0
    sf.on_trade(60000.01, 2.0, 1)
    v = sf.on_book(bid, sz, ask, sz, False)
    assert v[MARKET_FEATURES.index("trade_imb_short")] == pytest.approx(1.0)


def test_bad_events_raise_clear_errors():
    sf = StreamingFeatures(FeatureConfig(), 0.01, 6_000_000, 3)
    px = np.array([60000.0, 59999.99, 59999.98])
    sz = np.ones(3)
    with pytest.raises(ValueError, match="3 levels"):
        sf.on_book(px[:2], sz[:2], px[:2] + 1, sz[:2], True)
    with pytest.raises(ValueError, match="bid_px_0 is empty"):
        sf.on_book(np.array([np.nan, np.nan, np.nan]), np.zeros(3), px + 1, sz, True)
    with pytest.raises(ValueError, match="taker_side"):
        sf.on_trade(60000.0, 1.0, 0)
    with pytest.raises(ValueError, match="size"):
        sf.on_trade(60000.0, -1.0, 1)
    with pytest.raises(ValueError, match="tick_size"):
        StreamingFeatures(FeatureConfig(), 0.0, 0, 3)


def test_empty_levels_are_extrapolated_and_zero_sizes_stay_finite():
    sf = StreamingFeatures(FeatureConfig(), 0.01, 6_000_000, 4)
    bid = np.array([60000.0, 59999.99, np.nan, np.nan])
    ask = np.array([60000.01, np.nan, np.nan, np.nan])
    for t in range(50):
        v = sf.on_book(bid, np.array([0.0, 1.0, 0.0, 0.0]), ask, np.zeros(4), t == 0)
        assert np.isfinite(v).all() and v.dtype == np.float32 and v.shape == (spec.NUM_MARKET_FEATURES,)


def test_numpy_normalize_matches_the_batch_normalize():
    from mmjax.features.batch import fit_norm
    from mmjax.features.batch import normalize as normalize_jax

    rng = np.random.default_rng(0)
    v = rng.normal(1.0, 3.0, size=(500, spec.NUM_MARKET_FEATURES)).astype(np.float32)
    norm = fit_norm(v, 0, 300)
    host = FeatureNorm(mean=np.asarray(norm.mean), std=np.asarray(norm.std))
    np.testing.assert_allclose(normalize(v, host), np.asarray(normalize_jax(v, norm)), rtol=1e-6, atol=1e-6)
    assert normalize(v * 100, host).max() == 5.0


def test_a_window_holding_the_same_rows_as_its_baseline_is_exactly_zero_in_both_twins():
    """Shorter than vol_mid_steps (600 rows), the 1-min and 5-min variances coincide: the ratio is 0 bit for bit.

    Rounding noise there would have a fitted std of ~1e-7 and turn into z-scores of +-0.1 that differ
    between the twins (the live trader and the env would then act differently on the same book).
    """
    from mmjax.features.batch import compute_market_features

    raw = toy_recording(seed=3, num_steps=500, gap_rows=(250,))
    md = to_market_data(raw)
    cfg = FeatureConfig()
    b = np.asarray(compute_market_features(md, cfg).values)
    s, _ = replay(raw, md, cfg)
    j = MARKET_FEATURES.index("rv_ratio_mid_log")
    assert (b[:, j] == 0).all() and (s[:, j] == 0).all()
    j = MARKET_FEATURES.index("trade_rate_rel_log")  # 100-row window inside the 3000-row baseline
    first = np.r_[np.arange(0, cfg.intensity_steps), 250 + np.arange(0, cfg.intensity_steps)]
    assert (b[first, j] == 0).all() and (s[first, j] == 0).all()
    assert np.abs(b[:, j]).max() > 0.01  # and it moves once the windows differ
