"""The paper trader on the exchange clock (mmjax/live/trader.py, docs/live.md "Exchange clock").

A trade a book row already reflected before the trade's receive interval belongs to an interval the
live trader has settled: it must fill nothing, never later than that row; the batch path
(`mmjax.data.fill_inputs.fill_intervals`) moves exactly those trades to the earlier interval.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmjax.live import BookEvent, PaperTrader, TradeEvent
from tests.helpers.live import (
    ACTION,
    PARAMS,
    ConstQuoter,
    replay,
    replay_events,
    synth_recording,
    with_sweeps,
)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """test_live's recording: the synthetic market with deep sweeps."""
    return with_sweeps(synth_recording(tmp_path_factory))


def _with_one_trade(raw, k: int, ts_exchange_ns: int):
    """The recording plus one deep taker sell received in (k, k+1] with the given exchange stamp."""
    tick = raw.meta.tick_size
    i = int(np.searchsorted(raw.trade_ts_recv_ns, raw.ts_recv_ns[k] + 1))
    ins = lambda a, v: np.insert(a, i, v)  # noqa: E731
    return dataclasses.replace(
        raw, trade_ts_recv_ns=ins(raw.trade_ts_recv_ns, raw.ts_recv_ns[k] + 1),
        trade_ts_exchange_ns=ins(raw.trade_ts_exchange_ns, ts_exchange_ns),
        trade_px=ins(raw.trade_px, raw.bid_px[k, 0] - 600 * tick), trade_sz=ins(raw.trade_sz, 0.5),
        trade_side=ins(raw.trade_side, np.int8(-1)))


def test_a_trade_the_book_already_showed_fills_nothing(raw):
    """Exchange clock: a trade received in (k, k+1] that row k-1 already reflects belongs to a settled
    interval (the batch path puts it there): live it fills nothing and is counted; unknown stamp: it fills."""
    base = replay(raw, ConstQuoter(ACTION))
    fills = lambda tr: [(r.bid_fill, r.ask_fill, r.pnl) for r in tr.records]  # noqa: E731
    for k in range(100, raw.num_steps - 2, 7):  # an interval where the trade, if used, fills the resting bid
        unknown = replay(_with_one_trade(raw, k, -1), ConstQuoter(ACTION))  # a feed without exchange stamps
        if unknown.records[k + 1].bid_fill > base.records[k + 1].bid_fill:
            break
    else:
        pytest.fail("no interval where the deep sell fills the bid")
    assert unknown.counts["trades_shown_before_received"] == 0
    shown_raw = _with_one_trade(raw, k, int(raw.ts_exchange_ns[k - 1]))
    shown = replay(shown_raw, ConstQuoter(ACTION))
    assert shown.counts["trades_shown_before_received"] == 1 and base.counts["trades_shown_before_received"] == 0
    assert fills(shown) == fills(base)
    # the batch path moves exactly this trade to an earlier interval
    from mmjax.data.fill_inputs import fill_intervals
    from mmjax.data.loader import LoadReport

    for r, n in ((raw, 0), (shown_raw, 1)):
        r = dataclasses.replace(r, report=LoadReport())
        fill_intervals(r)
        assert r.report.trades_on_exchange_clock == n


def test_a_trade_delivered_ahead_of_its_row_is_checked_against_the_rows_before_it(raw):
    """A trade received in (k+1, k+2] but delivered before row k+1 waits; row k+1 already reflects it: no fill."""
    evs = replay_events(raw)
    books = [i for i, e in enumerate(evs) if isinstance(e, BookEvent)]
    k = 150
    row = evs[books[k + 1]]
    early = TradeEvent(row.ts_recv_ns + 1, float(raw.bid_px[k, 0] - 600 * raw.meta.tick_size), 0.5, -1,
                       int(raw.ts_exchange_ns[k + 1]))
    out = []
    for events in (evs, evs[:books[k + 1]] + [early] + evs[books[k + 1]:]):
        tr = PaperTrader(raw.meta, ConstQuoter(ACTION), PARAMS, record_steps=True)
        for e in events:
            (tr.on_book if isinstance(e, BookEvent) else tr.on_trade)(e)
        out.append(tr)
    base, got = out
    assert got.counts["trades_shown_before_received"] == 1
    assert [(r.bid_fill, r.pnl) for r in got.records] == [(r.bid_fill, r.pnl) for r in base.records]
