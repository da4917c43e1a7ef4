"""The NumPy twin (mmjax/env/sim_np.py through its gymnasium adapter mmjax/env/reference.py) agrees with
the device env and stays jax-free.

Tolerance: the device env keeps sizes and money in float32, the twin in float64, so the two agree
to float32 rounding: 1e-6 absolute on sizes (BTC) and on $ values of order $1 (the fixtures' PnL
stays below a few $; float32 spacing there is ~2e-7). Quote prices, fill prices and crossed flags
are integers/booleans and must agree exactly.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mmjax.env import sim_np
from mmjax.env.fill_kinds import FILL_THROUGH
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData
from mmjax.features.spec import AGENT_FEATURES
from tests.helpers.env import F_M, rollout
from tests.helpers.markets import random_market


def test_reference_imports_no_jax():
    code = "import sys, mmjax.env.reference; assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("latency", "fee_bps", "eta", "seed", "margin"),
                         [(1, 0.0, 0.0, 0, 0.0), (2, 1.5, 0.3, 1, 0.1), (3, -0.5, 1.0, 2, 0.0), (1, -0.5, 0.0, 3, 0.3)])
def test_same_data_same_actions_same_fills_pnl_reward(latency, fee_bps, eta, seed, margin):
    m = random_market(T=1500, seed=seed)
    T = m.num_steps
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(T, F_M)).astype(np.float32)
    sigma = rng.uniform(1, 20, T).astype(np.float32)
    knobs = EnvKnobs(episode_steps=1000, latency_steps=latency, maker_fee_bps=fee_bps, eta=eta, risk_aversion=0.05,
                     requote_margin=margin)
    p = make_params(m, feats, sigma, knobs=knobs)
    t0 = 200
    # mostly near the touch so that queues, partial fills, limits and crossings all happen
    acts = np.clip(rng.normal(-0.8, 0.3, (1000, 2)), -1, 1).astype(np.float32)
    obs0, obs, r, info, _ = rollout(p, acts, t0=t0)

    ref = ReferenceMarketEnv(ReplayData.from_market(m), feats, sigma, knobs)
    o, _ = ref.reset(options={"start": t0})
    np.testing.assert_allclose(o, obs0, atol=1e-6)
    rows = [ref.step(a) for a in acts]
    r_ref = np.array([x[1] for x in rows])
    i_ref = {k: np.array([x[4][k] for x in rows]) for k in rows[0][4]}
    assert (info["bid_fill"] > 0).sum() > 50 and (info["ask_fill"] > 0).sum() > 50
    for side in ("bid", "ask"):
        filled = info[f"{side}_fill"] > 0
        np.testing.assert_array_equal(filled, i_ref[f"{side}_fill"] > 0, err_msg=side)
        np.testing.assert_array_equal(info[f"{side}_fill_px"][filled], i_ref[f"{side}_fill_px"][filled])
        np.testing.assert_array_equal(info[f"{side}_crossed"], i_ref[f"{side}_crossed"])
        np.testing.assert_array_equal(info[f"{side}_rejected"], i_ref[f"{side}_rejected"])
        np.testing.assert_array_equal(info[f"{side}_fill_kind"], i_ref[f"{side}_fill_kind"])
        np.testing.assert_array_equal(info[f"{side}_beyond"], i_ref[f"{side}_beyond"])
        assert info[f"{side}_beyond"].any(), "quotes beyond the stored depth must be exercised"
        assert {1, 2, 3} <= set(info[f"{side}_fill_kind"].tolist()), "every kind of fill must be exercised"
        assert info[f"{side}_rejected"].sum() > 5, "post-only rejections must be exercised"
        np.testing.assert_allclose(info[f"{side}_fill"], i_ref[f"{side}_fill"], atol=1e-6)
    for k in ("inventory", "cash", "pnl", "fee", "risk_penalty", "damp_penalty", "mid"):
        np.testing.assert_allclose(info[k], i_ref[k], atol=1e-6, err_msg=k)
    np.testing.assert_allclose(r, r_ref, atol=1e-6)
    # both twins end the episode the same way: terminated at the time limit (the last of the 1000 steps)
    np.testing.assert_array_equal(info["terminated"], [x[2] for x in rows])
    np.testing.assert_array_equal(info["truncated"], [x[3] for x in rows])
    assert info["terminated"][-1] and info["terminated"].sum() == 1
    np.testing.assert_allclose(obs, np.array([x[0] for x in rows]), atol=1e-5)  # features are O(1)
    assert abs(i_ref["inventory"]).max() >= 0.099  # the inventory limit was exercised
    # the agent's own-order features were exercised on both sides (so the comparison above covers them)
    col = {n: obs[:, F_M + i] for i, n in enumerate(AGENT_FEATURES)}
    for side in ("bid", "ask"):
        assert set(np.unique(col[f"{side}_order_live"])) == {0.0, 1.0}
        for kind in ("order_dist_log", "queue_ahead_log"):
            assert len(np.unique(col[f"{side}_{kind}"])) > 3, kind
        assert (col[f"{side}_order_age_log"] > 0.15).any()  # orders rest 2 steps and more (noisy actions re-quote)
        frac = col[f"{side}_queue_frac"]
        assert ((frac > 0) & (frac < 1)).any() and (frac == 1).any()  # partly eaten queues; beyond the depth
        assert (col[f"{side}_since_fill_log"] == 0).any() and (col[f"{side}_since_fill_log"] > 0.3).any()
        assert col[f"{side}_msg_in_flight"].any() == (latency > 1)


def test_raw_trades_and_slot_aggregates_fill_the_same():
    # trades of an interval may come raw (repeated prices, any order) or as per-price aggregates
    book = sim_np.Book([100, 99], [0.5, 1.0], [101, 102], [0.2, 1.0])
    raw = sim_np.Trades([100, 99, 100], [0.3, 0.01, 0.4], [101, 103, 102], [0.1, 0.05, 0.2])
    agg = sim_np.Trades([100, 99], [0.7, 0.01], [101, 102, 103], [0.1, 0.2, 0.05])
    p = sim_np.SimParams(EnvKnobs(quote_size=0.1, max_inventory=1.0), 0.01, 10_000, 0.1)
    fills = []
    for trades in (raw, agg):
        state = sim_np.decide(sim_np.reset(book.mid, p), (-1.0, -1.0), book, p)  # bid 100, ask 101
        state, s = sim_np.settle(state, book, book, sim_np.NO_TRADES, p)  # nothing live yet (latency 1)
        assert s.bid == s.ask == sim_np.NO_FILL
        state = sim_np.decide(state, (-1.0, -1.0), book, p)
        state, s = sim_np.settle(state, book, book, trades, p)
        fills.append(s)
    assert fills[0] == fills[1]
    assert fills[0].bid.size == pytest.approx(0.1)  # 0.01 sold at 99: the level at 100 had emptied first
    assert fills[0].ask.size == pytest.approx(0.1)  # buys at 102 and 103 went through 101
    assert fills[0].bid.kind == fills[0].ask.kind == FILL_THROUGH


def test_reference_env_follows_the_gymnasium_api():
    m = random_market(T=400, seed=4)
    ref = ReferenceMarketEnv(ReplayData.from_market(m), np.zeros((400, F_M)), np.ones(400), EnvKnobs(episode_steps=50))
    obs, info = ref.reset(seed=0)
    assert obs.shape == ref.observation_space.shape and obs.dtype == np.float32
    starts = {ref.reset(seed=s)[1]["t"] for s in range(20)}
    assert len(starts) > 10
    with pytest.raises(ValueError, match="not a valid episode start"):
        ref.reset(options={"start": 399})
    for i in range(50):
        obs, r, term, trunc, info = ref.step(ref.action_space.sample())
        assert term == (i == 49) and not trunc  # the time limit terminates, as in the device env


def test_twin_ten_fills_of_001_make_exactly_01():
    from tests.helpers.markets import make_market

    T, t0 = 120, 10
    m = make_market(np.full(T, 100), depth=0.0, trades=[(t, "sell", 100, 5.0) for t in range(t0, T)])
    ref = ReferenceMarketEnv(ReplayData.from_market(m), np.zeros((T, F_M)), np.ones(T), EnvKnobs(episode_steps=60))
    ref.reset(options={"start": t0})
    infos = [ref.step(np.array([-1.0, 1.0], np.float32))[4] for _ in range(60)]
    acct = ref.state.account
    assert sum(i["bid_fill"] > 0 for i in infos) == 10 and acct.inventory == 0.1 and acct.inventory_lots == 10**7
