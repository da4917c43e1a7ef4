"""Recording (hive-partitioned Parquet) -> validated host arrays -> `MarketData` device arrays.

Two stages so that the NumPy live path can replay the same cleaned data without jax:
``read_recording`` validates and returns a `RawRecording` (NumPy, float64 prices);
``to_market_data`` builds the device pytree with prices as int32 ticks from an anchor.

Nothing is dropped silently: every cleaning action is counted in `LoadReport`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmjax import schema
from mmjax.data import fill_inputs as fi
from mmjax.data import ticks
from mmjax.data.layout import DEFAULT_TRADE_SLOTS, NO_PRICE, steps_to_gap
from mmjax.data.partitions import check_date, check_dates_paired, partition_files
from mmjax.data.raw import LoadReport, RawRecording, RecordingError  # noqa: F401 (re-exported: the loader's types)

# Book levels the market features see (MarketData.bid_px ...): a deeper recording keeps every level
# for the fill rules (MarketData.book_px) while its features stay those of the standard book.
FEATURE_LEVELS = schema.DEFAULT_LEVELS

if TYPE_CHECKING:
    from mmjax.data.market import MarketData


def _read(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise RecordingError(f"{path}: unreadable Parquet file (truncated or corrupt?): {exc}") from exc


def _check_columns(table: pa.Table, expected: pa.Schema, path: Path) -> None:
    types = dict(zip(table.schema.names, table.schema.types, strict=True))  # one pass: a 1000-level book has 4,000 columns
    for f in expected:
        if f.name not in types:
            raise RecordingError(f"{path}: missing column {f.name!r}")
        got = types[f.name]
        if got != f.type:
            raise RecordingError(f"{path}: column {f.name!r} has dtype {got}, expected {f.type}")


def _col(table: pa.Table, name: str, dtype) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _check_finite_nonneg(values: np.ndarray, names: list[str], path: Path, what: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise RecordingError(f"{path}: row {row}, field {names[col]!r}: {what} is {values[row, col]} (NaN or negative)")


def _check_monotone(ts: np.ndarray, path: Path, name: str, prev_last: int | None, strict: bool) -> None:
    if len(ts) == 0:
        return
    d = np.diff(ts)
    bad = np.flatnonzero(d <= 0 if strict else d < 0)
    if len(bad):
        r = bad[0] + 1
        raise RecordingError(f"{path}: row {r}, field {name!r}: timestamp {ts[r]} not after row {r - 1} ({ts[r - 1]})")
    if prev_last is not None and (ts[0] <= prev_last if strict else ts[0] < prev_last):
        raise RecordingError(f"{path}: row 0, field {name!r}: timestamp {ts[0]} not after the previous file's last {prev_last}")


def _num_rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as exc:
        raise RecordingError(f"{path}: unreadable Parquet file (truncated or corrupt?): {exc}") from exc


def _read_book(files: list[Path], report: LoadReport, on_crossed: str):
    """Read every book file into preallocated arrays (one copy per column), validating each file."""
    offsets = np.cumsum([0] + [_num_rows(p) for p in files])  # [F + 1] first row of each file
    N = int(offsets[-1])
    meta = None
    out: dict[str, np.ndarray] = {}
    keep = np.ones(N, bool)  # [N] rows that are not crossed/locked
    prev_last = None
    gap_next = False
    for path, off in zip(files, offsets[:-1], strict=True):
        table = _read(path)
        try:
            file_meta = schema.RecordingMeta.from_kv(table.schema.metadata, str(path))
        except ValueError as exc:
            raise RecordingError(str(exc)) from exc
        if meta is None:
            meta = file_meta
            L = meta.levels
            out = {"ts_exchange_ns": np.empty(N, np.int64), "ts_recv_ns": np.empty(N, np.int64),
                   "after_gap": np.empty(N, bool)}
            for side in ("bid", "ask"):  # column-major: each Parquet column lands in one contiguous copy
                out[f"{side}_px"] = np.empty((N, L), np.float64, order="F")
                out[f"{side}_sz"] = np.empty((N, L), np.float64, order="F")
        elif (file_meta.tick_size, file_meta.levels) != (meta.tick_size, meta.levels):
            raise RecordingError(f"{path}: tick_size/levels {file_meta.tick_size}/{file_meta.levels} differ from the first file's {meta.tick_size}/{meta.levels}")
        elif (file_meta.contract_type, file_meta.contract_value) != (meta.contract_type, meta.contract_value):
            raise RecordingError(f"{path}: contract_type/contract_value {file_meta.contract_type}/{file_meta.contract_value} "
                                 f"differ from the first file's {meta.contract_type}/{meta.contract_value}")
        _check_columns(table, schema.book_schema(L), path)
        report.book_files += 1
        n = table.num_rows
        if n == 0:
            continue
        rows = slice(off, off + n)
        for name in ("ts_exchange_ns", "ts_recv_ns", "after_gap"):
            out[name][rows] = _col(table, name, out[name].dtype)
        ts_recv = out["ts_recv_ns"][rows]
        _check_monotone(ts_recv, path, "ts_recv_ns", prev_last, strict=True)
        prev_last = int(ts_recv[-1])
        arrs = {}
        for side in ("bid", "ask"):
            names_px = [schema.px_col(side, i) for i in range(L)]
            names_sz = [schema.sz_col(side, i) for i in range(L)]
            px, sz = out[f"{side}_px"][rows], out[f"{side}_sz"][rows]  # [n, L] views
            for i in range(L):
                px[:, i] = _col(table, names_px[i], np.float64)  # nulls -> NaN
                sz[:, i] = _col(table, names_sz[i], np.float64)
            # cheap whole-array reductions first; the row-by-row search only runs to name a bad cell
            if not (sz.min() >= 0 and sz.max() < np.inf):  # NaN fails both comparisons
                _check_finite_nonneg(sz, names_sz, path, "size")
            if not np.fmin.reduce(px, axis=None) > 0:  # fmin skips NaN (empty levels)
                row, col = np.argwhere(~np.isnan(px) & ~(px > 0))[0]
                raise RecordingError(f"{path}: row {row}, field {names_px[col]!r}: non-positive price {px[row, col]}")
            empty = np.isnan(px)  # [n, L]
            sub = np.flatnonzero(empty.any(axis=1))  # rows with an empty level (few, usually)
            if len(sub):
                e, z = empty[sub], sz[sub]
                if (e & (z > 0)).any():
                    r, col = np.argwhere(e & (z > 0))[0]
                    raise RecordingError(f"{path}: row {sub[r]}, field {names_px[col]!r}: null/NaN price with size {z[r, col]}")
                hole = e[:, :-1] & ~e[:, 1:]  # an empty level above a quoted one
                if hole.any():
                    r, col = np.argwhere(hole)[0]
                    raise RecordingError(f"{path}: row {sub[r]}, field {names_px[col]!r}: empty level above a non-empty level {names_px[col + 1]!r}")
            report.empty_levels += int(np.count_nonzero(empty))
            arrs[side] = px
        for side in ("bid", "ask"):
            if np.isnan(arrs[side][:, 0]).any():
                row = int(np.flatnonzero(np.isnan(arrs[side][:, 0]))[0])
                raise RecordingError(f"{path}: row {row}, field {schema.px_col(side, 0)!r}: one-sided book (no best {side}); the recorder must mark a gap instead")
        after_gap = out["after_gap"][rows]
        if off == 0 or gap_next:
            after_gap[0] = True  # first row, or the previous file ended with dropped rows
        crossed = arrs["bid"][:, 0] >= arrs["ask"][:, 0]
        if crossed.any():
            if on_crossed == "raise":
                row = int(np.flatnonzero(crossed)[0])
                raise RecordingError(f"{path}: row {row}, fields 'bid_px_0'/'ask_px_0': crossed or locked book ({arrs['bid'][row, 0]} >= {arrs['ask'][row, 0]})")
            # a dropped row leaves a hole in the grid: the next kept row starts a new segment
            nxt = np.flatnonzero(crossed) + 1
            after_gap[nxt[nxt < n]] = True
            report.crossed_rows_dropped += int(crossed.sum())
            keep[rows] = ~crossed
        gap_next = bool(crossed[-1])
    if not keep.any():
        raise RecordingError(f"{files[0].parent}: no usable book rows in range")
    cols = [out[k] for k in ("ts_exchange_ns", "ts_recv_ns", "after_gap", "bid_px", "bid_sz", "ask_px", "ask_sz")]
    if not keep.all():
        cols = [np.asfortranarray(c[keep]) if c.ndim == 2 else c[keep] for c in cols]
    cols[2][0] = True
    # a step that is not one grid interval is a hole in the grid: episodes must not span it
    hole = (np.diff(cols[1]) != meta.grid_ms * 1_000_000) & ~cols[2][1:]
    report.grid_holes = int(hole.sum())
    cols[2][1:] |= hole
    return meta, cols


def _read_trades(files: list[Path], report: LoadReport):
    parts = []
    prev_last = None
    for path in files:
        table = _read(path)
        _check_columns(table, schema.TRADES_SCHEMA, path)
        ts_recv = _col(table, "ts_recv_ns", np.int64)
        _check_monotone(ts_recv, path, "ts_recv_ns", prev_last, strict=False)
        px = _col(table, "price", np.float64)
        sz = _col(table, "size", np.float64)
        side = _col(table, "taker_side", np.int8)
        for name, v in (("price", px), ("size", sz)):
            bad = ~np.isfinite(v) | (v <= 0)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise RecordingError(f"{path}: row {r}, field {name!r}: {v[r]} (NaN, zero or negative)")
        bad = (side != schema.TAKER_BUY) & (side != schema.TAKER_SELL)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise RecordingError(f"{path}: row {r}, field 'taker_side': {side[r]} (must be +1 or -1)")
        parts.append((ts_recv, _col(table, "ts_exchange_ns", np.int64), px, sz, side))
        prev_last = int(ts_recv[-1]) if len(ts_recv) else prev_last
        report.trade_files += 1
    if not parts:
        return [np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int8)]
    return [np.concatenate(c) for c in zip(*parts, strict=True)]


def read_recording(
    root: str | os.PathLike,
    product: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    on_crossed: str = "drop",
) -> RawRecording:
    """Read and validate a recording. Dates are inclusive ``YYYY-MM-DD`` bounds on the UTC partition.

    ``on_crossed``: ``"drop"`` removes crossed/locked rows (counted; the next row starts a new
    segment) or ``"raise"`` stops with an error naming the file and row.
    """
    if on_crossed not in ("drop", "raise"):
        raise ValueError(f"on_crossed must be 'drop' or 'raise', got {on_crossed!r}")
    root = Path(root)
    if not root.is_dir():
        raise RecordingError(f"{root}: no such recording directory")
    for flag, date in (("--start-date", start_date), ("--end-date", end_date)):
        check_date(flag, date)
    if start_date and end_date and start_date > end_date:
        raise RecordingError(f"--start-date {start_date} is after --end-date {end_date}")
    report = LoadReport()
    product, book_files = partition_files(root, schema.BOOK_DIR, product, start_date, end_date)
    trade_files = check_dates_paired(root, product, book_files, start_date, end_date)
    meta, (ts_ex, ts_recv, after_gap, bid_px, bid_sz, ask_px, ask_sz) = _read_book(book_files, report, on_crossed)
    t_recv, t_ex, t_px, t_sz, t_side = _read_trades(trade_files, report)
    report.book_rows = len(ts_recv)
    report.trades = len(t_recv)
    report.gaps = int(after_gap[1:].sum())
    return RawRecording(meta, ts_ex, ts_recv, after_gap, bid_px, bid_sz, ask_px, ask_sz, t_recv, t_ex, t_px, t_sz, t_side, report)


def aggregate_trade_slots(step, side_mask, px_ticks, sz, num_steps, slots, ascending, report):
    """Aggregate one side's trades into [T, M] distinct prices (nearest the touch first) and volumes."""
    px_out = np.full((num_steps, slots), NO_PRICE if ascending else -NO_PRICE, np.int32)
    vol_out = np.zeros((num_steps, slots), np.float32)
    if not side_mask.any():
        return px_out, vol_out
    s, p, v = step[side_mask], px_ticks[side_mask], sz[side_mask]
    key_p = p if ascending else -p
    order = np.lexsort((key_p, s))
    s, p, v, key_p = s[order], p[order], v[order], key_p[order]
    new_group = np.r_[True, (s[1:] != s[:-1]) | (p[1:] != p[:-1])]
    gid = np.cumsum(new_group) - 1
    g_step, g_px = s[new_group], p[new_group]
    g_vol = np.bincount(gid, weights=v)
    first_of_step = np.r_[True, g_step[1:] != g_step[:-1]]
    step_start = np.maximum.accumulate(np.where(first_of_step, np.arange(len(g_step)), 0))
    rank = np.arange(len(g_step)) - step_start
    report.trade_prices_folded += int((rank >= slots).sum())
    rank_c = np.minimum(rank, slots - 1)
    # the last slot keeps the price of the slot-th level and absorbs deeper volume: conservative,
    # since deeper trades then count as trading at a price nearer the touch, never further
    first = rank < slots
    px_out[g_step[first], rank[first]] = g_px[first]
    np.add.at(vol_out, (g_step, rank_c), g_vol.astype(np.float32))
    return px_out, vol_out


