"""The recording format: one definition shared by every writer (recorder, synth, importers) and reader.

A recording is a directory ``DIR`` holding two hive-partitioned Parquet datasets::

    DIR/book/product=BTC-USD/date=2026-11-25/part-<stamp>.parquet
    DIR/trades/product=BTC-USD/date=2026-11-25/part-<stamp>.parquet

``product`` and ``date`` (UTC day of ``ts_recv_ns``) live in the path only, as pyarrow and pandas expect.

book: one row per snapshot of the top ``L`` levels on a fixed time grid (default 100 ms).
    ts_exchange_ns  int64   exchange clock of the last message applied before the snapshot (ns UTC)
    ts_recv_ns      int64   grid time on the receive clock (ns UTC); the clock all causality uses
    after_gap       bool    true on the first row after a data gap (and on a recording's first row);
                            no episode may span a row with after_gap=true
    bid_px_0..L-1   float64 bid prices, best first; null where the level is empty
    bid_sz_0..L-1   float64 bid sizes in the venue's size unit; 0 where the level is empty
    ask_px_0..L-1   float64 ask prices, best first; null where the level is empty
    ask_sz_0..L-1   float64 ask sizes; 0 where the level is empty

trades: one row per trade.
    ts_exchange_ns  int64   exchange clock (ns UTC)
    ts_recv_ns      int64   receive clock (ns UTC); a trade belongs to grid interval (t, t+1] by this clock
    trade_id        string  venue trade id
    price           float64
    size            float64 venue size unit
    taker_side      int8    +1 taker bought (lifted the ask), -1 taker sold (hit the bid).
                            Coinbase's market_trades ``side`` is the MAKER side: BUY maker -> -1.

orders (optional; written by ``mmjax import-dbn --orders``): one row per order-by-order (MBO) record, as read.
    ts_exchange_ns  int64   matching-engine clock (ns UTC)
    ts_recv_ns      int64   receive clock (ns UTC)
    sequence        int64   the venue's message sequence number
    order_id        uint64  venue order id (0 where the record names none)
    side            int8    +1 bid (on a trade: a buy aggressor), -1 ask (a sell aggressor), 0 none
    price           float64 quote currency; null where the record has none (a clear)
    size            int64   venue size unit (whole units of the file)
    action          string  A add, C cancel, M modify, R clear, T trade, F fill, N none (Databento's codes)
    flags           uint8   Databento's flags (128 last record of an event, 32 snapshot)

File metadata (Parquet key-value, keys prefixed ``mmjax.``): product, tick_size, size_unit, grid_ms,
levels, source, schema_version, contract_type, and optionally lot_size (the venue's size increment, in
the size unit; absent in older recordings and where unknown) and contract_value. The loader reads tick
size, size unit, lot and contract from here.

contract_type is ``linear`` (a size of q units gains q x the price move, in quote currency: spot, USD-M
futures) or ``inverse`` (sizes are contracts worth ``contract_value`` quote currency each, settled in the
base coin: Binance COIN-M, BitMEX XBTUSD; docs/env.md, "Inverse contracts"). Recordings written before
the field existed carry neither key and read as linear.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmjax.outputs import UserError

SCHEMA_VERSION = "1"
DEFAULT_LEVELS = 20
DEFAULT_GRID_MS = 100
BOOK_DIR = "book"
TRADES_DIR = "trades"
ORDERS_DIR = "orders"
TAKER_BUY = 1
TAKER_SELL = -1
LINEAR, INVERSE = "linear", "inverse"
CONTRACT_TYPES = (LINEAR, INVERSE)


def book_schema(levels: int = DEFAULT_LEVELS) -> pa.Schema:
    """Arrow schema of the book dataset with ``levels`` levels per side."""
    fields = [
        pa.field("ts_exchange_ns", pa.int64(), nullable=False),
        pa.field("ts_recv_ns", pa.int64(), nullable=False),
        pa.field("after_gap", pa.bool_(), nullable=False),
    ]
    for side in ("bid", "ask"):
        fields += [pa.field(f"{side}_px_{i}", pa.float64()) for i in range(levels)]
        fields += [pa.field(f"{side}_sz_{i}", pa.float64(), nullable=False) for i in range(levels)]
    return pa.schema(fields)


TRADES_SCHEMA = pa.schema(
    [
        pa.field("ts_exchange_ns", pa.int64(), nullable=False),
        pa.field("ts_recv_ns", pa.int64(), nullable=False),
        pa.field("trade_id", pa.string(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("taker_side", pa.int8(), nullable=False),
    ]
)


ORDERS_SCHEMA = pa.schema(
    [
        pa.field("ts_exchange_ns", pa.int64(), nullable=False),
        pa.field("ts_recv_ns", pa.int64(), nullable=False),
        pa.field("sequence", pa.int64(), nullable=False),
        pa.field("order_id", pa.uint64(), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("price", pa.float64()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("flags", pa.uint8(), nullable=False),
    ]
)
DATASET_SCHEMAS = {TRADES_DIR: TRADES_SCHEMA, ORDERS_DIR: ORDERS_SCHEMA}


def px_col(side: str, level: int) -> str:
    return f"{side}_px_{level}"


def sz_col(side: str, level: int) -> str:
    return f"{side}_sz_{level}"


def levels_in(schema: pa.Schema) -> int:
    """Number of book levels a book schema carries (counts ``bid_px_*`` columns)."""
    return sum(1 for n in schema.names if n.startswith("bid_px_"))


def maker_side_to_taker(side: str) -> int:
    """Coinbase ``market_trades.side`` is the maker's side; the taker is on the other side."""
    s = side.upper()
    if s == "BUY":
        return TAKER_SELL
    if s == "SELL":
        return TAKER_BUY
    raise ValueError(f"market_trades side must be BUY or SELL, got {side!r}")


