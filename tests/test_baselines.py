"""Specification of the closed-form baselines (mmjax/policy/baselines.py)."""

import numpy as np
import pytest

from mmjax.policy import baselines as bl

MID = 6_500_000.0  # $65,000 in ticks of $0.01


def test_avellaneda_stoikov_is_symmetric_flat_and_skews_against_inventory():
    kw = dict(sigma_ticks=400.0, time_left_s=60.0, mid_abs_ticks=MID, gamma=1e-4, k_per_tick=0.01)
    b0, a0 = bl.avellaneda_stoikov_offsets(0.0, **kw)
    assert b0 == pytest.approx(a0)
    b_long, a_long = bl.avellaneda_stoikov_offsets(3.0, **kw)
    # long inventory: reservation price below mid -> bid further away, ask closer (sell the inventory)
    assert b_long > b0 > a_long
    b_short, a_short = bl.avellaneda_stoikov_offsets(-3.0, **kw)
    assert a_short > a0 > b_short


def test_avellaneda_stoikov_spread_formula_and_small_gamma_limit():
    sigma, tau, gamma, k = 300.0, 30.0, 2e-4, 0.02
    b, a = bl.avellaneda_stoikov_offsets(0.0, sigma, tau, MID, gamma, k)
    spread_ticks = (b + a) / 1e4 * MID
    assert spread_ticks == pytest.approx(gamma * sigma**2 * tau + 2 / gamma * np.log1p(gamma / k), rel=1e-9)
    # gamma -> 0 and no time left: half spread -> 1/k (the risk-neutral monopolist's markup)
    b, a = bl.avellaneda_stoikov_offsets(0.0, sigma, 0.0, MID, 1e-9, k)
    assert b / 1e4 * MID == pytest.approx(1 / k, rel=1e-5)


def test_glft_skews_linearly_in_inventory():
    kw = dict(sigma_ticks=400.0, mid_abs_ticks=MID, gamma=1e-3, k_per_tick=0.01, A_per_s=2.0)
    offs = np.array([bl.glft_offsets(q, **kw) for q in (-2.0, -1.0, 0.0, 1.0, 2.0)])
    assert offs[2, 0] == pytest.approx(offs[2, 1])
    np.testing.assert_allclose(np.diff(offs[:, 0]), np.diff(offs[:, 0])[0])  # bid rises by one step per lot
    assert np.all(np.diff(offs[:, 1]) < 0)


def test_baselines_run_under_jax_jit_and_vmap():
    import jax
    jnp = jax.numpy

    @jax.jit
    def quotes(q):
        b, a = bl.avellaneda_stoikov_offsets(q, 400.0, 60.0, MID, 1e-4, 0.01, xp=jnp)
        return bl.quotes_to_action(b, a, 0.5, 0, 1, MID, 10.0, xp=jnp)

    out = jax.vmap(quotes)(jnp.linspace(-3, 3, 7))
    assert out.shape == (7, 2)
    np.testing.assert_allclose(np.asarray(out[3]), np.asarray(quotes(0.0)), rtol=1e-6)


def test_fill_intensity_calibration_recovers_a_known_exponential_decay():
    rng = np.random.default_rng(0)
    T, k_true, p_touch = 200_000, 0.05, 0.3
    mid = np.zeros(T)
    # each side trades with probability p_touch per row, reaching an exponential distance beyond mid
    def side(sign):
        trades = rng.random(T) < p_touch
        reach = rng.exponential(1 / k_true, T)
        px = np.where(trades, sign * reach, sign * 2**30)[:, None].repeat(2, 1)
        vol = np.where(trades, 1.0, 0.0)[:, None] * np.array([[1.0, 0.0]])
        return px, vol

    buy_px, buy_vol = side(+1)
    sell_px, sell_vol = side(-1)
    fit = bl.calibrate_fill_intensity(mid, buy_px, buy_vol, sell_px, sell_vol, 0.1, 0, T, max_delta_ticks=60)
    assert fit.k_per_tick == pytest.approx(k_true, rel=0.05)
    assert fit.A_per_s == pytest.approx(p_touch / 0.1, rel=0.1)
    assert fit.r2 > 0.99


