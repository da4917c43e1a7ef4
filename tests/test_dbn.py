"""`mmjax import-dbn`: a DBN MBO file written here, record by record, and the real SSE day against its Tardis twin."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as pads
import pytest

from mmjax import cli, schema
from mmjax.data.dbn import DbnImportConfig, import_dbn
from mmjax.data.dbn_read import DbnFormatError
from tests.helpers.dbn import LAST, SNAP, T0, rec, write_dbn

# A snapshot (clear + 4 orders), then: at 150 ms an add behind the bid; at 250 ms a sell aggressor hits the
# bid (T, F, then C of the resting order); at 350 ms a modify moves the ask; at 420 ms a buy aggressor
# lifts 1 of the ask (T, F, M of the resting order), then the feed goes quiet past 5 s and resumes.
DAY = [
    rec(0, "R", flags=SNAP), rec(0, "A", "B", 99.0, 5, 1, SNAP), rec(0, "A", "B", 98.5, 2, 2, SNAP),
    rec(0, "A", "A", 100.0, 4, 3, SNAP), rec(0, "A", "A", 101.0, 1, 4, SNAP | LAST),
    rec(150, "A", "B", 99.0, 3, 5),
    rec(250, "T", "A", 99.0, 5, 9, 0), rec(250, "F", "B", 99.0, 5, 1, 0), rec(250, "C", "B", 99.0, 5, 1),
    rec(350, "M", "A", 100.5, 4, 3),
    rec(420, "T", "B", 100.5, 1, 8, 0), rec(420, "F", "A", 100.5, 1, 3, 0), rec(420, "M", "A", 100.5, 3, 3),
    rec(6000, "A", "B", 98.0, 7, 6), rec(6100, "C", "B", 98.0, 7, 6),
]


def load(out, dataset):
    return pads.dataset(str(out / dataset), partitioning="hive").to_table().sort_by("ts_recv_ns").to_pandas()


def test_import_rebuilds_the_book_trades_and_orders(tmp_path):
    path = write_dbn(tmp_path / "day.mbo.dbn.zst", DAY)
    out = tmp_path / "rec"
    rep = import_dbn(DbnImportConfig(mbo=[str(path)], out=str(out), levels=2, orders=True))
    book = load(out, "book")
    g = ((book.ts_recv_ns - T0) // 100_000_000).tolist()
    # rows 0..4 (0 to 400 ms) then one gap (a 5.6 s silence), then 6.0 s (the row at 6.1 s is after the last message)
    assert g == [0, 1, 2, 3, 4, 60]
    assert book.after_gap.tolist() == [True, False, False, False, False, True]
    assert book.bid_px_0.tolist() == [99.0, 99.0, 99.0, 99.0, 99.0, 99.0]
    assert book.bid_sz_0.tolist() == [5.0, 5.0, 8.0, 3.0, 3.0, 3.0]  # the add at 150 ms joins, the hit at 250 removes 5
    assert book.bid_px_1.tolist()[-1] == 98.5 and book.bid_sz_1.tolist()[-1] == 2.0  # 98.0 x 7 is below 98.5
    assert book.ask_px_0.tolist() == [100.0, 100.0, 100.0, 100.0, 100.5, 100.5]  # the modify at 350 ms
    assert book.ask_sz_0.tolist() == [4.0, 4.0, 4.0, 4.0, 4.0, 3.0]  # the fill at 420 ms shows at 500 ms = after the gap
    assert book.ts_exchange_ns.iloc[2] == T0 + 150_000_000 - 1000  # exact ns of the last record applied
    trades = load(out, "trades")
    assert trades.taker_side.tolist() == [schema.TAKER_SELL, schema.TAKER_BUY]  # T's side is the aggressor's
    assert trades.price.tolist() == [99.0, 100.5] and trades["size"].tolist() == [5.0, 1.0]
    orders = load(out, "orders")
    assert len(orders) == len(DAY) and orders.action.tolist()[:2] == ["R", "A"]
    assert orders.side.tolist()[6:8] == [-1, 1] and np.isnan(orders.price.iloc[0])
    assert (rep.snapshots, rep.silences, rep.trades_written, rep.tick_size, rep.lot_size) == (1, 1, 2, 0.5, 1.0)


def test_cli_reads_several_files_as_one_stream(tmp_path, capsys):
    a = write_dbn(tmp_path / "a.dbn", DAY[:5], zstd=False)  # the snapshot alone, uncompressed
    b = write_dbn(tmp_path / "b.dbn.zst", DAY[5:])
    assert cli.main(["import-dbn", "--mbo", str(a), str(b), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(load(tmp_path / "r", "book")) == 6


@pytest.mark.parametrize("bad, field", [
    (bytes(DAY[6])[:38] + b"Z" + bytes(DAY[6])[39:], "'action'"),  # byte 38 is the action character
    (rec(250, "C", "B", 99.0, 5, 77), "'order_id'"),  # cancel of an order that never rested
    (rec(250, "C", "B", 99.0, 50, 1), "'size'"),  # more than the order has
    (rec(250, "A", "B", 99.0, 0, 12), "'size'"),
    (rec(100, "A", "B", 99.0, 1, 12), "'ts_recv'"),  # before the previous record (150 ms)
    (rec(250, "A", "B", 99.0, 1, 12, instrument=43), "'instrument_id'"),
    (rec(250, "A", "B", 99.0, 1, 5), "'order_id'"),  # an add of an id already resting
])
def test_a_bad_record_is_named_by_index_and_field(tmp_path, bad, field):
    path = write_dbn(tmp_path / "bad.dbn", [*DAY[:6], bad, *DAY[7:]])
    with pytest.raises(DbnFormatError, match=rf"bad.dbn: record 6, field {field}"):
        import_dbn(DbnImportConfig(mbo=[str(path)], out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()  # nothing written


def test_no_book_row_exits_2(tmp_path, capsys):
    path = write_dbn(tmp_path / "inc.dbn", DAY[5:])  # increments without a snapshot: the book is never known
    assert cli.main(["import-dbn", "--mbo", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no book row to write" in err and "records_before_book" in err
    truncated = write_dbn(tmp_path / "cut.dbn", [*DAY[:6], bytes(DAY[6])[:20]])
    with pytest.raises(DbnFormatError, match="record 6: truncated"):
        import_dbn(DbnImportConfig(mbo=[str(truncated)], out=str(tmp_path / "r")))


def test_sse_day_equals_its_tardis_import(shared_data, tmp_path):
    """The real SSE 601825 day: the MBO import equals the import of the same day's Tardis CSVs, row for row."""
    from mmjax.data.tardis import TardisImportConfig, import_tardis

    d = shared_data / "sse-601825-2023-07-11"
    import_dbn(DbnImportConfig(mbo=[str(d / "sse-601825-2023-07-11.mbo.dbn.zst")], out=str(tmp_path / "d"),
                               max_silence_s=60, levels=5, quiet=True))
    import_tardis(TardisImportConfig(book=str(d / "incremental_book_L2.csv.gz"), trades=str(d / "trades.csv.gz"),
                                     out=str(tmp_path / "t"), tick_size=0.01, size_unit="shares", max_silence_s=60,
                                     levels=5, quiet=True))
    a, b = load(tmp_path / "d", "book"), load(tmp_path / "t", "book")
    cols = [c for c in a.columns if c.startswith(("bid_", "ask_", "ts_recv", "after_gap"))]
    assert len(a) == len(b) > 100_000
    assert a[cols].fillna(-1).equals(b[cols].fillna(-1))
    ta, tb = load(tmp_path / "d", "trades"), load(tmp_path / "t", "trades")
    assert ta[["ts_recv_ns", "price", "size", "taker_side"]].equals(tb[["ts_recv_ns", "price", "size", "taker_side"]])
