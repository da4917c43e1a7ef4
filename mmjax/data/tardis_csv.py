"""Tardis.dev CSV reading: columns, the venue tables (tick, unit, contract), streaming batches, input checks, tick/lot
inference, and the trades CSV -> trades dataset.

Used by `mmjax.data.tardis` (the import command) and `mmjax.data.tardis_book` (the book rebuild).
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from mmjax import schema
from mmjax.outputs import UserError

if TYPE_CHECKING:
    from mmjax.data.tardis_types import TardisReport

BOOK_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
TRADE_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
_TYPES = {
    "exchange": pa.string(),
    "symbol": pa.string(),
    "timestamp": pa.int64(),
    "local_timestamp": pa.int64(),
    "is_snapshot": pa.bool_(),
    "side": pa.string(),
    "price": pa.float64(),
    "amount": pa.float64(),  # coin-m contracts are integers in the CSV; one dtype for all venues
    "id": pa.string(),
}
HOUR_US = 3_600_000_000
# Fraction of distinct prices that must lie on a tick for it to be accepted (robust to a few bad prints).
TICK_FIT_MIN = 0.999

# (exchange, symbol) -> (tick size, size unit). Venues change tick sizes over time: a listed tick
# that does not fit the observed prices is replaced by the inferred one, with a warning.
KNOWN_VENUES: dict[tuple[str, str], tuple[float, str]] = {
    ("binance", "BTCUSDT"): (0.01, "BTC"),
    ("binance-futures", "BTCUSDT"): (0.1, "BTC"),
    ("binance-delivery", "BTCUSD_PERP"): (0.1, "contracts_100usd"),
    ("coinbase", "BTC-USD"): (0.01, "BTC"),
    ("bitmex", "XBTUSD"): (0.5, "USD"),
    ("deribit", "BTC-PERPETUAL"): (0.5, "USD"),
}


# (exchange, symbol) -> (contract type, quote currency per contract). Sizes of an inverse contract are
# contracts: BitMEX XBTUSD and Deribit BTC-PERPETUAL size in USD (1 USD per size unit); every Binance
# COIN-M (``binance-delivery``) symbol is inverse, 100 USD per BTC contract, 10 USD per other contract.
KNOWN_CONTRACTS: dict[tuple[str, str], tuple[str, float | None]] = {
    ("binance", "BTCUSDT"): (schema.LINEAR, None),
    ("binance-futures", "BTCUSDT"): (schema.LINEAR, None),
    ("coinbase", "BTC-USD"): (schema.LINEAR, None),
    ("bitmex", "XBTUSD"): (schema.INVERSE, 1.0),
    ("deribit", "BTC-PERPETUAL"): (schema.INVERSE, 1.0),
}
COINM_EXCHANGE = "binance-delivery"


def venue_contract(exchange: str, symbol: str) -> tuple[str, float | None] | None:
    """(contract type, contract value) of a venue's symbol from the table above; None where unknown."""
    if exchange == COINM_EXCHANGE:
        return schema.INVERSE, 100.0 if symbol.startswith("BTC") else 10.0
    return KNOWN_CONTRACTS.get((exchange, symbol))


class TardisFormatError(UserError):
    """Bad Tardis CSV input: the message names the file, and the line and field where known."""


def open_csv(path: Path, columns: tuple[str, ...]) -> pcsv.CSVStreamingReader:
    """Streaming reader with fixed column types (type inference on the first block could be wrong later)."""
    if not path.is_file():
        raise TardisFormatError(f"{path}: no such file")
    try:
        with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as fh:
            header = fh.readline().strip().split(",")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise TardisFormatError(f"{path}: unreadable ({exc})") from exc
    missing = [c for c in columns if c not in header]
    if missing:
        raise TardisFormatError(f"{path}: line 1 (header): missing column(s) {missing}; got {header}")
    convert = pcsv.ConvertOptions(column_types={c: _TYPES[c] for c in columns}, include_columns=list(columns),
                                  true_values=["true", "True"], false_values=["false", "False"])
    read = pcsv.ReadOptions(block_size=1 << 22)
    try:
        stream = pa.input_stream(str(path), compression="detect")
        return pcsv.open_csv(stream, read_options=read, convert_options=convert)
    except (pa.ArrowException, OSError) as exc:  # OSError: a truncated .gz
        raise TardisFormatError(f"{path}: cannot parse CSV: {exc}") from exc


