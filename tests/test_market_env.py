"""Specification of the gymnax market-making env (mmjax/env/market_env.py): timing, causality, money, batching."""

from __future__ import annotations

import copy

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data.splits import Split
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import EnvParams, make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData
from mmjax.features.spec import AGENT_FEATURES, ORDER_FEATURES
from tests.helpers.env import ENV, F_M, KEY, rollout, start_at
from tests.helpers.markets import make_market, random_market


def params_for(market, **kw) -> EnvParams:
    T = market.num_steps
    return make_params(market, np.zeros((T, F_M), np.float32), np.full(T, 5.0, np.float32), **kw)


def touch_actions(n):
    return np.full((n, 2), -1.0, np.float32)  # offset 0: quote at the touch on a 1-tick spread


# ---------------------------------------------------------------------------------------------
# TIMING AND CAUSALITY


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_a_quote_fills_only_from_trades_after_it_goes_live(latency):
    T, t0 = 60, 10
    # a big taker sell at 100 in every interval (t, t+1] from t0 on; empty displayed queue
    trades = [(t, "sell", 100, 5.0) for t in range(t0, T)]
    m = make_market(np.full(T, 100), depth=0.0, trades=trades)
    p = params_for(m, episode_steps=20, latency_steps=latency)
    _, _, _, info, _ = rollout(p, touch_actions(8), t0=t0)
    # the decision at t0 is live at t0+L: the trades of rows t0..t0+L-1 (already seen or in flight) never fill it
    assert np.all(info["bid_fill"][:latency] == 0)
    assert info["bid_fill"][latency] == pytest.approx(0.01)
    assert info["t"][latency] == t0 + latency


def test_queue_ahead_delays_the_fill():
    T, t0 = 60, 10
    trades = [(t, "sell", 100, 0.6) for t in range(t0, T)]
    m = make_market(np.full(T, 100), depth=1.0, trades=trades)  # 1.0 displayed at our price
    _, _, _, info, _ = rollout(params_for(m, episode_steps=20), touch_actions(7), t0=t0)
    # live at t0+1 behind 1.0: row t0+1 eats 0.6 of the queue, row t0+2 fills us
    np.testing.assert_allclose(info["bid_fill"][:3], [0.0, 0.0, 0.01], atol=1e-7)
    # re-quoting the known price sent nothing, so the order kept its place; the fill of (t0+2, t0+3]
    # is seen at t0+3, whose decision re-posts; it arrives at t0+4 behind the full displayed 1.0
    # again and fills two rows later
    assert info["bid_live"][1:3].all() and not info["bid_live"][3] and info["bid_live"][4]
    np.testing.assert_allclose(info["bid_fill"][3:], [0.0, 0.0, 0.01, 0.0], atol=1e-7)


