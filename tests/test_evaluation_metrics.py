"""Specification of evaluation metrics and confidence intervals (mmjax/evaluation/metrics.py)."""

import numpy as np
import pytest

from mmjax.evaluation import metrics as m


def _traces(E=4, S=5, **over):
    z = np.zeros((E, S))
    base = dict(pnl=z.copy(), inventory=z.copy(), bid_fill=z.copy(), ask_fill=z.copy(), bid_fill_px=z.copy(),
                ask_fill_px=z.copy(), bid_quoted=np.ones((E, S), bool), ask_quoted=np.ones((E, S), bool),
                fees=z.copy(), mid_at_fill=np.full((E, S), 100.0), mid_after_1s=np.full((E, S), 100.0),
                mid_after_10s=np.full((E, S), 100.0))
    base.update(over)
    return m.Traces(**base)


def test_bootstrap_ci_covers_the_mean_and_shrinks_with_more_episodes():
    rng = np.random.default_rng(1)
    small, big = rng.normal(1.0, 2.0, 50), rng.normal(1.0, 2.0, 5000)
    lo_s, hi_s = m.bootstrap_ci(small)
    lo_b, hi_b = m.bootstrap_ci(big)
    assert lo_s < small.mean() < hi_s and lo_b < 1.0 < hi_b
    assert (hi_b - lo_b) < (hi_s - lo_s) / 5
    assert m.bootstrap_ci(small, seed=3) == m.bootstrap_ci(small, seed=3)  # deterministic by seed


def test_paired_difference_sees_a_small_consistent_edge_that_unpaired_noise_hides():
    rng = np.random.default_rng(2)
    common = rng.normal(0, 10.0, 200)  # episode difficulty shared by both policies
    a, b = common + 0.5 + rng.normal(0, 0.1, 200), common
    res = m.paired_difference(a, b)
    assert res["excludes_zero"] and res["ci95"][0] > 0
    lo, hi = m.bootstrap_ci(a)
    lo2, hi2 = m.bootstrap_ci(b)
    assert lo < hi2 and lo2 < hi  # the unpaired CIs overlap


def test_max_drawdown_counts_from_the_start():
    paths = np.array([[1.0, 3.0, 0.5, 2.0], [-1.0, -2.0, 0.0, 1.0]])
    np.testing.assert_allclose(m.max_drawdown(paths), [2.5, 2.0])


def test_policy_metrics_spread_capture_markouts_fill_rate_and_map():
    E, S = 2, 4
    bid_fill, ask_fill = np.zeros((E, S)), np.zeros((E, S))
    bid_fill[0, 1] = ask_fill[1, 2] = 0.5
    bid_px, ask_px = np.full((E, S), 99.99), np.full((E, S), 100.01)
    later = np.full((E, S), 100.0)
    later[0, 1] = 99.98  # the bid was adversely selected
    tr = _traces(E, S, pnl=np.array([[0, 1, 1, 2.0], [0, 0, -1, -2.0]]), inventory=np.array([[0, 1, 1, 1.0], [0, 0, -1, -1.0]]),
                 bid_fill=bid_fill, ask_fill=ask_fill, bid_fill_px=bid_px, ask_fill_px=ask_px, mid_after_1s=later,
                 fees=np.full((E, S), 0.25))
    r = m.policy_metrics(tr)
    assert r["mean_pnl"] == 0.0 and r["fills"] == 2 and r["fill_rate"] == pytest.approx(2 / 16)
    assert r["map"] == pytest.approx(5 / 8) and r["fees"] == pytest.approx(2.0)
    assert r["spread_captured_bps"] == pytest.approx(1.0)  # both fills one cent from a $100 mid
    # bid markout: (99.98 - 99.99)/100 = -1 bp; ask markout: (100.01 - 100)/100 = +1 bp -> mean 0
    assert r["markout_1s"] == pytest.approx(0.0, abs=1e-9)
    assert r["markout_10s"] == pytest.approx(1.0)
