"""The action mapping: tick precision at the touch, a pull region, a far reach in bps (mmjax/env/actions.py)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.env import actions as A
from mmjax.policy import baselines as bl

MID, ANCHOR = 0.5, 6_200_000  # $62,000.005 at $0.01 ticks: 1 bp = 620 ticks


def _quote(a_bid, a_ask, best_bid=0, best_ask=1, max_offset_bps=2.0):
    bid, ask, on = A.quote_prices(jnp.array([a_bid, a_ask], jnp.float32), jnp.int32(best_bid), jnp.int32(best_ask),
                                  jnp.float32((best_bid + best_ask) / 2), ANCHOR, jnp.float32(max_offset_bps))
    return int(bid), int(ask), tuple(bool(x) for x in on)


def test_a_deterministic_policy_joins_the_touch_without_saturating_tanh():
    lo, hi = -1 + 1.9 / 18, -1 + 2 * 1.9 / 18  # the join band
    for a in np.linspace(lo + 1e-3, hi - 1e-3, 7):
        assert _quote(a, a) == (0, 1, (True, True))
    assert hi - lo > 0.1 and lo > -0.9  # a band a tenth of the range wide, far from tanh's -1


def test_one_tick_steps_near_the_touch_and_improving_needs_room():
    d = [A.ticks_behind(jnp.array([bl.ticks_to_action(k, 1240.0)] * 2), jnp.float32(1240.0))[0] for k in range(-1, 9)]
    assert [int(x) for x in d] == list(range(-1, 9))
    a_improve = float(bl.ticks_to_action(-1, 1240.0))
    assert _quote(a_improve, a_improve, 0, 1) == (0, 1, (True, True))  # one-tick spread: improving joins
    assert _quote(a_improve, a_improve, 0, 5) == (1, 4, (True, True))  # wide spread: one tick inside


def test_our_bid_and_ask_never_meet_even_when_both_improve_a_two_tick_spread():
    a = float(bl.ticks_to_action(-1, 1240.0))
    assert _quote(a, a, 0, 2) == (1, 2, (True, True))  # the bid takes the free tick, the ask joins
    _, ask, on = _quote(1.0, a, 0, 2)
    assert (ask, on) == (1, (False, True))  # with the bid pulled, the ask may take it


def test_the_far_half_reaches_the_max_offset_and_the_top_pulls():
    k = int(A.max_ticks(jnp.float32(MID), ANCHOR, jnp.float32(2.0)))
    assert k == 1240  # 2 bps of $62,000 at $0.01 ticks
    assert _quote(A.PULL_ABOVE, A.PULL_ABOVE) == (-k, 1 + k, (True, True))
    assert _quote(0.95, -1.0)[2] == (False, True) and _quote(-1.0, 1.0)[2] == (True, False)
    assert _quote(A.PULL_ACTION, A.PULL_ACTION)[2] == (False, False)


@pytest.mark.parametrize("k_max", [1.0, 5.0, 8.0, 9.0, 40.0, 1240.0])
def test_every_distance_has_a_band_and_the_inverse_lands_inside_it(k_max):
    ds = np.arange(-1, int(k_max) + 1)
    acts = bl.ticks_to_action(jnp.asarray(ds, jnp.float32), jnp.float32(k_max), xp=jnp)
    assert np.all(np.asarray(acts) <= A.PULL_ABOVE) and np.all(np.diff(np.asarray(acts)) > 0)
    back = A.ticks_behind(jnp.stack([acts, acts], -1), jnp.full(len(ds), k_max, jnp.float32))[:, 0]
    np.testing.assert_array_equal(np.asarray(back), ds)


def test_a_baselines_offsets_become_exactly_the_ticks_it_asked_for():
    """quotes_to_action is the mapping's inverse: a closed-form quoter gets the price it computed, to the tick."""
    rng = np.random.default_rng(0)
    n = 400
    best_bid = rng.integers(-50, 50, n).astype(np.int32)
    spread = rng.integers(1, 6, n).astype(np.int32)
    best_ask = best_bid + spread
    mid = (best_bid + best_ask) / 2.0
    off_bid, off_ask = rng.uniform(0, 0.3, n), rng.uniform(0, 0.3, n)  # bps: 0 .. 186 ticks at $62k
    act = bl.quotes_to_action(off_bid, off_ask, mid, best_bid, best_ask, ANCHOR, 2.0)
    bid, ask, on = A.quote_prices(jnp.asarray(act, jnp.float32), jnp.asarray(best_bid), jnp.asarray(best_ask),
                                  jnp.asarray(mid, jnp.float32), ANCHOR, jnp.float32(2.0))
    want_bid = np.floor(mid - off_bid * (mid + ANCHOR) * 1e-4)
    want_ask = np.ceil(mid + off_ask * (mid + ANCHOR) * 1e-4)
    # inside the spread only one tick of improvement exists (and never to or through the other side)
    improve_room = spread >= 2
    want_bid = np.where(want_bid > best_bid, np.where(improve_room, best_bid + 1, best_bid), want_bid)
    want_ask = np.where(want_ask < best_ask, np.where(improve_room, best_ask - 1, best_ask), want_ask)
    want_ask = np.maximum(want_ask, want_bid + 1)  # our own quotes never meet
    assert np.all(np.asarray(on))
    np.testing.assert_array_equal(np.asarray(bid), want_bid)
    np.testing.assert_array_equal(np.asarray(ask), want_ask)


