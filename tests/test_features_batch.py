"""Specification of the batch market features (`mmjax.features.batch`) and the spec they follow."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data.loader import load_market, to_market_data
from mmjax.data.splits import chronological_splits
from mmjax.features import spec
from mmjax.features.batch import (
    compute_market_features,
    fit_norm,
    market_sigma,
    normalize,
    rolling_sum,
    segment_start,
)
from mmjax.features.spec import MARKET_FEATURES, FeatureConfig
from tests.helpers.features import SMALL, toy_recording

F = spec.FEATURE_INDEX


# FIXTURES ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    raw = toy_recording()
    return raw, to_market_data(raw)


# SPEC -------------------------------------------------------------------------------------------

def test_spec_counts_names_and_hash():
    assert spec.NUM_FEATURES == len(MARKET_FEATURES) + len(spec.AGENT_FEATURES)
    assert len(set(MARKET_FEATURES + spec.AGENT_FEATURES)) == spec.NUM_FEATURES  # no name twice
    # the account's three, then per side (bid, ask) the own-order features
    assert spec.AGENT_FEATURES[3:] == spec.ORDER_FEATURES and len(spec.ORDER_FEATURES) == 2 * len(spec.ORDER_FEATURE_KINDS)
    assert tuple(spec.RAW_CLIPS) == MARKET_FEATURES
    h = spec.spec_hash()
    assert len(h) == 64 and h == spec.spec_hash(FeatureConfig())
    assert spec.spec_hash(dataclasses.replace(FeatureConfig(), kyle_steps=601)) != h
    assert spec.spec_hash(SMALL) != h


def test_config_rejects_bad_windows():
    with pytest.raises(ValueError, match="ofi_short_steps"):
        FeatureConfig(ofi_short_steps=0)
    with pytest.raises(ValueError, match="overflows int32"):
        FeatureConfig(spread_steps=5000, spread_clip_ticks=50)
    with pytest.raises(ValueError, match="vol_long_steps"):
        compute_market_features(to_market_data(toy_recording(num_steps=50, gap_rows=())),
                                FeatureConfig(vol_short_steps=500, vol_long_steps=100))


# ROLLING SUMS -----------------------------------------------------------------------------------

@pytest.mark.parametrize("window", [1, 2, 7, 64, 100, 1000])
def test_rolling_sum_matches_a_loop_and_resets_at_gaps(window):
    rng = np.random.default_rng(window)
    T = 500
    x = rng.normal(size=(T, 2)).astype(np.float32)
    gap = np.zeros(T, bool)
    gap[[0, 3, 4, 130, 390]] = True
    seg = np.asarray(segment_start(jnp.asarray(gap)))
    got = np.asarray(rolling_sum(jnp.asarray(x), jnp.asarray(seg), window))
    want = np.stack([x[max(t - window + 1, seg[t]): t + 1].astype(np.float64).sum(0) for t in range(T)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ints = rng.integers(0, 50, size=(T, 1)).astype(np.int32)
    got_i = np.asarray(rolling_sum(jnp.asarray(ints), jnp.asarray(seg), window))
    want_i = np.stack([ints[max(t - window + 1, seg[t]): t + 1].sum(0) for t in range(T)])
    np.testing.assert_array_equal(got_i, want_i)  # integer sums are exact


def test_rolling_sum_of_nonnegative_terms_has_no_cancellation():
    """A burst that leaves the window must not leave float32 residue behind (a cumsum difference would)."""
    T = 5000
    x = np.full((T, 1), 1e-4, np.float32)
    x[1000] = 1e6
    got = np.asarray(rolling_sum(jnp.asarray(x), jnp.zeros(T, jnp.int32), 100))
    np.testing.assert_allclose(got[1100:, 0], 100 * 1e-4, rtol=1e-5)


# SHAPES, DETERMINISM, JIT -----------------------------------------------------------------------

def test_shapes_dtypes_finite_and_deterministic(toy):
    _, md = toy
    a = compute_market_features(md)
    b = compute_market_features(md)
    assert a.values.shape == (md.num_steps, spec.NUM_MARKET_FEATURES) and a.values.dtype == jnp.float32
    assert a.sigma.shape == (md.num_steps,) and a.sigma.dtype == jnp.float32
    assert np.isfinite(np.asarray(a.values)).all() and np.isfinite(np.asarray(a.sigma)).all()
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    lo, hi = spec.raw_clip_bounds()
    v = np.asarray(a.values)
    assert (v >= lo).all() and (v <= hi).all()
    jitted = jax.jit(lambda m: compute_market_features(m, SMALL).values)(md)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(compute_market_features(md, SMALL).values))


# CAUSALITY --------------------------------------------------------------------------------------

def _perturb_future(md, t: int, seed: int):
    """Scramble every input a feature at row t must not see: book rows > t, trade rows >= t."""
    rng = np.random.default_rng(seed)
    T = md.num_steps

    def book(a):
        a = np.array(a)
        noise = rng.normal(size=a[t + 1:].shape) * 50
        a[t + 1:] = (a[t + 1:] + noise).astype(a.dtype) if a.dtype != bool else rng.random(a[t + 1:].shape) < 0.5
        return jnp.asarray(a)

    def trade(a):
        a = np.array(a)
        a[t:] = (rng.random(a[t:].shape) * 100).astype(a.dtype)
        return jnp.asarray(a)

    return md.replace(
        bid_px=book(md.bid_px), bid_sz=jnp.abs(book(md.bid_sz)), ask_px=book(md.ask_px), ask_sz=jnp.abs(book(md.ask_sz)),
        mid=book(md.mid), t_s=book(md.t_s), after_gap=book(md.after_gap),
        steps_to_gap=jnp.asarray(rng.integers(1, T, T).astype(np.int32)),  # forward-looking by definition
        buy_vol=trade(md.buy_vol), sell_vol=trade(md.sell_vol), n_trades=trade(md.n_trades),
        buy_px=trade(md.buy_px), buy_px_vol=trade(md.buy_px_vol), sell_px=trade(md.sell_px),
        sell_px_vol=trade(md.sell_px_vol),
    )


@pytest.mark.parametrize("cfg", [FeatureConfig(), SMALL], ids=["default", "small"])
def test_perturbing_the_future_leaves_every_feature_bitwise_unchanged(toy, cfg):
    _, md = toy
    base = compute_market_features(md, cfg)
    for i, t in enumerate([0, 1, 57, 699, 700, 701, 702, 1499, 1500, 1998]):
        pert = compute_market_features(_perturb_future(md, t, seed=i), cfg)
        for j, name in enumerate(MARKET_FEATURES):
            np.testing.assert_array_equal(np.asarray(pert.values[: t + 1, j]), np.asarray(base.values[: t + 1, j]),
                                          err_msg=f"{name} at rows <= {t} saw the future")
        np.testing.assert_array_equal(np.asarray(pert.sigma[: t + 1]), np.asarray(base.sigma[: t + 1]))
        assert not np.array_equal(np.asarray(pert.values[t + 1:]), np.asarray(base.values[t + 1:]))


def test_trades_of_row_t_reach_the_features_at_t_plus_1_not_before(toy):
    _, md = toy
    t = 1200
    base = np.asarray(compute_market_features(md, SMALL).values)
    bumped = md.replace(sell_vol=md.sell_vol.at[t].add(5.0), n_trades=md.n_trades.at[t].add(3))
    got = np.asarray(compute_market_features(bumped, SMALL).values)
    np.testing.assert_array_equal(got[: t + 1], base[: t + 1])
    assert got[t + 1, F["trade_imb_short"]] < base[t + 1, F["trade_imb_short"]]
    assert got[t + 1, F["trade_rate_rel_log"]] > base[t + 1, F["trade_rate_rel_log"]]


def test_windows_reset_after_a_gap(toy):
    """Rows after a gap are computed as if the recording started there."""
    _, md = toy
    g = 1500
    whole = compute_market_features(md, SMALL)
    tail = compute_market_features(md.slice(g, md.num_steps), SMALL)
    np.testing.assert_allclose(np.asarray(whole.values[g:]), np.asarray(tail.values), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(whole.sigma[g:]), np.asarray(tail.sigma), rtol=1e-6, atol=1e-6)
    row = np.asarray(whole.values[g])
    for name in ("ofi_short", "trade_imb_short", "trade_rate_rel_log", "rv_ratio_mid_log", "rv_ratio_log", "momentum_z",
                 "spread_z", "spread_rel_log", "kyle_lambda_std"):
        assert row[F[name]] == 0.0, name  # nothing before the gap is remembered
    assert whole.sigma[g] == 0.0


# VALUES AGAINST THEIR DEFINITIONS ---------------------------------------------------------------

def test_features_match_a_direct_loop_over_their_definitions(toy):
    raw, md = toy
    cfg = SMALL
    got = np.asarray(compute_market_features(md, cfg).values, np.float64)
    sig = np.asarray(compute_market_features(md, cfg).sigma, np.float64)
    bp, ap = np.asarray(md.bid_px, np.int64), np.asarray(md.ask_px, np.int64)
    bs, as_ = np.asarray(md.bid_sz, np.float64), np.asarray(md.ask_sz, np.float64)
    mid = np.asarray(md.mid, np.float64)
    buy, sell = np.asarray(md.buy_vol, np.float64), np.asarray(md.sell_vol, np.float64)
    n_trades = np.asarray(md.n_trades, np.float64)
    seg = np.asarray(segment_start(md.after_gap))
    c = cfg.shrink
    dt = md.dt_s
    for t in range(0, md.num_steps, 13):
        g = seg[t]
        # trade imbalance over trades of rows [max(t - W, g), t - 1]
        lo = max(t - cfg.trade_short_steps, g)
        b, s = buy[lo:t].sum(), sell[lo:t].sum()
        want = (b - s) / (b + s + spec.SIZE_EPS)
        assert got[t, F["trade_imb_short"]] == pytest.approx(want, abs=1e-5)
        # realized vol: mean squared mid change into each row r of the window [max(t - W + 1, g), t]
        # (the change into the segment's first row is unknown and counts as 0)
        def var_per_step(w, t=t, g=g):
            lo = max(t - w + 1, g)
            d = [mid[r] - mid[r - 1] for r in range(max(lo, g + 1), t + 1)]
            return np.sum(np.square(d)) / min(t - g + 1, w)

        v_short, v_mid, v_long = (var_per_step(w) for w in (cfg.vol_short_steps, cfg.vol_mid_steps, cfg.vol_long_steps))
        for name, v in (("rv_ratio_log", v_short), ("rv_ratio_mid_log", v_mid)):
            want = 0.5 * np.log((v + c * v_long + spec.VAR_EPS) / ((1 + c) * v_long + spec.VAR_EPS))
            assert got[t, F[name]] == pytest.approx(want, abs=1e-5), name
        assert sig[t] == pytest.approx(np.sqrt(v_long / dt), rel=1e-5)
        # trade rate: trades per row over rows [max(t - W, g), t - 1], short window against the long one
        def rate(w, t=t, g=g):
            return n_trades[max(t - w, g): t].sum() / min(t - g + 1, w)

        r_s, r_l = rate(cfg.intensity_steps), rate(cfg.vol_long_steps)
        want = np.log((r_s + c * r_l + spec.SIZE_EPS) / ((1 + c) * r_l + spec.SIZE_EPS))
        assert got[t, F["trade_rate_rel_log"]] == pytest.approx(want, abs=1e-5)
        # OFI (Cont, Kukanov, Stoikov 2014) over rows (max(t - W + 1, g), t], in stds of a sum of n_W
        # independent terms with the mean square of the long window's terms
        def ofi_term(r):
            return (bs[r, 0] * (bp[r, 0] >= bp[r - 1, 0]) - bs[r - 1, 0] * (bp[r, 0] <= bp[r - 1, 0])
                    - as_[r, 0] * (ap[r, 0] <= ap[r - 1, 0]) + as_[r - 1, 0] * (ap[r, 0] >= ap[r - 1, 0]))

        def rows(w, t=t, g=g):  # rows of the window with a predecessor in the segment
            return range(max(t - w + 1, g + 1), t + 1)

        e2_mean = sum(ofi_term(r) ** 2 for r in rows(cfg.vol_long_steps)) / min(t - g + 1, cfg.vol_long_steps)
        for name, w in (("ofi_short", cfg.ofi_short_steps), ("ofi_long", cfg.ofi_long_steps)):
            e = sum(ofi_term(r) for r in rows(w))
            want = np.clip(e / (np.sqrt(min(t - g + 1, w) * e2_mean) + spec.SIZE_EPS), *spec.RAW_CLIPS[name])
            assert got[t, F[name]] == pytest.approx(want, rel=1e-4, abs=1e-4), name
        # spread z-score over rows (max(t - W + 1, g), t]
        sp = np.clip(ap[max(t - cfg.spread_steps + 1, g): t + 1, 0] - bp[max(t - cfg.spread_steps + 1, g): t + 1, 0],
                     1, cfg.spread_clip_ticks)
        want = (sp[-1] - sp.mean()) / np.sqrt(sp.var() + cfg.spread_var_floor_ticks2)
        assert got[t, F["spread_z"]] == pytest.approx(np.clip(want, -20, 20), rel=1e-5, abs=1e-6)
        obi = (bs[t, 0] - as_[t, 0]) / (bs[t, 0] + as_[t, 0] + spec.SIZE_EPS)
        want = 0.5 * (ap[t, 0] - bp[t, 0]) * obi / (0.5 * sp.mean())  # microprice - mid in mean half-spreads
        assert got[t, F["microprice_dev_rel"]] == pytest.approx(np.clip(want, -25, 25), rel=1e-5, abs=1e-5)
        lo = max(t - cfg.vol_long_steps + 1, g)
        sp_long = np.clip(ap[lo: t + 1, 0] - bp[lo: t + 1, 0], 1, cfg.spread_clip_ticks)
        assert got[t, F["spread_rel_log"]] == pytest.approx(np.log(sp_long[-1] / sp_long.mean()), abs=1e-5)
        # depth slope: OLS of cumulative depth on distance from the touch, both scaled to 1 at the last level
        x = (bp[t, 0] - bp[t]).astype(float)
        y = np.cumsum(bs[t])
        want = np.polyfit(x / x[-1], y / (y[-1] + spec.SIZE_EPS), 1)[0]
        assert got[t, F["depth_slope_bid"]] == pytest.approx(want, abs=1e-5)
        # imbalances and microprice
        want = (bs[t, 0] - as_[t, 0]) / (bs[t, 0] + as_[t, 0] + spec.SIZE_EPS)
        assert got[t, F["obi_l1"]] == pytest.approx(want, abs=1e-6)
        bd, ad = bs[t, :5].sum(), as_[t, :5].sum()
        assert got[t, F["obi_l5"]] == pytest.approx((bd - ad) / (bd + ad + spec.SIZE_EPS), abs=1e-6)


def test_kyle_lambda_is_positive_when_flow_moves_the_price():
    """Mid ticks up after net buying and down after net selling: the regression slope is > 0."""
    rng = np.random.default_rng(5)
    raw = toy_recording(seed=5, num_steps=800, gap_rows=(), thin=False)
    md = to_market_data(raw)
    q = rng.normal(size=800).astype(np.float32)
    mid = np.asarray(md.mid).copy()
    mid[1:] = mid[0] + np.cumsum(np.sign(q[:-1]) * 0.5)  # dm[t] follows the signed volume of row t-1
    md = md.replace(buy_vol=jnp.asarray(np.maximum(q, 0)), sell_vol=jnp.asarray(np.maximum(-q, 0)),
                    mid=jnp.asarray(mid, jnp.float32))
    k = np.asarray(compute_market_features(md, SMALL).values[:, F["kyle_lambda_std"]])
    assert (k[60:] > 0.3).all()
    md_neg = md.replace(buy_vol=md.sell_vol, sell_vol=md.buy_vol)
    k_neg = np.asarray(compute_market_features(md_neg, SMALL).values[:, F["kyle_lambda_std"]])
    assert (k_neg[60:] < -0.3).all()


# ROBUSTNESS -------------------------------------------------------------------------------------

def test_no_nan_with_no_trades_thin_books_and_frequent_gaps():
    raw = toy_recording(seed=9, num_steps=600, levels=3, gap_rows=tuple(range(5, 600, 7)), quiet=(0, 599))
    raw.bid_sz[100:200] = 0.0  # both sides empty of size: touch, depth, imbalances all 0/0
    raw.ask_sz[150:250] = 0.0
    md = to_market_data(raw)
    assert float(md.buy_vol.sum() + md.sell_vol.sum()) == 0.0
    for cfg in (FeatureConfig(), SMALL):
        f = compute_market_features(md, cfg)
        assert np.isfinite(np.asarray(f.values)).all() and np.isfinite(np.asarray(f.sigma)).all()
        v = np.asarray(f.values)
        assert (v[:, F["trade_imb_long"]] == 0).all() and (v[:, F["kyle_lambda_std"]] == 0).all()
    one_level = toy_recording(seed=2, num_steps=300, levels=1, thin=False, gap_rows=(100,))
    f = compute_market_features(to_market_data(one_level))
    assert np.isfinite(np.asarray(f.values)).all()
    assert (np.asarray(f.values[:, F["depth_slope_bid"]]) == 0).all()


# NORMALIZATION ----------------------------------------------------------------------------------

def test_market_sigma_alone_equals_the_features_sigma(toy):
    _, md = toy
    for cfg in (None, SMALL):
        want = compute_market_features(md, cfg).sigma
        np.testing.assert_array_equal(np.asarray(market_sigma(md, cfg)), np.asarray(want))


def test_fit_norm_uses_only_the_training_rows_and_normalize_clips():
    rng = np.random.default_rng(1)
    v = rng.normal(3.0, 2.0, size=(1000, spec.NUM_MARKET_FEATURES)).astype(np.float32)
    v[:, 4] = 7.0  # a constant feature normalizes to 0, not to noise
    norm = fit_norm(jnp.asarray(v), 100, 700)
    v2 = v.copy()
    v2[:100] = 1e6
    v2[700:] = -1e6
    norm2 = fit_norm(jnp.asarray(v2), 100, 700)
    np.testing.assert_array_equal(np.asarray(norm.mean), np.asarray(norm2.mean))
    np.testing.assert_array_equal(np.asarray(norm.std), np.asarray(norm2.std))
    z = np.asarray(normalize(jnp.asarray(v[100:700]), norm))
    np.testing.assert_allclose(np.delete(z.mean(0), 4), 0, atol=1e-4)
    np.testing.assert_allclose(np.delete(z.std(0), 4), 1, atol=1e-3)
    assert (z[:, 4] == 0).all()
    big = np.asarray(normalize(jnp.asarray(v2), norm, clip=5.0))
    assert big.max() == 5.0 and big.min() == -5.0
    with pytest.raises(ValueError, match="fit_norm"):
        fit_norm(jnp.asarray(v), 700, 100)


def _clip_fractions(md) -> np.ndarray:
    values = compute_market_features(md).values
    T = md.num_steps
    split = chronological_splits(T, gap_steps=min(3000, T // 10))["train"]
    z = np.asarray(normalize(values, fit_norm(values, split.start, split.stop)))
    return (np.abs(z) >= spec.Z_CLIP).mean(axis=0)


def test_no_feature_sits_at_its_clip_on_the_synthetic_market(synth_dir):
    md, _ = load_market(synth_dir)
    frac = _clip_fractions(md)
    worst = int(frac.argmax())
    assert frac.max() <= 0.05, f"{MARKET_FEATURES[worst]} at its clip {frac[worst]:.1%} of rows"


def test_no_feature_sits_at_its_clip_on_real_data(real_dirs):
    for name, path in real_dirs.items():
        md, _ = load_market(path)
        f = compute_market_features(md)
        assert np.isfinite(np.asarray(f.values)).all(), name
        frac = _clip_fractions(md)
        worst = int(frac.argmax())
        assert frac.max() <= 0.05, f"{name}: {MARKET_FEATURES[worst]} at its clip {frac[worst]:.1%} of rows"


# REPORT (`mmjax features`) ----------------------------------------------------------------------

def test_features_cli_writes_stats_per_feature(synth_dir, tmp_path, capsys):
    import json

    from mmjax.cli import main

    out = tmp_path / "feat.json"
    assert main(["features", "--data", str(synth_dir), "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [f["name"] for f in rep["features"]] == list(MARKET_FEATURES)
    assert rep["spec_hash"] == spec.spec_hash()
    for f in rep["features"]:
        assert set(f) == {"name", "mean", "std", "min", "max", "frac_at_clip", "fit_rows"}
        assert 0 <= f["fit_rows"] <= rep["train_rows"][1] - rep["train_rows"][0]
        assert f["min"] <= f["mean"] <= f["max"] and 0 <= f["frac_at_clip"] <= 0.05
    assert "trade_imb_short" in capsys.readouterr().out
    assert main(["features", "--data", str(tmp_path / "missing"), "--json", str(out)]) == 2
