"""Specification of the streaming twin (`mmjax.features.stream`): same values as the batch, no jax."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mmjax.data.loader import load_market, to_market_data
from mmjax.data.ticks import RowTicks
from mmjax.features import spec
from mmjax.features.spec import MARKET_FEATURES, FeatureConfig, FeatureNorm
from mmjax.features.stream import StreamingFeatures, normalize
from tests.helpers.feature_twins import assert_twins_agree, replay
from tests.helpers.features import SMALL, toy_recording


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


def test_empty_levels_are_extrapolated_one_tick_out_with_zero_size_and_features_stay_finite():
    """An empty level (NaN price) becomes one tick beyond the level before it, with size 0, whatever size came
    with it: the features of a row with empty levels equal those of the same row with those levels written out."""
    nan, tick, anchor, L = np.nan, 0.01, 6_000_000, 4
    bid, ask = np.array([60000.0, 59999.99, nan, nan]), np.array([60000.01, nan, nan, nan])
    bid_out = np.array([60000.0, 59999.99, 59999.98, 59999.97])  # extrapolated by hand
    ask_out = np.array([60000.01, 60000.02, 60000.03, 60000.04])
    bt, bs, at, az = RowTicks(tick, anchor, L).book(bid, [1.0, 2.0, 7.0, 7.0], ask, [3.0, 7.0, 7.0, 7.0])
    assert (bt, at) == ([0, -1, -2, -3], [1, 2, 3, 4])
    assert (bs, az) == ([1.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0])  # sizes sent with an empty price are dropped

    empty, written = (StreamingFeatures(FeatureConfig(), tick, anchor, L) for _ in range(2))
    rng = np.random.default_rng(0)
    for t in range(50):
        b0, a0 = (0.0, 0.0) if t < 3 else rng.uniform(0.1, 2.0, 2)  # zero touch sizes first: no division by zero
        v = empty.on_book(bid, np.array([b0, 1.0, 5.0, 5.0]), ask, np.array([a0, 5.0, 5.0, 5.0]), t == 0)
        w = written.on_book(bid_out, np.array([b0, 1.0, 0.0, 0.0]), ask_out, np.array([a0, 0.0, 0.0, 0.0]), t == 0)
        assert np.isfinite(v).all() and v.dtype == np.float32 and v.shape == (spec.NUM_MARKET_FEATURES,)
        np.testing.assert_array_equal(v, w, err_msg=f"row {t}")


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