def _kept_quote(a_bid, a_ask, known_bid, known_ask, margin, best_bid=0, best_ask=1):
    no = int(A.NO_ORDER_PX)
    known = jnp.array([no if known_bid is None else known_bid, no if known_ask is None else -known_ask], jnp.int32)
    bid, ask, on = A.quote_prices(jnp.array([a_bid, a_ask], jnp.float32), jnp.int32(best_bid), jnp.int32(best_ask),
                                  jnp.float32((best_bid + best_ask) / 2), ANCHOR, jnp.float32(2.0), known,
                                  jnp.float32(margin))
    return int(bid), int(ask), tuple(bool(x) for x in on)


def test_a_known_order_keeps_its_price_until_the_action_leaves_its_band_by_the_margin():
    """requote_margin m: the resting price d_k is kept while d(a - m) <= d_k <= d(a + m); m = 0 changes nothing."""
    w = 1.9 / 18  # one near-touch band
    center = lambda d: -1.0 + (d + 1.5) * w  # noqa: E731 - the action in the middle of d's band
    m = 0.6 * w
    # known bid 1 tick behind (-1), known ask 1 tick behind (2), touch (0, 1)
    assert _kept_quote(center(2), center(2), -1, 2, m) == (-1, 2, (True, True))  # 1 band away: kept
    assert _kept_quote(center(0), center(0), -1, 2, m) == (-1, 2, (True, True))  # 1 band the other way: kept
    assert _kept_quote(center(3), center(3), -1, 2, m) == (-3, 4, (True, True))  # 2 bands away: re-priced
    assert _kept_quote(center(2), center(2), -1, 2, 0.0) == (-2, 3, (True, True))  # no margin: the mapping's price
    assert _kept_quote(center(2), center(2), None, None, m) == (-2, 3, (True, True))  # nothing known: nothing kept
    assert _kept_quote(1.0, center(2), -1, 2, m)[1:] == (2, (False, True))  # a pull is a pull whatever is known
    # an order ahead of the touch is never kept: the bid at 1 above a touch of (0, 2) (its level emptied) rejoins
    assert _kept_quote(center(0), center(2), 1, 3, m, best_bid=0, best_ask=2)[0] == 0
    assert _kept_quote(center(0), center(2), 1, 3, 0.0, best_bid=0, best_ask=2)[0] == 0
    # and a kept price still obeys the touch: an improving order in a spread that closed to one tick joins it
    assert _kept_quote(center(-1), center(2), 1, 2, m, best_bid=0, best_ask=1)[0] == 0


