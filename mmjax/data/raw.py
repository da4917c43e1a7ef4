"""A recording's host values and the loader's report: the types the loader, the fill inputs and their readers share.

Kept apart from `mmjax.data.loader` so that `mmjax.data.fill_inputs` (which the loader calls) reads
them without importing the loader: the data flows loader -> fill_inputs, never back. NumPy only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from mmjax import schema
from mmjax.outputs import UserError


class RecordingError(UserError):
    """Bad input: the message names the file, and the row and field where known."""


@dataclass
class LoadReport:
    """What the loader found and cleaned. Printed by the CLI; nothing is dropped silently."""

    book_files: int = 0
    trade_files: int = 0
    book_rows: int = 0
    trades: int = 0
    crossed_rows_dropped: int = 0
    gaps: int = 0
    empty_levels: int = 0
    trades_outside_grid: int = 0
    trades_in_gaps: int = 0
    trade_prices_folded: int = 0
    grid_holes: int = 0
    lot_size: float = 0.0
    lot_source: str = ""
    sizes_off_lot: int = 0
    sizes_capped: int = 0
    trades_on_exchange_clock: int = 0  # fills use them an interval or more before they were received

    def lines(self) -> list[str]:
        return [f"{f.name:>22}: {getattr(self, f.name)}" for f in dataclasses.fields(self)]


@dataclass
class RawRecording:
    """A validated recording on the host. ``T`` book rows, ``L`` levels, ``N`` trades."""

    meta: schema.RecordingMeta
    ts_exchange_ns: np.ndarray  # [T] int64
    ts_recv_ns: np.ndarray  # [T] int64 grid times
    after_gap: np.ndarray  # [T] bool
    bid_px: np.ndarray  # [T, L] float64, NaN on empty levels
    bid_sz: np.ndarray  # [T, L] float64
    ask_px: np.ndarray  # [T, L] float64
    ask_sz: np.ndarray  # [T, L] float64
    trade_ts_recv_ns: np.ndarray  # [N] int64
    trade_ts_exchange_ns: np.ndarray  # [N] int64
    trade_px: np.ndarray  # [N] float64
    trade_sz: np.ndarray  # [N] float64
    trade_side: np.ndarray  # [N] int8 taker side
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def num_steps(self) -> int:
        return len(self.ts_recv_ns)

    def trade_step(self) -> np.ndarray:
        """[N] grid index t such that the trade lies in (t, t+1]; -1 or T-1 if outside."""
        return np.searchsorted(self.ts_recv_ns, self.trade_ts_recv_ns, side="left") - 1
