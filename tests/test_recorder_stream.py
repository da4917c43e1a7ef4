"""The stream's other holes (#19): trades while a book is invalid (5), error frames (6), placeholder
exchange times (7), one product going silent while heartbeats go on (8). Engine first, then the mock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmjax import schema
from recorder.client import main
from tests.helpers.coinbase_frames import (
    ack_frame,
    drain,
    heartbeat_frame,
    l2_frame,
    one_product_engine,
)
from tests.mock_coinbase import Fault, MockInThread, load_capture
from tests.recorder_harness import FIXTURE, PRODUCTS, config, gap_rows, record_against_mock, verify
from tests.recorder_reference import read_dataset

S = 1_000_000_000
SNAP = [("bid", "10", "1"), ("offer", "11", "1")]


def _trade(seq, tid, ts="2026-08-09T21:05:48.1Z"):
    return json.dumps({"channel": "market_trades", "timestamp": ts, "sequence_num": seq, "events": [
        {"type": "update", "trades": [{"product_id": "BTC-USD", "trade_id": tid, "price": "10.5", "size": "0.1",
                                       "side": "BUY", "time": ts}]}]})


@pytest.fixture(scope="module")
def capture():
    return load_capture(FIXTURE)


# ---- 5: rows need their trades -----------------------------------------------------------------

def test_no_row_before_the_trades_subscription_is_confirmed():
    """Before: rows started with the level2 snapshot, ahead of market_trades: their intervals had no trades."""
    eng, c, rows, _ = one_product_engine()
    eng.on_connect(5 * S)  # a new connection: nothing confirmed yet
    drain(eng, 5 * S)
    eng.on_frame(6 * S, l2_frame(0, "BTC-USD", "snapshot", SNAP))
    eng.on_frame(int(6.3 * S), l2_frame(1, "BTC-USD", "update", [("bid", "10", "2")]))
    assert rows == []  # the book is valid, but trades are not flowing yet
    eng.on_frame(int(6.35 * S), ack_frame(2))
    eng.on_frame(int(6.75 * S), l2_frame(3, "BTC-USD", "update", [("bid", "10", "3")]))
    assert [r[2] for r in rows] == [int(6.4 * S), int(6.5 * S), int(6.6 * S), int(6.7 * S)]
    assert rows[0][3]  # the first row after the hole starts a segment


def test_trades_in_a_gap_fall_in_intervals_the_loader_drops(capture, tmp_path):
    """Trades received while a book is invalid are written; the interval they fall in ends at an
    after_gap row, so no fill uses them (checked for every one by `check_recording`, and here by the loader)."""
    from mmjax.data.loader import read_recording, to_market_data

    run = record_against_mock(capture, tmp_path, [Fault("drop", at=150), Fault("disconnect", at=400)])
    tallies = verify(tmp_path, run)
    assert run.c.reconnects == 1 and len(tallies["trades_in_gaps"]) > 0
    raw = read_recording(tmp_path, "BTC-USD")
    to_market_data(raw)
    assert raw.report.trades_in_gaps >= sum(p == "BTC-USD" for p, _ in tallies["trades_in_gaps"])


# ---- 6: error frames ---------------------------------------------------------------------------

def test_errors_are_classified_not_all_fatal():
    eng, c, rows, _ = one_product_engine(error_limit=3)
    eng.on_frame(S, l2_frame(1, "BTC-USD", "snapshot", SNAP))
    for i in range(3):  # tolerated: no book is invalidated, no reconnect
        eng.on_frame(S + i + 1, json.dumps({"type": "error", "message": "transient"}))
    assert eng.reconnect_reason is None and eng.state["BTC-USD"].book is not None and c.book_gaps == 0
    eng.on_frame(S + 10, json.dumps({"type": "error", "message": "lasting", "sequence_num": 2}))
    assert eng.reconnect_for_errors and "4 errors" in eng.reconnect_reason and "lasting" in eng.reconnect_reason
    eng.on_frame(S + 20, json.dumps({"type": "future_type", "sequence_num": 3}))  # unknown: ignored
    eng.on_frame(S + 30, json.dumps({"channel": "candles", "sequence_num": 4, "events": []}))
    assert c.unknown_messages == 2 and c.seq_gaps == 0 and c.errors == 4


def test_error_frames_on_a_timer_do_not_disconnect(capture, tmp_path):
    """Before: each error invalidated every book and reconnected (5 errors, 5 reconnects, 6 gaps)."""
    run = record_against_mock(capture, tmp_path, mock_kw={"error_every_s": 0.2})
    verify(tmp_path, run)
    assert run.mock.errors_sent >= 3 and run.c.errors >= 3 and run.c.reconnects == 0
    assert all(gap_rows(tmp_path, p) == 1 for p in PRODUCTS) and run.rec.exit_code() == 0


def test_lasting_errors_back_off_and_end_in_a_clear_failure(capture, tmp_path, caplog):
    """Before: reconnects without end, and exit 0 at the end."""
    with MockInThread(capture, speed=25.0, error_every_s=0.01) as mock:
        code = main(config(tmp_path, mock.url, error_limit=5, error_reconnects_max=3, duration_s=30))
        connections = mock.connections
    assert code == 1 and connections == 3
    failed = [r.getMessage() for r in caplog.records if "recording failed" in r.getMessage()]
    assert "keeps sending errors" in failed[0] and "mock: periodic error" in failed[0]


# ---- 7: placeholder exchange times -------------------------------------------------------------

def test_a_1970_snapshot_time_is_replaced_by_the_first_real_time():
    """Before: ts_exchange_ns = 0 on the rows after a snapshot stamped 1970-01-01T00:00:00Z."""
    eng, c, rows, _ = one_product_engine()
    snap = json.loads(l2_frame(1, "BTC-USD", "snapshot", SNAP, ts="1970-01-01T00:00:00Z"))
    snap["timestamp"] = "2026-08-09T21:05:48.25Z"  # the frame's own time is real
    eng.on_frame(S, json.dumps(snap))
    eng.on_frame(int(1.15 * S), l2_frame(2, "BTC-USD", "update", [("bid", "10", "2")], ts="2026-08-09T21:05:48.4Z"))
    eng.on_frame(int(1.25 * S), l2_frame(3, "BTC-USD", "update", [("bid", "10", "3")], ts="1970-01-01T00:00:00Z"))
    eng.on_frame(int(1.35 * S), l2_frame(4, "BTC-USD", "update", [("bid", "10", "4")], ts="2026-08-09T21:05:48.5Z"))
    assert [r[1] for r in rows] == [1786309548250000000] * 2 + [1786309548400000000] * 2
    bare = json.loads(l2_frame(1, "BTC-USD", "snapshot", SNAP, ts="1970-01-01T00:00:00Z"))
    eng2, _, rows2, _ = one_product_engine()
    eng2.on_frame(S, json.dumps({**bare, "timestamp": "1970-01-01T00:00:00Z"}))
    eng2.on_frame(int(1.15 * S), l2_frame(2, "BTC-USD", "update", [("bid", "10", "2")], ts="2026-08-09T21:05:48.4Z"))
    eng2.on_frame(int(1.25 * S), l2_frame(3, "BTC-USD", "update", [("bid", "10", "3")], ts="2026-08-09T21:05:48.5Z"))
    assert [(r[1], r[2]) for r in rows2] == [(1786309548400000000, int(1.2 * S))]  # no row with no real time


# ---- 8: a product goes silent ------------------------------------------------------------------

def test_a_silent_product_is_resubscribed_and_its_stale_rows_never_written():
    """Before: heartbeats kept writing rows from a stale book. Now rows wait for proof."""
    eng, c, rows, _ = one_product_engine(product_silence_s=1.0)
    eng.on_frame(S, l2_frame(1, "BTC-USD", "snapshot", SNAP))
    for i in range(2, 30):  # heartbeats only, for 2.8 s
        eng.on_frame(S + i * S // 10, heartbeat_frame(i))
    assert rows == [] and c.silence_resyncs == 1  # asked once, after 1 s of silence
    assert drain(eng, 2 * S) == [("unsubscribe", "level2", ("BTC-USD",)), ("subscribe", "level2", ("BTC-USD",))]
    # the snapshot shows the market moved: the quiet rows cannot be vouched for
    eng.on_frame(int(3.05 * S), l2_frame(30, "BTC-USD", "snapshot", [("bid", "10.5", "1"), ("offer", "11", "1")]))
    eng.on_frame(int(3.25 * S), l2_frame(31, "BTC-USD", "update", [("offer", "11", "2")]))
    assert [r[2] for r in rows] == [int(3.1 * S), int(3.2 * S)] and rows[0][3] and c.stale_books == 1


def test_a_quiet_product_whose_snapshot_matches_keeps_every_row():
    eng, c, rows, _ = one_product_engine(product_silence_s=1.0)
    eng.on_frame(S, l2_frame(1, "BTC-USD", "snapshot", SNAP))
    for i in range(2, 15):
        eng.on_frame(S + i * S // 10, heartbeat_frame(i))
    eng.on_frame(int(2.55 * S), l2_frame(15, "BTC-USD", "snapshot", SNAP))  # the same book: it was only quiet
    assert [r[2] for r in rows] == [S + i * S // 10 for i in range(16)] and not any(r[3] for r in rows[1:])
    assert c.stale_books == 0 and c.book_gaps == 0


def test_a_product_silenced_by_the_venue_is_resubscribed(capture, tmp_path):
    fault = Fault("silence", at=100, product="ETH-USD")
    run = record_against_mock(capture, tmp_path, [fault], product_silence_s=0.15)
    verify(tmp_path, run)  # every ETH-USD row is proven by an ETH-USD message or a matching snapshot
    assert fault.fired and run.c.silence_resyncs >= 1 and run.c.reconnects == 0
    assert run.c.stale_books >= 1 and gap_rows(tmp_path, "ETH-USD") >= 2
    g = read_dataset(tmp_path, schema.BOOK_DIR, "ETH-USD").column("ts_recv_ns").to_numpy()
    assert np.diff(g).max() > 0.15 * S  # the silent stretch is a hole, not rows from a stale book
