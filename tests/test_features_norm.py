"""The feature normalization is fitted only on rows where each feature's windows have filled (spec.fit_mask).

A window still filling gives values the steady state never shows (two equal windows give a ratio of
exactly 0), so a norm fitted on them has a tiny std and saturates later rows. Checked by hand on a
constructed series and on the first 6 minutes of the real Binance spot capture, where
`rv_ratio_mid_log` sat at its clip on 17 % of rows before.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mmjax.data.loader import load_market
from mmjax.data.splits import chronological_splits
from mmjax.features import spec
from mmjax.features.batch import compute_market_features, fit_norm
from mmjax.features.report import MAX_FRAC_AT_CLIP, feature_stats

RV_MID = spec.FEATURE_INDEX["rv_ratio_mid_log"]
OBI = spec.FEATURE_INDEX["obi_l1"]


def test_each_feature_is_fitted_only_on_rows_whose_windows_have_filled():
    cfg = spec.FeatureConfig()
    long_rows = cfg.vol_long_steps  # rv_ratio_mid_log's longest window
    T = 3 * long_rows
    after_gap = np.zeros(T, bool)
    after_gap[[0, long_rows + 500]] = True  # a gap: the windows fill again after it
    age = spec.segment_age(after_gap)
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, (T, spec.NUM_MARKET_FEATURES))
    values[age + 1 < long_rows, RV_MID] = 0.0  # warm-up values (a ratio of equal windows)
    norm = fit_norm(values, 0, T, after_gap)
    filled = age + 1 >= long_rows
    # the first segment's last 501 rows, the second's after its warm-up
    assert filled.sum() == 501 + (T - (long_rows + 500) - (long_rows - 1))
    assert norm.mean[RV_MID] == pytest.approx(values[filled, RV_MID].mean(), rel=1e-6)
    assert norm.std[RV_MID] == pytest.approx(values[filled, RV_MID].std(), rel=1e-6)
    assert norm.mean[OBI] == pytest.approx(values[:, OBI].mean(), rel=1e-6)  # one-row features: every row
    old = fit_norm(values, 0, T)  # without the segments: warm-up rows drag the statistics
    assert abs(old.mean[RV_MID] - 5.0) > 1.0 and abs(norm.mean[RV_MID] - 5.0) < 0.1


def test_a_split_too_short_for_a_window_warns_naming_it_and_uses_the_fixed_scale():
    T = 2_000  # shorter than vol_long_steps (3000) and longer than spread_steps (600) + MIN_FIT_ROWS
    after_gap = np.zeros(T, bool)
    values = np.random.default_rng(1).normal(0.0, 0.01, (T, spec.NUM_MARKET_FEATURES))
    with pytest.warns(spec.WindowNotFilledWarning, match=r"rv_ratio_mid_log \(vol_long_steps = 3,000 rows\)") as rec:
        norm = fit_norm(values, 0, T, after_gap)
    assert "spread_z" not in str(rec[0].message)  # its 600-row window fills: fitted
    fixed = spec.fixed_scale()
    assert norm.mean[RV_MID] == fixed.mean[RV_MID] == 0.0 and norm.std[RV_MID] == fixed.std[RV_MID] == 1.0  # +-5 raw
    z = spec.FEATURE_INDEX["spread_z"]
    assert norm.std[z] == pytest.approx(values[spec.segment_age(after_gap) + 1 >= 600, z].std(), rel=1e-5)


@pytest.fixture(scope="module")
def binance_first_6_min(binance_spot_dir):
    """The first 6 minutes (3,600 rows) of the real Binance spot capture: (MarketData, raw features)."""
    md = load_market(binance_spot_dir)[0].slice(0, 3_600)
    return md, np.asarray(compute_market_features(md).values)


def test_on_a_short_real_recording_no_feature_saturates(binance_first_6_min):
    md, values = binance_first_6_min
    T = md.num_steps
    split = chronological_splits(T, (0.7, 0.15, 0.15), T // 10)["train"]  # as `mmjax features` splits it
    train = (split.start, split.stop)
    before = feature_stats(values, train)  # every training row, warm-up included
    assert before[RV_MID]["frac_at_clip"] > 0.1, "the warm-up fit used to saturate rv_ratio_mid_log"
    with pytest.warns(spec.WindowNotFilledWarning, match="rv_ratio_mid_log"):
        after = feature_stats(values, train, np.asarray(md.after_gap))
    worst = max(after, key=lambda s: s["frac_at_clip"])
    assert worst["frac_at_clip"] <= MAX_FRAC_AT_CLIP, worst
    assert after[RV_MID]["fit_rows"] == 0 and after[OBI]["fit_rows"] == train[1] - train[0]


def test_a_long_enough_split_fits_every_feature_without_warning(binance_first_6_min):
    md, values = binance_first_6_min
    with warnings.catch_warnings():
        warnings.simplefilter("error", spec.WindowNotFilledWarning)
        norm = fit_norm(values, 0, md.num_steps, md.after_gap)  # 3,600 rows: vol_long fills on 601
    assert np.all(norm.std > spec.STD_FLOOR) and np.all(norm.std != spec.fixed_scale().std)
