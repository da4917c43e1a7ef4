"""The Tardis import's config and report: the types its command, book rebuild and CSV reader share.

Their own module so that `mmjax.data.tardis` (the command), `tardis_book` and `tardis_csv` import one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from mmjax import schema


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
