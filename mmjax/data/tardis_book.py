"""Tardis.dev book rebuild: snapshot blocks and increments -> grid rows on the receive clock, hourly files.

The rules are in `mmjax.data.tardis` (module docstring) and docs/data.md.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.compute as pc

from mmjax import schema
from mmjax.data.tardis_csv import (
    BOOK_COLUMNS,
    HOUR_US,
    KNOWN_VENUES,
    Progress,
    TardisFormatError,
    batches,
    check_batch,
    infer_lot_size,
    infer_tick_size,
    open_csv,
    tick_fits,
    venue_contract,
)
from mmjax.outputs import UserError

if TYPE_CHECKING:
    from mmjax.data.tardis_types import TardisImportConfig, TardisReport

class BookWriter:
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

    def append(self, g_us: int, count: int, ts_ex_ns: int, after_gap: bool, rows: dict[str, tuple[list, list]]) -> None:
        """Write ``count`` identical book rows at grid times ``g_us, g_us + grid, ...``."""
        while count > 0:
            hour = g_us // HOUR_US
            if self.hour is not None and hour != self.hour:
                self.flush()
            self.hour = hour
            k = min(count, ((hour + 1) * HOUR_US - 1 - g_us) // self.grid_us + 1)
            i, j = self.n, self.n + k
            self.ts_recv[i:j] = (g_us + self.grid_us * np.arange(k, dtype=np.int64)) * 1000
            self.ts_ex[i:j] = ts_ex_ns
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


def _resolve_contract(ident: tuple[str, str], cfg: TardisImportConfig, report: TardisReport,
                      log: Callable[[str], None] | None) -> tuple[str, float | None]:
    """The contract: --contract-type/--contract-value where given, else the venue table, else linear (warned)."""
    known = venue_contract(*ident)
    ctype = cfg.contract_type or (known[0] if known else schema.LINEAR)
    value = cfg.contract_value
    if value is None and ctype == schema.INVERSE and known and known[0] == schema.INVERSE:
        value = known[1]
    report.contract_source = ("given" if cfg.contract_type or cfg.contract_value is not None
                              else "venue table" if known else "default (venue unknown)")
    if not known and cfg.contract_type is None and log:
        log(f"warning: contract type of {ident[0]} {ident[1]} unknown: imported as linear; if its sizes are inverse "
            "contracts give --contract-type inverse --contract-value V")
    schema.check_contract(ctype, value, f"import-tardis {ident[0]} {ident[1]} (--contract-type/--contract-value)")
    report.contract_type, report.contract_value = ctype, value or 0.0
    return ctype, value


def product_dirs(root: Path, product: str) -> list[Path]:
    """The book and trades partitions of ``product`` under recording ``root`` (what an import replaces)."""
    return [schema.partition_dir(root, d, product, "x").parent for d in (schema.BOOK_DIR, schema.TRADES_DIR)]


def import_book(path: Path, out: Path, cfg: TardisImportConfig, report: TardisReport,
                 log: Callable[[str], None] | None) -> schema.RecordingMeta:
    """Stream the book CSV, rebuild the book, write grid rows; returns the recording metadata."""
    reader = open_csv(path, BOOK_COLUMNS)
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
            ctype, value = _resolve_contract((ident[0], ident[1]), cfg, report, log)
            unit = cfg.size_unit or (known[1] if known else f"contracts_{value:g}usd" if ctype == schema.INVERSE
                                     else "unknown")
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
                                             lot_size=report.lot_size or None, contract_type=ctype,
                                             contract_value=value))
        return meta[0]

    def fix_meta_and_clear() -> schema.RecordingMeta:
        """Fix the metadata at the first write, and make room for this product's partitions."""
        first = not meta
        m = fix_meta()
        if first:
            # the import is staged in ``out`` (a sibling of cfg.out); the real output is only checked here
            existing = [d for d in product_dirs(Path(cfg.out), m.product) if d.exists()]
            if existing and not cfg.overwrite:
                raise UserError(f"{existing[0]} exists; pass --overwrite to replace product {m.product!r} under "
                                f"{cfg.out} (it is replaced only when the new import succeeds)")
        return m

    writer = BookWriter(out, L, grid_us, fix_meta_and_clear)
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
    progress = Progress("book", log)
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
        writer.append(g0, n, cur_ts * 1000, pending_gap, rows)
        report.grid_rows_written += n
        report.after_gap_rows += int(pending_gap)
        pending_gap = False

    for batch in batches(reader, path):
        check_batch(batch, path, line, cur_lt, ident)
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
    return (f"{r.book_rows_read:,} CSV rows in {r.messages:,} messages and {r.snapshots} snapshot block(s) give no "
            f"{grid_ms} ms grid time with a complete, two-sided, uncrossed book (a snapshot is complete once the "
            f"message after its block has begun, and nothing is written after the last message)"
            + skipped_counts(r, "rows_before_first_snapshot"))


def skipped_counts(report, before_book: str) -> str:
    """``; skipped: NAME N, ...`` for every nonzero count of rows an import did not write ('' when none)."""
    names = (before_book, "crossed_rows_skipped", "one_sided_rows_skipped", "silent_rows_skipped")
    skipped = [f"{name} {getattr(report, name):,}" for name in names if getattr(report, name)]
    return f"; skipped: {', '.join(skipped)}" if skipped else ""