def test_post_only_rejects_an_order_the_book_crossed_before_it_arrived_and_a_resting_one_fills():
    T, t0 = 60, 10
    bb = np.full(T, 100)
    bb[t0 + 1:] = 99  # the book drops a tick at t0+1, before the bid 100 decided at t0 arrives
    m = make_market(bb, depth=5.0)
    _, _, _, info, s = rollout(params_for(m, episode_steps=20), touch_actions(6), t0=t0)
    assert info["bid_rejected"][0] and not info["ask_rejected"][0]
    assert not info["bid_live"][1] and info["bid_fill"][1] == 0  # no bid at all over (t0+1, t0+2]
    assert info["bid_live"][2] and not info["bid_rejected"][1:].any()  # the next decision (bid 99) rests
    assert int(s.n_rejected) == 1
    # a resting ask at 101 that the book later moves through fills in full at its own price
    bb2 = np.r_[np.full(t0 + 3, 100), np.full(T - t0 - 3, 102)]  # best bid 102 >= our ask 101 at t0+3
    _, _, _, info, _ = rollout(params_for(make_market(bb2, depth=5.0), episode_steps=20), touch_actions(6), t0=t0)
    assert info["ask_crossed"][2] and info["ask_fill"][2] == pytest.approx(0.01)
    assert info["ask_fill_px"][2] == 101 and not info["ask_rejected"].any()
    # the decision at t0+2 (ask 101, the known order) sent nothing, so nothing arrived to be rejected
    assert not info["ask_live"][3] and info["ask_live"][4]


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_after_a_fill_the_side_stays_empty_until_a_decision_that_saw_it_arrives(latency):
    T, t0, n = 60, 10, 20

    def run(fill_row):
        m = make_market(np.full(T, 100), depth=0.0, trades=[(fill_row, "sell", 100, 5.0)])
        return rollout(params_for(m, episode_steps=30, latency_steps=latency), touch_actions(n), t0=t0)[3]

    for k in (5, 9):  # the one trade that fills the bid, in interval (t0+k, t0+k+1]; then moved later
        info = run(t0 + k)
        assert np.flatnonzero(info["bid_fill"] > 0).tolist() == [k]
        live = info["bid_live"]
        # quoting the known price sends nothing until the fill is seen at t0+k+1; that decision's
        # re-post arrives L steps later, so the side is empty over exactly L intervals
        assert live[latency:k + 1].all() and not live[k + 1:k + 1 + latency].any() and live[k + 1 + latency:].all()
    early, late = run(t0 + 5), run(t0 + 9)
    for key in early:  # nothing before the first fill depends on when it happens
        np.testing.assert_array_equal(early[key][:5], late[key][:5], err_msg=key)


@pytest.mark.parametrize("latency", [1, 3])
def test_future_rows_change_nothing_up_to_now(latency):
    m = random_market(T=400, seed=3)
    T, t0, n, cut = m.num_steps, 50, 40, 25  # compare steps 0..cut (book rows <= t0+cut+1, trades <= t0+cut)
    rng = np.random.default_rng(0)
    actions = np.clip(rng.normal(-0.9, 0.2, (n, 2)), -1, 1).astype(np.float32)  # near the touch: fills, rejections
    feats = rng.normal(size=(T, F_M)).astype(np.float32)
    sigma = rng.uniform(1, 10, T).astype(np.float32)
    base = make_params(m, feats, sigma, episode_steps=100, latency_steps=latency)
    a = rollout(base, actions, t0=t0)

    b_row, tr_row = t0 + cut + 2, t0 + cut + 1  # first book row / trade row the agent may not have used
    shift = jnp.asarray(rng.integers(-3, 4, (T, 1)), jnp.int32)
    fut_b = (jnp.arange(T) >= b_row)[:, None]
    fut_t = (jnp.arange(T) >= tr_row)[:, None]
    m2 = m.replace(
        bid_px=jnp.where(fut_b, m.bid_px + shift, m.bid_px), ask_px=jnp.where(fut_b, m.ask_px + shift, m.ask_px),
        bid_sz=jnp.where(fut_b, m.bid_sz * 3 + 0.1, m.bid_sz), ask_sz=jnp.where(fut_b, m.ask_sz * 0.1, m.ask_sz),
        sell_px=jnp.where(fut_t, m.sell_px + 1, m.sell_px), buy_px=jnp.where(fut_t, m.buy_px - 1, m.buy_px),
        sell_px_vol=jnp.where(fut_t, m.sell_px_vol * 7 + 1, m.sell_px_vol),
        buy_px_vol=jnp.where(fut_t, m.buy_px_vol * 7 + 1, m.buy_px_vol),
        mid=jnp.where(fut_b[:, 0], m.mid + shift[:, 0], m.mid))
    feats2 = feats.copy()
    feats2[b_row:] += 1.0
    sigma2 = sigma.copy()
    sigma2[tr_row:] *= 5
    b = rollout(make_params(m2, feats2, sigma2, episode_steps=100, latency_steps=latency), actions, t0=t0)

    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1][: cut + 1], b[1][: cut + 1])
    np.testing.assert_array_equal(a[2][: cut + 1], b[2][: cut + 1])
    for k in a[3]:
        np.testing.assert_array_equal(a[3][k][: cut + 1], b[3][k][: cut + 1], err_msg=k)
    # ... and the perturbation does matter later (the test can fail)
    assert not np.array_equal(a[1][cut + 1:], b[1][cut + 1:])
    # the compared window covers post-only rejections and sides left empty after a fill
    w = {k: v[: cut + 1] for k, v in a[3].items()}
    assert (w["bid_rejected"] | w["ask_rejected"]).any()
    gone = (w["bid_fill"][:-1] > 0) & ~w["bid_live"][1:] | (w["ask_fill"][:-1] > 0) & ~w["ask_live"][1:]
    assert gone.any()
    # ... and the agent's own-order features in the compared observations
    assert varying_order_features(a[1][: cut + 1]) == set(ORDER_FEATURES) - IN_FLIGHT
    in_flight = a[1][: cut + 1, [F_M + 3 + ORDER_FEATURES.index(n) for n in sorted(IN_FLIGHT)]]
    assert in_flight.all() if latency > 1 else not in_flight.any()  # these noisy actions re-quote every step


