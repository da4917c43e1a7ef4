"""Specification of the NumPy simulator's rules (mmjax/env/sim_np.py), one rule at a time.

The whole-episode agreement with the device env is tests/test_reference.py; here each rule of
docs/env.md is pinned on small cases (the action mapping's twin test is tests/test_actions.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmjax.data.layout import LOT_CAP
from mmjax.env import sim_np, sim_quotes
from mmjax.env.knobs import EnvKnobs
from mmjax.env.sim_np import ASK, BID, Book, Order, Trades
from mmjax.features.spec import (
    AGENT_FEATURES,
    COUNT_CAP_STEPS,
    ORDER_DIST_SCALE_TICKS,
    QUEUE_SCALE_QUOTES,
)

# a lot of 0.01 keeps the lot counts below readable: quote 0.1 = 10 lots, the book's 0.5 = 50 lots
P = sim_np.SimParams(EnvKnobs(quote_size=0.1, max_inventory=0.3, latency_steps=1), 0.01, 6_200_000, 0.1, 0.01)
BOOK = Book([100, 99, 98], [0.5, 1.0, 2.0], [101, 102, 103], [0.2, 1.0, 2.0])


def test_quotes_sit_whole_ticks_behind_each_touch_or_the_side_is_pulled():
    # the join band (the twin of the JAX mapping is pinned in tests/test_actions.py)
    assert sim_np.quote_prices((-0.85, -0.85), 100, 101, 100.5, 6_200_000, 10.0) == (100, 101)
    assert sim_np.quote_prices((-0.85, 0.95), 100, 101, 100.5, 6_200_000, 10.0) == (100, None)  # ask pulled
    assert sim_np.quote_prices((1.0, 1.0), 100, 101, 100.5, 6_200_000, 10.0) == (None, None)
    # the far end: 10 bps of a $62,001 mid at $0.01 ticks is 6200 whole ticks behind each touch
    assert sim_np.quote_prices((0.9, 0.9), 100, 101, 100.5, 6_200_000, 10.0) == (100 - 6200, 101 + 6200)


def test_a_side_at_the_inventory_limit_does_not_quote():
    assert P.max_lots == 30 and P.quote_lots == 10
    assert sim_np.gate_quotes((100, 101), 30, P.max_lots) == (None, 101)
    assert sim_np.gate_quotes((100, 101), -30, P.max_lots) == (100, None)
    assert sim_np.gate_quotes((100, 101), 29, P.max_lots) == (100, 101)
    assert sim_np.gate_quotes((None, 101), 29, P.max_lots) == (None, 101)  # a pulled side stays pulled


def test_a_decision_sends_a_message_only_when_it_differs_from_the_known_order():
    assert sim_np.order_messages((99, None), (99, None)) == (False, False)  # the known price: nothing
    assert sim_np.order_messages((99, None), (98, 105)) == (True, True)  # replace, and a new ask
    assert sim_np.order_messages((99, 105), (None, 105)) == (True, False)  # a cancel


def test_a_new_order_queues_behind_the_display_post_only_and_beyond_the_stored_depth():
    assert sim_np.arrive(BID, None, 99, BOOK, P) == (Order(99, 10, 100), False)  # behind 1.0 = 100 lots
    assert sim_np.arrive(BID, Order(99, 3, 7), 100, BOOK, P) == (Order(100, 10, 50), False)  # replaced
    assert sim_np.arrive(BID, None, 101, BOOK, P) == (None, True)  # at the best ask: post-only rejects it
    assert sim_np.arrive(ASK, None, 100, BOOK, P) == (None, True)
    assert sim_np.arrive(BID, Order(99, 3, 7), None, BOOK, P) == (None, False)  # a cancel
    # every stored level is quoted: below 98 the book is unknown, so the queue is too
    assert sim_np.arrive(BID, None, 97, BOOK, P) == (Order(97, 10, sim_np.LOT_CAP, True), False)
    short = Book([100, 99, 98], [0.5, 1.0, 0.0], [101, 102, 103], [0.2, 1.0, 0.0])  # the whole book shown
    assert sim_np.arrive(BID, None, 97, short, P) == (Order(97, 10, 0), False)


def test_flow_beyond_the_price_fills_in_full_and_flow_at_it_eats_the_queue_first():
    trades = Trades([100, 99, 98], [0.3, 0.02, 0.05], [101], [0.7])
    assert sim_np.trade_reach(BID, 99, trades, P) == (True, 2)  # 0.05 sold at 98: beyond 99
    assert sim_np.trade_reach(BID, 98, trades, P) == (False, 5)
    assert sim_np.trade_reach(ASK, 101, trades, P) == (False, 70)
    assert sim_np.fill_lots(10, 50, 30, False, False) == 0  # 30 lots at p cannot clear 50 ahead
    assert sim_np.fill_lots(10, 50, 55, False, False) == 5
    assert sim_np.fill_lots(10, 50, 0, True, False) == 10  # beyond p: the whole order
    assert sim_np.fill_lots(10, 50, 0, False, True) == 10  # crossed: the whole remainder
    assert sim_np.fill_lots(10, 0, 100, False, False) == 10  # the venue fills it all, whatever our inventory
    assert sim_np.fill_kind(5, False, False) == sim_np.FILL_QUEUE and sim_np.fill_kind(0, True, True) == 0


def test_queue_after_the_trades_and_bounded_by_the_displayed_book():
    assert sim_np.queue_after(50, 30, False) == 20
    assert sim_np.queue_after(50, 30, True) == 0  # flow beyond p cleared everything ahead
    thin = Book([100, 99, 98], [0.5, 0.1, 2.0], [101, 102, 103], [0.2, 1.0, 2.0])
    assert sim_np.bound_queue(BID, Order(99, 10, 50), thin, P) == Order(99, 10, 10)  # cancellations ahead
    gone = Book([100, 98, 97], [0.5, 2.0, 1.0], [101, 102, 103], [0.2, 1.0, 2.0])
    assert sim_np.bound_queue(BID, Order(99, 10, 50), gone, P) == Order(99, 10, 0)  # the level emptied
    unseen = Order(95, 10, sim_np.LOT_CAP, True)
    assert sim_np.bound_queue(BID, unseen, BOOK, P) is unseen  # still beyond the stored depth
    deep = Book([97, 96, 95], [1.0, 1.0, 0.25], [98, 99, 100], [1.0, 1.0, 1.0])
    assert sim_np.bound_queue(BID, unseen, deep, P) == Order(95, 10, 25)  # in view: the display bounds it


def test_crossing_fills_the_remainder_at_the_order_price():
    moved = Book([104, 103, 102], [1.0] * 3, [105, 106, 107], [1.0] * 3)
    order, fill = sim_np.settle_order(ASK, Order(103, 10, 50), BOOK, moved, sim_np.NO_TRADES, P)
    assert fill == sim_np.Fill(0.1, 103, True, sim_np.FILL_CROSSED, 10) and order.remaining == 0


def test_the_agent_learns_that_its_order_ended_unless_a_newer_message_is_in_flight():
    assert sim_np.known_after(99, None, False) is None
    assert sim_np.known_after(99, Order(99, 0, 0), False) is None  # filled in full
    assert sim_np.known_after(99, Order(99, 0, 0), True) == 99  # a newer message will place it
    assert sim_np.known_after(99, Order(99, 4, 0), False) == 99  # partly filled: still there


@pytest.mark.parametrize(("q", "dq", "px", "entry"), [
    (0.0, 0.1, 5.0, 5.0),  # open from flat at the fill price
    (0.1, 0.1, 7.0, 6.0),  # add: average cost
    (0.2, -0.1, 9.0, 6.0),  # reduce: unchanged
    (0.1, -0.3, 9.0, 9.0),  # flip through zero: the rest is new at the fill price
    (0.1, -0.1, 9.0, 0.0),  # close
])
def test_average_entry_price(q, dq, px, entry):
    assert sim_np.update_entry(6.0 if q > 0.1 else 5.0, q, dq, px) == pytest.approx(entry)


def test_fees_cash_inventory_and_the_mark():
    acct = sim_np.Account(mid0=100.5)
    bid = sim_np.Fill(0.1, 100, False, sim_np.FILL_QUEUE, 10)
    fee = sim_np.fill_fee(bid, sim_np.NO_FILL, sim_np.SimParams(EnvKnobs(maker_fee_bps=2.0), 0.01, 10_000, 0.1))
    assert fee == pytest.approx(2e-4 * 0.01 * 0.1 * 10_100)
    acct = sim_np.book_fills(acct, bid, sim_np.NO_FILL, fee, 0.01, 0.01)
    assert acct.inventory == 0.1 and acct.inventory_lots == 10 and acct.entry == -0.5
    assert acct.cash == pytest.approx(0.1 * 0.5 * 0.01 - fee)  # bought half a tick below mid0
    assert sim_np.mark(acct, 102.5, 0.01).pnl == pytest.approx(acct.cash + 0.1 * 2.0 * 0.01)


def test_a_message_arrives_after_exactly_latency_steps_and_a_filled_side_waits_for_a_decision_that_saw_it():
    for latency in (1, 2, 3):
        p = sim_np.SimParams(EnvKnobs(quote_size=0.1, max_inventory=1.0, latency_steps=latency), 0.01, 10_000, 0.1, 0.01)
        sells_at_100 = Trades([100], [5.0], [], [])
        state = sim_np.reset(BOOK.mid, p)
        filled_at, live = [], []
        for step in range(10):
            state = sim_np.decide(state, (-1.0, 1.0), BOOK, p)  # bid 100 every step
            state, s = sim_np.settle(state, BOOK, BOOK, sells_at_100, p)
            live.append(state.bid is not None and state.bid.remaining > 0)
            if s.bid.size:
                filled_at.append(step)
        # live from the end of step L-1, filled at step L; the fill is seen at the next decision, whose
        # re-post arrives L steps after it: filled again at 2L + 1
        assert filled_at[:2] == [latency, 2 * latency + 1], latency
        assert not any(live[latency:2 * latency]), latency


def test_cancel_all_drops_orders_and_messages_but_keeps_the_position():
    state = sim_np.reset(BOOK.mid, P)
    state = sim_np.decide(state, (-1.0, -1.0), BOOK, P)
    state, _ = sim_np.settle(state, BOOK, BOOK, sim_np.NO_TRADES, P)
    assert state.bid is not None and state.known == (100, 101)
    state = state._replace(account=state.account._replace(inventory=0.2, inventory_lots=20, cash=-1.0))
    gap = sim_np.cancel_all(state, P)
    assert gap.bid is gap.ask is None and gap.pipeline == () and gap.known == (None, None)
    assert gap.account == state.account


def test_agent_features_and_reward():
    p = sim_np.SimParams(EnvKnobs(max_inventory=0.1, max_offset_bps=10.0, episode_steps=100, risk_aversion=0.5,
                                  eta=2.0), 0.01, 10_000, 0.1)
    acct = sim_np.Account(mid0=0.5, inventory=0.05, entry=-1.0)
    inv, left, upnl = sim_np.account_features(acct, 2.5, 25, p)
    assert (inv, left) == (0.5, 0.75)
    assert upnl == pytest.approx(0.05 * 3.0 * 0.01 / (0.1 * 10_002.5 * 0.01 * 1e-4 * 10.0))
    r, risk, damp = sim_np.reward(1.0, 0.05, 20.0, 0.5, 2.5, p)
    assert risk == pytest.approx(0.5 * 0.05**2 * 0.2**2 * 0.1) and damp == pytest.approx(2.0 * 0.05 * 2.0 * 0.01)
    assert r == pytest.approx(1.0 - risk - damp)


def test_order_features_by_hand():
    p = sim_np.SimParams(EnvKnobs(quote_size=0.01, max_inventory=0.1), 0.01, 10_000, 0.1, 0.01)  # 1 lot a quote
    book = sim_np.Book([100, 99, 98], [0.5, 0.8, 1.0], [101, 102, 103], [0.3, 0.4, 0.5])  # full: known down to 98/103
    # a bid one tick behind, 40 lots ahead of the 80 shown; an ask beyond the stored depth; an ask message in flight
    state = sim_np.SimState(sim_np.Order(99, 1, 40), sim_np.Order(110, 1, LOT_CAP, True), ((None, None),),
                            sim_np.Account(100.5), ((False, True),), (99, 110), (7, 3), (0, COUNT_CAP_STEPS))
    got = sim_np.agent_features(state, book, 10, p)
    assert len(got) == len(AGENT_FEATURES) and got[:3] == sim_np.account_features(state.account, book.mid, 10, p)
    ln = math.log1p
    bid = (1.0, ln(1) / ln(ORDER_DIST_SCALE_TICKS), ln(40) / ln(QUEUE_SCALE_QUOTES), 0.5, ln(7) / ln(COUNT_CAP_STEPS),
           0.0, 0.0)
    ask = (1.0, ln(9) / ln(ORDER_DIST_SCALE_TICKS), 1.0, 1.0, ln(3) / ln(COUNT_CAP_STEPS), 1.0, 1.0)
    assert got[3:] == pytest.approx(bid + ask, abs=1e-12)
    assert dict(zip(AGENT_FEATURES[3:], got[3:], strict=True))["ask_msg_in_flight"] == 1.0
    # no order: zeros but the message flag and the time since the last fill; an improving bid is -1 tick
    flat = sim_np.agent_features(state._replace(ask=None, bid=sim_np.Order(101, 1, 0)), book, 10, p)
    assert flat[3 + 7:] == pytest.approx((0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0))
    assert flat[4] == pytest.approx(-ln(1) / ln(ORDER_DIST_SCALE_TICKS)) and flat[6] == 0.0  # between levels: 0 shown
    assert all(-1.0 <= x <= 1.0 for x in got + flat)


def test_the_near_touch_float64_shortcut_is_the_float32_chains_answer():
    """`ticks_behind` answers from float64 away from a band edge: equal to the float32 chain everywhere,
    on random actions and on every float32 within 64 ulps of each near-touch band edge."""
    from mmjax.env.knobs import ACTION_NEAR_TICKS

    f32, C, K = sim_np.f32, sim_quotes._F32_U_SCALE, sim_quotes._F32_NEAR_BANDS

    def chain(a, k):  # the mapping's float32 operations one by one, no shortcut
        u = f32(f32(min(max(a, -1.0), 1.0) + 1.0) * C)
        if u < 0.5:
            return min(math.floor(f32(u * K)) - 1, k)
        span = f32(max(k - ACTION_NEAR_TICKS, 0) + 1)
        return min(max(ACTION_NEAR_TICKS + math.floor(f32(f32(f32(u - 0.5) * 2.0) * span)), ACTION_NEAR_TICKS), k)

    rng = np.random.default_rng(0)
    acts = rng.uniform(-1.1, 1.1, 20_000).astype(np.float32).tolist()
    for j in range(ACTION_NEAR_TICKS + 2):
        edge = np.float32(j / K / C - 1.0)
        step = np.spacing(np.abs(edge) if edge != 0 else np.float32(1e-7))
        acts += [float(np.float32(edge + i * step)) for i in range(-64, 65)]
    for k in (1, 5, 9, 6_200):
        assert [sim_np.ticks_behind(a, k) for a in acts] == [chain(a, k) for a in acts], k
