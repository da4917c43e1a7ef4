"""mmjax/live/rows.py builds one row's ticks and trade slots exactly as the loader builds `MarketData`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mmjax import schema
from mmjax.data.loader import LoadReport, aggregate_trade_slots, level_ticks
from mmjax.live.rows import TickRows

TICK, ANCHOR, L, M = 0.01, 6_200_000, 6, 4


def random_book(rng, empty: bool):
    """[L] bid and ask prices ($) with optional empty (NaN) levels, and sizes (0 there)."""
    bb = ANCHOR + int(rng.integers(-300, 300))
    bid = (bb - np.cumsum(rng.integers(1, 4, L)) + 1) * TICK
    ask = (bb + int(rng.integers(1, 3)) + np.cumsum(rng.integers(1, 4, L)) - 1) * TICK
    bid_sz, ask_sz = rng.exponential(0.2, L), rng.exponential(0.2, L)
    if empty:  # deeper levels missing, as a thin book shows them
        k = int(rng.integers(1, L))
        bid[k:], bid_sz[k:] = np.nan, 0.0
        ask[int(rng.integers(1, L)):] = np.nan
    return bid, bid_sz, ask, ask_sz


def test_book_ticks_are_the_loaders_bit_for_bit():
    rng = np.random.default_rng(0)
    rows = TickRows(TICK, ANCHOR, L)
    for i in range(300):
        bid, bid_sz, ask, ask_sz = random_book(rng, empty=i % 3 == 0)
        book = rows.book(bid, bid_sz, ask, ask_sz)
        assert book.bid_px == level_ticks(bid[None], TICK, ANCHOR, -1)[0].tolist()
        assert book.ask_px == level_ticks(ask[None], TICK, ANCHOR, +1)[0].tolist()
        assert all(type(x) is int for x in book.bid_px + book.ask_px)
        assert book.bid_sz == bid_sz.tolist() and book.ask_sz == ask_sz.tolist()


def test_prices_too_far_from_the_anchor_are_refused():
    rows = TickRows(TICK, 0, 2)
    with pytest.raises(ValueError, match="2\\^24 ticks from the anchor"):
        rows.book(np.array([2.0e5, 1.9e5]), np.ones(2), np.array([2.1e5, 2.2e5]), np.ones(2))


def test_trade_slots_are_the_loaders_bit_for_bit():
    """Repeated prices sum in arrival order (float64), slots hold float32, prices past M fold into the last slot."""
    rng = np.random.default_rng(1)
    rows = TickRows(TICK, ANCHOR, L, trade_slots=M)
    folded = 0
    for i in range(300):
        n = int(rng.integers(0, 25))
        px_ticks = ANCHOR + rng.integers(-8, 9, n)
        trades = [SimpleNamespace(price=float(p) * TICK, size=float(rng.exponential(0.01)) + 1e-4,
                                  taker_side=int(rng.choice([schema.TAKER_BUY, schema.TAKER_SELL])))
                  for p in px_ticks]
        got = rows.trades(trades)
        side = np.array([t.taker_side for t in trades], np.int8)
        ticks = np.rint(np.array([t.price for t in trades]) / TICK).astype(np.int64) - ANCHOR
        sz = np.array([t.size for t in trades])
        rep = LoadReport()
        step = np.zeros(n, np.int64)
        for name, mask, asc in (("buy", side == schema.TAKER_BUY, True), ("sell", side == schema.TAKER_SELL, False)):
            px, vol = aggregate_trade_slots(step, mask, ticks, sz, 1, M, asc, rep)
            used = vol[0] > 0
            assert list(getattr(got, f"{name}_px")) == px[0][used].tolist(), (i, name)
            assert list(getattr(got, f"{name}_vol")) == vol[0][used].astype(np.float64).tolist(), (i, name)
        folded += rep.trade_prices_folded
    assert folded > 50, "the folding of deep prices was exercised"


def test_an_interval_without_trades_has_no_slots():
    rows = TickRows(TICK, ANCHOR, L)
    t = rows.trades([])
    assert t.sell_px == t.buy_px == () and t.sell_vol == t.buy_vol == ()
