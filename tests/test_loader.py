"""Loader specification: every bad input names its file and field; cleaning is counted; trades are causal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mmjax import schema
from mmjax.data.loader import RecordingError, load_market, read_recording, to_market_data
from mmjax.data.market import NO_PRICE, steps_to_gap
from tests.helpers.loader import GRID_NS, META, T0_NS, TICK, book_arrays, trades_arrays, write


def write_raw_book(root: Path, table: pa.Table, with_meta: bool = True) -> Path:
    """Write a book table as-is (bypassing the schema cast) to build malformed files."""
    path = schema.partition_dir(root, schema.BOOK_DIR, META.product, schema.utc_date(T0_NS)) / "part-a.parquet"
    schema.write_atomic(table.replace_schema_metadata(META.to_kv() if with_meta else None), path)
    return path


def book_table(book: dict) -> pa.Table:
    return schema.book_table_from_arrays(**book)


# ---- round trip and representation ----------------------------------------------------------

def test_round_trip_prices_as_anchored_ticks(tmp_path):
    book = book_arrays(50)
    book["bid_px"][10:] += 0.05  # the market moves up 5 ticks
    book["ask_px"][10:] += 0.05
    write(tmp_path, book, trades_arrays([T0_NS + 5], [100.01], [0.5], [1]))
    md, raw = load_market(tmp_path)
    assert raw.meta == META and raw.num_steps == 50
    np.testing.assert_array_equal(raw.bid_px, book["bid_px"])  # float64 prices round-trip exactly
    assert md.px_anchor_ticks == 10000  # rint((10000 + 10001) / 2) with round-half-even
    np.testing.assert_array_equal(np.asarray(md.bid_px[0]), [0, -1, -2])
    np.testing.assert_array_equal(np.asarray(md.ask_px[20]), [6, 7, 8])
    np.testing.assert_allclose(md.to_price(md.bid_px[20]), book["bid_px"][20])
    assert float(md.mid[20]) == 5.5 and md.dt_s == 0.1 and md.levels == 3
    assert np.asarray(md.after_gap).tolist() == [True] + [False] * 49
    r = raw.report
    assert (r.book_files, r.trade_files, r.book_rows, r.trades, r.gaps) == (1, 1, 50, 1, 0)


def test_empty_levels_are_extrapolated_with_zero_size(tmp_path):
    book = book_arrays(4)
    book["bid_px"][1, 1:] = np.nan  # only the best bid quoted
    book["bid_sz"][1, 1:] = 0
    book["ask_px"][2, 2] = np.nan
    book["ask_sz"][2, 2] = 0
    write(tmp_path, book)
    md, raw = load_market(tmp_path)
    np.testing.assert_array_equal(np.asarray(md.bid_px[1]), [0, -1, -2])  # one tick further each level
    np.testing.assert_array_equal(np.asarray(md.bid_sz[1]), [1, 0, 0])
    np.testing.assert_array_equal(np.asarray(md.ask_px[2]), [1, 2, 3])
    np.testing.assert_array_equal(np.asarray(md.ask_sz[2]), [1, 2, 0])
    assert raw.report.empty_levels == 3


# ---- bad input: every message names the file and the field ----------------------------------

def test_missing_column(tmp_path):
    path = write_raw_book(tmp_path, book_table(book_arrays(3)).drop_columns(["ask_sz_2"]))
    with pytest.raises(RecordingError, match=f"{path}: missing column 'ask_sz_2'"):
        read_recording(tmp_path)


def test_wrong_dtype(tmp_path):
    t = book_table(book_arrays(3))
    i = t.schema.get_field_index("bid_sz_1")
    t = t.set_column(i, "bid_sz_1", t.column("bid_sz_1").cast(pa.float32()))
    path = write_raw_book(tmp_path, t)
    with pytest.raises(RecordingError, match=f"{path}: column 'bid_sz_1' has dtype float, expected double"):
        read_recording(tmp_path)


@pytest.mark.parametrize(("value", "what"), [(np.nan, "nan"), (-1.0, "-1.0")])
def test_nan_or_negative_size(tmp_path, value, what):
    book = book_arrays(5)
    book["ask_sz"][3, 1] = value
    (path,) = write(tmp_path, book)
    with pytest.raises(RecordingError, match=f"{path}: row 3, field 'ask_sz_1': size is {what}"):
        read_recording(tmp_path)


def test_null_price_with_size_and_holes_in_levels(tmp_path):
    book = book_arrays(5)
    book["bid_px"][2, 2] = np.nan  # size stays 3
    (path,) = write(tmp_path, book)
    with pytest.raises(RecordingError, match=f"{path}: row 2, field 'bid_px_2': null/NaN price with size 3"):
        read_recording(tmp_path)
    book = book_arrays(5)
    book["bid_px"][4, 1], book["bid_sz"][4, 1] = np.nan, 0.0  # level 1 empty, level 2 quoted
    (path,) = write(tmp_path, book)
    with pytest.raises(RecordingError, match=f"{path}: row 4, field 'bid_px_1': empty level above"):
        read_recording(tmp_path)


def test_one_sided_book_is_an_error(tmp_path):
    book = book_arrays(5)
    book["ask_px"][1], book["ask_sz"][1] = np.nan, 0.0
    (path,) = write(tmp_path, book)
    with pytest.raises(RecordingError, match=f"{path}: row 1, field 'ask_px_0': one-sided book"):
        read_recording(tmp_path)


def test_crossed_and_locked_rows_drop_and_count(tmp_path):
    book = book_arrays(10)
    book["bid_px"][3, 0] = book["ask_px"][3, 0]  # locked
    book["bid_px"][6, 0] = 100.5  # crossed
    (path,) = write(tmp_path, book)
    raw = read_recording(tmp_path)
    assert raw.report.crossed_rows_dropped == 2 and raw.num_steps == 8
    assert np.flatnonzero(raw.after_gap).tolist() == [0, 3, 5]  # rows after each dropped row start segments
    assert raw.report.gaps == 2 and raw.report.grid_holes == 0
    with pytest.raises(RecordingError, match=f"{path}: row 3, fields 'bid_px_0'/'ask_px_0': crossed or locked"):
        read_recording(tmp_path, on_crossed="raise")
    with pytest.raises(ValueError, match="on_crossed"):
        read_recording(tmp_path, on_crossed="ignore")


def test_crossed_last_row_of_a_file_marks_the_next_file(tmp_path):
    a, b = book_arrays(5), book_arrays(5, t0=T0_NS + 5 * GRID_NS)
    a["bid_px"][4, 0] = 101.0
    write(tmp_path, a, part="1")
    write(tmp_path, b, part="2")
    raw = read_recording(tmp_path)
    assert raw.num_steps == 9 and np.flatnonzero(raw.after_gap).tolist() == [0, 4]
    assert raw.report.grid_holes == 0  # marked as a dropped row, not found later as a hole


def test_non_monotonic_timestamps_within_and_across_files(tmp_path):
    book = book_arrays(5)
    book["ts_recv_ns"][3] = book["ts_recv_ns"][2]
    (path,) = write(tmp_path / "a", book)
    with pytest.raises(RecordingError, match=f"{path}: row 3, field 'ts_recv_ns': timestamp .* not after row 2"):
        read_recording(tmp_path / "a")
    write(tmp_path / "b", book_arrays(5, t0=T0_NS + 10 * GRID_NS), part="1")
    (p2,) = write(tmp_path / "b", book_arrays(5, t0=T0_NS + 12 * GRID_NS), part="2")
    with pytest.raises(RecordingError, match=f"{p2}: row 0, field 'ts_recv_ns': .* not after the previous file's last"):
        read_recording(tmp_path / "b")
    ts = T0_NS + np.array([10, 20, 15])
    (_, tp) = write(tmp_path / "c", book_arrays(5), trades_arrays(ts, [100.01] * 3, [1] * 3, [1] * 3))
    with pytest.raises(RecordingError, match=f"{tp}: row 2, field 'ts_recv_ns'"):
        read_recording(tmp_path / "c")


def test_bad_trade_fields(tmp_path):
    tr = trades_arrays(T0_NS + np.array([10, 20]), [100.01, 100.0], [1.0, 0.0], [1, -1])
    (_, tp) = write(tmp_path / "a", book_arrays(5), tr)
    with pytest.raises(RecordingError, match=f"{tp}: row 1, field 'size': 0.0"):
        read_recording(tmp_path / "a")
    tr = trades_arrays(T0_NS + np.array([10, 20]), [100.01, 100.0], [1.0, 1.0], [1, 0])
    (_, tp) = write(tmp_path / "b", book_arrays(5), tr)
    with pytest.raises(RecordingError, match=f"{tp}: row 1, field 'taker_side': 0"):
        read_recording(tmp_path / "b")


def test_empty_date_range_and_missing_dataset(tmp_path):
    write(tmp_path, book_arrays(5))
    day = schema.utc_date(T0_NS)
    next_day = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    with pytest.raises(RecordingError, match=r"product=BTC-USD: no Parquet files in date range"):
        read_recording(tmp_path, start_date=next_day)
    assert read_recording(tmp_path, start_date=day, end_date=day).num_steps == 5
    with pytest.raises(RecordingError, match="nowhere: no such recording directory"):
        read_recording(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="no 'book' dataset"):
        read_recording(tmp_path / "empty")
    with pytest.raises(RecordingError, match=r"product 'ETH-USD' not found; have \['BTC-USD'\]"):
        read_recording(tmp_path, product="ETH-USD")
    write(tmp_path, book_arrays(5), meta=schema.RecordingMeta("ETH-USD", 0.01, levels=3))
    with pytest.raises(RecordingError, match="several products"):
        read_recording(tmp_path)


def test_truncated_parquet_file(tmp_path):
    (path,) = write(tmp_path, book_arrays(100))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=f"{path}: unreadable Parquet file"):
        read_recording(tmp_path)


def test_metadata_missing(tmp_path):
    path = write_raw_book(tmp_path, book_table(book_arrays(3)), with_meta=False)
    with pytest.raises(RecordingError, match=f"{path}: Parquet metadata lacks"):
        read_recording(tmp_path)


def test_holes_in_the_grid_become_gaps(tmp_path):
    book = book_arrays(10)
    keep = np.ones(10, bool)
    keep[[4, 5]] = False  # two rows missing, after_gap not set by the writer
    write(tmp_path, {k: v[keep] for k, v in book.items()})
    raw = read_recording(tmp_path)
    assert raw.report.grid_holes == 1 and np.flatnonzero(raw.after_gap).tolist() == [0, 4]


# ---- trades on the grid -----------------------------------------------------------------------

def test_trades_at_the_grid_boundary_belong_to_the_interval_ending_there(tmp_path):
    ts = T0_NS + np.array([0, 1, GRID_NS, GRID_NS + 1, 2 * GRID_NS, 4 * GRID_NS, 4 * GRID_NS + 1])
    write(tmp_path, book_arrays(5), trades_arrays(ts, [100.01] * 7, [1, 2, 4, 8, 16, 32, 64], [1] * 7))
    md, raw = load_market(tmp_path)
    # (t0-, t0] -> outside; (t0, t1] gets 1 ns and t1 itself; (t1, t2] gets t1+1 and t2; t4 -> (t3, t4]
    np.testing.assert_array_equal(np.asarray(md.buy_vol), [2 + 4, 8 + 16, 0, 32, 0])
    np.testing.assert_array_equal(np.asarray(md.n_trades), [2, 2, 0, 1, 0])
    assert raw.report.trades_outside_grid == 2  # at t0 (before the grid) and after the last row


def test_trades_in_gaps_are_excluded_and_counted(tmp_path):
    book = book_arrays(6)
    book["after_gap"][3] = True  # (t2, t3] crosses a gap: its trades must not be used
    ts = T0_NS + np.array([GRID_NS + 5, 2 * GRID_NS + 5, 3 * GRID_NS, 3 * GRID_NS + 5])
    write(tmp_path, book, trades_arrays(ts, [100.0] * 4, [1, 2, 4, 8], [-1] * 4))
    md, raw = load_market(tmp_path)
    np.testing.assert_array_equal(np.asarray(md.sell_vol), [0, 1, 0, 8, 0, 0])
    assert raw.report.trades_in_gaps == 2 and raw.report.gaps == 1


def test_trade_price_slots_order_fold_and_conserve(tmp_path):
    ts = T0_NS + GRID_NS + np.arange(1, 10)  # all in (t1, t2]
    px = [100.03, 100.01, 100.02, 100.01, 100.05, 99.99, 99.97, 99.98, 99.99]
    side = [1, 1, 1, 1, 1, -1, -1, -1, -1]
    sz = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    write(tmp_path, book_arrays(5), trades_arrays(ts, px, sz, side))
    raw = read_recording(tmp_path)
    md = to_market_data(raw, trade_slots=3)
    a = md.px_anchor_ticks
    # buys nearest the touch first (ascending): 100.01 (2+8), 100.02 (4), 100.03 (1) + folded 100.05 (16)
    np.testing.assert_array_equal(np.asarray(md.buy_px[1]), np.array([10001, 10002, 10003]) - a)
    np.testing.assert_array_equal(np.asarray(md.buy_px_vol[1]), [10, 4, 17])
    # sells descending: 99.99 (32+256), 99.98 (128), 99.97 (64)
    np.testing.assert_array_equal(np.asarray(md.sell_px[1]), np.array([9999, 9998, 9997]) - a)
    np.testing.assert_array_equal(np.asarray(md.sell_px_vol[1]), [288, 128, 64])
    assert raw.report.trade_prices_folded == 1
    assert float(md.buy_px_vol.sum()) == float(md.buy_vol.sum()) == 31.0  # volume conserved
    assert float(md.sell_px_vol.sum()) == float(md.sell_vol.sum()) == 480.0
    assert int(md.buy_px[0, 0]) == NO_PRICE and int(md.sell_px[0, 0]) == -NO_PRICE  # empty slots padded


def test_sizes_become_exact_whole_lots_of_the_inferred_lot(tmp_path):
    book = book_arrays(5)
    book["bid_sz"] = book["bid_sz"] * 0.12345  # 0.12345, 0.2469, 0.37035: whole 1e-5 lots
    ts = T0_NS + GRID_NS + np.arange(1, 4)
    write(tmp_path, book, trades_arrays(ts, [100.01, 100.01, 99.99], [0.00011, 1.23456, 0.5], [1, 1, -1]))
    raw = read_recording(tmp_path)
    md = to_market_data(raw)
    assert md.lot_size == pytest.approx(1e-5) and raw.report.lot_source == "inferred from the sizes"
    np.testing.assert_array_equal(np.asarray(md.book_lots[0, 0]), [12345, 24690, 37035])  # exact from float64
    # both buys at 100.01 are the furthest a taker bought in (t1, t2]: their lots add exactly
    assert int(md.reach_lots[1, 1]) == 11 + 123456 and raw.report.sizes_off_lot == 0
    raw.trade_sz[0] = 0.000115  # half a lot of a given 1e-5 lot: rounded to the nearest lot and counted
    md = to_market_data(raw, lot_size=1e-5)
    assert raw.report.sizes_off_lot == 1 and raw.report.lot_source == "given"


def test_aggregates_at_t_do_not_depend_on_later_data(tmp_path):
    """Perturb the future: book rows after k and trades after grid time k+1 change nothing up to k."""
    rng = np.random.default_rng(0)
    T, k = 40, 25
    book = book_arrays(T)
    ts = np.sort(T0_NS + rng.integers(1, (T - 1) * GRID_NS, 200))
    tr = trades_arrays(ts, 100.0 + rng.integers(-3, 4, 200) * TICK, rng.uniform(0.1, 1, 200), rng.choice([-1, 1], 200))
    write(tmp_path / "a", book, tr)
    book2 = {key: v.copy() for key, v in book.items()}
    book2["bid_px"][k + 1:] -= 0.5
    book2["ask_px"][k + 1:] += 0.7
    book2["after_gap"][k + 5] = True
    tr2 = {key: (v.copy() if isinstance(v, np.ndarray) else list(v)) for key, v in tr.items()}
    late = tr["ts_recv_ns"] > T0_NS + (k + 1) * GRID_NS
    tr2["size"][late] *= 3
    tr2["price"][late] += 0.02
    write(tmp_path / "b", book2, tr2)
    md_a, _ = load_market(tmp_path / "a")
    md_b, _ = load_market(tmp_path / "b")
    for name in ("bid_px", "ask_px", "mid", "buy_vol", "sell_vol", "buy_px", "buy_px_vol", "sell_px", "n_trades",
                 "reach_px", "reach_lots", "book_px", "book_lots"):
        np.testing.assert_array_equal(np.asarray(getattr(md_a, name))[: k + 1], np.asarray(getattr(md_b, name))[: k + 1], err_msg=name)
    assert not np.array_equal(np.asarray(md_a.buy_vol), np.asarray(md_b.buy_vol))  # the perturbation is real


# ---- segments -------------------------------------------------------------------------------

def test_steps_to_gap_and_slice():
    after_gap = np.array([True, False, False, True, False, True])
    np.testing.assert_array_equal(steps_to_gap(after_gap), [3, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(steps_to_gap(np.array([False, False, True])), [2, 1, 1])


def test_market_slice_starts_a_segment(tmp_path):
    book = book_arrays(10)
    book["after_gap"][6] = True
    write(tmp_path, book)
    md, _ = load_market(tmp_path)
    np.testing.assert_array_equal(np.asarray(md.steps_to_gap), [6, 5, 4, 3, 2, 1, 4, 3, 2, 1])
    sl = md.slice(2, 8)
    assert np.asarray(sl.after_gap).tolist() == [True, False, False, False, True, False]
    np.testing.assert_array_equal(np.asarray(sl.steps_to_gap), [4, 3, 2, 1, 2, 1])
