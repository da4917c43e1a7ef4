"""`mmjax import-dbn`: Databento DBN market-by-order (MBO, L3) files -> an mmjax recording.

The L3 book is rebuilt order by order (`mmjax.data.dbn_book`) and sampled on the grid of the receive
clock; trades come from ``T`` records with the aggressor's side; optionally every record is written
as the ``orders/`` dataset (the input of benchmarks/queue_truth.py). The rules are in
`mmjax.data.dbn_stream` and docs/data.md ("Databento MBO"). Files are read in order as one stream
(e.g. a snapshot day, then the session): one instrument, time never going back.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import databento_dbn as dbn
import numpy as np

from mmjax import schema
from mmjax.data.dbn_read import (
    PRICE_SCALE,
    DbnFormatError,
    Mbo,
    file_symbol,
    read_metadata,
    records,
)
from mmjax.data.dbn_stream import DbnStream
from mmjax.data.tardis_book import skipped_counts
from mmjax.data.tardis_csv import Progress, infer_lot_size, infer_tick_size, tick_fits

# Databento dataset -> the unit of its sizes (a dataset not listed imports as 'unknown', with a warning).
DATASET_UNITS = {"GLBX.MDP3": "contracts", "SSE.L3": "shares", "XNAS.ITCH": "shares", "XNYS.PILLAR": "shares",
                 "ARCX.PILLAR": "shares", "IFEU.IMPACT": "contracts", "NDEX.IMPACT": "contracts"}


@dataclass
class DbnReport:
    """What the import read, wrote and skipped; nothing is skipped silently."""

    product: str = ""
    dataset: str = ""
    symbol: str = ""
    tick_size: float = 0.0
    tick_source: str = ""
    size_unit: str = ""
    lot_size: float = 0.0
    lot_source: str = ""
    files: int = 0
    records_read: int = 0
    other_records: int = 0  # not MBO (symbol mappings, system, status, definitions)
    events: int = 0  # records flagged F_LAST
    messages: int = 0  # distinct ts_recv
    snapshots: int = 0
    snapshot_resets: int = 0
    clears: int = 0
    records_before_book: int = 0
    grid_rows_written: int = 0
    after_gap_rows: int = 0
    crossed_rows_skipped: int = 0
    one_sided_rows_skipped: int = 0
    silences: int = 0
    silent_rows_skipped: int = 0
    trades_read: int = 0
    trades_written: int = 0
    trades_unknown_side: int = 0
    fills_read: int = 0
    none_records: int = 0
    orders_written: int = 0
    book_files: int = 0
    trade_files: int = 0
    order_files: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"{f.name:>22}: {getattr(self, f.name)}" for f in fields(self)]


@dataclass
class DbnImportConfig:
    """Convert Databento DBN market-by-order files (schema mbo, optionally .zst) into a recording.

    The grid runs on the receive clock (ts_recv). See docs/data.md ("Databento MBO") for the rules.
    """

    mbo: list[str] = field(metadata={"help": "DBN MBO file(s) of one instrument, in time order (e.g. a snapshot "
                                             "file, then the session)", "nargs": "+", "metavar": "FILE"})
    out: str = field(metadata={"help": "output recording directory (book/, trades/ and with --orders orders/)"})
    product: str | None = field(default=None, metadata={"help": "product name in the recording; default DATASET-SYMBOL"})
    tick_size: float | None = field(default=None, metadata={
        "help": "price tick, quote currency; default: an instrument definition in the file, else inferred from prices"})
    lot_size: float | None = field(default=None, metadata={
        "help": "size increment, venue size unit; default: inferred from the order sizes"})
    size_unit: str | None = field(default=None, metadata={
        "help": "unit of sizes (e.g. contracts, shares); default: by dataset (GLBX.MDP3 contracts, SSE.L3 shares, ...)"})
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "grid step, milliseconds"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side to keep"})
    max_silence_s: float = field(default=5.0, metadata={
        "help": "a wait longer than this between messages is a gap, seconds (60 for a stock's lunch break)"})
    orders: bool = field(default=False, metadata={
        "help": "also write every MBO record as the orders/ dataset (ts, order id, side, price, size, action)"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace this product's existing partitions under --out (else an error)"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})


class _Meta:
    """The recording's metadata, fixed at the first write from the flags, the file and the records so far."""

    def __init__(self, cfg: DbnImportConfig, report: DbnReport, stream_ref: list, log: Callable | None):
        self.cfg, self.report, self.stream_ref, self.log = cfg, report, stream_ref, log
        self.def_tick: float | None = None  # from an instrument definition record
        self.meta: schema.RecordingMeta | None = None

    def __call__(self) -> schema.RecordingMeta:
        if self.meta is None:
            self.meta = self._fix()
            self._make_room(self.meta.product)
        return self.meta

    def _fix(self) -> schema.RecordingMeta:
        cfg, rep, stream = self.cfg, self.report, self.stream_ref[0]
        prices = np.array(sorted(stream.prices), np.float64) / PRICE_SCALE
        sizes = np.array(sorted(stream.sizes), np.float64)
        if cfg.tick_size is not None:
            if not (cfg.tick_size > 0 and tick_fits(cfg.tick_size, prices)):
                raise DbnFormatError(f"--tick-size {cfg.tick_size} does not fit the prices (e.g. {prices[:3].tolist()})")
            tick, rep.tick_source = float(cfg.tick_size), "given"
        elif self.def_tick:
            tick, rep.tick_source = self.def_tick, "instrument definition"
        else:
            tick, rep.tick_source = infer_tick_size(prices), f"inferred from {len(prices)} distinct prices"
        if cfg.lot_size is not None:
            rep.lot_size, rep.lot_source = schema.positive_number(cfg.lot_size, "--lot-size"), "given"
        elif len(sizes) >= 2:
            rep.lot_size, rep.lot_source = infer_lot_size(sizes), f"inferred from {len(sizes)} distinct order sizes"
        unit = cfg.size_unit or DATASET_UNITS.get(rep.dataset, "unknown")
        if unit == "unknown" and self.log:
            self.log(f"warning: size unit of dataset {rep.dataset} unknown; give --size-unit")
        rep.product = cfg.product or f"{rep.dataset}-{rep.symbol or stream.instrument}"
        rep.tick_size, rep.size_unit = tick, unit
        return schema.RecordingMeta(product=rep.product, tick_size=tick, size_unit=unit, grid_ms=cfg.grid_ms,
                                    levels=cfg.levels, source=f"dbn:{rep.dataset}:{rep.symbol}",
                                    lot_size=rep.lot_size or None)

    def _make_room(self, product: str) -> None:
        out = Path(self.cfg.out)
        dirs = [schema.partition_dir(out, d, product, "x").parent
                for d in (schema.BOOK_DIR, schema.TRADES_DIR, schema.ORDERS_DIR)]
        existing = [d for d in dirs if d.exists()]
        if existing and not self.cfg.overwrite:
            raise FileExistsError(f"{existing[0]} exists; pass --overwrite to replace product {product!r} under {out}")
        for d in existing:
            shutil.rmtree(d)


