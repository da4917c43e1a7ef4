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


def test_pnl_attribution_splits_a_known_fill_into_spread_adverse_selection_carry_and_fees():
    # one episode: buy 1 at 99.5 while mid is 100 (spread +0.5); 10 s later mid is 99 (adverse -1);
    # the episode ends with mid at 98 (carry -1 more); a rebate of 0.01 was received
    E, S = 1, 3
    bid_fill = np.zeros((E, S))
    bid_fill[0, 0] = 1.0
    px = np.zeros((E, S))
    px[0, 0] = 99.5
    fees = np.zeros((E, S))
    fees[0, 0] = -0.01
    pnl = np.array([[0.51, -0.49, 98.0 - 99.5 + 0.01]])
    tr = _traces(E, S, bid_fill=bid_fill, bid_fill_px=px, fees=fees, pnl=pnl, mid_after_10s=np.full((E, S), 99.0),
                 mid_after_1s=np.full((E, S), 99.8))
    a = m.pnl_attribution(tr)
    assert a["spread_usd"] == pytest.approx(0.5) and a["fees_usd"] == pytest.approx(-0.01)
    assert a["adverse_1s_usd"] == pytest.approx(-0.2) and a["adverse_10s_usd"] == pytest.approx(-1.0)
    assert a["carry_usd"] == pytest.approx(-1.0)
    assert a["spread_usd"] + a["adverse_10s_usd"] + a["carry_usd"] - a["fees_usd"] == pytest.approx(a["pnl_usd"])
    assert m.policy_metrics(tr)["attribution"] == a


def test_pooled_paired_difference_uses_every_seed_and_states_its_power():
    rng = np.random.default_rng(4)
    common = rng.normal(0, 1.5, 400)  # episode difficulty shared by all policies
    seeds = common[None, :] + 0.3 + rng.normal(0, 0.05, (5, 1)) + rng.normal(0, 0.3, (5, 400))
    res = m.pooled_paired_difference(seeds, common)
    assert res["n_seeds"] == 5 and res["n_episodes"] == 400 and len(res["per_seed"]) == 5
    assert res["ci95"][0] < 0.3 < res["ci95"][1] and res["excludes_zero"]
    assert res["mde80"] == pytest.approx(2.8016 * res["se"], rel=1e-4) and res["mde80"] < 0.3
    one, quarter = (m.pooled_paired_difference(seeds[:1, :n], common[:n]) for n in (400, 100))
    assert 1.6 < quarter["mde80"] / one["mde80"] < 2.5  # 4x fewer episodes: about 2x the detectable effect
    assert m.pooled_paired_difference(seeds, common) == res  # deterministic by seed


def test_reports_count_fills_by_kind_rejections_and_quotes_beyond_the_depth():
    from mmjax.env.fill_kinds import FILL_CROSSED, FILL_QUEUE, FILL_THROUGH

    bid_kind = np.zeros((4, 5), np.int8)
    ask_kind = np.zeros((4, 5), np.int8)
    bid_kind[0, :3] = [FILL_QUEUE, FILL_THROUGH, FILL_THROUGH]
    ask_kind[1, 0] = FILL_CROSSED
    rejected = np.zeros((4, 5), np.int64)
    rejected[2, 1] = 2
    beyond = np.zeros((4, 5), np.int64)
    beyond[3, :2] = 1
    tr = _traces(bid_fill_kind=bid_kind, ask_fill_kind=ask_kind, rejected=rejected, beyond=beyond,
                 bid_quoted=np.ones((4, 5), bool), ask_quoted=np.zeros((4, 5), bool))
    got = m.policy_metrics(tr)
    assert (got["fills_behind_queue"], got["fills_traded_through"], got["fills_crossed"]) == (1, 2, 1)
    assert got["rejected_post_only"] == 2 and got["quotes_beyond_depth"] == pytest.approx(2 / 20)