def batches(reader: pcsv.CSVStreamingReader, path: Path):
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:  # OSError: "Truncated compressed stream" names no file
            raise TardisFormatError(f"{path}: cannot parse CSV: {exc}") from exc
        yield batch


def check_batch(batch: pa.RecordBatch, path: Path, first_line: int, prev_lt: int | None, ident: list,
                 zero_amount_ok: bool = True) -> None:
    """Nulls, symbols and receive-clock order; ``ident`` holds the first (exchange, symbol) seen."""
    if batch.num_rows == 0:
        return
    for name in batch.schema.names:
        col = batch.column(name)
        if col.null_count:
            r = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise TardisFormatError(f"{path}: line {first_line + r}, field {name!r}: empty value")
    for name in ("exchange", "symbol"):
        vals = pc.unique(batch.column(name)).to_pylist()
        if not ident:
            ident += [batch.column("exchange")[0].as_py(), batch.column("symbol")[0].as_py()]
        want = ident[0] if name == "exchange" else ident[1]
        other = [v for v in vals if v != want]
        if other:
            r = int(np.flatnonzero(batch.column(name).to_numpy(zero_copy_only=False) == other[0])[0])
            raise TardisFormatError(f"{path}: line {first_line + r}, field {name!r}: {other[0]!r} differs from "
                                    f"{want!r}; import one symbol per file")
    lt = batch.column("local_timestamp").to_numpy()
    bad = np.flatnonzero(np.diff(lt) < 0)
    if len(bad) or (prev_lt is not None and len(lt) and lt[0] < prev_lt):
        r = int(bad[0]) + 1 if len(bad) else 0
        raise TardisFormatError(f"{path}: line {first_line + r}, field 'local_timestamp': {lt[r]} goes back in time")
    for name, strict in (("price", True), ("amount", not zero_amount_ok)):
        v = batch.column(name).to_numpy()
        bad = ~np.isfinite(v) | ((v <= 0) if strict else (v < 0))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            what = "must be positive" if strict else "must be >= 0"
            raise TardisFormatError(f"{path}: line {first_line + r}, field {name!r}: {v[r]} {what}")


def infer_tick_size(prices: np.ndarray) -> float:
    """Largest tick that at least 99.9% of the distinct prices are multiples of (a robust gcd)."""
    return _robust_increment(prices, "a tick size from", "price(s); give --tick-size")


def infer_lot_size(sizes: np.ndarray) -> float:
    """Largest size increment (lot) that at least 99.9% of the distinct positive sizes are multiples of."""
    return _robust_increment(sizes, "a lot size from", "positive size(s)")


def _robust_increment(values: np.ndarray, what: str, of: str) -> float:
    """Largest c in {1, 2, 2.5, 5} x 10^k (or the plain gcd) dividing >= 99.9% of the distinct values."""
    p = np.unique(np.asarray(values, np.float64))
    p = p[np.isfinite(p) & (p > 0)]
    if len(p) < 2:
        raise ValueError(f"cannot infer {what} {len(p)} distinct {of}")
    # integers in units of 10^-decimals, exact while p * 10^decimals < 2^53
    decimals = int(min(9, max(0, 15 - math.ceil(math.log10(p.max() + 1)))))
    units = np.rint(p * 10.0**decimals).astype(np.int64)
    cands = {int(m * 10**k) for k in range(0, decimals + 8) for m in (1, 2, 5)}
    cands |= {int(25 * 10**k) for k in range(0, decimals + 7)}
    cands.add(int(np.gcd.reduce(units)))
    for c in sorted(cands, reverse=True):
        if c > 0 and np.mean(units % c == 0) >= TICK_FIT_MIN:
            return c / 10.0**decimals
    return 10.0**-decimals