def to_market_data(raw: RawRecording, trade_slots: int = DEFAULT_TRADE_SLOTS, lot_size: float | None = None) -> MarketData:
    """Build the device pytree. Trades are bucketed into grid intervals (t, t+1] by receive time.

    ``lot_size`` (venue size units) overrides the recording's lot; sizes become whole lots of it.
    """
    import jax  # kept local: read_recording stays usable from jax-free code

    from mmjax.data.market import MarketData

    put = jax.device_put  # host arrays already have their final dtype: a plain copy, nothing to compile

    tick = raw.meta.tick_size
    T = raw.num_steps
    report = raw.report
    anchor = ticks.anchor_ticks(raw.bid_px[0, 0], raw.ask_px[0, 0], tick)
    bid_i = ticks.level_ticks(raw.bid_px, tick, anchor, ticks.BID_DIRECTION)  # [T, L] int32
    ask_i = ticks.level_ticks(raw.ask_px, tick, anchor, ticks.ASK_DIRECTION)
    mid = (bid_i[:, 0].astype(np.float64) + ask_i[:, 0]) / 2.0

    step = raw.trade_step()
    outside = (step < 0) | (step >= T - 1)
    report.trades_outside_grid = int(outside.sum())
    in_gap = np.zeros_like(outside)
    in_gap[~outside] = raw.after_gap[step[~outside] + 1]  # interval (t, t+1] crosses a gap
    report.trades_in_gaps = int(in_gap.sum())
    use = ~outside & ~in_gap
    step_u = np.where(use, step, 0)
    tpx = ticks.price_ticks(raw.trade_px, tick, anchor)
    buy = use & (raw.trade_side == schema.TAKER_BUY)
    sell = use & (raw.trade_side == schema.TAKER_SELL)
    buy_vol = np.bincount(step_u[buy], weights=raw.trade_sz[buy], minlength=T).astype(np.float32)
    sell_vol = np.bincount(step_u[sell], weights=raw.trade_sz[sell], minlength=T).astype(np.float32)
    n_trades = np.bincount(step_u[use], minlength=T).astype(np.int32)
    report.trade_prices_folded = 0
    buy_px, buy_px_vol = aggregate_trade_slots(step_u, buy, tpx, raw.trade_sz, T, trade_slots, True, report)
    sell_px, sell_px_vol = aggregate_trade_slots(step_u, sell, tpx, raw.trade_sz, T, trade_slots, False, report)
    # what the fill rules read, exact from the float64 recording (mmjax/data/fill_inputs.py)
    lot = fi.resolve_lot(raw, lot_size)
    report.sizes_off_lot = report.sizes_capped = 0
    book_px, book_lots = fi.book_depth(bid_i, ask_i, raw, lot, report)
    reach_px, reach_lots = fi.trade_reach(*fi.fill_intervals(raw), raw, tpx, lot, T, report)
    F = min(FEATURE_LEVELS, bid_i.shape[1])

    t_s = ((raw.ts_recv_ns - raw.ts_recv_ns[0]) / 1e9).astype(np.float32)
    return MarketData(
        bid_px=put(np.ascontiguousarray(bid_i[:, :F])),
        bid_sz=put(np.ascontiguousarray(raw.bid_sz[:, :F], dtype=np.float32)),  # host cast: one pass
        ask_px=put(np.ascontiguousarray(ask_i[:, :F])),
        ask_sz=put(np.ascontiguousarray(raw.ask_sz[:, :F], dtype=np.float32)),
        mid=put(mid.astype(np.float32)),
        t_s=put(t_s),
        after_gap=put(raw.after_gap),
        steps_to_gap=put(steps_to_gap(raw.after_gap)),
        buy_vol=put(buy_vol),
        sell_vol=put(sell_vol),
        buy_px=put(buy_px),
        buy_px_vol=put(buy_px_vol),
        sell_px=put(sell_px),
        sell_px_vol=put(sell_px_vol),
        n_trades=put(n_trades),
        tick_size=float(tick),
        px_anchor_ticks=anchor,
        grid_ms=int(raw.meta.grid_ms),
        book_px=put(book_px),
        book_lots=put(book_lots),
        reach_px=put(reach_px),
        reach_lots=put(reach_lots),
        lot_size=lot,
        contract_type=raw.meta.contract_type,
        contract_value=float(raw.meta.contract_value or 0.0),
    )


def load_market(root: str | os.PathLike, product: str | None = None, start_date: str | None = None,
                end_date: str | None = None, on_crossed: str = "drop",
                trade_slots: int = DEFAULT_TRADE_SLOTS, lot_size: float | None = None) -> tuple[MarketData, RawRecording]:
    """Read, validate and move a recording to the device in one call."""
    raw = read_recording(root, product, start_date, end_date, on_crossed)
    return to_market_data(raw, trade_slots, lot_size), raw
