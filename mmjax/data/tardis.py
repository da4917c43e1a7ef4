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

import gzip
import math
import shutil
import sys
import time
from bisect import bisect_left, insort
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from mmjax import schema

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


class TardisFormatError(ValueError):
    """Bad Tardis CSV input: the message names the file, and the line and field where known."""


@dataclass
class TardisReport:
    """What the import read, wrote and skipped; nothing is skipped silently."""

    product: str = ""
    tick_size: float = 0.0
    tick_source: str = ""
    size_unit: str = ""
    lot_size: float = 0.0  # size increment in the size unit (0: fewer than two distinct sizes)
    lot_source: str = ""
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
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "grid step, milliseconds"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side to keep"})
    max_silence_s: float = field(
        default=5.0, metadata={"help": "a wait longer than this between book messages is a gap, seconds"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace this product's existing book/trades partitions under --out (else an error)"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})


def _open_csv(path: Path, columns: tuple[str, ...]) -> pcsv.CSVStreamingReader:
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
    except pa.ArrowException as exc:
        raise TardisFormatError(f"{path}: cannot parse CSV: {exc}") from exc


def _batches(reader: pcsv.CSVStreamingReader, path: Path):
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowException as exc:
            raise TardisFormatError(f"{path}: cannot parse CSV: {exc}") from exc
        yield batch


def _check_batch(batch: pa.RecordBatch, path: Path, first_line: int, prev_lt: int | None, ident: list,
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


class _Writer:
    """Buffers grid rows of one UTC hour and writes them with `schema.write_dataset`."""

    def __init__(self, out: Path, levels: int, grid_us: int, fix_meta: Callable[[], schema.RecordingMeta]):
        self.out, self.L, self.grid_us, self.fix_meta = out, levels, grid_us, fix_meta
        cap = HOUR_US // grid_us + 2
        self.ts_ex = np.zeros(cap, np.int64)  # [cap] ns
        self.ts_recv = np.zeros(cap, np.int64)  # [cap] ns
        self.after_gap = np.zeros(cap, bool)  # [cap]
        self.px = {s: np.full((cap, levels), np.nan) for s in ("bid", "ask")}  # [cap, L]
        self.sz = {s: np.zeros((cap, levels)) for s in ("bid", "ask")}  # [cap, L]
        self.n = 0
        self.hour = None
        self.files = 0

    def append(self, g_us: int, count: int, ts_ex_us: int, after_gap: bool, rows: dict[str, tuple[list, list]]) -> None:
        """Write ``count`` identical book rows at grid times ``g_us, g_us + grid, ...``."""
        while count > 0:
            hour = g_us // HOUR_US
            if self.hour is not None and hour != self.hour:
                self.flush()
            self.hour = hour
            k = min(count, ((hour + 1) * HOUR_US - 1 - g_us) // self.grid_us + 1)
            i, j = self.n, self.n + k
            self.ts_recv[i:j] = (g_us + self.grid_us * np.arange(k, dtype=np.int64)) * 1000
            self.ts_ex[i:j] = ts_ex_us * 1000
            self.after_gap[i:j] = False
            self.after_gap[i] = after_gap
            for side, (px, sz) in rows.items():
                m = len(px)
                self.px[side][i:j, :m] = px
                self.px[side][i:j, m:] = np.nan
                self.sz[side][i:j, :m] = sz
                self.sz[side][i:j, m:] = 0.0
            self.n = j
            after_gap = False
            g_us += k * self.grid_us
            count -= k

    def flush(self) -> None:
        if self.n == 0:
            return
        n = self.n
        table = schema.book_table_from_arrays(self.ts_ex[:n], self.ts_recv[:n], self.after_gap[:n],
                                              self.px["bid"][:n], self.sz["bid"][:n],
                                              self.px["ask"][:n], self.sz["ask"][:n])
        meta = self.fix_meta()
        self.files += len(schema.write_dataset(table, self.out, schema.BOOK_DIR, meta, str(self.ts_recv[0])))
        self.n = 0


class _Progress:
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


def _resolve_tick(prices: np.ndarray, given: float | None, known: tuple[float, str] | None,
                  report: TardisReport, log: Callable[[str], None] | None, where: Path) -> float:
    if given is not None:
        if given <= 0 or not tick_fits(given, prices):
            raise TardisFormatError(f"{where}: --tick-size {given} does not fit the prices (e.g. {prices[:3].tolist()})")
        report.tick_source = "given"
        return float(given)
    inferred = infer_tick_size(prices)
    if known is not None:
        if tick_fits(known[0], prices):
            report.tick_source = "venue table"
            return known[0]
        if log:
            log(f"warning: venue table tick {known[0]} does not fit the prices; using inferred {inferred}")
    report.tick_source = f"inferred from {len(np.unique(prices))} distinct prices"
    return inferred


def _import_book(path: Path, out: Path, cfg: TardisImportConfig, report: TardisReport,
                 log: Callable[[str], None] | None) -> schema.RecordingMeta:
    """Stream the book CSV, rebuild the book, write grid rows; returns the recording metadata."""
    reader = _open_csv(path, BOOK_COLUMNS)
    L, grid_us = cfg.levels, cfg.grid_ms * 1000
    if L < 1 or grid_us <= 0 or HOUR_US % grid_us:
        raise ValueError(f"levels must be >= 1 and grid_ms must divide an hour; got {L}, {cfg.grid_ms}")
    silence_us = int(cfg.max_silence_s * 1e6)
    ident: list[str] = []
    price_samples: list[np.ndarray] = []
    size_samples: list[np.ndarray] = []
    meta: list[schema.RecordingMeta] = []

    def fix_meta() -> schema.RecordingMeta:
        if not meta:
            prices = np.unique(np.concatenate(price_samples))
            sizes = np.unique(np.concatenate(size_samples))
            price_samples.clear(), size_samples.clear()
            known = KNOWN_VENUES.get((ident[0], ident[1]))
            tick = _resolve_tick(prices, cfg.tick_size, known, report, log, path)
            unit = cfg.size_unit or (known[1] if known else "unknown")
            if unit == "unknown" and log:
                log(f"warning: size unit of {ident[0]} {ident[1]} unknown; give --size-unit")
            product = cfg.product or f"{ident[0]}-{ident[1]}"
            report.product, report.tick_size, report.size_unit = product, tick, unit
            sizes = sizes[sizes > 0]
            if len(sizes) >= 2:
                report.lot_size = infer_lot_size(sizes)
                report.lot_source = f"inferred from {len(sizes)} distinct book sizes"
            meta.append(schema.RecordingMeta(product=product, tick_size=tick, size_unit=unit, grid_ms=cfg.grid_ms,
                                             levels=L, source=f"tardis:{ident[0]}:{ident[1]}",
                                             lot_size=report.lot_size or None))
        return meta[0]

    def fix_meta_and_clear() -> schema.RecordingMeta:
        """Fix the metadata at the first write, and make room for this product's partitions."""
        first = not meta
        m = fix_meta()
        if first:
            existing = [schema.partition_dir(out, d, m.product, "x").parent for d in (schema.BOOK_DIR, schema.TRADES_DIR)]
            existing = [d for d in existing if d.exists()]
            if existing and not cfg.overwrite:
                raise FileExistsError(f"{existing[0]} exists; pass --overwrite to replace product {m.product!r} under {out}")
            for d in existing:
                shutil.rmtree(d)
        return m

    writer = _Writer(out, L, grid_us, fix_meta_and_clear)
    # Book: key -> size per side; keys sorted ascending with the touch at the END (cheap list edits
    # near the touch). Bid key = price, ask key = -price.
    bid_sz: dict[float, float] = {}
    ask_sz: dict[float, float] = {}
    bid_keys: list[float] = []
    ask_keys: list[float] = []
    ready = False  # a complete snapshot has been applied and no new snapshot block has begun
    in_snap = False
    snap_ts = None  # exchange timestamp (us) of the current snapshot block
    pending_gap = True
    cur_lt = None  # local_timestamp (us) of the message being applied
    cur_ts = 0  # exchange timestamp (us) of its last row
    progress = _Progress("book", log)
    line = 2  # first data line of the CSV (line 1 is the header)

    def boundary(next_lt: int, next_is_snap: bool, next_ts: int) -> None:
        """The message at ``cur_lt`` is complete: write grid rows in [cur_lt, next_lt)."""
        nonlocal pending_gap
        report.messages += 1
        g0 = -(-cur_lt // grid_us) * grid_us
        if g0 >= next_lt:
            return
        n = (next_lt - 1 - g0) // grid_us + 1
        # a snapshot block is complete when the next message does not continue it
        if not (ready or (in_snap and not (next_is_snap and next_ts == snap_ts))):
            return  # no complete book yet (a reset already set pending_gap)
        if next_lt - cur_lt > silence_us:
            report.silences += 1
            report.silent_rows_skipped += n
            pending_gap = True
            return
        if not bid_keys or not ask_keys:
            report.one_sided_rows_skipped += n
            pending_gap = True
            return
        if bid_keys[-1] >= -ask_keys[-1]:
            report.crossed_rows_skipped += n
            pending_gap = True
            return
        bk = bid_keys[: -L - 1 : -1]
        ak = ask_keys[: -L - 1 : -1]
        rows = {"bid": (bk, [bid_sz[k] for k in bk]), "ask": ([-k for k in ak], [ask_sz[k] for k in ak])}
        writer.append(g0, n, cur_ts, pending_gap, rows)
        report.grid_rows_written += n
        report.after_gap_rows += int(pending_gap)
        pending_gap = False

    for batch in _batches(reader, path):
        _check_batch(batch, path, line, cur_lt, ident)
        side = batch.column("side")
        is_bid = pc.equal(side, "bid").to_numpy(zero_copy_only=False)
        bad = ~is_bid & ~pc.equal(side, "ask").to_numpy(zero_copy_only=False)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise TardisFormatError(f"{path}: line {line + r}, field 'side': {side[r].as_py()!r} (must be bid or ask)")
        px = batch.column("price").to_numpy()
        if not meta:
            price_samples.append(np.unique(px))
            size_samples.append(np.unique(batch.column("amount").to_numpy()))
        cols = zip(batch.column("local_timestamp").to_numpy().tolist(), batch.column("timestamp").to_numpy().tolist(),
                   batch.column("is_snapshot").to_numpy(zero_copy_only=False).tolist(), is_bid.tolist(),
                   px.tolist(), batch.column("amount").to_numpy().tolist(), strict=True)
        for lt, ts, snap, bid, p, amt in cols:
            if lt != cur_lt:
                if cur_lt is not None:
                    boundary(lt, snap, ts)
                cur_lt = lt
            if snap:
                if not in_snap or ts != snap_ts:  # a snapshot block begins: it replaces the book
                    if in_snap:
                        report.snapshot_replacements += 1  # snapshot after snapshot: the feed's cadence
                    elif report.snapshots:
                        report.snapshot_resets += 1  # snapshot after increments: a resync
                        pending_gap = True
                    report.snapshots += 1
                    bid_sz.clear(), ask_sz.clear(), bid_keys.clear(), ask_keys.clear()
                    in_snap, ready, snap_ts = True, False, ts
            elif in_snap:
                in_snap, ready = False, True
            elif not ready:
                report.rows_before_first_snapshot += 1
                continue
            if bid:
                book, keys, key = bid_sz, bid_keys, p
            else:
                book, keys, key = ask_sz, ask_keys, -p
            if amt == 0.0:
                if book.pop(key, None) is not None:
                    del keys[bisect_left(keys, key)]
            else:
                if key not in book:
                    insort(keys, key)
                book[key] = amt
            cur_ts = ts
        line += batch.num_rows
        report.book_rows_read += batch.num_rows
        progress(report.book_rows_read)
    if cur_lt is None:
        raise TardisFormatError(f"{path}: no book rows")
    report.messages += 1  # the last message; no grid time after it is written (the feed ended)
    if report.snapshots == 0:
        raise TardisFormatError(f"{path}: no is_snapshot=true rows; a book cannot be rebuilt from increments alone")
    if report.grid_rows_written == 0:  # before anything is cleared or written
        raise TardisFormatError(f"{path}: no book row to write: {_why_no_rows(report, cfg.grid_ms)}")
    writer.flush()
    report.book_files = writer.files
    progress(report.book_rows_read, final=True)
    return meta[0]


def _why_no_rows(r: TardisReport, grid_ms: int) -> str:
    """The counts behind an import that has no grid row to write, in words."""
    skipped = [f"{name} {getattr(r, name):,}" for name in ("rows_before_first_snapshot", "crossed_rows_skipped",
                                                            "one_sided_rows_skipped", "silent_rows_skipped")
               if getattr(r, name)]
    return (f"{r.book_rows_read:,} CSV rows in {r.messages:,} messages and {r.snapshots} snapshot block(s) give no "
            f"{grid_ms} ms grid time with a complete, two-sided, uncrossed book (a snapshot is complete once the "
            f"message after its block has begun, and nothing is written after the last message)"
            + (f"; skipped: {', '.join(skipped)}" if skipped else ""))


def _import_trades(path: Path, out: Path, meta: schema.RecordingMeta, symbol: tuple[str, str],
                   report: TardisReport, log: Callable[[str], None] | None) -> None:
    """Stream the trades CSV: taker side buy/sell -> +1/-1, unknown counted and dropped, hourly files."""
    reader = _open_csv(path, TRADE_COLUMNS)
    ident = list(symbol)
    line, prev_lt = 2, None
    pending: list[dict[str, np.ndarray]] = []
    progress = _Progress("trades", log)

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

    for batch in _batches(reader, path):
        _check_batch(batch, path, line, prev_lt, ident, zero_amount_ok=False)
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


def import_tardis(cfg: TardisImportConfig, log: Callable[[str], None] | None = None) -> TardisReport:
    """Convert ``cfg.book`` and ``cfg.trades`` into a recording under ``cfg.out``; returns the report."""
    t0 = time.perf_counter()
    report = TardisReport()
    out = Path(cfg.out)
    book_path, trades_path = Path(cfg.book), Path(cfg.trades)
    meta = _import_book(book_path, out, cfg, report, log)
    exchange, symbol = meta.source.split(":")[1:]
    _import_trades(trades_path, out, meta, (exchange, symbol), report, log)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def run(cfg: TardisImportConfig) -> int:
    """CLI entry point: import, then print the report."""
    try:
        report = import_tardis(cfg, log=None if cfg.quiet else print)
    except (TardisFormatError, FileExistsError, ValueError) as exc:
        print(f"mmjax import-tardis: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    rate = report.book_rows_read / max(report.seconds, 1e-9)
    print(f"wrote {cfg.out}: {report.grid_rows_written:,} book rows and {report.trades_written:,} trades "
          f"(read {report.book_rows_read:,} book CSV rows in {report.seconds:.1f} s, {rate:,.0f} rows/s)")
    return 0