def tick_fits(tick: float, prices: np.ndarray) -> bool:
    """Whether at least 99.9% of the distinct prices lie on multiples of ``tick``."""
    p = np.unique(prices)
    q = p / tick
    return bool(np.mean(np.abs(q - np.rint(q)) <= 1e-6 + np.abs(q) * 1e-12) >= TICK_FIT_MIN)


class Progress:
    def __init__(self, what: str, log: Callable[[str], None] | None, every_s: float = 5.0):
        self.what, self.log, self.every_s = what, log, every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, rows: int, final: bool = False) -> None:
        now = time.perf_counter()
        if self.log is None or (not final and now - self.last < self.every_s):
            return
        self.last = now
        rate = rows / max(now - self.t0, 1e-9)
        self.log(f"{self.what}: {rows:,} rows, {rate:,.0f} rows/s{' (done)' if final else ''}")


def import_trades(path: Path, out: Path, meta: schema.RecordingMeta, symbol: tuple[str, str],
                   report: TardisReport, log: Callable[[str], None] | None) -> None:
    """Stream the trades CSV: taker side buy/sell -> +1/-1, unknown counted and dropped, hourly files."""
    reader = open_csv(path, TRADE_COLUMNS)
    ident = list(symbol)
    line, prev_lt = 2, None
    pending: list[dict[str, np.ndarray]] = []
    progress = Progress("trades", log)

    def write(cols: dict[str, np.ndarray]) -> None:
        table = schema.trades_table_from_arrays(cols["ts_ex"] * 1000, cols["ts_recv"] * 1000, cols["id"],
                                                cols["price"], cols["size"], cols["side"])
        report.trade_files += len(schema.write_dataset(table, out, schema.TRADES_DIR, meta, str(cols["ts_recv"][0] * 1000)))
        report.trades_written += len(cols["id"])

    def flush(final: bool) -> None:
        if not pending:
            return
        cols = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
        pending.clear()
        hour = cols["ts_recv"] // HOUR_US
        last = hour[-1] if len(hour) else 0
        for h in np.unique(hour):
            sel = hour == h
            if h == last and not final:
                pending.append({k: v[sel] for k, v in cols.items()})
            elif sel.any():
                write({k: v[sel] for k, v in cols.items()})

    for batch in batches(reader, path):
        check_batch(batch, path, line, prev_lt, ident, zero_amount_ok=False)
        side = batch.column("side")
        taker = np.zeros(batch.num_rows, np.int8)
        taker[pc.equal(side, "buy").to_numpy(zero_copy_only=False)] = schema.TAKER_BUY
        taker[pc.equal(side, "sell").to_numpy(zero_copy_only=False)] = schema.TAKER_SELL
        unknown = pc.equal(side, "unknown").to_numpy(zero_copy_only=False)
        bad = (taker == 0) & ~unknown
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise TardisFormatError(f"{path}: line {line + r}, field 'side': {side[r].as_py()!r} (must be buy, sell or unknown)")
        keep = ~unknown
        report.trades_unknown_side += int(unknown.sum())
        lt = batch.column("local_timestamp").to_numpy()
        prev_lt = int(lt[-1]) if len(lt) else prev_lt
        pending.append({
            "ts_recv": lt[keep], "ts_ex": batch.column("timestamp").to_numpy()[keep],
            "id": np.asarray(batch.column("id").to_numpy(zero_copy_only=False))[keep],
            "price": batch.column("price").to_numpy()[keep], "size": batch.column("amount").to_numpy()[keep],
            "side": taker[keep],
        })
        flush(final=False)
        line += batch.num_rows
        report.trades_read += batch.num_rows
        progress(report.trades_read)
    flush(final=True)
    progress(report.trades_read, final=True)