IN_FLIGHT = {"bid_msg_in_flight", "ask_msg_in_flight"}


def varying_order_features(obs: np.ndarray) -> set[str]:
    """The own-order features (`spec.ORDER_FEATURES`) that take more than one value in ``obs`` [N, F_M + 17]."""
    return {n for n, c in zip(ORDER_FEATURES, obs[:, F_M + 3:].T, strict=True) if len(np.unique(c)) > 1}


def test_the_numpy_twin_s_observations_ignore_future_rows():
    """The same perturbation of every future row through `ReferenceMarketEnv` (the live path's rules)."""
    m = random_market(T=400, seed=5)
    T, t0, n, cut, knobs = m.num_steps, 60, 40, 20, EnvKnobs(episode_steps=100, latency_steps=2)
    rng = np.random.default_rng(1)
    actions = np.clip(rng.normal(-0.9, 0.2, (n, 2)), -1, 1).astype(np.float32)
    feats = rng.normal(size=(T, F_M)).astype(np.float32)
    b_row = t0 + cut + 2  # obs of step i is book row t0 + i + 1: steps <= cut read rows < b_row (trades < b_row - 1)
    data = ReplayData.from_market(m)
    fut = copy.deepcopy(data)
    fut.bid_px[b_row:] += 3
    fut.ask_px[b_row:] += 3
    fut.bid_sz[b_row:] *= 0.1
    fut.sell_reach_px[b_row - 1:] -= 1
    fut.buy_reach_vol[b_row - 1:] = fut.buy_reach_vol[b_row - 1:] * 5 + 1.0
    feats2 = feats.copy()
    feats2[b_row:] += 1.0
    obs = []
    for d, f in ((data, feats), (fut, feats2)):
        env = ReferenceMarketEnv(d, f, np.ones(T), knobs)
        env.reset(options={"start": t0})
        obs.append(np.array([env.step(a)[0] for a in actions]))
    np.testing.assert_array_equal(obs[0][: cut + 1], obs[1][: cut + 1])
    assert not np.array_equal(obs[0][cut + 1:], obs[1][cut + 1:])
    assert varying_order_features(obs[0][: cut + 1]) == set(ORDER_FEATURES)  # in flight too, at latency 2


# ---------------------------------------------------------------------------------------------
# MONEY