@dataclass(frozen=True)
class RecordingMeta:
    """What a reader needs to interpret prices and sizes; stored in every file's metadata."""

    product: str
    tick_size: float
    size_unit: str = "BTC"
    grid_ms: int = DEFAULT_GRID_MS
    levels: int = DEFAULT_LEVELS
    source: str = "unknown"
    lot_size: float | None = None  # size increment in the size unit; None: unknown
    contract_type: str = LINEAR  # LINEAR or INVERSE (module docstring)
    contract_value: float | None = None  # inverse only: quote currency per contract (100.0 on Binance COIN-M BTC)

    def __post_init__(self):
        check_contract(self.contract_type, self.contract_value, "RecordingMeta")

    @property
    def inverse(self) -> bool:
        return self.contract_type == INVERSE

    def to_kv(self) -> dict[bytes, bytes]:
        kv = {
            "product": self.product,
            "tick_size": repr(float(self.tick_size)),
            "size_unit": self.size_unit,
            "grid_ms": str(int(self.grid_ms)),
            "levels": str(int(self.levels)),
            "source": self.source,
            "schema_version": SCHEMA_VERSION,
            "contract_type": self.contract_type,
        }
        if self.lot_size is not None:
            kv["lot_size"] = repr(float(self.lot_size))
        if self.contract_value is not None:
            kv["contract_value"] = repr(float(self.contract_value))
        return {f"mmjax.{k}".encode(): v.encode() for k, v in kv.items()}

    @staticmethod
    def from_kv(kv: dict[bytes, bytes] | None, where: str) -> RecordingMeta:
        kv = kv or {}
        get = {k.decode(): v.decode() for k, v in kv.items() if k.startswith(b"mmjax.")}
        missing = [k for k in ("mmjax.product", "mmjax.tick_size") if k not in get]
        if missing:
            raise UserError(f"{where}: Parquet metadata lacks {missing}; not an mmjax recording")
        return RecordingMeta(
            product=get["mmjax.product"],
            tick_size=float(get["mmjax.tick_size"]),
            size_unit=get.get("mmjax.size_unit", "BTC"),
            grid_ms=int(get.get("mmjax.grid_ms", DEFAULT_GRID_MS)),
            levels=int(get.get("mmjax.levels", DEFAULT_LEVELS)),
            source=get.get("mmjax.source", "unknown"),
            lot_size=_optional_positive(get.get("mmjax.lot_size"), "mmjax.lot_size", where),
            # older recordings have neither key: linear
            contract_type=check_contract(get.get("mmjax.contract_type", LINEAR), get.get("mmjax.contract_value"),
                                         f"{where}: Parquet metadata"),
            contract_value=_optional_positive(get.get("mmjax.contract_value"), "mmjax.contract_value", where),
        )


def check_contract(contract_type: str, contract_value, where: str) -> str:
    """``contract_type`` when it and ``contract_value`` make a contract, else a ValueError naming the field and ``where``."""
    if contract_type not in CONTRACT_TYPES:
        raise UserError(f"{where}: contract_type {contract_type!r} must be one of {CONTRACT_TYPES}")
    if contract_type == INVERSE:
        if contract_value is None:
            raise UserError(f"{where}: contract_type 'inverse' needs contract_value (quote currency per contract, > 0)")
        positive_number(contract_value, f"{where}: contract_value")
    elif contract_value is not None:
        raise UserError(f"{where}: contract_value {contract_value!r} is only meaningful for contract_type 'inverse'")
    return contract_type


def _optional_positive(text: str | None, key: str, where: str) -> float | None:
    return None if text is None else positive_number(text, f"{where}: Parquet metadata {key}")


