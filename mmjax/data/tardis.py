"""Tardis.dev CSV (``incremental_book_L2`` + ``trades``) -> an mmjax recording.

The full-depth book is rebuilt from snapshot + incremental rows and sampled on the grid of the
*receive* clock (``local_timestamp``): the row at grid time ``g`` is the book after every message
with ``local_timestamp <= g``. One message is all consecutive rows sharing a ``local_timestamp``;
the book is only consistent at message boundaries, so it is only sampled there.

A snapshot block is a run of ``is_snapshot=true`` rows sharing one exchange ``timestamp`` (it may
span several messages); it replaces the book and is complete when the next message does not
continue it. A snapshot row with another timestamp starts a new block: that is how snapshot-only
feeds (periodic top-N snapshots, no increments) arrive, and it is not a gap.

Rows that are not written, each counted in `TardisReport`, and after which the next written row
carries ``after_gap=True``:

- grid times before the first complete snapshot, or inside a snapshot block;
- a new snapshot block after increments (the venue or Tardis resynchronised: a reconnect);
- a crossed or locked book (best bid >= best ask) or a one-sided book at the message boundary;
- silences: every grid time between two messages more than ``max_silence_s`` apart.

Everything streams: CSV batches from ``pyarrow.csv.open_csv``, a per-side dict price -> size with
a sorted key list (bisect) for the top ``L`` levels, and output rotated into one file per hour.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from mmjax import outputs, schema
from mmjax.data.tardis_book import _import_book, product_dirs
from mmjax.data.tardis_csv import (  # noqa: F401  (re-exported: the public names of the import)
    KNOWN_CONTRACTS,
    KNOWN_VENUES,
    TardisFormatError,
    _import_trades,
    infer_lot_size,
    infer_tick_size,
    tick_fits,
    venue_contract,
)
from mmjax.outputs import UserError, check_range


@dataclass
class TardisReport:
    """What the import read, wrote and skipped; nothing is skipped silently."""

    product: str = ""
    tick_size: float = 0.0
    tick_source: str = ""
    size_unit: str = ""
    lot_size: float = 0.0  # size increment in the size unit (0: fewer than two distinct sizes)
    lot_source: str = ""
    contract_type: str = ""  # schema.LINEAR or schema.INVERSE
    contract_value: float = 0.0  # inverse: quote currency per contract (0: linear)
    contract_source: str = ""
    book_rows_read: int = 0
    messages: int = 0
    snapshots: int = 0
    snapshot_replacements: int = 0
    rows_before_first_snapshot: int = 0
    grid_rows_written: int = 0
    after_gap_rows: int = 0
    snapshot_resets: int = 0
    crossed_rows_skipped: int = 0
    one_sided_rows_skipped: int = 0
    silences: int = 0
    silent_rows_skipped: int = 0
    trades_read: int = 0
    trades_written: int = 0
    trades_unknown_side: int = 0
    quiet_dates: int = 0  # dates with book rows and no trades: each gets an empty trades file (a header-only CSV, say)
    book_files: int = 0
    trade_files: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"{f.name:>26}: {getattr(self, f.name)}" for f in fields(self)]


@dataclass
class TardisImportConfig:
    """Convert Tardis.dev incremental_book_L2 and trades CSV files (optionally .gz) into a recording.

    The grid runs on the receive clock (local_timestamp). See docs/data.md for the cleaning rules.
    """

    book: str = field(metadata={"help": "incremental_book_L2 CSV file (.csv or .csv.gz)"})
    trades: str = field(metadata={"help": "trades CSV file of the same symbol (.csv or .csv.gz)"})
    out: str = field(metadata={"help": "output recording directory (book/ and trades/ datasets)"})
    product: str | None = field(
        default=None, metadata={"help": "product name in the recording; default EXCHANGE-SYMBOL"})
    tick_size: float | None = field(
        default=None, metadata={"help": "price tick in quote currency; default: venue table, else inferred from prices"})
    size_unit: str | None = field(
        default=None, metadata={"help": "unit of sizes (e.g. BTC, contracts_100usd); default: venue table, else 'unknown'"})
    contract_type: str | None = field(default=None, metadata={
        "help": "linear or inverse (sizes are contracts of --contract-value quote currency, PnL in the base coin); "
                "default: venue table (binance-delivery, i.e. COIN-M: inverse), else linear", "choices": list(schema.CONTRACT_TYPES)})
    contract_value: float | None = field(default=None, metadata={
        "help": "quote currency per inverse contract (e.g. 100 for Binance COIN-M BTC); default: venue table"})
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "grid step, milliseconds"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side to keep"})
    max_silence_s: float = field(
        default=5.0, metadata={"help": "a wait longer than this between book messages is a gap, seconds"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace this product's existing book/trades partitions under --out (else an error)"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})

def import_tardis(cfg: TardisImportConfig, log: Callable[[str], None] | None = None) -> TardisReport:
    """Convert ``cfg.book`` and ``cfg.trades`` into a recording under ``cfg.out``; returns the report."""
    t0 = time.perf_counter()
    report = TardisReport()
    validate(cfg)
    out = Path(cfg.out)
    book_path, trades_path = Path(cfg.book), Path(cfg.trades)
    for p, flag in ((book_path, "--book"), (trades_path, "--trades")):
        if not p.is_file():
            raise UserError(f"{flag} {p}: no such file")
    # staged beside OUT; this product's partitions replace the old ones only once both datasets are written
    with outputs.lock(out, "mmjax import-tardis"):
        stage = out.with_name(f".{out.name}.import-{os.getpid()}")
        shutil.rmtree(stage, ignore_errors=True)
        try:
            meta = _import_book(book_path, stage, cfg, report, log)
            exchange, symbol = meta.source.split(":")[1:]
            _import_trades(trades_path, stage, meta, (exchange, symbol), report, log)
            report.quiet_dates = len(schema.write_quiet_dates(stage, meta))  # dates without trades: said, and counted
            for new, old in zip(product_dirs(stage, meta.product), product_dirs(out, meta.product), strict=True):
                old.parent.mkdir(parents=True, exist_ok=True)
                if new.exists():
                    outputs.publish(new, old)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def validate(cfg: TardisImportConfig) -> None:
    """Range-check the numeric flags before any file is read (UserError naming the flag and the range)."""
    own = "TardisImportConfig"
    if cfg.tick_size is not None:
        check_range(own, "tick_size", cfg.tick_size, 0, lo_open=True)
    if cfg.contract_value is not None:
        check_range(own, "contract_value", cfg.contract_value, 0, lo_open=True)
    check_range(own, "grid_ms", cfg.grid_ms, 1, 3_600_000)
    check_range(own, "levels", cfg.levels, 1, 1000)
    check_range(own, "max_silence_s", cfg.max_silence_s, 0, lo_open=True)


def run(cfg: TardisImportConfig) -> int:
    """CLI entry point: import, then print the report."""
    report = import_tardis(cfg, log=None if cfg.quiet else print)  # errors: one line, exit 2 (mmjax.cli)
    print("\n".join(report.lines()))
    rate = report.book_rows_read / max(report.seconds, 1e-9)
    print(f"wrote {cfg.out}: {report.grid_rows_written:,} book rows and {report.trades_written:,} trades "
          f"(read {report.book_rows_read:,} book CSV rows in {report.seconds:.1f} s, {rate:,.0f} rows/s)")
    return 0
