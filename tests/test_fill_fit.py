"""The calibration's fill round: Gauss-Newton/Broyden on the fills per hour and the 1 s volatility."""

from __future__ import annotations

import math

import numpy as np

from mmjax.evaluation import fill_fit
from mmjax.market.params import SynthParams

# a market whose targets respond log-linearly to the knobs, with couplings unlike the probe's first guess
RESPONSE = np.array([[0.9, -1.1, 0.1, 0.7], [1.6, 0.4, 0.4, 0.7], [1.0, 0.1, 0.3, 0.2]])  # [targets, knobs]


def _fake_targets(p, hours, seed, levels, work):
    x = np.log([getattr(p, n) for n in fill_fit.KNOBS])
    y = RESPONSE @ x + np.array([8.0, 6.5, 0.3]) + 0.05 * np.sin(3 * x).sum()  # mildly non-linear
    return dict(zip(fill_fit.TARGET_FACTS, np.exp(y).tolist(), strict=True))


def test_fill_round_reaches_the_real_rates(monkeypatch):
    monkeypatch.setattr(fill_fit, "market_targets", _fake_targets)
    start = SynthParams()
    want = SynthParams(sigma_bps_per_sqrt_s=1.1, band_bps=0.35, impact_ticks_per_sqrt_btc=260.0, order_size_log_std=2.3)
    real = _fake_targets(want, 1, 0, 20, None)
    err0 = max(abs(math.log(_fake_targets(start, 1, 0, 20, None)[n] / real[n])) for n in real)
    best, hist = fill_fit.fit_fills(start, real, real_hours=0.2)
    got = _fake_targets(best, 1, 0, 20, None)
    err = max(abs(math.log(got[n] / real[n])) for n in real)
    assert err0 > 0.3 and err < fill_fit.GOOD_LOG_ERR, (err0, err)
    assert hist[0]["step"] == "start" and len(hist) <= 1 + len(fill_fit.KNOBS) + fill_fit.ROUNDS


def test_fill_round_skips_a_recording_with_too_few_fills(monkeypatch):
    monkeypatch.setattr(fill_fit, "market_targets", _fake_targets)
    real = {"fills_per_hour_0tick": 900.0, "fills_per_hour_1bp": 0.0, "ret_std_bps_1s": 0.1}
    best, hist = fill_fit.fit_fills(SynthParams(), real, real_hours=24 / 3600)
    assert best == SynthParams() and hist == []
