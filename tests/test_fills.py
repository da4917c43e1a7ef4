"""Specification of the pure fill rules (mmjax/env/fills.py), on hand-made numbers.

Also home of `make_market`, the tiny hand-made MarketData builder the env tests share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.env import depth, fills
from tests.helpers.markets import U, lots, trades

# ---------------------------------------------------------------------------------------------
# helpers: one side at a time, in oriented ticks


def units(a) -> np.ndarray:
    """Lots -> sizes in units."""
    return np.asarray(a) / U


def orders(px, rem, queue, side=fills.BID, beyond=False):
    """Orders with only ``side`` live (price in real ticks, sizes in units)."""
    o = fills.no_orders()
    sign = fills.SIDE_SIGN[side]
    return fills.Orders(o.px.at[side].set(sign * px), o.remaining.at[side].set(lots(rem)),
                        o.queue_ahead.at[side].set(lots(queue)), o.beyond.at[side].set(beyond))


def book(bid_px, bid_sz, ask_px, ask_sz):
    """Real-tick levels of one row -> its packed depth (`mmjax.env.depth`) as device arrays."""
    px = np.array([[bid_px, [-a for a in ask_px]]], np.int32)  # [1, 2, L] oriented
    sz = np.asarray(lots([bid_sz, ask_sz]))[None]
    return {k: jnp.asarray(v) for k, v in depth.pack_depth(px, sz).items()}


def touch(bk) -> jax.Array:
    """The opposite touch of each side, oriented like that side: (best ask, -best bid)."""
    return -bk["fences"][0, ::-1, 0]


_settle = jax.jit(fills.settle)
BOOK = book([100, 99, 98], [2.0, 3.0, 4.0], [101, 102, 103], [1.0, 5.0, 6.0])
NO_CROSS = jnp.array([2**29, 2**29], jnp.int32)  # an opposite touch far away: nothing is marketable
MSG = jnp.array([True, True])


def settle(o, tr, book_s=BOOK, book_s1=BOOK):
    o2, fill, kind = _settle(o, *tr, touch(book_s), touch(book_s1))
    return o2, units(fill), np.asarray(kind)


def arrive(o, msg_px, msg=MSG, bk=BOOK, opp=NO_CROSS, size=0.5):
    """Messages (or none) reach the venue at the row of ``bk``: one depth lookup per side, then `fills.arrive`."""
    msg_px = jnp.asarray(msg_px, jnp.int32)
    look = jnp.where(msg, msg_px, o.px)
    shown, within = depth.lookup(bk["blocks"], 0, bk["fences"][0], bk["limit"][0], look)
    return fills.arrive(o, msg_px, msg, lots(size), shown, within, opp)


# ---------------------------------------------------------------------------------------------
# THE STORED DEPTH


def test_depth_lookup_finds_every_level_of_a_deep_book_in_one_block():
    rng = np.random.default_rng(0)
    K = 300  # blocks of 32, 10 fences
    gaps = rng.integers(1, 4, (2, 2, K))
    px = (np.array([[1000], [-1001]])[None] - np.cumsum(gaps, axis=-1) + 1).astype(np.int32)  # [2 rows, 2, K]
    sz = rng.integers(1, 500, (2, 2, K)).astype(np.int32)
    sz[1, :, -5:] = 0  # row 1 shows fewer than K levels: its whole book is displayed
    packed = {k: jnp.asarray(v) for k, v in depth.pack_depth(px, sz).items()}
    assert packed["blocks"].shape == (2, 2, 10, 64) and depth.block_size(20) == 8
    look = jax.jit(lambda r, p: depth.lookup(packed["blocks"], r, packed["fences"][r], packed["limit"][r], p))
    for r in (0, 1):
        for k in rng.integers(0, K, 40):
            lots_at, within = look(r, jnp.asarray(px[r, :, k]))
            np.testing.assert_array_equal(lots_at, sz[r, :, k])
            assert within.all()
        between = px[r, :, 7] - 1  # a price between two levels (gaps >= 2 somewhere): 0 lots
        lots_at, _ = look(r, jnp.asarray(np.where(px[r, :, 8] < between, between, px[r, :, 0] + 1)))
        np.testing.assert_array_equal(lots_at, [0, 0])  # between levels, or above the touch
    deep = jnp.asarray(px[:, :, -1] - 3)  # beyond the last stored level
    assert not bool(look(0, deep[0])[1].any())  # row 0 is full: its book beyond is unknown
    assert bool(look(1, deep[1])[1].all())  # row 1 is complete: beyond it nothing rests


# ---------------------------------------------------------------------------------------------
# JOINING THE QUEUE


def test_fresh_order_queues_behind_displayed_size_or_unseen_beyond_the_depth():
    o, _ = arrive(fills.no_orders(), [99, -102])
    np.testing.assert_allclose(units(o.queue_ahead), [3.0, 5.0])  # displayed levels
    np.testing.assert_allclose(units(o.remaining), [0.5, 0.5])
    o, _ = arrive(fills.no_orders(), [100 + 0, -100])
    np.testing.assert_allclose(units(o.queue_ahead), [2.0, 0.0])  # ask 100 improves the touch: nobody ahead
    # beyond the deepest stored level (98 / 103) the queue is unknown: never the front
    o, _ = arrive(fills.no_orders(), [90, -110])
    assert o.queue_ahead.tolist() == [fills.UNSEEN_QUEUE] * 2 and o.beyond.tolist() == [True, True]
    short = book([100, 99, 98], [2.0, 3.0, 0.0], [101, 102, 103], [1.0, 5.0, 0.0])  # the whole book is shown
    o, _ = arrive(fills.no_orders(), [90, -110], bk=short)
    assert o.queue_ahead.tolist() == [0, 0] and not o.beyond.any()


def test_a_resting_queue_shrinks_to_what_is_displayed_and_an_emptied_level_makes_it_zero():
    s1 = book([100, 99, 98], [0.75, 3.0, 4.0], [101, 102, 103], [1.0, 5.0, 6.0])
    o, _ = arrive(orders(100, 1.0, 2.0), [0, 0], jnp.array([False, False]), bk=s1)
    assert float(units(o.queue_ahead)[0]) == 0.75  # cancellations ahead of us
    gone = book([100, 98, 97], [0.75, 4.0, 1.0], [101, 102, 103], [1.0, 5.0, 6.0])  # level 99 vanished
    o, _ = arrive(orders(99, 1.0, 2.0), [0, 0], jnp.array([False, False]), bk=gone)
    assert float(units(o.queue_ahead)[0]) == 0.0
    # a price beyond the stored depth keeps its estimate (and its flag) until it comes into view
    unseen = orders(90, 1.0, 2.0, beyond=True)
    o, _ = arrive(unseen, [0, 0], jnp.array([False, False]))
    assert float(units(o.queue_ahead)[0]) == 2.0 and bool(o.beyond[0])
    deep = book([95, 92, 90], [1.0, 1.0, 0.25], [101, 102, 103], [1.0, 5.0, 6.0])
    o, _ = arrive(unseen, [0, 0], jnp.array([False, False]), bk=deep)
    assert float(units(o.queue_ahead)[0]) == 0.25 and not bool(o.beyond[0])


def test_a_decision_sends_a_message_only_when_it_differs_from_the_known_order():
    known = jnp.array([99, fills.NO_ORDER_PX], jnp.int32)  # a bid at 99 is known, no ask
    want, msg = fills.order_messages(known, jnp.array([99, -105]), jnp.array([True, False]))
    assert msg.tolist() == [False, False]  # same price: nothing sent; no ask wanted, none known: nothing
    want, msg = fills.order_messages(known, jnp.array([98, -105]), jnp.array([True, True]))
    assert msg.tolist() == [True, True] and want.tolist() == [98, -105]  # replace the bid, place an ask
    want, msg = fills.order_messages(known, jnp.array([99, -105]), jnp.array([False, False]))
    assert msg.tolist() == [True, False] and int(want[0]) == fills.NO_ORDER_PX  # a cancel


def test_no_message_keeps_size_and_queue_a_replace_rejoins_and_a_cancel_removes():
    live = orders(99, 0.3, 1.25)
    kept, _ = arrive(live, [99, 0], jnp.array([False, False]))
    assert float(units(kept.queue_ahead)[0]) == 1.25 and float(units(kept.remaining)[0]) == pytest.approx(0.3)
    moved, _ = arrive(live, [98, 0], jnp.array([True, False]))
    assert float(units(moved.queue_ahead)[0]) == 4.0 and float(units(moved.remaining)[0]) == 0.5
    # a replace at the same price is a new order: it loses its place (the translation avoids sending it)
    again, _ = arrive(live, [99, 0], jnp.array([True, False]))
    assert float(units(again.queue_ahead)[0]) == 3.0 and float(units(again.remaining)[0]) == 0.5
    off, _ = arrive(live, [fills.NO_ORDER_PX, 0], jnp.array([True, False]))
    assert float(units(off.remaining).sum()) == 0.0


def test_the_agent_learns_that_an_order_ended_unless_a_newer_message_is_in_flight():
    known = jnp.array([99, -101], jnp.int32)
    done = orders(99, 0.0, 0.0)  # the bid filled in full; no ask at the venue either
    np.testing.assert_array_equal(fills.known_after(known, done, jnp.array([False, False])),
                                  [fills.NO_ORDER_PX, fills.NO_ORDER_PX])
    np.testing.assert_array_equal(fills.known_after(known, done, jnp.array([True, False])), [99, fills.NO_ORDER_PX])
    np.testing.assert_array_equal(fills.known_after(known, orders(99, 0.25, 0.0), jnp.array([False, False]))[0], 99)


def test_post_only_rejects_a_fresh_order_at_or_through_the_opposite_touch():
    opp = touch(BOOK)  # best bid 100, best ask 101: (101, -100) oriented like each side
    assert opp.tolist() == [101, -100]
    o, rej = arrive(fills.no_orders(), [101, -100], opp=opp)  # both marketable
    assert rej.tolist() == [True, True] and float(units(o.remaining).sum()) == 0.0
    assert int(o.px[0]) == fills.NO_ORDER_PX  # no order that side for the interval
    o, rej = arrive(fills.no_orders(), [102, -99], opp=opp)  # through the touch
    assert rej.tolist() == [True, True]
    o, rej = arrive(fills.no_orders(), [100, -101], opp=opp)  # one tick away: rests
    assert rej.tolist() == [False, False] and float(units(o.remaining).sum()) == 1.0
    # a resting order at that price gets no message: it stays (and fills as crossed, below)
    kept, rej = arrive(orders(101, 0.3, 0.0), [101, 0], jnp.array([False, False]), opp=opp)
    assert not bool(rej[0]) and float(units(kept.remaining)[0]) == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------
# FILLS


def test_queue_ahead_is_consumed_first_then_exact_partial_fill():
    o, fill, kind = settle(orders(100, 1.5, 2.0), trades(sells=[(100, 2.5)]))
    assert fill[0] == pytest.approx(0.5) and kind[0] == fills.FILL_QUEUE  # 2.5 at our price, 2.0 was ahead of us
    assert float(units(o.remaining)[0]) == pytest.approx(1.0) and float(units(o.queue_ahead)[0]) == 0.0
    o, fill, kind = settle(orders(100, 1.5, 2.0), trades(sells=[(100, 1.5)]))
    assert fill[0] == 0.0 and kind[0] == fills.NO_FILL
    assert float(units(o.queue_ahead)[0]) == pytest.approx(0.5)  # queue ahead delays the fill


def test_flow_through_the_price_fills_the_whole_order():
    # a print at 99 means the level at 100 (and we in it) had been emptied first: price-time priority
    o, fill, kind = settle(orders(100, 1.0, 2.0), trades(sells=[(100, 0.5), (99, 0.25)]))
    assert fill[0] == 1.0 and kind[0] == fills.FILL_THROUGH and float(units(o.queue_ahead)[0]) == 0.0
    _, fill, _ = settle(orders(100, 1.0, fills.UNSEEN_QUEUE / U), trades(sells=[(98, 0.01)]))
    assert fill[0] == 1.0  # even behind an unknown queue


def test_quote_deeper_than_every_trade_fills_nothing_and_asks_are_symmetric():
    tr = trades(sells=[(100, 9.0), (99, 9.0)], buys=[(101, 9.0), (102, 9.0)])
    _, fill, _ = settle(orders(98, 1.0, 0.0), tr)
    assert fill[0] == 0.0
    _, fill, _ = settle(orders(103, 1.0, 0.0, side=fills.ASK), tr)
    assert fill[1] == 0.0
    _, fill, _ = settle(orders(102, 1.0, 4.0, side=fills.ASK), trades(buys=[(102, 4.5), (101, 7.0)]))
    assert fill[1] == pytest.approx(0.5)  # only at-price volume beyond the queue; 101 is not through 102
    _, fill, kind = settle(orders(101, 1.0, 4.0, side=fills.ASK), trades(buys=[(102, 0.75)]))
    assert fill[1] == 1.0 and kind[1] == fills.FILL_THROUGH  # buys at 102 went through our 101 ask


def test_crossed_book_fills_the_remainder_at_our_price():
    s1 = book([101, 100, 99], [1.0, 1.0, 1.0], [102, 103, 104], [1.0, 1.0, 1.0])
    _, fill, kind = settle(orders(101, 0.75, 0.0, side=fills.ASK), trades(), book_s1=s1)
    assert fill[1] == 0.75 and kind[1] == fills.FILL_CROSSED
    s = book([99, 98, 97], [1.0, 1.0, 1.0], [100, 101, 102], [1.0, 1.0, 1.0])
    _, fill, kind = settle(orders(100, 0.5, 3.0), trades(), book_s=s)
    assert fill[0] == 0.5 and kind.tolist() == [fills.FILL_CROSSED, fills.NO_FILL]


def test_the_venue_fills_a_resting_order_whatever_our_inventory_limit():
    # the limit is ours, not the venue's: it gates new orders at the decision (tests/test_market_env.py), never a
    # fill of what already rests (the fill rules take no inventory at all)
    _, fill, _ = settle(orders(100, 1.0, 0.0), trades(sells=[(99, 5.0)]))
    assert fill[0] == pytest.approx(1.0)


def test_farther_quotes_fill_less_or_equal_on_random_flow():
    rng = np.random.default_rng(1)
    for _ in range(100):
        sells = [(int(p), float(v)) for p, v in zip(100 - rng.integers(0, 4, 3), rng.exponential(1.0, 3), strict=True)]
        queue = float(rng.exponential(1.0))
        prev = np.inf
        for px in (100, 99, 98, 97, 96):  # same queue, farther price
            _, fill, _ = settle(orders(px, 1.0, queue), trades(sells=sells))
            assert fill[0] <= prev + 1e-7
            prev = fill[0]
        assert settle(orders(100, 1.0, queue + 1.0), trades(sells=sells))[1][0] <= settle(orders(100, 1.0, queue), trades(sells=sells))[1][0]
