"""Tardis CSV import: book rebuild, grid sampling, cleaning rules, errors, and real Binance data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest

from mmjax import schema
from mmjax.data.loader import read_recording, to_market_data
from mmjax.data.tardis import (
    TardisFormatError,
    TardisImportConfig,
    import_tardis,
    infer_lot_size,
    infer_tick_size,
    tick_fits,
)
from mmjax.outputs import UserError
from tests.helpers.tardis import (
    BOOK_HEADER,
    MS,
    SNAPSHOT,
    T0,
    TRADE_HEADER,
    brow,
    import_csv,
    trow,
    write_csv,
)


def _rows(rec: Path) -> dict[str, np.ndarray]:
    raw = read_recording(rec)
    return {"t_ms": (raw.ts_recv_ns // 1000 - T0) / MS, "ex_ms": (raw.ts_exchange_ns // 1000 - T0) / MS,
            "gap": raw.after_gap, "bid_px": raw.bid_px, "bid_sz": raw.bid_sz, "ask_px": raw.ask_px,
            "ask_sz": raw.ask_sz, "raw": raw}


def test_book_rebuild_is_exact_at_message_boundaries(tmp_path):
    book = SNAPSHOT + [
        brow(120, "bid", 100.0, 0), brow(120, "ask", 100.2, 5),  # delete best bid, new best ask
        brow(200, "bid", 99.9, 7),  # exactly on the grid: row 200 includes it (local_timestamp <= g)
        brow(350, "ask", 100.2, 0), brow(350, "ask", 100.4, 1), brow(350, "bid", 99.4, 0),  # 99.4 absent: no-op
        brow(1000, "bid", 99.8, 1),
    ]
    report, rec = import_csv(tmp_path, book, gz=True)
    r = _rows(rec)
    nan = np.nan
    np.testing.assert_array_equal(r["t_ms"], [100, 200, 300, 400, 500, 600, 700, 800, 900])
    np.testing.assert_array_equal(r["ex_ms"][:4], [49, 199, 199, 349])
    exp_bid = {100: ([100.0, 99.9, 99.5], [1, 2, 3]), 200: ([99.9, 99.5, nan], [7, 3, 0]),
               300: ([99.9, 99.5, nan], [7, 3, 0]), 400: ([99.9, 99.5, nan], [7, 3, 0])}
    exp_ask = {100: ([100.1, 100.3, nan], [1, 2, 0]), 200: ([100.1, 100.2, 100.3], [1, 5, 2]),
               300: ([100.1, 100.2, 100.3], [1, 5, 2]), 400: ([100.1, 100.3, 100.4], [1, 2, 1])}
    for i, t in enumerate([100, 200, 300, 400]):
        np.testing.assert_array_equal(r["bid_px"][i], exp_bid[t][0])
        np.testing.assert_array_equal(r["bid_sz"][i], exp_bid[t][1])
        np.testing.assert_array_equal(r["ask_px"][i], exp_ask[t][0])
        np.testing.assert_array_equal(r["ask_sz"][i], exp_ask[t][1])
    assert r["gap"].tolist() == [True] + [False] * 8
    assert report.messages == 5 and report.snapshots == 1 and report.grid_rows_written == 9
    assert r["raw"].meta.tick_size == 0.01 and r["raw"].meta.size_unit == "BTC"  # venue table
    assert r["raw"].meta.source == "tardis:binance:BTCUSDT"


def test_rows_before_first_snapshot_are_not_applied_or_written(tmp_path):
    book = [brow(10, "bid", 150.0, 9), brow(20, "ask", 50.0, 9)] + SNAPSHOT + [brow(250, "bid", 99.9, 4)]
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    assert report.rows_before_first_snapshot == 2
    np.testing.assert_array_equal(r["t_ms"], [100, 200])
    assert r["bid_px"][0, 0] == 100.0 and r["ask_px"][0, 0] == 100.1


def test_new_snapshot_resets_the_book_and_marks_a_gap(tmp_path):
    book = SNAPSHOT + [
        brow(150, "bid", 99.0, 1),
        brow(290, "bid", 101.0, 1, True), brow(290, "ask", 101.5, 2, True),  # resync: old levels vanish
        brow(410, "ask", 101.4, 1, True, ex_ms=289),  # same block (same exchange time), next message
        brow(520, "ask", 101.5, 3),
        brow(700, "bid", 100.9, 1),
    ]
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    # 100, 200 old book; 300, 400 inside the snapshot block (not written); 500.. the new book
    np.testing.assert_array_equal(r["t_ms"], [100, 200, 500, 600])
    assert r["gap"].tolist() == [True, False, True, False]
    np.testing.assert_array_equal(r["bid_px"][2], [101.0, np.nan, np.nan])
    np.testing.assert_array_equal(r["ask_px"][2], [101.4, 101.5, np.nan])
    np.testing.assert_array_equal(r["ask_sz"][2], [1, 2, 0])
    np.testing.assert_array_equal(r["ask_sz"][3], [1, 3, 0])
    assert report.snapshots == 2 and report.snapshot_resets == 1


def test_snapshot_only_feed_replaces_the_book_at_each_new_timestamp(tmp_path):
    """Periodic top-N snapshots and no increments: each block (new exchange time) replaces the book, no gap."""
    def snap(t_ms, bid, ask, size):
        return [brow(t_ms, "bid", bid, size, True), brow(t_ms, "bid", round(bid - 0.1, 2), 1, True),
                brow(t_ms, "ask", ask, size, True)]

    book = snap(50, 100.0, 100.1, 1) + snap(250, 100.2, 100.4, 2) + snap(330, 99.9, 100.0, 3) + snap(640, 99.8, 99.9, 4)
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    # grid rows 100, 200 from the first snapshot; 300 from the second; 400 .. 600 from the third;
    # nothing after the last message
    np.testing.assert_array_equal(r["t_ms"], [100, 200, 300, 400, 500, 600])
    np.testing.assert_array_equal(r["bid_px"][:, 0], [100.0, 100.0, 100.2, 99.9, 99.9, 99.9])
    np.testing.assert_array_equal(r["ask_px"][:, 0], [100.1, 100.1, 100.4, 100.0, 100.0, 100.0])
    np.testing.assert_array_equal(r["bid_sz"][:, 0], [1, 1, 2, 3, 3, 3])
    np.testing.assert_array_equal(r["ask_px"][2], [100.4, np.nan, np.nan])  # the old levels are gone
    np.testing.assert_array_equal(r["bid_px"][2], [100.2, 100.1, np.nan])
    assert r["gap"].tolist() == [True] + [False] * 5  # a snapshot cadence is not a resync
    assert report.snapshots == 4 and report.snapshot_replacements == 3 and report.snapshot_resets == 0
    assert report.grid_rows_written == 6


def test_an_import_that_would_write_no_book_row_fails_and_writes_nothing(tmp_path):
    one_snapshot = [brow(50, "bid", 100.0, 1, True), brow(50, "ask", 100.1, 1, True),
                    brow(60, "bid", 99.9, 1, True, ex_ms=49)]  # a single block spread over two messages
    with pytest.raises(TardisFormatError, match=r"book.csv: no book row to write: 3 CSV rows in 2 messages and "
                                                r"1 snapshot block\(s\)"):
        import_csv(tmp_path, one_snapshot)
    assert not (tmp_path / "rec").exists()
    crossed = SNAPSHOT + [brow(70, "bid", 100.2, 1), brow(400, "bid", 100.3, 1)]  # crossed from 70 ms on: grid rows 100, 200, 300
    with pytest.raises(TardisFormatError, match="skipped: crossed_rows_skipped 3"):
        import_csv(tmp_path / "x", crossed)
    # an existing import of the product is kept, even with --overwrite
    import_csv(tmp_path / "keep", SNAPSHOT + [brow(500, "bid", 99.9, 1)])
    before = sorted(p.read_bytes() for p in (tmp_path / "keep" / "rec").rglob("*.parquet"))
    with pytest.raises(TardisFormatError, match="no book row"):
        import_csv(tmp_path / "keep", one_snapshot, overwrite=True)
    assert sorted(p.read_bytes() for p in (tmp_path / "keep" / "rec").rglob("*.parquet")) == before


def test_cli_exits_non_zero_when_nothing_would_be_written(tmp_path, capsys):
    from mmjax.cli import main

    b = write_csv(tmp_path / "book.csv", BOOK_HEADER, [brow(50, "bid", 100.0, 1, True), brow(50, "ask", 100.1, 1, True)])
    t = write_csv(tmp_path / "trades.csv", TRADE_HEADER, [trow(60, 1, "buy", 100.1, 0.5)])
    assert main(["import-tardis", "--book", str(b), "--trades", str(t), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no book row to write" in err and "book.csv" in err
    assert not (tmp_path / "o").exists()


def test_crossed_book_at_a_boundary_is_skipped_and_counted(tmp_path):
    book = SNAPSHOT + [
        # one message crossing mid-way and uncrossing before its end: consistent at the boundary
        brow(130, "bid", 100.2, 1), brow(130, "ask", 100.1, 0), brow(130, "bid", 100.2, 0),
        brow(240, "bid", 100.3, 1),  # locked at the boundary (bid 100.3 = ask 100.3) for rows 300, 400
        brow(460, "bid", 100.3, 0),
        brow(700, "bid", 99.0, 1),
    ]
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    np.testing.assert_array_equal(r["t_ms"], [100, 200, 500, 600])
    assert r["gap"].tolist() == [True, False, True, False]
    assert report.crossed_rows_skipped == 2
    assert (r["bid_px"][:, 0] < r["ask_px"][:, 0]).all()


def test_one_sided_book_is_skipped(tmp_path):
    book = SNAPSHOT + [brow(140, "ask", 100.1, 0), brow(140, "ask", 100.3, 0), brow(260, "ask", 100.5, 1),
                       brow(400, "bid", 99.0, 1)]
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    np.testing.assert_array_equal(r["t_ms"], [100, 300])
    assert report.one_sided_rows_skipped == 1 and r["gap"].tolist() == [True, True]


def test_silence_longer_than_threshold_is_a_gap(tmp_path):
    book = SNAPSHOT + [brow(250, "bid", 99.9, 4), brow(250 + 6000, "bid", 99.9, 5), brow(6500, "bid", 99.9, 6)]
    report, rec = import_csv(tmp_path, book)
    r = _rows(rec)
    # rows 300 .. 6200 lie in a 6 s silence: not written; 6300, 6400 after it
    np.testing.assert_array_equal(r["t_ms"], [100, 200, 6300, 6400])
    assert r["gap"].tolist() == [True, False, True, False]
    assert report.silences == 1 and report.silent_rows_skipped == 60
    _, rec2 = import_csv(tmp_path / "x", book, max_silence_s=10.0)
    assert len(_rows(rec2)["t_ms"]) == 64


def test_header_only_trades_file_is_a_quiet_market(tmp_path):
    report, rec = import_csv(tmp_path, SNAPSHOT + [brow(500, "bid", 99.9, 1)], trades=[], gz=True)
    raw = read_recording(rec)
    assert report.trades_read == 0 and raw.report.trades == 0 and raw.num_steps == 4


def test_trades_taker_side_and_unknown_counted(tmp_path):
    trades = [trow(60, 1, "buy", 100.1, 0.5), trow(70, 2, "unknown", 100.0, 0.2), trow(80, 3, "sell", 100.0, 0.25),
              trow(180, 4, "buy", 100.2, 1.0)]
    report, rec = import_csv(tmp_path, SNAPSHOT + [brow(500, "bid", 99.9, 1)], trades)
    raw = read_recording(rec)
    assert report.trades_read == 4 and report.trades_unknown_side == 1 and report.trades_written == 3
    assert raw.trade_side.tolist() == [1, -1, 1]
    np.testing.assert_array_equal(raw.trade_sz, [0.5, 0.25, 1.0])
    np.testing.assert_array_equal(raw.trade_ts_recv_ns, (T0 + np.array([60, 80, 180]) * MS) * 1000)
    md = to_market_data(raw)
    # trade at 180 ms lies in (100, 200]: row 0 (100 ms); 60 and 80 ms precede the first row
    assert int(md.n_trades[0]) == 1 and float(md.buy_vol[0]) == 1.0
    assert raw.report.trades_outside_grid == 2


@pytest.mark.parametrize(
    ("book", "needle"),
    [
        ([brow(50, "bid", 100.0, 1, True), brow(60, "middle", 100.0, 1)], "line 3, field 'side'"),
        ([brow(50, "bid", 100.0, 1, True), brow(60, "bid", 100.0, -1)], "line 3, field 'amount'"),
        ([brow(50, "bid", 100.0, 1, True), brow(60, "bid", -5.0, 1)], "line 3, field 'price'"),
        ([brow(50, "bid", 100.0, 1, True), brow(40, "bid", 100.0, 1)], "line 3, field 'local_timestamp'"),
        ([brow(50, "bid", 100.0, 1, True), brow(60, "bid", 100.0, 1, sym="ETHUSDT")], "line 3, field 'symbol'"),
        ([brow(50, "bid", 100.0, 1, True), brow(60, "bid", 100.0, 1).replace(",100.0,", ",,")], "line 3, field 'price'"),
    ],
)
def test_bad_book_rows_name_file_line_and_field(tmp_path, book, needle):
    with pytest.raises(TardisFormatError, match=needle) as exc:
        import_csv(tmp_path, book)
    assert "book.csv" in str(exc.value)


def test_missing_column_and_bad_trade_side(tmp_path):
    b = write_csv(tmp_path / "book.csv", BOOK_HEADER.replace(",amount", ""), ["binance,BTCUSDT,1,1,true,bid,100.0"])
    t = write_csv(tmp_path / "trades.csv", TRADE_HEADER, [trow(60, 1, "buy", 100.1, 0.5)])
    with pytest.raises(TardisFormatError, match=r"book.csv: line 1 \(header\): missing column\(s\) \['amount'\]"):
        import_tardis(TardisImportConfig(book=str(b), trades=str(t), out=str(tmp_path / "o")))
    with pytest.raises(TardisFormatError, match=r"trades.csv: line 3, field 'side': 'BUY'"):
        import_csv(tmp_path, SNAPSHOT + [brow(500, "bid", 99.9, 1)], [trow(60, 1, "buy", 100.1, 0.5), trow(61, 2, "BUY", 1, 1)])


def test_tick_inference_is_robust_and_checked():
    rng = np.random.default_rng(0)
    cents = np.round(61000 + rng.integers(0, 100_000, 5000) * 0.01, 2)
    assert infer_tick_size(cents) == 0.01
    dimes = np.round(61000 + rng.integers(0, 10_000, 5000) * 0.1, 1)
    assert infer_tick_size(dimes) == pytest.approx(0.1)
    halves = 61000 + rng.integers(0, 10_000, 5000) * 0.5
    assert infer_tick_size(np.append(halves, 61000.13)) == 0.5  # one bad print among 5000 is tolerated
    quarters = 100 + rng.integers(0, 1000, 5000) * 0.25
    assert infer_tick_size(quarters) == 0.25
    assert tick_fits(0.01, cents) and not tick_fits(0.1, cents)
    lots = np.round(rng.integers(1, 100_000, 5000) * 0.001, 3)  # sizes in whole lots of 0.001
    assert infer_lot_size(lots) == pytest.approx(0.001)
    assert infer_lot_size(np.append(lots * 1000, 2.5)) == 1.0  # contracts, one odd print tolerated
    with pytest.raises(ValueError, match="tick size"):
        infer_tick_size(np.array([100.0]))


def test_given_tick_must_fit_and_unknown_venue_is_inferred(tmp_path):
    with pytest.raises(TardisFormatError, match="--tick-size 0.5 does not fit"):
        import_csv(tmp_path, SNAPSHOT + [brow(500, "bid", 99.9, 1)], tick_size=0.5)
    book = [r.replace("BTCUSDT", "XYZ") for r in SNAPSHOT + [brow(500, "bid", 99.9, 1)]]
    trades = [trow(60, 1, "buy", 100.1, 0.5).replace("BTCUSDT", "XYZ")]
    report, rec = import_csv(tmp_path / "u", book, trades)
    meta = read_recording(rec).meta
    assert meta.tick_size == pytest.approx(0.1) and meta.size_unit == "unknown" and meta.product == "binance-XYZ"
    assert report.tick_source.startswith("inferred")


def test_output_rotates_hourly_and_is_deterministic(tmp_path):
    # messages every 2 s across an hour boundary (T0 is 22:13:20 UTC, the hour turns 2800 s later)
    book = SNAPSHOT + [brow(50 + 2000 * k, "bid", 99.9, 1 + k % 3) for k in range(1, 1420)]
    report, rec = import_csv(tmp_path, book)
    files = sorted((rec / "book").rglob("*.parquet"))
    assert len(files) == 2 and report.book_files == 2
    raw = read_recording(rec)
    assert np.all(np.diff(raw.ts_recv_ns) == 100_000_000) and raw.after_gap.sum() == 1
    first = [f.read_bytes() for f in files]
    with pytest.raises(UserError, match="--overwrite"):
        import_csv(tmp_path, book)  # never mixes a new import with an old one
    import_csv(tmp_path, book[:-1000], overwrite=True)  # a shorter import replaces the old files
    assert len(list((rec / "book").rglob("*.parquet"))) == 1
    _, rec2 = import_csv(tmp_path / "again", book)  # same input: same files, same bytes
    assert [f.read_bytes() for f in sorted((rec2 / "book").rglob("*.parquet"))] == first


# ---- real data -------------------------------------------------------------------------------

def _reference_rows(book_csv: Path, grid_times_us: np.ndarray, levels: int):
    """Plain replay (dicts + full sort) of every row with local_timestamp <= g, for each sorted g."""
    t = pcsv.read_csv(book_csv)
    lt = t.column("local_timestamp").to_numpy()
    snap = t.column("is_snapshot").to_numpy(zero_copy_only=False)
    side = t.column("side").to_numpy(zero_copy_only=False)
    px = t.column("price").to_numpy().astype(np.float64)
    amt = t.column("amount").to_numpy().astype(np.float64)
    books = {"bid": {}, "ask": {}}
    out, i, prev_snap = [], 0, False
    for g in grid_times_us:
        stop = np.searchsorted(lt, g, side="right")
        while i < stop:
            if snap[i] and not prev_snap:
                books = {"bid": {}, "ask": {}}
            prev_snap = bool(snap[i])
            if amt[i] == 0:
                books[side[i]].pop(px[i], None)
            else:
                books[side[i]][px[i]] = amt[i]
            i += 1
        bids = sorted(books["bid"].items(), reverse=True)[:levels]
        asks = sorted(books["ask"].items())[:levels]
        out.append((bids, asks))
    return out


@pytest.mark.parametrize(("name", "tick", "unit", "lot"), [
    ("binance-spot-btcusdt-2024-08-08", 0.01, "BTC", 1e-5),  # Binance's BTCUSDT step size
    ("binance-coinm-btcusd-perp-2024-08-08", 0.1, "contracts_100usd", 1.0)])
def test_real_binance_import_matches_direct_rebuild(shared_data, tmp_path, name, tick, unit, lot):
    src = shared_data / name
    cfg = TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"),
                             out=str(tmp_path / "rec"))
    report = import_tardis(cfg)
    raw = read_recording(tmp_path / "rec", on_crossed="raise")  # no crossed rows written
    assert raw.meta.tick_size == tick and raw.meta.size_unit == unit
    assert report.lot_size == pytest.approx(lot) and report.lot_source.startswith("inferred")
    assert raw.report.book_rows == report.grid_rows_written > 6000  # about 11 minutes of 100 ms rows
    assert raw.report.trades == report.trades_written == pcsv.read_csv(src / "trades.csv.gz").num_rows
    assert (raw.bid_px[:, 0] < raw.ask_px[:, 0]).all()
    assert np.all(np.diff(raw.ts_recv_ns) == 100_000_000)  # these captures have no gaps
    # inferring the tick from the data alone agrees with the venue table
    prices = pcsv.read_csv(src / "incremental_book_L2.csv.gz").column("price").to_numpy()
    assert infer_tick_size(prices) == pytest.approx(tick)

    idx = np.sort(np.random.default_rng(1).choice(raw.num_steps, 40, replace=False))
    ref = _reference_rows(src / "incremental_book_L2.csv.gz", raw.ts_recv_ns[idx] // 1000, schema.DEFAULT_LEVELS)
    for k, (bids, asks) in zip(idx, ref, strict=True):
        np.testing.assert_array_equal(raw.bid_px[k], [p for p, _ in bids])
        np.testing.assert_array_equal(raw.bid_sz[k], [s for _, s in bids])
        np.testing.assert_array_equal(raw.ask_px[k], [p for p, _ in asks])
        np.testing.assert_array_equal(raw.ask_sz[k], [s for _, s in asks])

    md = to_market_data(raw)
    assert md.num_steps == raw.num_steps and int(md.n_trades.sum()) > 0.99 * raw.report.trades


def test_cli_import_then_load_summary(tmp_path, capsys):
    from mmjax.cli import main

    b = write_csv(tmp_path / "book.csv", BOOK_HEADER, SNAPSHOT + [brow(120, "ask", 100.1, 0), brow(440, "bid", 99.9, 1)])
    t = write_csv(tmp_path / "trades.csv", TRADE_HEADER, [trow(150, 1, "buy", 100.3, 0.5), trow(250, 2, "sell", 100.0, 0.25),
                                                       trow(260, 3, "unknown", 100.0, 9)])
    out = tmp_path / "rec"
    assert main(["import-tardis", "--book", str(b), "--trades", str(t), "--out", str(out), "--levels", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "trades_unknown_side: 1" in text and "grid_rows_written: 4" in text
    # the summary counts what was written (4 grid rows, 2 trades), not the 7 CSV rows read
    assert f"wrote {out}: 4 book rows and 2 trades (read 7 book CSV rows in " in text
    assert main(["load", "--data", str(out), "--on-crossed", "raise"]) == 0
    text = capsys.readouterr().out
    for line in ("book_rows: 4", "rows: 4", "segments: 1", "tick_size: 0.0100", "best_bid_min: 100.0000",
                 "best_ask_max: 100.3000", "mean_spread_ticks: 25.0000", "trades_on_grid: 2",
                 "buy_volume_on_grid: 0.5000", "sell_volume_on_grid: 0.2500", "duration_s: 0.3000"):
        assert line in text, line


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    from mmjax.cli import main

    b = write_csv(tmp_path / "book.csv", BOOK_HEADER, [brow(50, "bid", 100.0, 1, True), brow(60, "up", 100.0, 1)])
    t = write_csv(tmp_path / "trades.csv", TRADE_HEADER, [])
    assert main(["import-tardis", "--book", str(b), "--trades", str(t), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "book.csv: line 3, field 'side'" in capsys.readouterr().err
    assert main(["load", "--data", str(tmp_path / "o")]) == 2
    assert "no such recording directory" in capsys.readouterr().err  # the failed import left nothing behind
