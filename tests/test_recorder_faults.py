"""End to end: the recorder against the loopback mock, clean and with each injected fault.

Each fault test checks recovery, that every stored row equals the book rebuilt from the frames the
recorder received (and ends equal to the mock's true book), that gaps are marked, and that counts
reconcile.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from mmjax import schema
from mmjax.record import RecordConfig
from recorder.client import Recorder
from recorder.writer import Writer
from tests.mock_coinbase import Fault, MockCoinbase, load_capture
from tests.recorder_reference import check_recording, check_trades, read_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "coinbase_small.jsonl.gz"
PRODUCTS = ["BTC-USD", "ETH-USD"]
GRID_MS = 20
LEVELS = 10


@pytest.fixture(scope="module")
def small_capture():
    return load_capture(FIXTURE)


def _config(out: Path, url: str, **kw) -> RecordConfig:
    base = dict(out=str(out), products=",".join(PRODUCTS), url=url, grid_ms=GRID_MS, levels=LEVELS,
                raw=True, ticker=True, send_interval_s=0.005, status_s=0, flush_s=0.3, watchdog_s=0.4,
                resync_timeout_s=2.0, backoff_base_s=0.02, backoff_max_s=0.1, crossed_max_msgs=5,
                crossed_max_ms=300.0, seed=0)
    base.update(kw)
    return RecordConfig(**base)


def record_against_mock(capture, out: Path, faults=(), speed=25.0, writer_cls=None, **kw):
    """Replay ``capture`` through the mock into a recording at ``out``; returns (counters, mock, recorder)."""

    async def scenario():
        mock = MockCoinbase(capture, speed=speed, faults=list(faults))
        await mock.start()
        cfg = _config(out, mock.url, **kw)
        rec = Recorder(cfg)
        if writer_cls is not None:
            rec.writer = writer_cls(out, rec.writer.metas, cfg.flush_s, cfg.raw, rec.c)
            rec.engine.emit_book, rec.engine.emit_trade = rec.writer.put_book, rec.writer.put_trade
        task = asyncio.create_task(rec.run())
        await asyncio.wait_for(mock.market_done.wait(), 60)
        # let idle heartbeats prove the final state, then stop cleanly
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(rec.engine.state[p].book is None for p in PRODUCTS):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.25)
        final_truth = {p: mock.books[p].top(LEVELS) for p in PRODUCTS}
        rec.stop.set()
        counters = await asyncio.wait_for(task, 30)
        await mock.stop()
        return counters, mock, rec, final_truth

    return asyncio.run(scenario())


def _verify(out: Path, c, final_truth) -> dict:
    tallies = check_recording(out, PRODUCTS, GRID_MS, LEVELS)
    assert c.l2_updates_received == c.l2_updates_applied + c.l2_updates_in_gap
    assert tallies["updates_received"] == c.l2_updates_received
    check_trades(out, PRODUCTS, tallies["trades"])
    for p in PRODUCTS:  # after recovery the recorder ends on the market's true book
        t = read_dataset(out, schema.BOOK_DIR, p)
        last = t.slice(t.num_rows - 1).to_pylist()[0]
        bp, bs, ap, az = final_truth[p]
        assert [last[f"bid_px_{i}"] for i in range(LEVELS)] == bp
        assert [last[f"bid_sz_{i}"] for i in range(LEVELS)] == bs
        assert [last[f"ask_px_{i}"] for i in range(LEVELS)] == ap
        assert [last[f"ask_sz_{i}"] for i in range(LEVELS)] == az
    return tallies


def _gap_rows(out: Path, product: str) -> int:
    return int(np.sum(read_dataset(out, schema.BOOK_DIR, product).column("after_gap").to_numpy(zero_copy_only=False)))


def test_clean_replay_matches_frames_ticker_and_truth(small_capture, tmp_path):
    c, mock, rec, truth = record_against_mock(small_capture, tmp_path)
    tallies = _verify(tmp_path, c, truth)
    assert c.reconnects == 0 and c.seq_gaps == 0 and c.book_gaps == 0 and c.l2_updates_in_gap == 0
    assert tallies["updates_applied"] == c.l2_updates_applied
    assert tallies["rows_checked"] > 100 and tallies["ticker_rows_checked"] >= 3
    assert c.trades > 50 and c.trades_snapshot_skipped == 200
    for p in PRODUCTS:
        assert _gap_rows(tmp_path, p) == 1  # only the recording's first row
    # one subscribe per channel, heartbeats included: without them Coinbase closes quiet channels
    subs = [m["channel"] for _, m in mock.received if m["type"] == "subscribe"]
    assert sorted(subs) == sorted(["level2", "market_trades", "heartbeats", "ticker"])


@pytest.mark.parametrize("kind", ["drop", "malformed"])
def test_lost_message_resyncs_on_same_connection(small_capture, tmp_path, kind):
    c, mock, rec, truth = record_against_mock(small_capture, tmp_path, [Fault(kind, at=150)])
    tallies = _verify(tmp_path, c, truth)
    assert c.reconnects == 0 and c.resyncs >= 1 and c.book_gaps >= 1
    assert (c.seq_gaps if kind == "drop" else c.malformed) == 1
    # the connection start and the fault (after a malformed frame the next number also jumps)
    assert tallies["breaks"] == (2 if kind == "drop" else 3)
    assert _gap_rows(tmp_path, "BTC-USD") == 2
    if kind == "drop":
        assert len(mock.dropped) == 1
    # level2 was unsubscribed and subscribed again on the same connection
    kinds = [(m["type"], m["channel"]) for _, m in mock.received]
    assert kinds.count(("subscribe", "level2")) == 2 and ("unsubscribe", "level2") in kinds


@pytest.mark.parametrize("kind", ["disconnect", "error", "stall", "slow_consumer"])
def test_connection_faults_reconnect(small_capture, tmp_path, kind):
    fault = Fault(kind, at=150, duration_s=1.0)
    c, mock, rec, truth = record_against_mock(small_capture, tmp_path, [fault])
    _verify(tmp_path, c, truth)
    assert fault.fired and c.reconnects >= 1 and mock.connections >= 2
    assert c.connections == mock.connections
    if kind == "stall":
        assert c.watchdog_timeouts >= 1
    if kind in ("error", "slow_consumer"):
        assert c.errors == 1
    for p in PRODUCTS:
        assert _gap_rows(tmp_path, p) >= 2


def test_persistently_crossed_book_is_resynced(small_capture, tmp_path):
    c, mock, rec, truth = record_against_mock(small_capture, tmp_path, [Fault("cross", at=100)])
    tallies = check_recording(tmp_path, PRODUCTS, GRID_MS, LEVELS)  # asserts no crossed row was written
    assert c.crossed_resyncs == 1 and c.resyncs >= 1
    assert c.l2_updates_received == c.l2_updates_applied + c.l2_updates_in_gap
    assert tallies["rows_checked"] > 50
    assert _gap_rows(tmp_path, "BTC-USD") == 2
    t = read_dataset(tmp_path, schema.BOOK_DIR, "BTC-USD")
    last = t.slice(t.num_rows - 1).to_pylist()[0]
    assert [last[f"bid_px_{i}"] for i in range(LEVELS)] == truth["BTC-USD"][0]


class SlowWriter(Writer):
    """A disk that takes 0.4 s per flush."""

    def flush(self):
        time.sleep(0.4)
        super().flush()


def test_slow_disk_never_blocks_the_reader(small_capture, tmp_path):
    c, mock, rec, truth = record_against_mock(small_capture, tmp_path, writer_cls=SlowWriter, flush_s=0.05)
    _verify(tmp_path, c, truth)
    assert c.reconnects == 0 and c.seq_gaps == 0 and c.watchdog_timeouts == 0


def test_recording_loads_with_the_mmjax_loader(small_capture, tmp_path):
    from mmjax.data.loader import read_recording

    c, mock, rec, truth = record_against_mock(small_capture, tmp_path, [Fault("drop", at=150)])
    raw = read_recording(tmp_path, "BTC-USD")
    assert raw.num_steps == c.book_rows - len(read_dataset(tmp_path, schema.BOOK_DIR, "ETH-USD"))
    assert raw.report.gaps == 1 and raw.report.crossed_rows_dropped == 0
    assert raw.meta.tick_size == 0.01 and raw.meta.grid_ms == GRID_MS and raw.meta.levels == LEVELS
    assert raw.meta.size_unit == "BTC" and len(raw.trade_px) > 0


def test_full_capture_with_the_5mb_snapshot_and_a_drop(shared_data, tmp_path):
    capture = load_capture(shared_data / "coinbase-advanced-trade-2026-08-09" / "frames.jsonl.gz")
    c, mock, rec, truth = record_against_mock(capture, tmp_path, [Fault("drop", at=300)], watchdog_s=2.0)
    tallies = _verify(tmp_path, c, truth)
    assert c.snapshot_levels > 2 * 60_000  # two full-depth snapshots per product (initial + resync)
    assert c.seq_gaps == 1 and c.reconnects == 0 and tallies["ticker_rows_checked"] >= 1