def _band_edges(k_max: float) -> np.ndarray:
    """Actions on, and one float32 ulp either side of, every band boundary of the mapping."""
    near = -1.0 + np.arange(0, 20) * 1.9 / 18
    span = max(k_max - 8, 0) + 1
    steps = np.arange(span + 1) / span if span <= 50 else np.linspace(0, 1, 50)
    far = -1.0 + 1.9 * (0.5 + steps / 2)
    edges = np.concatenate([near, far, [A.PULL_ABOVE, 1.0, -1.0]]).astype(np.float32)
    return np.concatenate([edges, np.nextafter(edges, np.float32(2)), np.nextafter(edges, np.float32(-2))])


def test_the_numpy_twin_quotes_exactly_what_the_device_quotes():
    """sim_np.quote_prices reproduces the JAX mapping's float32 arithmetic on random and band-edge actions."""
    from mmjax.env import sim_np

    rng = np.random.default_rng(0)
    for anchor, max_off in ((6_200_000, 2.0), (6_200_000, 10.0), (1_000, 10.0), (30_000_000, 0.5), (250_000, 37.5)):
        k = float(A.max_ticks(jnp.float32(0.5), anchor, jnp.float32(max_off)))
        edges = _band_edges(k)
        n = 300
        best_bid = rng.integers(-5000, 5000, n).astype(np.int32)
        best_ask = best_bid + rng.choice([1, 1, 2, 3, 7], n).astype(np.int32)
        act = np.where(rng.random((n, 1)) < 0.6, rng.choice(edges, (n, 2)), rng.uniform(-1.2, 1.2, (n, 2)))
        act = act.astype(np.float32)
        mid = (best_bid + best_ask) / 2.0
        bid, ask, on = (np.asarray(x) for x in A.quote_prices(
            jnp.asarray(act), jnp.asarray(best_bid), jnp.asarray(best_ask), jnp.asarray(mid, jnp.float32), anchor,
            jnp.float32(max_off)))
        want = [(int(bid[j]) if on[j, 0] else None, int(ask[j]) if on[j, 1] else None) for j in range(n)]
        got = [sim_np.quote_prices(tuple(float(x) for x in act[j]), int(best_bid[j]), int(best_ask[j]), float(mid[j]),
                                   anchor, max_off) for j in range(n)]
        assert got == want, (anchor, max_off)
        # keeping known prices (requote_margin): known orders a few ticks either side of the mapping's price
        for margin in (0.0, 0.05, 0.3):
            has = rng.random((n, 2)) < 0.8
            known_bid = np.where(has[:, 0], bid + rng.integers(-3, 4, n), int(A.NO_ORDER_PX)).astype(np.int32)
            known_ask = np.where(has[:, 1], ask + rng.integers(-3, 4, n), None)
            oriented = np.stack([known_bid, np.where(has[:, 1], -known_ask.astype(np.float64), A.NO_ORDER_PX)], -1)
            kb, ka, kon = (np.asarray(x) for x in A.quote_prices(
                jnp.asarray(act), jnp.asarray(best_bid), jnp.asarray(best_ask), jnp.asarray(mid, jnp.float32), anchor,
                jnp.float32(max_off), jnp.asarray(oriented, jnp.int32), jnp.float32(margin)))
            want = [(int(kb[j]) if kon[j, 0] else None, int(ka[j]) if kon[j, 1] else None) for j in range(n)]
            got = [sim_np.quote_prices(tuple(float(x) for x in act[j]), int(best_bid[j]), int(best_ask[j]),
                                       float(mid[j]), anchor, max_off,
                                       (int(known_bid[j]) if has[j, 0] else None,
                                        int(known_ask[j]) if has[j, 1] else None), margin) for j in range(n)]
            assert got == want, (anchor, max_off, margin)
            if margin == 0.3:
                assert sum(g != (int(b) if o[0] else None, int(a) if o[1] else None)[:2]
                           for g, b, a, o in zip(got, bid, ask, on, strict=True)) > n // 20  # keeping happened
