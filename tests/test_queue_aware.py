"""The queue-aware baseline (mmjax.policy.baselines.queue_aware_action): its rule, its place in the queue, its twins
(the JAX harness and the NumPy live quoter) and its causality."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.env.knobs import ACTION_PULL, EnvKnobs
from mmjax.env.market_env import MarketMakingEnv, make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData
from mmjax.evaluation import harness as H
from mmjax.live.quoters import BaselineParams, BaselineQuoter, QuoteContext, queue_view
from mmjax.policy import baselines as bl
from tests.helpers.markets import make_market, random_market

F_M = 17
ENV = MarketMakingEnv()


def _params(m, feats=None, sigma=None, **kw):
    T = m.num_steps
    feats = np.zeros((T, F_M), np.float32) if feats is None else feats
    sigma = np.full(T, 5.0, np.float32) if sigma is None else sigma
    return make_params(m, feats, sigma, knobs=EnvKnobs(**kw))


@jax.jit
def _rollout(params, starts, threshold):
    return H.rollout(ENV, params, starts, H.baseline_policy("queue_aware", threshold, None))


def _run(params, t0, threshold):
    """The harness rollout of one episode from t0: step infos and the decided actions, NumPy."""
    tr = _rollout(params, jnp.asarray([t0], jnp.int32), jnp.float32(threshold))
    return {k: np.asarray(v)[0] for k, v in tr.items()}


# ---------------------------------------------------------------------------------------------
# THE RULE


def test_it_joins_the_touch_and_pulls_a_side_whose_level_is_about_to_be_run_over():
    k = np.float32(5.0)
    join = float(bl.ticks_to_action(0.0, k))
    # a thin bid against a deep ask: the bid level empties first with odds 90/100
    thin = np.array([10.0, 90.0])
    a = bl.queue_aware_action(thin, (0.0, 0.0), (False, False), 0.0, 0.8, k)
    assert a[0] == ACTION_PULL and a[1] == pytest.approx(join)  # a new bid would join the back: pulled
    a = bl.queue_aware_action(thin, (0.05, 0.0), (True, False), 0.0, 0.8, k)
    assert a[0] == pytest.approx(join)  # near the front of that queue it stays (0.9 x 0.05 < 0.8)
    a = bl.queue_aware_action(thin, (0.95, 0.0), (True, False), 0.0, 0.8, k)
    assert a[0] == ACTION_PULL  # at the back it goes (0.9 x 0.95 > 0.8)
    assert (bl.queue_aware_action(thin, (0.0, 0.0), (False, False), 0.0, 0.95, k) == np.float32(join)).all()
    # inventory skew: long 0.6 of the limit pulls the bid (the side that would grow it) and keeps the ask
    bal = np.array([50.0, 50.0])
    a = bl.queue_aware_action(bal, (0.0, 0.0), (False, False), 0.6, 1.0, k)
    assert a[0] == ACTION_PULL and a[1] == pytest.approx(join)
    a = bl.queue_aware_action(bal, (0.0, 0.0), (False, False), -0.6, 1.0, k)
    assert a[1] == ACTION_PULL and a[0] == pytest.approx(join)
    # an empty book scores 0.5, not NaN; a threshold of 2 never pulls
    assert (bl.queue_aware_action(np.zeros(2), (0.0, 0.0), (False, False), 0.0, 0.4, k) == ACTION_PULL).all()
    assert (bl.queue_aware_action(thin, (1.0, 1.0), (True, True), 0.99, 2.0, k) < ACTION_PULL).all()


def test_numpy_and_jax_give_the_same_actions_on_a_batch():
    rng = np.random.default_rng(0)
    n = 500
    touch = rng.integers(0, 100, (n, 2)).astype(np.float32)
    frac = rng.uniform(0, 1, (n, 2)).astype(np.float32)
    at = rng.random((n, 2)) < 0.5
    inv = rng.uniform(-1, 1, n).astype(np.float32)
    k = np.float32(7.0)
    a_np = bl.queue_aware_action(touch, frac, at, inv, np.float32(0.6), k)
    a_jx = bl.queue_aware_action(jnp.asarray(touch), jnp.asarray(frac), jnp.asarray(at), jnp.asarray(inv),
                                 jnp.float32(0.6), jnp.float32(k), xp=jnp)
    np.testing.assert_array_equal(a_np, np.asarray(a_jx))
    assert (a_np == ACTION_PULL).any() and (a_np < ACTION_PULL).any()


# ---------------------------------------------------------------------------------------------
# ITS PLACE IN THE QUEUE, IN THE ENV


def test_it_keeps_its_queue_place_under_a_constant_book_and_fills_from_the_front():
    T = 80
    # one lot-sized 1.0 shown at the bid on every row; takers sell 0.3 at it every other row. An order that
    # kept its place is reached after 1.0 has traded; one re-placed at the back each step never would be.
    trades = [(t, "sell", 100, 0.3) for t in range(10, T, 2)]
    m = make_market(np.full(T, 100), spread=1, depth=1.0, trades=trades)
    p = _params(m, quote_size=0.1, max_inventory=1.0, episode_steps=40)
    tr = _run(p, 2, threshold=2.0)
    assert (tr["action"] == tr["action"][0]).all()  # the same action: the same price, no new message
    filled = np.flatnonzero(tr["bid_fill"] > 0)
    assert len(filled) and filled[0] == 16 - 2  # the 4th trade (row 16: 1.2 > 1.0 traded) reaches it
    assert tr["bid_live"][2: filled[0] + 1].all()
    # the twin: the NumPy simulator with the live quoter's inputs fills at the same step
    acts, info = _numpy_rollout(m, 2, 40, 2.0, EnvKnobs(quote_size=0.1, max_inventory=1.0, episode_steps=40))
    np.testing.assert_array_equal(acts, tr["action"])
    np.testing.assert_array_equal(info["bid_fill"] > 0, tr["bid_fill"] > 0)


def test_it_never_joins_a_thin_bid_against_a_deep_ask():
    T = 60
    m = make_market(np.full(T, 100), spread=1, bid_sz=np.full((T, 3), 0.1), ask_sz=np.full((T, 3), 1.0))
    tr = _run(_params(m, episode_steps=40), 2, threshold=0.8)  # bid: 1.0 / 1.1 = 0.91 > 0.8; ask: 0.09
    assert not tr["bid_live"].any() and tr["ask_live"][2:].all()


# ---------------------------------------------------------------------------------------------
# TWINS AND CAUSALITY


def _numpy_rollout(m, t0, n, threshold, knobs, feats=None, sigma=None):
    """The NumPy twin: ReferenceMarketEnv stepped by the live `BaselineQuoter` fed `queue_view`."""
    T = m.num_steps
    feats = np.zeros((T, F_M), np.float32) if feats is None else feats
    sigma = np.full(T, 5.0, np.float32) if sigma is None else sigma
    ref = ReferenceMarketEnv(ReplayData.from_market(m), feats, sigma, knobs)
    ref.reset(options={"start": t0})
    quoter = BaselineQuoter("queue_aware", BaselineParams(queue_threshold=threshold))
    acts, infos = [], []
    for _ in range(n):
        book = ref._book
        acct = ref.state.account
        ctx = QuoteContext(acct.inventory, knobs.quote_size, book.mid, int(book.bid_px[0]), int(book.ask_px[0]),
                           m.px_anchor_ticks, 5.0, 10.0, knobs.max_offset_bps, *queue_view(ref.state, book, ref.params),
                           acct.inventory / knobs.max_inventory)
        a = quoter.act(np.zeros(1, np.float32), ctx)
        acts.append(a)
        infos.append(ref.step(np.asarray(a, np.float32))[4])
    return np.asarray(acts, np.float32), {k: np.array([i[k] for i in infos]) for k in infos[0]}


def test_the_harness_and_the_live_quoter_make_the_same_decisions_and_fills():
    m = random_market(T=900, seed=4)
    knobs = EnvKnobs(episode_steps=600, max_inventory=0.05, quote_size=0.01)
    p = make_params(m, np.zeros((m.num_steps, F_M), np.float32), np.full(m.num_steps, 5.0, np.float32), knobs=knobs)
    tr = _run(p, 100, threshold=0.6)
    acts, info = _numpy_rollout(m, 100, 600, 0.6, knobs)
    np.testing.assert_array_equal(acts, tr["action"])
    for k in ("bid_fill", "ask_fill", "bid_rejected", "ask_rejected"):
        np.testing.assert_array_equal(info[k] > 0, tr[k] > 0, err_msg=k)
    np.testing.assert_allclose(info["pnl"], tr["pnl"], rtol=1e-4, atol=1e-6)
    # the comparison saw every branch: joins, pulls, fills on both sides, kept places
    pulled = tr["action"] == ACTION_PULL
    assert pulled.any() and (~pulled).any()
    assert (tr["bid_fill"] > 0).sum() > 5 and (tr["ask_fill"] > 0).sum() > 5
    assert (np.abs(tr["inventory"]) > 0.5 * knobs.max_inventory).any()  # the inventory skew was exercised


def test_a_perturbed_future_changes_no_earlier_decision():
    m = random_market(T=400, seed=5)
    T, t0, n, cut = m.num_steps, 50, 80, 40
    base = _params(m, episode_steps=n)
    a = _run(base, t0, threshold=0.6)
    # the decision at step i reads book row t0 + i and trades up to row t0 + i - 1 (they fill the interval before)
    b_row, tr_row = t0 + cut + 1, t0 + cut
    fut_b = (jnp.arange(T) >= b_row)[:, None]
    fut_t = (jnp.arange(T) >= tr_row)[:, None]
    m2 = m.replace(bid_sz=jnp.where(fut_b, m.bid_sz * 0.05, m.bid_sz), ask_sz=jnp.where(fut_b, m.ask_sz * 20, m.ask_sz),
                   sell_px_vol=jnp.where(fut_t, m.sell_px_vol * 7 + 1, m.sell_px_vol),
                   buy_px_vol=jnp.where(fut_t, m.buy_px_vol * 7 + 1, m.buy_px_vol))
    b = _run(_params(m2, episode_steps=n), t0, threshold=0.6)
    np.testing.assert_array_equal(a["action"][: cut + 1], b["action"][: cut + 1])
    assert not np.array_equal(a["action"][cut + 1:], b["action"][cut + 1:])  # the future does matter later
