"""Features survive a level shift: fitted on the first half, none sits at the z-clip when the market changes.

Every market feature is scale-free (a bounded ratio, a log ratio to a causal baseline, or a causal
z-score). The normalization is fitted on the first half of each recording, as a model trained on
it would be; then volatility, activity, spreads or size units change, and no feature may sit at
the z-clip on more than 5 % of all rows. Each scenario also shows that a level-form feature
(the old `rv_short_bps`, `trade_rate_log`, `microprice_dev_ticks`) does saturate there, so the
scenario is a real shift and the check can fail.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_features_batch import real_dirs, toy_recording  # noqa: F401 (fixture)

from mmjax.data.loader import load_market, to_market_data
from mmjax.features import spec
from mmjax.features.batch import compute_market_features, fit_norm, normalize
from mmjax.features.spec import MARKET_FEATURES

F = spec.FEATURE_INDEX
MAX_AT_CLIP = 0.05
CFG = spec.FeatureConfig()


def z_at_clip(values: np.ndarray) -> np.ndarray:
    """[T, K] raw values -> [K] fraction of rows at the z-clip, norm fitted on the first half."""
    values = np.asarray(values, np.float32)
    half = values.shape[0] // 2
    z = np.asarray(normalize(values, fit_norm(values, 0, half)))
    return (np.abs(z) >= spec.Z_CLIP).mean(axis=0)


def assert_no_feature_at_clip(md, what: str) -> np.ndarray:
    """Every market feature at the z-clip on <= 5 % of rows (first-half norm); returns the raw features."""
    values = np.asarray(compute_market_features(md).values)
    assert np.isfinite(values).all(), what
    frac = z_at_clip(values)
    bad = {MARKET_FEATURES[j]: f"{frac[j]:.1%}" for j in np.flatnonzero(frac > MAX_AT_CLIP)}
    assert not bad, f"{what}: at the z-clip (norm fitted on the first half): {bad}"
    return values


@pytest.fixture(scope="module")
def vol_regime_change(tmp_path_factory):
    """One hour of the built-in market whose variance and taker-order rate rise 9x half-way through."""
    synth = pytest.importorskip("mmjax.market.synth")
    out = tmp_path_factory.mktemp("regime")
    synth.run(synth.SynthConfig(out=str(out), hours=1.0, seed=1,
                                 model=synth.SynthParams(regime_shift_at_frac=0.5, regime_shift_factor=9.0)))
    return load_market(out)


def test_no_feature_saturates_after_a_volatility_regime_change(vol_regime_change):
    md, raw = vol_regime_change
    T = md.num_steps
    values = assert_no_feature_at_clip(md, "synth, 9x variance and order rate from half-way")
    sigma = np.asarray(compute_market_features(md).sigma, np.float64)
    # the shift is real: volatility triples and trading speeds up about 9x ...
    assert np.median(sigma[3 * T // 4:]) > 2.5 * np.median(sigma[T // 4: T // 2])
    n_tr = np.asarray(md.n_trades, np.float64)
    assert n_tr[T // 2:].sum() > 5 * n_tr[: T // 2].sum()
    # ... so level forms of the same quantities sit at the clip: the realized vol in bps over 10 s and
    # the log trade rate, as the features were before (`rv_short_bps`, `trade_rate_log`)
    dm2 = np.square(np.diff(np.asarray(md.mid, np.float64), prepend=float(md.mid[0])))
    def trailing_mean(x, w):
        return np.convolve(x, np.ones(w), "full")[:T] / w

    rv_bps = np.sqrt(trailing_mean(dm2, CFG.vol_short_steps) / md.dt_s) * 1e4 / (np.asarray(md.mid) + md.px_anchor_ticks)
    rate = np.log1p(trailing_mean(n_tr, CFG.intensity_steps) / md.dt_s)
    level = z_at_clip(np.stack([rv_bps, rate], axis=1))
    assert (level > MAX_AT_CLIP).all(), f"level forms at the clip only {level}: the scenario shifts too little"
    # the scale-free forms still move with the regime (they carry the change, they do not ignore it)
    h = T // 2
    assert values[h: h + 3000, F["rv_ratio_mid_log"]].mean() > values[:h, F["rv_ratio_mid_log"]].mean() + 0.1
    assert values[h: h + 3000, F["trade_rate_rel_log"]].mean() > values[:h, F["trade_rate_rel_log"]].mean() + 0.1


def test_no_feature_saturates_on_real_data_with_a_first_half_norm(real_dirs):  # noqa: F811
    for name, path in real_dirs.items():
        md, _ = load_market(path)
        assert_no_feature_at_clip(md, name)


def test_no_feature_saturates_when_spreads_widen_fivefold():
    """Spreads x5 half-way (same mid): the microprice in ticks would saturate; in usual half-spreads it does not."""
    raw = toy_recording(seed=4, num_steps=12000, gap_rows=(), quiet=(0, 0), thin=False)
    h = raw.num_steps // 2
    spread_ticks = np.rint((raw.ask_px[:, 0] - raw.bid_px[:, 0]) / raw.meta.tick_size)
    widen = 2 * spread_ticks[h:, None] * raw.meta.tick_size  # each side moves out by two spreads
    raw.ask_px[h:] += widen
    raw.bid_px[h:] -= widen
    md = to_market_data(raw)
    values = assert_no_feature_at_clip(md, "toy, spreads x5 from half-way")
    spread = np.asarray(md.ask_px[:, 0] - md.bid_px[:, 0], np.float64)
    assert spread[h:].mean() > 4.5 * spread[:h].mean()
    micro_ticks = 0.5 * spread * values[:, F["obi_l1"]]  # the old `microprice_dev_ticks`
    assert z_at_clip(micro_ticks[:, None])[0] > MAX_AT_CLIP


def test_a_change_of_size_unit_moves_no_feature():
    """Sizes x1000 everywhere (BTC -> mBTC, or contracts): every feature is a ratio of sizes, so nothing moves."""
    raw = toy_recording(seed=7, num_steps=3000)
    scaled = dataclasses.replace(raw, bid_sz=raw.bid_sz * 1000.0, ask_sz=raw.ask_sz * 1000.0,
                                 trade_sz=raw.trade_sz * 1000.0)
    a = np.asarray(compute_market_features(to_market_data(raw)).values, np.float64)
    b = np.asarray(compute_market_features(to_market_data(scaled)).values, np.float64)
    err = np.abs(a - b) / np.maximum(np.abs(a), 1.0)
    worst = int(err.max(axis=0).argmax())
    assert err.max() <= 1e-4, f"{MARKET_FEATURES[worst]} changed by {err[:, worst].max():.2e} with the size unit"
