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
from pathlib import Path

from mmjax import outputs, schema
from mmjax.data.tardis_book import import_book, product_dirs
from mmjax.data.tardis_csv import (  # noqa: F401  (re-exported: the public names of the import)
    KNOWN_CONTRACTS,
    KNOWN_VENUES,
    TardisFormatError,
    import_trades,
    infer_lot_size,
    infer_tick_size,
    tick_fits,
    venue_contract,
)
from mmjax.data.tardis_types import TardisImportConfig, TardisReport  # noqa: F401  (re-exported)
from mmjax.outputs import UserError, check_range


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
            meta = import_book(book_path, stage, cfg, report, log)
            exchange, symbol = meta.source.split(":")[1:]
            import_trades(trades_path, stage, meta, (exchange, symbol), report, log)
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