def test_fill_intensity_calibration_refuses_a_window_without_trades():
    z = np.zeros((100, 2))
    with pytest.raises(ValueError, match="too few trades"):
        bl.calibrate_fill_intensity(np.zeros(100), z, z, z, z, 0.1, 0, 100)


def test_the_mid_forecast_recovers_a_real_signal_and_reads_only_its_window():
    rng = np.random.default_rng(0)
    T, h = 6000, bl.FORECAST_HORIZON_STEPS
    feats = rng.normal(size=(T, 3)).astype(np.float32)
    # each step moves the mid by 2/h ticks per unit of feature 0 of each of the last h rows, so
    # mid[t+h] - mid[t] carries 2 x feature 0 of row t (plus noise); features 1 and 2 are noise
    c = np.concatenate([[0.0], np.cumsum(feats[:, 0], dtype=np.float64)])
    s_idx = np.arange(T)
    drift = 2.0 / h * (c[s_idx] - c[np.maximum(s_idx - h, 0)])
    mid = np.cumsum(drift + rng.normal(0, 0.05, T))
    stg = np.arange(T, 0, -1)  # one gap-free segment
    fc = bl.fit_mid_forecast(feats, mid, stg, 0, 4000, horizon_steps=h)
    assert fc.weights[0] == pytest.approx(2.0, rel=0.1) and abs(fc.weights[1]) < 0.2 and fc.r2_train > 0.1
    future = mid.copy()
    future[4000:] += rng.normal(0, 100.0, T - 4000)  # perturb everything after the window
    again = bl.fit_mid_forecast(feats, future, stg, 0, 4000, horizon_steps=h)
    assert np.array_equal(again.weights, fc.weights) and again.bias == fc.bias


def test_signal_aware_quotes_lean_into_the_forecast():
    kw = dict(sigma_ticks=400.0, time_left_s=60.0, mid_abs_ticks=MID, gamma=1e-4, k_per_tick=0.01)
    b0, a0 = bl.avellaneda_stoikov_offsets(0.0, **kw)
    b_up, a_up, pull = bl.signal_aware_offsets(0.0, **kw, forecast_ticks=5.0)
    assert b_up < b0 and a_up > a0  # an expected rise: bid closer to the mid, ask further away
    assert not pull.any()  # a small move stays inside the quotes: both sides quote
    b_no, a_no, pull = bl.signal_aware_offsets(0.0, **kw, forecast_ticks=0.0)
    assert (b_no, a_no) == (b0, a0) and not pull.any()


def test_signal_aware_pulls_the_side_a_forecast_move_would_run_over():
    kw = dict(sigma_ticks=400.0, time_left_s=60.0, mid_abs_ticks=MID, gamma=1e-4, k_per_tick=0.01)
    b0, a0 = bl.avellaneda_stoikov_offsets(0.0, **kw)
    half_ticks = a0 / 1e4 * MID
    _, _, pull = bl.signal_aware_offsets(0.0, **kw, forecast_ticks=1.01 * half_ticks)
    assert pull.tolist() == [False, True]  # an expected rise past the ask: asks would be lifted at a loss
    _, _, pull = bl.signal_aware_offsets(0.0, **kw, forecast_ticks=-1.01 * half_ticks)
    assert pull.tolist() == [True, False]
    _, _, pull = bl.signal_aware_offsets(0.0, **kw, forecast_ticks=0.99 * half_ticks)
    assert not pull.any()


def test_signal_aware_pulls_nothing_without_a_forecast_whatever_the_inventory():
    kw = dict(sigma_ticks=400.0, time_left_s=60.0, mid_abs_ticks=MID, gamma=1e-4, k_per_tick=0.01)
    for q in (-5.0, 0.0, 5.0):  # a skew that pushes one quote through the mid is no reason to pull
        _, _, pull = bl.signal_aware_offsets(q, **kw, forecast_ticks=0.0)
        assert not pull.any(), q
