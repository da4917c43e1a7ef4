"""Inverse contracts (mmjax/env/inverse.py, the inverse branches of mmjax/env/sim_np.py and market_env.step_env).

A size is a number of contracts of V $ each; q contracts bought at P1 and sold at P2 earn
q V (1/P1 - 1/P2) coin, worth that times the mid in $. The env keeps cash in coin and marks $ PnL
as the coin PnL times the mid (docs/env.md, "Inverse contracts"). Both twins must agree and match
the formula by hand; the linear account must not change.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_fills import make_market, random_market
from test_market_env import F_M, rollout

from mmjax.env import sim_np
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData

TICK, ANCHOR = 0.01, 20_000  # make_market's: tick 0 is $200
V = 2000.0  # $ per contract: 0.1 contract at $200 is 1 coin, so $ figures are O(1) as on the linear fixtures


def inverse(m, value=V):
    return m.replace(contract_type="inverse", contract_value=value)


def usd(ticks):
    return (ticks + ANCHOR) * TICK


# ---------------------------------------------------------------------------------------------
# THE RULES BY HAND (sim_np)


def test_a_round_trip_earns_the_inverse_formula():
    p = sim_np.SimParams(EnvKnobs(maker_fee_bps=0.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V)
    acct = sim_np.Account(mid0=100.5)
    buy = sim_np.Fill(0.1, 100, False, lots=10)
    acct = sim_np.book_fills(acct, buy, sim_np.NO_FILL, sim_np.fill_fee(buy, sim_np.NO_FILL, p), TICK, 0.01, p.inverse)
    sell = sim_np.Fill(0.1, 150, False, lots=10)
    acct = sim_np.book_fills(acct, sim_np.NO_FILL, sell, 0.0, TICK, 0.01, p.inverse)
    assert acct.inventory_lots == 0
    coin = 0.1 * V * (1 / usd(100) - 1 / usd(150))  # 0.1 contracts bought at $201.00, sold at $201.50
    assert acct.cash == pytest.approx(coin, rel=1e-12)
    for mid in (90.5, 150.5, 400.5):  # flat: the $ PnL is the coin earned at the mark, wherever the mid is
        assert sim_np.mark(acct, mid, TICK, p.inverse).pnl == pytest.approx(coin * usd(mid), rel=1e-12)
    # a linear account of the same fills earns the price difference instead: 0.1 x $0.50
    lin = sim_np.book_fills(sim_np.book_fills(sim_np.Account(100.5), buy, sim_np.NO_FILL, 0.0, TICK, 0.01),
                            sim_np.NO_FILL, sell, 0.0, TICK, 0.01)
    assert sim_np.mark(lin, 120.5, TICK).pnl == pytest.approx(0.1 * 0.5)


def test_an_open_position_marks_at_the_inverse_value_and_fees_are_coin_on_the_notional():
    p = sim_np.SimParams(EnvKnobs(maker_fee_bps=2.0, max_offset_bps=5.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V)
    buy = sim_np.Fill(0.1, 100, False, lots=10)
    fee = sim_np.fill_fee(buy, sim_np.NO_FILL, p)
    assert fee == pytest.approx(2e-4 * 0.1 * V / usd(100))  # coin: the notional 0.1 x V $ at the fill price
    acct = sim_np.book_fills(sim_np.Account(mid0=100.5), buy, sim_np.NO_FILL, fee, TICK, 0.01, p.inverse)
    marked = sim_np.mark(acct, 300.5, TICK, p.inverse)
    want_coin = 0.1 * V * (1 / usd(100) - 1 / usd(300.5)) - fee
    assert marked.pnl == pytest.approx(want_coin * usd(300.5), rel=1e-12)
    # unrealized: the open contracts' coin PnL at the mark, over the notional of the limit (max_inventory x V $)
    _, _, upnl_scaled = sim_np.agent_features(marked, 300.5, 0, p)
    upnl_usd = 0.1 * V * (1 / usd(100) - 1 / usd(300.5)) * usd(300.5)
    assert upnl_scaled == pytest.approx(upnl_usd / (0.1 * V * 1e-4 * 5.0), rel=1e-12)
    # the risk terms see the coin-equivalent position q V / M
    _, risk, damp = sim_np.reward(0.0, 0.1, 3.0, 100.5, 110.5, sim_np.SimParams(
        EnvKnobs(risk_aversion=0.5, eta=1.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V))
    q_coin = 0.1 * V / usd(100.5)
    assert risk == pytest.approx(0.5 * q_coin**2 * (3.0 * TICK) ** 2 * 0.1)
    assert damp == pytest.approx(q_coin * 10 * TICK)


# ---------------------------------------------------------------------------------------------
# THE TWO TWINS


@pytest.mark.parametrize(("latency", "fee_bps", "eta", "seed"), [(1, 1.5, 0.3, 5), (2, -0.5, 1.0, 6)])
def test_the_device_env_and_the_numpy_twin_agree_on_an_inverse_market(latency, fee_bps, eta, seed):
    m = inverse(random_market(T=1200, seed=seed))
    T = m.num_steps
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(T, F_M)).astype(np.float32)
    sigma = rng.uniform(1, 20, T).astype(np.float32)
    knobs = EnvKnobs(episode_steps=800, latency_steps=latency, maker_fee_bps=fee_bps, eta=eta, risk_aversion=0.05)
    t0 = 150
    acts = np.clip(rng.normal(-0.8, 0.3, (800, 2)), -1, 1).astype(np.float32)
    obs0, obs, r, info, _ = rollout(make_params(m, feats, sigma, knobs=knobs), acts, t0=t0)
    ref = ReferenceMarketEnv(ReplayData.from_market(m), feats, sigma, knobs)
    assert ref.params.inverse == sim_np.Inverse(V, ANCHOR)
    np.testing.assert_allclose(ref.reset(options={"start": t0})[0], obs0, atol=1e-6)
    rows = [ref.step(a) for a in acts]
    i_ref = {k: np.array([x[4][k] for x in rows]) for k in rows[0][4]}
    # the same fills at the same prices (integers: exact), then the money to float32 rounding
    filled = {s: info[f"{s}_fill"] > 0 for s in ("bid", "ask")}
    assert all(f.sum() > 40 for f in filled.values())
    np.testing.assert_array_equal(np.stack([i_ref["bid_fill"] > 0, i_ref["ask_fill"] > 0]), np.stack(list(filled.values())))
    for s, f in filled.items():
        np.testing.assert_array_equal(info[f"{s}_fill_px"][f], i_ref[f"{s}_fill_px"][f], err_msg=s)
    # float32 against float64: $ values are O(1) here, coin cash O(0.01)
    for k, atol in (("inventory", 1e-6), ("cash", 1e-7), ("pnl", 2e-5), ("fee", 1e-7), ("risk_penalty", 1e-6),
                    ("damp_penalty", 1e-6)):
        np.testing.assert_allclose(info[k], i_ref[k], rtol=1e-5, atol=atol, err_msg=k)
    np.testing.assert_allclose(r, np.array([x[1] for x in rows]), atol=2e-5)
    np.testing.assert_allclose(obs, np.array([x[0] for x in rows]), atol=1e-4)
    assert np.abs(info["pnl"]).max() > 0.5, "the fixture must move money"
    # the inverse account is not the linear one on the same fills
    _, _, _, lin, _ = rollout(make_params(m.replace(contract_type="linear", contract_value=0.0), feats, sigma,
                                          knobs=knobs), acts, t0=t0)
    assert not np.allclose(lin["pnl"], info["pnl"], rtol=1e-2)


def test_a_known_fill_sequence_in_both_twins_gives_the_formula():
    """Buy 0.01 contract at the bid (row 10's taker sell), the book rises 10 ticks, sell it at the ask (row 40)."""
    T, t0, E = 80, 5, 60
    bb = np.where(np.arange(T) < 30, 100, 110)  # the ask far away (10 bp = 20 ticks) is not crossed by the move
    trades = [(10, "sell", 100, 5.0), (40, "buy", 111, 5.0)]
    fee_bps = 1.0
    m = inverse(make_market(bb, depth=0.0, trades=trades))
    knobs = EnvKnobs(episode_steps=E, quote_size=0.01, max_inventory=0.01, maker_fee_bps=fee_bps)
    # bid at the touch, ask far away until row 30, then the reverse
    acts = np.array([[-1.0, 1.0] if t0 + i < 30 else [1.0, -1.0] for i in range(E)], np.float32)
    _, _, _, info, _ = rollout(make_params(m, np.zeros((T, F_M)), np.ones(T), knobs=knobs), acts, t0=t0)
    ref = ReferenceMarketEnv(ReplayData.from_market(m), np.zeros((T, F_M)), np.ones(T), knobs)
    ref.reset(options={"start": t0})
    i_ref = [ref.step(a)[4] for a in acts]
    assert (info["bid_fill"] > 0).sum() == 1 and (info["ask_fill"] > 0).sum() == 1
    assert info["bid_fill_px"][info["bid_fill"] > 0][0] == 100 and info["ask_fill_px"][info["ask_fill"] > 0][0] == 111
    p1, p2, mid_end = usd(100), usd(111), usd(110.5)
    coin = 0.01 * V * (1 / p1 - 1 / p2) - fee_bps * 1e-4 * 0.01 * V * (1 / p1 + 1 / p2)
    assert info["inventory"][-1] == 0.0
    assert info["pnl"][-1] == pytest.approx(coin * mid_end, rel=1e-5)
    assert i_ref[-1]["pnl"] == pytest.approx(coin * mid_end, rel=1e-12)
    assert info["cash"][-1] == pytest.approx(coin, rel=1e-5)  # the account is in coin
