"""mmjax/live/rows.py builds one row's ticks and trade reach exactly as the loader builds `MarketData`.

Both apply the rules of `mmjax.data.ticks` (its one-row forms against its array forms, here)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mmjax import schema
from mmjax.data import fill_inputs as fi
from mmjax.data.loader import LoadReport, read_recording
from mmjax.data.ticks import level_ticks
from mmjax.live.rows import TickRows

TICK, ANCHOR, L = 0.01, 6_200_000, 6


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
    rows = TickRows(TICK, ANCHOR, L, lot_size=1e-8)
    for i in range(300):
        bid, bid_sz, ask, ask_sz = random_book(rng, empty=i % 3 == 0)
        book = rows.book(bid, bid_sz, ask, ask_sz)
        if i % 2:  # the same prices again (new sizes): the converter reuses the row's ticks, the sizes are new
            again = rows.book(bid.copy(), bid_sz * 2, ask.copy(), ask_sz)
            assert again.bid_px == book.bid_px and again.ask_px == book.ask_px
            assert again.bid_sz == (bid_sz * 2).tolist()
        assert book.bid_px == level_ticks(bid[None], TICK, ANCHOR, -1)[0].tolist()
        assert book.ask_px == level_ticks(ask[None], TICK, ANCHOR, +1)[0].tolist()
        assert all(type(x) is int for x in book.bid_px + book.ask_px)
        empty_ask = np.isnan(ask)  # an empty level's size counts as 0 (the loader refuses a size there)
        assert book.bid_sz == bid_sz.tolist() and book.ask_sz == np.where(empty_ask, 0.0, ask_sz).tolist()


def test_prices_too_far_from_the_anchor_are_refused():
    rows = TickRows(TICK, 0, 2, lot_size=1e-8)
    with pytest.raises(ValueError, match="2\\^24 ticks from the anchor"):
        rows.book(np.array([2.0e5, 1.9e5]), np.ones(2), np.array([2.1e5, 2.2e5]), np.ones(2))


def batch_reach(step, px_ticks, sz, side, T, lot):
    """The loader's trade reach (mmjax.data.fill_inputs.trade_reach) as sim_np reads it via ReplayData.trades:
    per interval (sell px, sell size, buy px, buy size); a side without trades: (NO_PRICE-like, 0.0)."""
    raw = SimpleNamespace(trade_sz=sz, trade_side=side)
    reach, lots = fi.trade_reach(step, np.ones(len(step), bool), raw, px_ticks, lot, T, LoadReport())
    return reach[:, 0].astype(np.int64), lots[:, 0] * lot, -reach[:, 1].astype(np.int64), lots[:, 1] * lot


def assert_live_reach_is_the_batch_reach(rows: TickRows, trades: list, step: np.ndarray, px_ticks, sz, side, T):
    """Each interval's live Trades == the batch reach, bit for bit (sides without trades: none live, 0 lots batch)."""
    sell_px, sell_sz, buy_px, buy_sz = batch_reach(step, px_ticks, sz, side, T, rows.lot)
    bounds = np.searchsorted(step, np.arange(T + 1))
    for t in range(T):
        got = rows.trades(trades[bounds[t]:bounds[t + 1]])
        for name, px, size in (("sell", sell_px, sell_sz), ("buy", buy_px, buy_sz)):
            g_px, g_sz = getattr(got, f"{name}_px"), getattr(got, f"{name}_vol")
            if size[t] == 0 and not g_px:
                continue
            assert (list(g_px), list(g_sz)) == ([int(px[t])], [float(size[t])]), (t, name)
            assert type(g_px[0]) is int and type(g_sz[0]) is float


def test_trade_reach_is_the_loaders_bit_for_bit_on_deep_sweeps():
    """Per side the furthest price and the whole lots traded there, however many prices an interval swept."""
    rng = np.random.default_rng(1)
    rows = TickRows(TICK, ANCHOR, L, lot_size=1e-4)
    T = 300
    n = rng.integers(0, 40, T)  # trades per interval, over up to 33 distinct prices per side
    step = np.repeat(np.arange(T), n)
    px_ticks = rng.integers(-16, 17, len(step))
    sz = rng.exponential(0.01, len(step)) + 1e-4
    side = rng.choice([schema.TAKER_BUY, schema.TAKER_SELL], len(step)).astype(np.int8)
    trades = [SimpleNamespace(price=float(ANCHOR + p) * TICK, size=float(v), taker_side=int(s))
              for p, v, s in zip(px_ticks, sz, side, strict=True)]
    ticks = np.rint(np.array([t.price for t in trades]) / TICK).astype(np.int64) - ANCHOR
    assert_live_reach_is_the_batch_reach(rows, trades, step, ticks, sz, side, T)
    deep = [len(set(ticks[(step == t) & (side == schema.TAKER_SELL)])) for t in range(T)]
    assert max(deep) > 8, "intervals sweep more prices than the old loader's 8 slots"


@pytest.fixture(scope="module")
def binance(binance_spot_dir):
    """The real Binance spot capture (Tardis import, default levels) as a RawRecording."""
    return read_recording(binance_spot_dir)


def test_trade_reach_is_the_loaders_bit_for_bit_on_real_sweeps(binance):
    """Real Binance trades bucketed by receive interval: live rows == the loader's reach, with its lot."""
    from mmjax.data.loader import to_market_data

    raw = binance
    md = to_market_data(raw)  # resolves the lot and the anchor as the batch path does
    anchor, tick, T = int(md.px_anchor_ticks), raw.meta.tick_size, raw.num_steps
    step = raw.trade_step()
    keep = (step >= 0) & (step < T - 1)
    step, px, sz, side = step[keep], raw.trade_px[keep], raw.trade_sz[keep], raw.trade_side[keep]
    ticks = np.rint(px / tick).astype(np.int64) - anchor
    trades = [SimpleNamespace(price=float(p), size=float(v), taker_side=int(s))
              for p, v, s in zip(px, sz, side, strict=True)]
    rows = TickRows(tick, anchor, raw.bid_px.shape[1], lot_size=md.lot_size)
    assert_live_reach_is_the_batch_reach(rows, trades, step, ticks, sz, side, T)
    swept = max(len(set(ticks[(step == t) & (side == s)].tolist())) for t in np.unique(step) for s in (1, -1))
    assert swept > 8, f"the capture sweeps more than 8 prices in one interval (max {swept})"


def test_an_interval_without_trades_has_no_reach():
    rows = TickRows(TICK, ANCHOR, L, lot_size=1e-8)
    t = rows.trades([])
    assert t.sell_px == t.buy_px == () and t.sell_vol == t.buy_vol == ()


def test_a_bad_lot_is_refused():
    with pytest.raises(ValueError, match="lot_size"):
        TickRows(TICK, ANCHOR, L, lot_size=0.0)