def positive_number(text, what: str) -> float:
    """``float(text)`` when it is a positive finite number, else a ValueError naming ``what``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{what}: {text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise UserError(f"{what}: {text!r} must be a positive number")
    return value


def utc_date(ts_ns: int) -> str:
    return _dt.datetime.fromtimestamp(ts_ns / 1e9, tz=_dt.UTC).strftime("%Y-%m-%d")


def partition_dir(root: str | os.PathLike, dataset: str, product: str, date: str) -> Path:
    return Path(root) / dataset / f"product={product}" / f"date={date}"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so that a crash never leaves a half-written file under its final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not keep the partial file (it would fill it further)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _split_by_date(table: pa.Table) -> dict[str, pa.Table]:
    if table.num_rows == 0:
        return {}
    ts = table.column("ts_recv_ns").to_numpy()
    day = (ts // 86_400_000_000_000).astype(np.int64)
    out = {}
    for d in np.unique(day):
        mask = day == d
        out[utc_date(int(d) * 86_400_000_000_000)] = table.filter(pa.array(mask))
    return out


def write_dataset(
    table: pa.Table, root: str | os.PathLike, dataset: str, meta: RecordingMeta, part: str
) -> list[Path]:
    """Write ``table`` (book, trades or orders) into the hive layout, one atomic file per UTC date.

    ``part`` names the file within its partition (e.g. a start timestamp); rows must be time-sorted.
    """
    if dataset not in (BOOK_DIR, TRADES_DIR, ORDERS_DIR):
        raise ValueError(f"dataset must be {BOOK_DIR!r}, {TRADES_DIR!r} or {ORDERS_DIR!r}, got {dataset!r}")
    expected = book_schema(meta.levels) if dataset == BOOK_DIR else DATASET_SCHEMAS[dataset]
    table = table.select(expected.names).cast(expected).replace_schema_metadata(meta.to_kv())
    paths = []
    for date, sub in _split_by_date(table).items():
        path = partition_dir(root, dataset, meta.product, date) / f"part-{part}.parquet"
        write_atomic(sub, path)
        paths.append(path)
    return paths


def write_quiet_dates(root: str | os.PathLike, meta: RecordingMeta) -> list[str]:
    """Write an empty trades file for each date of ``root``'s book that has no trades file; returns those dates.

    The rule: every date of a recording has both datasets, and a date without trades (a quiet market)
    says so with a trades file of 0 rows, so that a missing file is always a file lost (`mmjax load`)."""
    book = partition_dir(root, BOOK_DIR, meta.product, "x").parent
    quiet = []
    for ddir in sorted(book.glob("date=*")):
        date = ddir.name.split("=", 1)[1]
        tdir = partition_dir(root, TRADES_DIR, meta.product, date)
        if not any(tdir.glob("*.parquet")):
            write_atomic(TRADES_SCHEMA.empty_table().replace_schema_metadata(meta.to_kv()), tdir / "part-quiet.parquet")
            quiet.append(date)
    return quiet


def book_table_from_arrays(
    ts_exchange_ns: np.ndarray,
    ts_recv_ns: np.ndarray,
    after_gap: np.ndarray,
    bid_px: np.ndarray,
    bid_sz: np.ndarray,
    ask_px: np.ndarray,
    ask_sz: np.ndarray,
) -> pa.Table:
    """Build a book table from ``[T]`` timestamps/flags and ``[T, L]`` level arrays.

    NaN prices become nulls (empty levels); their sizes must be 0.
    """
    levels = bid_px.shape[1]
    cols: dict[str, pa.Array] = {
        "ts_exchange_ns": pa.array(np.asarray(ts_exchange_ns, np.int64)),
        "ts_recv_ns": pa.array(np.asarray(ts_recv_ns, np.int64)),
        "after_gap": pa.array(np.asarray(after_gap, bool)),
    }
    for side, px, sz in (("bid", bid_px, bid_sz), ("ask", ask_px, ask_sz)):
        px = np.asarray(px, np.float64)
        sz = np.asarray(sz, np.float64)
        for i in range(levels):
            cols[px_col(side, i)] = pa.array(px[:, i], from_pandas=True)  # NaN -> null
        for i in range(levels):
            cols[sz_col(side, i)] = pa.array(sz[:, i])
    return pa.table(cols).cast(book_schema(levels))


def trades_table_from_arrays(
    ts_exchange_ns: np.ndarray,
    ts_recv_ns: np.ndarray,
    trade_id: list[str] | np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    taker_side: np.ndarray,
) -> pa.Table:
    """Build a trades table from ``[N]`` arrays (``taker_side`` in {+1, -1})."""
    return pa.table(
        {
            "ts_exchange_ns": pa.array(np.asarray(ts_exchange_ns, np.int64)),
            "ts_recv_ns": pa.array(np.asarray(ts_recv_ns, np.int64)),
            "trade_id": pa.array([str(x) for x in trade_id], pa.string()),
            "price": pa.array(np.asarray(price, np.float64)),
            "size": pa.array(np.asarray(size, np.float64)),
            "taker_side": pa.array(np.asarray(taker_side, np.int8)),
        }
    ).cast(TRADES_SCHEMA)