def import_dbn(cfg: DbnImportConfig, log: Callable[[str], None] | None = None) -> DbnReport:
    """Convert ``cfg.mbo`` into a recording under ``cfg.out``; returns the report."""
    t0 = time.perf_counter()
    report = DbnReport()
    paths = [Path(p) for p in cfg.mbo]
    if not paths:
        raise DbnFormatError("no --mbo file given")
    for p in paths:  # every header first: a wrong file fails before anything is read
        meta = read_metadata(p)
        if report.dataset and meta.dataset != report.dataset:
            raise DbnFormatError(f"{p}: metadata field 'dataset': {meta.dataset!r} differs from {report.dataset!r}")
        report.dataset, report.symbol = meta.dataset, report.symbol or file_symbol(meta)
    stream_ref: list[DbnStream] = []
    fix = _Meta(cfg, report, stream_ref, log)
    stream = DbnStream(Path(cfg.out), cfg.levels, cfg.grid_ms, cfg.max_silence_s, cfg.orders, report, fix)
    stream_ref.append(stream)
    progress = Progress("records", log)
    for p in paths:
        report.files += 1
        for r in records(p):
            if isinstance(r, Mbo):
                stream.feed(p, r)
                if not report.records_read % 100_000:
                    progress(report.records_read)
                continue
            report.other_records += 1
            if isinstance(r, dbn.InstrumentDefMsg) and r.min_price_increment not in (0, dbn.UNDEF_PRICE):
                fix.def_tick = r.min_price_increment / PRICE_SCALE
    if report.records_read == 0:
        raise DbnFormatError(f"{', '.join(map(str, paths))}: no MBO records")
    stream.finish()
    if report.grid_rows_written == 0:
        raise DbnFormatError(f"{', '.join(map(str, paths))}: no book row to write: {_why_no_rows(report, cfg.grid_ms)}")
    progress(report.records_read, final=True)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _why_no_rows(r: DbnReport, grid_ms: int) -> str:
    """The counts behind an import that has no grid row to write, in words."""
    return (f"{r.records_read:,} MBO records in {r.messages:,} messages, {r.snapshots} snapshot(s) and {r.clears} "
            f"clear(s) give no {grid_ms} ms grid time with a known, two-sided, uncrossed book (nothing is written "
            f"after the last message)" + skipped_counts(r, "records_before_book"))


def run(cfg: DbnImportConfig) -> int:
    """CLI entry point: import, then print the report."""
    report = import_dbn(cfg, log=None if cfg.quiet else print)
    print("\n".join(report.lines()))
    rate = report.records_read / max(report.seconds, 1e-9)
    print(f"wrote {cfg.out}: {report.grid_rows_written:,} book rows, {report.trades_written:,} trades"
          + (f", {report.orders_written:,} order records" if cfg.orders else "")
          + f" (read {report.records_read:,} MBO records in {report.seconds:.1f} s, {rate:,.0f} records/s)")
    return 0
