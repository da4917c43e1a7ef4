"""Failing disks: a status file that cannot be written (#19 hole 3) and a disk that fills up (hole 4)."""

from __future__ import annotations

import json
import logging
import signal
import time

import pytest

from mmjax import schema
from recorder.client import main
from tests.helpers.recorder_process import parquet_files, spawn_recorder, wait_for
from tests.mock_coinbase import MockInThread, load_capture
from tests.recorder_fakes import FaultDisk
from tests.recorder_harness import FIXTURE, config, read_back_with_pandas
from tests.recorder_reference import read_dataset


@pytest.fixture(scope="module")
def capture():
    return load_capture(FIXTURE)


def test_a_status_file_that_cannot_be_written_never_stops_recording(capture, tmp_path, caplog):
    """Before: the status task died, SIGTERM's cleanup re-raised before the writer closed: no files, exit 1."""
    status = tmp_path / "missing" / "status.json"
    with MockInThread(capture, speed=25.0) as mock:
        cfg = config(tmp_path / "rec", mock.url, status_file=str(status), status_s=0.1, flush_s=600, duration_s=1.5)
        with caplog.at_level(logging.INFO, logger="recorder"):
            code = main(cfg)
    assert code == 0
    n = read_back_with_pandas(tmp_path / "rec")  # the one flush at shutdown wrote everything
    assert n[schema.BOOK_DIR] > 40 and n[schema.TRADES_DIR] > 20
    errors = [r.getMessage() for r in caplog.records if "cannot write the status file" in r.getMessage()]
    assert len(errors) == 1 and "missing" in errors[0]  # said once, retried every tick


def test_sigterm_with_a_broken_status_file_flushes_and_exits_0(capture, tmp_path):
    out = tmp_path / "rec"
    with MockInThread(capture, speed=4.0) as mock:
        proc = spawn_recorder(out, mock.url, flush_s=600.0, status_file=tmp_path / "missing" / "status.json")
        try:
            wait_for(lambda: mock.position > 100, 30)
            time.sleep(0.6)  # a few failed status writes
            proc.send_signal(signal.SIGTERM)
            log, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, log
    assert "cannot write the status file" in log
    assert {f.parent.parent.parent.name for f in parquet_files(out)} == {"book", "trades"}


def test_a_full_disk_stops_at_once_cleans_up_and_counts_what_was_lost(capture, tmp_path, monkeypatch, caplog):
    """Before: noticed only at the next status tick (10 s), the queue lost uncounted, a partial .tmp left."""
    disk = FaultDisk(monkeypatch, budget_bytes=120_000)
    out = tmp_path / "rec"
    with MockInThread(capture, speed=25.0) as mock:
        cfg = config(out, mock.url, flush_s=0.05, status_s=10.0, duration_s=30.0, raw=False)
        t0 = time.monotonic()
        with caplog.at_level(logging.INFO, logger="recorder"):
            code = main(cfg)
        took = time.monotonic() - t0
    assert code == 1 and disk.failures >= 1
    assert took < 8.0, f"the failure took {took:.1f} s to stop the recorder (status ticks are 10 s)"
    assert not list(out.rglob("*.tmp"))  # the partial file is gone
    n = read_back_with_pandas(out)  # what was written before is complete and readable
    assert n[schema.BOOK_DIR] > 0
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("done: ")][0]
    counters = json.loads(done.removeprefix("done: "))
    # every row handed to the writer is either on disk or counted as lost
    on_disk = {d: sum(read_dataset(out, d, p).num_rows for p in ("BTC-USD", "ETH-USD"))
               for d in (schema.BOOK_DIR, schema.TRADES_DIR)}
    assert counters["book_rows"] == on_disk[schema.BOOK_DIR] + counters["book_rows_lost"]
    assert counters["trades"] == on_disk[schema.TRADES_DIR] + counters["trades_lost"]
    assert counters["book_rows_lost"] + counters["trades_lost"] > 0
    failed = [r.getMessage() for r in caplog.records if "recording failed" in r.getMessage()]
    assert failed and "No space left on device" in failed[0] and "not written:" in failed[0]
