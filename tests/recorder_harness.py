"""Run the recorder against the loopback mock and check what it wrote (test helper).

`record_against_mock` replays a capture through `MockCoinbase` into a recording; `verify` applies
the checks every fault test ends with: each stored row equals the book rebuilt from the frames the
recorder received (`check_recording`), update counts reconcile (every update applied or counted in
a gap), trades are exactly those received, the recorder's final book equals the market's, and the
files read back with pandas.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmjax import schema
from recorder.client import Recorder
from recorder.config import RecordConfig
from tests.mock_coinbase import MockCoinbase
from tests.recorder_reference import check_recording, check_trades, read_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "coinbase_small.jsonl.gz"
PRODUCTS = ["BTC-USD", "ETH-USD"]
GRID_MS = 20
LEVELS = 10


def config(out: Path, url: str, **kw) -> RecordConfig:
    """Test-sized knobs: fast time-outs and backoff, tick and lot given (no products endpoint)."""
    base = dict(out=str(out), products=",".join(PRODUCTS), url=url, grid_ms=GRID_MS, levels=LEVELS,
                tick_size="0.01", lot_size="0.00000001", raw=True, ticker=True, send_interval_s=0.005,
                status_s=0, flush_s=0.3, watchdog_s=1.0, subscribe_timeout_s=0.3, resync_timeout_s=2.0,
                backoff_base_s=0.02, backoff_max_s=0.1, crossed_max_msgs=5, crossed_max_ms=300.0, seed=0)
    base.update(kw)
    return RecordConfig(**base)


@dataclass
class Run:
    c: object  # Counters
    mock: MockCoinbase
    rec: Recorder
    truth: dict  # product -> the market's final top of book (px, sz, px, sz lists)
    final: dict  # product -> the recorder's final top of book, None where its book was invalid


def _top(book) -> tuple | None:
    if book is None:
        return None
    bp, bs, ap, az = book.top(LEVELS)
    n_b, n_a = int(np.sum(~np.isnan(bp))), int(np.sum(~np.isnan(ap)))
    return (bp[:n_b].tolist(), bs[:n_b].tolist(), ap[:n_a].tolist(), az[:n_a].tolist())


def record_against_mock(capture, out: Path, faults=(), speed: float = 25.0, writer_cls=None, mock_kw=None,
                        time_source=None, setup=None, during=None, wait_books: bool = True, **cfg_kw) -> Run:
    """Replay ``capture`` through the mock into ``out``.

    ``setup(rec)`` is called before the recorder starts; ``during(mock, rec)`` (a coroutine) runs alongside.
    """

    async def scenario():
        mock = MockCoinbase(capture, speed=speed, faults=list(faults), **(mock_kw or {}))
        await mock.start()
        cfg = config(out, mock.url, **cfg_kw)
        writer = None
        if writer_cls is not None:
            from recorder.client import recording_metas
            from recorder.instruments import resolve_instruments

            writer = writer_cls(out, recording_metas(cfg, resolve_instruments(cfg)), cfg.flush_s, cfg.raw)
        rec = Recorder(cfg, writer=writer, counters=None if writer is None else writer.c, time_source=time_source)
        if setup is not None:
            setup(rec)
        task = asyncio.create_task(rec.run())
        side = asyncio.create_task(during(mock, rec)) if during is not None else None
        done = asyncio.create_task(mock.market_done.wait())
        await asyncio.wait({done, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        # let the books recover, then stop cleanly
        deadline = time.monotonic() + 10
        while wait_books and not task.done() and time.monotonic() < deadline and any(
                rec.engine.state[p].book is None for p in rec.engine.subs.active()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.25)
        truth = {p: mock.books[p].top(LEVELS) for p in mock.books}
        final = {p: _top(rec.engine.state[p].book) for p in rec.products}
        rec.stop.set()
        counters = await asyncio.wait_for(task, 30)
        for t in (side, done):
            if t is not None:
                t.cancel()
        await mock.stop()
        return Run(counters, mock, rec, truth, final)

    return asyncio.run(scenario())


def read_back_with_pandas(out: Path) -> dict[str, int]:
    """Rows per dataset read by pandas (pyarrow engine) over the whole hive layout."""
    n = {}
    for dataset in (schema.BOOK_DIR, schema.TRADES_DIR):
        path = out / dataset
        n[dataset] = len(pd.read_parquet(path)) if path.exists() else 0
    assert not list(out.rglob("*.tmp")), f"temporary files left in {out}"
    return n


def verify(out: Path, run: Run, products: list[str] = PRODUCTS, served: dict | None = None) -> dict:
    """The checks every recorder test ends with; returns the reference's tallies."""
    c = run.c
    tallies = check_recording(out, products, GRID_MS, LEVELS)
    assert c.l2_updates_received == c.l2_updates_applied + c.l2_updates_in_gap
    assert tallies["updates_received"] == c.l2_updates_received
    check_trades(out, products, tallies["trades"])
    for p in products:  # after recovery the recorder ends on the market's true book
        assert run.final[p] is not None, f"{p}: book invalid at the end"
        bp, bs, ap, az = run.truth[(served or {}).get(p, p)]
        assert run.final[p] == (bp, bs, ap, az), f"{p}: final book differs from the market's"
    n = read_back_with_pandas(out)
    assert n[schema.BOOK_DIR] == sum(read_dataset(out, schema.BOOK_DIR, p).num_rows for p in products)
    return tallies


def gap_rows(out: Path, product: str) -> int:
    return int(np.sum(read_dataset(out, schema.BOOK_DIR, product).column("after_gap").to_numpy(zero_copy_only=False)))
