"""Recordings written by hand for the loader tests and others: a book and trades on the 100 ms grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmjax import schema

T0_NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC, on the 100 ms grid

GRID_NS = 100_000_000

TICK = 0.01

META = schema.RecordingMeta(product="BTC-USD", tick_size=TICK, levels=3, source="test")


def book_arrays(T: int, L: int = 3, t0: int = T0_NS, best_bid: float = 100.0) -> dict[str, np.ndarray]:
    """A quiet book: best bid ``best_bid``, 1-tick spread, 1-tick level spacing, sizes 1, 2, 3."""
    lv = np.arange(L)
    return {
        "ts_exchange_ns": t0 + np.arange(T, dtype=np.int64) * GRID_NS - 1000,
        "ts_recv_ns": t0 + np.arange(T, dtype=np.int64) * GRID_NS,
        "after_gap": np.zeros(T, bool),
        "bid_px": np.round(best_bid - TICK * lv, 2)[None].repeat(T, 0),
        "bid_sz": (1.0 + lv)[None].repeat(T, 0),
        "ask_px": np.round(best_bid + TICK * (1 + lv), 2)[None].repeat(T, 0),
        "ask_sz": (1.0 + lv)[None].repeat(T, 0),
    }


def trades_arrays(ts_recv_ns, px, sz, side) -> dict:
    n = len(ts_recv_ns)
    return {"ts_exchange_ns": np.asarray(ts_recv_ns, np.int64) - 1000, "ts_recv_ns": np.asarray(ts_recv_ns, np.int64),
            "trade_id": [str(i) for i in range(n)], "price": np.asarray(px, float), "size": np.asarray(sz, float),
            "taker_side": np.asarray(side, np.int8)}


def write(root: Path, book: dict | None = None, trades: dict | None = None, meta=META, part: str = "a") -> list[Path]:
    """Write a recording with the schema helpers; returns the files written."""
    paths = []
    if book is not None:
        paths += schema.write_dataset(schema.book_table_from_arrays(**book), root, schema.BOOK_DIR, meta, part)
    if trades is not None:
        paths += schema.write_dataset(schema.trades_table_from_arrays(**trades), root, schema.TRADES_DIR, meta, part)
    return paths
