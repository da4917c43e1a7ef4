"""Specification of the live feeds and the published state (mmjax/live/feeds.py, mmjax/live/state.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mmjax import schema
from mmjax.live import (
    SERIES,
    BaselineParams,
    BaselineQuoter,
    BookEvent,
    LiveRunner,
    LiveState,
    PaperTrader,
    ReplayFeed,
    TradeEvent,
    merge_events,
)
from tests.helpers.live import PARAMS, synth_recording


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return synth_recording(tmp_path_factory)



def test_merge_puts_trades_at_grid_time_before_that_row():
    book = np.array([100, 200, 300])
    trades = np.array([50, 100, 150, 200, 201, 400])
    ids = merge_events(book, trades).tolist()
    # book row i -> -(i+1); a trade at exactly 200 belongs to (100, 200] and precedes row 200
    assert ids == [0, 1, -1, 2, 3, -2, 4, -3, 5]


def test_replay_yields_every_event_in_receive_order(raw):
    evs = list(ReplayFeed(raw, speed=0).events())
    books = [e for e in evs if isinstance(e, BookEvent)]
    trades = [e for e in evs if isinstance(e, TradeEvent)]
    assert len(books) == raw.num_steps and len(trades) == len(raw.trade_px)
    ts = [e.ts_recv_ns for e in evs]
    assert ts == sorted(ts)
    assert books[0].after_gap


def test_replay_loop_shifts_time_and_marks_a_gap(raw):
    feed = ReplayFeed(raw, speed=0, loop=True)
    books = []
    for ev in feed.events():
        if isinstance(ev, BookEvent):
            books.append(ev)
            if len(books) == raw.num_steps + 2:
                feed.stop()
    second = books[raw.num_steps]
    assert second.after_gap and second.ts_recv_ns > books[raw.num_steps - 1].ts_recv_ns
    assert feed.status() == "finished"


def test_bad_speed_is_refused(raw):
    with pytest.raises(ValueError, match="speed"):
        ReplayFeed(raw, speed=-1)


def test_live_state_ring_is_consistent_under_concurrent_reads():
    st = LiveState(capacity=500)
    book = BookEvent(0, False, np.ones(1), np.ones(1), np.ones(1) * 2, np.ones(1))
    done = threading.Event()
    bad = []

    def write():
        for i in range(5000):
            st.append({k: float(i) for k in SERIES}, book, {"pnl": float(i)})
        done.set()

    w = threading.Thread(target=write)
    w.start()
    while not done.is_set():
        snap = st.snapshot()
        t = snap.series["t_ms"]
        if len(t) and not (np.all(np.diff(t) == 1.0) and t[-1] == snap.version - 1):
            bad.append(t)
    w.join()
    assert not bad
    assert st.snapshot().series["t_ms"][0] == 4500.0


def test_meta_is_the_recordings(raw):
    assert isinstance(raw.meta, schema.RecordingMeta) and raw.meta.tick_size == 0.01


def test_recorder_feed_drives_the_trader_from_a_mock_coinbase(tmp_path):
    """--live path: recorder/ against a loopback mock replaying a real capture; rows reach the dashboard state."""
    import time
    from pathlib import Path

    from mmjax.live import RecorderFeed
    from tests import mock_coinbase as mock_mod

    capture = mock_mod.load_capture(Path(__file__).parent / "fixtures" / "coinbase_small.jsonl.gz")
    with mock_mod.MockInThread(capture, speed=4.0) as mock:
        feed = RecorderFeed("BTC-USD", 0.01, grid_ms=100, url=mock.url)
        quoters = {"fixed": BaselineQuoter("fixed", BaselineParams())}
        st = LiveState(capacity=10_000)
        runner = LiveRunner(feed, lambda q: PaperTrader(feed.meta, q, PARAMS), quoters, "fixed", st, 0.1).start()
        deadline = time.monotonic() + 60
        while st.version[1] < 20 and time.monotonic() < deadline and runner.running:
            time.sleep(0.1)
        # pausing a live feed skips the market; resuming starts a new segment (no fills across the hole)
        runner.pause()
        assert runner.paused and st.snapshot().feed_status == "paused"
        time.sleep(0.5)
        runner.resume()
        n = st.version[1]
        while st.version[1] < n + 5 and time.monotonic() < deadline and runner.running:
            time.sleep(0.1)
        runner.stop()
        assert runner.trader.counts["gaps"] >= 1
    assert runner.error is None
    snap = st.snapshot()
    assert snap.version >= 20, f"only {snap.version} rows from the live feed (status {snap.feed_status})"
    t = snap.series["t_ms"]
    assert np.all(np.diff(t) > 0) and np.isfinite(snap.series["mid"]).all()
    assert runner.trader.counts["rows"] >= 20 and runner.trader.counts["crossed_rows_dropped"] == 0