def test_pnl_identity_and_fees_reduce_it_exactly():
    m = random_market(T=600, seed=5)
    acts = np.random.default_rng(1).uniform(-1, 0, (300, 2)).astype(np.float32)
    _, _, r0, i0, s0 = rollout(params_for(m, episode_steps=400), acts, t0=100)
    assert (i0["bid_fill"] > 0).sum() > 5 and (i0["ask_fill"] > 0).sum() > 5
    # pnl = cash + q * (mid - mid0) * tick at every step, and it is the running sum of dpnl
    mid0 = float(s0.mid0)
    np.testing.assert_allclose(i0["pnl"], i0["cash"] + i0["inventory"] * (i0["mid"] - mid0) * m.tick_size, atol=1e-6)
    np.testing.assert_allclose(np.cumsum(i0["dpnl"].astype(np.float64)), i0["pnl"], atol=1e-5)
    np.testing.assert_allclose(r0, i0["dpnl"] - i0["risk_penalty"], atol=1e-7)
    # a hand check of one fill's cash: bought size at price, relative to mid0
    k = int(np.flatnonzero(i0["bid_fill"] > 0)[0])
    prev_cash = i0["cash"][k - 1] if k else 0.0
    expect = prev_cash - i0["bid_fill"][k] * (i0["bid_fill_px"][k] - mid0) * m.tick_size
    expect += i0["ask_fill"][k] * (i0["ask_fill_px"][k] - mid0) * m.tick_size
    assert i0["cash"][k] == pytest.approx(expect, abs=1e-6)

    _, _, _, i1, _ = rollout(params_for(m, episode_steps=400, maker_fee_bps=2.0), acts, t0=100)
    np.testing.assert_array_equal(i0["bid_fill"], i1["bid_fill"])  # fees never change fills
    notional = (i1["bid_fill"] * (i1["bid_fill_px"] + m.px_anchor_ticks)
                + i1["ask_fill"] * (i1["ask_fill_px"] + m.px_anchor_ticks)) * m.tick_size
    np.testing.assert_allclose(i1["fee"], 2e-4 * notional, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(i0["pnl"] - i1["pnl"], np.cumsum(i1["fee"]), rtol=1e-4, atol=1e-6)
    _, _, _, i2, _ = rollout(params_for(m, episode_steps=400, maker_fee_bps=-1.0), acts, t0=100)
    assert i2["pnl"][-1] > i0["pnl"][-1]  # a rebate adds


def test_always_bid_reaches_the_inventory_limit_and_never_passes_it():
    m = random_market(T=3600, seed=2)
    p = params_for(m, episode_steps=3000)
    acts = np.tile(np.array([[-1.0, 1.0]], np.float32), (3000, 1))  # bid at the touch, ask far away
    _, obs, _, info, _ = rollout(p, acts, t0=200)
    inv = info["inventory"]
    assert inv.max() == pytest.approx(float(p.max_inventory), abs=1e-6)
    assert np.all(np.abs(inv) <= float(p.max_inventory) + 1e-6)
    at_limit = np.flatnonzero(inv >= float(p.max_inventory) - 1e-7)
    after = at_limit[0] + 1 + 1  # the decision after reaching the limit goes live one step later
    if after < len(inv):
        assert not info["bid_live"][after] or info["bid_fill"][after] == 0
    np.testing.assert_allclose(obs[:, F_M], inv / float(p.max_inventory), rtol=1e-6)


def test_ten_fills_of_001_make_exactly_01_and_close_the_side():
    T, t0 = 120, 10
    m = make_market(np.full(T, 100), depth=0.0, trades=[(t, "sell", 100, 5.0) for t in range(t0, T)])
    p = params_for(m, episode_steps=60)  # quote 0.01, limit 0.1, a 1e-8 lot
    _, _, _, info, s = rollout(p, np.tile(np.array([[-1.0, 1.0]], np.float32), (60, 1)), t0=t0)
    assert (info["bid_fill"] > 0).sum() == 10  # ten real fills, no dust after them
    assert info["inventory"].max() == np.float32(0.1) and float(s.inventory) == np.float32(0.1)
    assert int(s.inventory_lots) == 10_000_000
    last = np.flatnonzero(info["bid_fill"] > 0)[-1]
    assert not info["bid_live"][last + 1:].any()  # the side is closed at the limit
    np.testing.assert_array_equal(info["bid_fill"][info["bid_fill"] > 0], np.float32(0.01))


def test_the_limit_gates_new_orders_but_the_venue_fills_what_already_rests():
    """Exchange semantics: an inventory limit is the trader's, so it stops new orders at the decision; an order
    already at the venue fills in full (a fill it would give cannot be refused), then the side closes."""
    T, t0 = 120, 10
    m = make_market(np.full(T, 100), depth=0.0, trades=[(t, "sell", 100, 5.0) for t in range(t0, T)])
    p = params_for(m, episode_steps=60, quote_size=0.02, max_inventory=0.03)
    _, _, _, info, s = rollout(p, np.tile(np.array([[-1.0, 1.0]], np.float32), (60, 1)), t0=t0)
    fills_ = info["bid_fill"][info["bid_fill"] > 0]
    np.testing.assert_array_equal(fills_, np.float32(0.02))  # whole quotes: the second is not cut to the room
    assert len(fills_) == 2 and float(s.inventory) == np.float32(0.04)  # 0.02 < 0.03 decided the second order
    last = np.flatnonzero(info["bid_fill"] > 0)[-1]
    assert not info["bid_live"][last + 1:].any()  # at 0.04 >= 0.03 no new bid is sent


def test_fills_are_whole_lots_of_the_market():
    m = random_market(T=800, seed=4).replace(lot_size=1e-3)  # sizes round to whole 0.001 lots
    acts = np.random.default_rng(2).uniform(-1, -0.5, (500, 2)).astype(np.float32)
    _, _, _, info, _ = rollout(params_for(m, episode_steps=600), acts, t0=100)
    for side in ("bid", "ask"):
        n = info[f"{side}_fill"] / 1e-3
        assert (info[f"{side}_fill"] > 0).sum() > 5
        np.testing.assert_allclose(n, np.rint(n), atol=1e-3)
        assert (info[f"{side}_fill"][info[f"{side}_fill"] > 0] >= 1e-3 * 0.999).all()  # at least one lot
    with pytest.raises(ValueError, match="int32 lot counts"):
        params_for(m.replace(lot_size=1e-8), max_inventory=20.0, episode_steps=600)


def test_risk_penalty_uses_sigma_per_sqrt_second_and_is_not_negligible_at_default_gamma():
    # BTC-like: $95,000 in $0.01 ticks, 800 ticks/sqrt(s) (about 50 % a year)
    T = 40
    m = make_market(np.full(T, 0), anchor=9_500_000, trades=())
    p = make_params(m, np.zeros((T, F_M)), np.full(T, 800.0), episode_steps=20)
    _, s = ENV.reset(KEY, p)
    q = float(p.max_inventory)
    _, s2, r, _, info = ENV.step_env(KEY, s.replace(inventory=jnp.float32(q)), jnp.zeros(2), p)
    expect = float(p.risk_aversion) * q**2 * (800.0 * 0.01) ** 2 * 0.1
    assert float(info["risk_penalty"]) == pytest.approx(expect, rel=1e-5)
    # holding the limit for one default episode (3000 steps) costs more than the spread earned by
    # two full fills at the default mid-offset (5 bp)
    spread_per_fill = float(p.quote_size) * 95_000 * 5e-4
    assert float(info["risk_penalty"]) * 3000 >= 2 * spread_per_fill
    m_up = make_market(np.r_[0, 0, np.full(T - 2, 10)], anchor=9_500_000)  # mid jumps 10 ticks at row 2
    p_up = make_params(m_up, np.zeros((T, F_M)), np.full(T, 800.0), episode_steps=20).replace(eta=jnp.float32(0.5))
    _, s = ENV.reset(KEY, start_at(p_up, 1))
    _, _, _, _, info = ENV.step_env(KEY, s.replace(inventory=jnp.float32(q)), jnp.zeros(2), start_at(p_up, 1))
    assert float(info["damp_penalty"]) == pytest.approx(0.5 * q * 10 * 0.01, rel=1e-5)  # eta * q * dmid


# ---------------------------------------------------------------------------------------------
# BATCHING, RESET, DETERMINISM


@pytest.fixture(scope="module")
def gapped():
    m = random_market(T=3000, seed=7, gap_at=(700, 1500, 1520))
    return m, params_for(m, episode_steps=200, split=Split("train", 100, 2800))


def test_jit_vmap_1024_envs_shapes(gapped):
    _, p = gapped
    n = 1024
    keys = jax.random.split(KEY, n)
    obs, state = jax.vmap(ENV.reset, in_axes=(0, None))(keys, p)
    chex.assert_shape(obs, (n, F_M + len(AGENT_FEATURES)))
    acts = jax.random.uniform(KEY, (n, 2), minval=-1, maxval=1)
    step = jax.jit(jax.vmap(ENV.step, in_axes=(0, 0, 0, None)))
    obs, state, r, term, trunc, info = step(keys, state, acts, p)
    chex.assert_shape([obs, info["final_observation"]], (n, F_M + len(AGENT_FEATURES)))
    chex.assert_shape([r, term, trunc, info["bid_fill"], info["pnl"]], (n,))
    chex.assert_shape(state.orders.px, (n, 2))
    assert obs.dtype == jnp.float32 and np.isfinite(np.asarray(obs)).all()


def test_vmap_over_a_batch_of_gamma(gapped):
    _, p = gapped
    gammas = jnp.array([0.0, 0.01, 0.1, 1.0], jnp.float32)
    axes = jax.tree.map(lambda _: None, p).replace(risk_aversion=0)
    batched = p.replace(risk_aversion=gammas)

    def one(params):
        _, s = ENV.reset(KEY, params)
        return ENV.step_env(KEY, s.replace(inventory=jnp.float32(0.05)), jnp.zeros(2), params)[4]["risk_penalty"]

    pen = np.asarray(jax.jit(jax.vmap(one, in_axes=(axes,)))(batched))
    assert pen[0] == 0.0
    np.testing.assert_allclose(pen[1:] / pen[1], [1.0, 10.0, 100.0], rtol=1e-5)


def test_same_key_same_episode_and_different_keys_different_starts(gapped):
    m, p = gapped
    acts = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
    a, b = rollout(p, acts, key=jax.random.PRNGKey(3)), rollout(p, acts, key=jax.random.PRNGKey(3))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    _, states = jax.vmap(ENV.reset, in_axes=(0, None))(jax.random.split(KEY, 256), p)
    starts = np.asarray(states.t)
    assert len(np.unique(starts)) > 200


def test_no_episode_spans_a_gap_or_leaves_its_split(gapped):
    m, p = gapped
    _, states = jax.vmap(ENV.reset, in_axes=(0, None))(jax.random.split(KEY, 4096), p)
    ag = np.asarray(m.after_gap)
    need = p.episode_steps + p.latency_steps + 1
    for t0 in np.unique(np.asarray(states.t)):
        assert 100 <= t0 and t0 + need <= 2800
        assert not ag[t0 + 1 : t0 + need + 1].any()
    # rows just before each gap are reachable only if the whole episode fits before the gap
    assert np.asarray(states.t).max() > 1520


def test_time_limit_terminates_and_auto_resets(gapped):
    # time_left_frac is in the observation, so the limit is a true terminal (docs/ppo.md), never a truncation
    _, p = gapped
    p = p.replace(start_lo=jnp.int32(100), start_hi=jnp.int32(700))
    obs, s = ENV.reset(KEY, p)
    step = jax.jit(ENV.step)
    key = KEY
    for i in range(p.episode_steps):
        key, k = jax.random.split(key)
        obs, s, r, term, trunc, info = step(k, s, jnp.zeros(2), p)
        assert not bool(trunc)
        assert bool(term) == (i == p.episode_steps - 1)
    assert int(s.time) == 0 and float(s.inventory) == 0.0 and float(obs[F_M + 1]) == 1.0
    assert float(info["final_observation"][F_M + 1]) == 0.0  # the pre-reset obs: no time left


def test_make_params_rejects_bad_input_with_a_clear_message():
    m = random_market(T=300, seed=0)
    with pytest.raises(ValueError, match="features must be"):
        make_params(m, np.zeros((299, F_M)), np.ones(300))
    with pytest.raises(ValueError, match="sigma row 5 is not finite"):
        make_params(m, np.zeros((300, F_M)), np.where(np.arange(300) == 5, np.nan, 1.0), episode_steps=50)
    with pytest.raises(ValueError, match="no episode"):
        make_params(m, np.zeros((300, F_M)), np.ones(300), episode_steps=3000)
    with pytest.raises(ValueError, match="unknown knob"):
        make_params(m, np.zeros((300, F_M)), np.ones(300), episode_steps=50, gama=1.0)


def test_make_params_reads_the_one_knob_dataclass_and_names_a_bad_field():
    from mmjax.env.knobs import EnvKnobs

    m = random_market(T=300, seed=0)
    p = make_params(m, np.zeros((300, F_M)), np.ones(300), None, EnvKnobs(episode_steps=50, maker_fee_bps=-0.5),
                    quote_size=0.02)
    assert p.episode_steps == 50 and float(p.maker_fee_bps) == -0.5 and float(p.quote_size) == np.float32(0.02)
    assert float(p.risk_aversion) == np.float32(EnvKnobs().risk_aversion)  # the default comes from EnvKnobs alone
    with pytest.raises(ValueError, match="max_inventory must be"):
        make_params(m, np.zeros((300, F_M)), np.ones(300), episode_steps=50, max_inventory=0.0)


def test_default_params_are_a_working_built_in_market(tmp_path, monkeypatch):
    """gymnax tools (rejax's create_env, for one) call `env.default_params`; it must work, not raise."""
    import mmjax
    from mmjax.env import build

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build.builtin_params.cache_clear()
    env, params = mmjax.make("MarketMaking-v0")
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    obs, state, reward, terminated, truncated, info = env.step(jax.random.PRNGKey(1), state, jnp.zeros(2), params)
    assert obs.shape == env.observation_space(params).shape and np.isfinite(float(reward))
    assert env.default_params.rows.shape == params.rows.shape
    build.builtin_params.cache_clear()


def test_step_state_and_reset_state_at_are_step_env_and_reset_at_without_the_observation(gapped):
    """The grid's observation-free path (`step_state`, `reset_state_at`) simulates exactly what step_env/reset_at do."""
    _, p = gapped
    _, s_env = jax.jit(ENV.reset_at)(jnp.int32(120), p)
    s_grid = jax.jit(ENV.reset_state_at)(jnp.int32(120), p)
    chex.assert_trees_all_equal(s_env, s_grid)
    step_env, step_state = jax.jit(ENV.step_env), jax.jit(ENV.step_state)
    acts = np.asarray(jax.random.uniform(KEY, (60, 2), minval=-1, maxval=0.95))
    fills = 0.0
    for a in acts:
        _, s_env, r_env, term_env, info_env = step_env(KEY, s_env, a, p)
        s_grid, r_grid, term_grid, info_grid = step_state(s_grid, a, p)
        chex.assert_trees_all_equal((s_env, r_env, term_env, info_env), (s_grid, r_grid, term_grid, info_grid))
        fills += float(info_env["bid_fill"] + info_env["ask_fill"])
    assert fills > 0  # the comparison covered steps that filled
