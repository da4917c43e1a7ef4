"""Products: a bad one never starves the good ones, -USDC aliases, tick and lot sizes from the venue."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmjax import schema
from recorder.client import Recorder, main
from recorder.config import RecordConfig
from recorder.instruments import InstrumentError, resolve_instruments
from recorder.subscriptions import BARRIER, Subscriptions
from tests.mock_coinbase import MockInThread, load_capture
from tests.recorder_fakes import ProductsEndpoint, coinbase_product
from tests.recorder_harness import FIXTURE, GRID_MS, config, gap_rows, record_against_mock, verify
from tests.recorder_reference import read_dataset

S = 1_000_000_000


@pytest.fixture(scope="module")
def capture():
    return load_capture(FIXTURE)


# ---- subscriptions bookkeeping ------------------------------------------------------------------

def _subs():
    s = Subscriptions(["BTC-USD", "XYZ-USD"], ("market_trades", "level2", "heartbeats"), timeout_ns=S)
    for r in s.connect():
        s.on_sent(r, 0)
    return s


def test_a_refused_message_is_split_and_the_bad_product_refused_after_two_strikes():
    s = _subs()
    assert s.on_error("Failed to subscribe") == [BARRIER]  # an answer follows soon
    confirmed, again = s.on_answer(1, {"heartbeats": ["heartbeats"]})
    assert confirmed == [] and sorted(again) == sorted(
        [("subscribe", ch, (p,)) for ch in ("market_trades", "level2") for p in ("BTC-USD", "XYZ-USD")])
    for r in again:
        s.on_sent(r, 2)
    s.on_answer(3, {"market_trades": ["BTC-USD"], "level2": ["BTC-USD"]})
    assert s.live("level2", "BTC-USD") and not s.live("level2", "XYZ-USD")
    for strike in range(2):  # alone and refused twice: given up, the others go on
        s.on_error("Failed to subscribe")
        _, again = s.on_answer(4 + strike, {"market_trades": ["BTC-USD"], "level2": ["BTC-USD"]})
        for r in again:
            s.on_sent(r, 4 + strike)
    assert list(s.refused) == ["XYZ-USD"] and "Failed to subscribe" in s.refused["XYZ-USD"]
    assert s.active() == ["BTC-USD"] and s.connect()[0] == ("subscribe", "market_trades", ("BTC-USD",))


def test_an_unrelated_error_costs_no_product():
    s = _subs()
    s.on_answer(1, {"market_trades": ["BTC-USD", "XYZ-USD"], "level2": ["BTC-USD", "XYZ-USD"]})
    assert not s.awaiting() and s.on_error("rate limit") == []  # nothing pending: not a refusal
    assert not s.refused


def test_a_lenient_server_omitting_a_product_times_out_into_a_refusal():
    s = _subs()
    s.on_answer(1, {"market_trades": ["BTC-USD"], "level2": ["BTC-USD"]})
    t = 0
    for _ in range(3):
        t += 2 * S
        for r in s.check(t):
            s.on_sent(r, t)
    assert list(s.refused) == ["XYZ-USD"] and "not confirmed" in s.refused["XYZ-USD"]


def test_usdc_ids_map_back_to_what_was_asked():
    s = Subscriptions(["BTC-USDC"], ("market_trades", "level2"), timeout_ns=S)
    s.connect()
    assert s.canonical("BTC-USD") == "BTC-USDC" and s.canonical("ETH-USD") is None
    s.on_answer(1, {"level2": ["BTC-USD"]})
    assert s.live("level2", "BTC-USDC")


# ---- against the mock: one bad product ----------------------------------------------------------

@pytest.mark.parametrize("mode", ["strict", "lenient", "ghost"])
def test_an_unknown_product_is_dropped_and_the_others_keep_recording(capture, tmp_path, mode):
    """#19 hole 1: BTC-USD,XYZ-USD. Before: reconnect after reconnect, BTC-USD lost rows (strict: all)."""
    run = record_against_mock(capture, tmp_path, mock_kw={"unknown_products": mode},
                              products="BTC-USD,XYZ-USD", ticker=False, resync_timeout_s=0.5,
                              status_file=str(tmp_path / "status.json"))
    verify(tmp_path, run, products=["BTC-USD"])
    c, rec = run.c, run.rec
    assert c.reconnects == 0 and c.products_refused == 1 and list(rec.engine.subs.refused) == ["XYZ-USD"]
    assert rec.exit_code() == 3  # stopped cleanly, but not everything asked for was recorded
    status = json.loads((tmp_path / "status.json").read_text())
    btc, xyz = status["products"]["BTC-USD"], status["products"]["XYZ-USD"]
    assert btc["state"] == "stopped" and btc["last_row_ns"] > 0
    assert xyz["state"].startswith("dropped: ") and xyz["last_row_ns"] is None
    assert gap_rows(tmp_path, "BTC-USD") == 1  # BTC-USD recorded from its first row on, without a hole
    g = read_dataset(tmp_path, schema.BOOK_DIR, "BTC-USD").column("ts_recv_ns").to_numpy()
    assert (g[-1] - g[0]) / (GRID_MS * 1e6) + 1 == len(g) > 40
    assert not (tmp_path / "book" / "product=XYZ-USD").exists()


def test_usdc_product_is_recorded_under_the_id_asked_for(capture, tmp_path):
    run = record_against_mock(capture, tmp_path, mock_kw={"usdc_alias": True}, products="BTC-USDC", ticker=False)
    verify(tmp_path, run, products=["BTC-USDC"], served={"BTC-USDC": "BTC-USD"})
    assert run.c.reconnects == 0 and run.rec.exit_code() == 0
    files = sorted((tmp_path / "book").rglob("*.parquet"))
    assert files and all("product=BTC-USDC" in str(f) for f in files)
    assert schema.RecordingMeta.from_kv(pq.read_schema(files[0]).metadata, "x").product == "BTC-USDC"


def test_when_every_product_is_refused_the_command_fails_at_once(capture, tmp_path):
    with MockInThread(capture, speed=25.0, unknown_products="strict") as mock:
        cfg = config(tmp_path, mock.url, products="XYZ-USD,ABC-USD", duration_s=20)
        code = main(cfg)
    assert code == 1  # not a silent exit 0 after 20 s of nothing


# ---- tick and lot sizes from the venue ----------------------------------------------------------

def test_tick_and_lot_come_from_the_products_endpoint_and_land_in_the_metadata(capture, tmp_path):
    bodies = {"BTC-USD": coinbase_product("BTC-USD", "0.01", "0.00000001"),
              "ETH-USD": coinbase_product("ETH-USD", "0.05", "0.0001")}
    with ProductsEndpoint(bodies) as rest:
        cfg = RecordConfig(out=str(tmp_path), products="BTC-USD,ETH-USD", products_url=rest.url, tick_size="ETH-USD=0.01")
        ins = resolve_instruments(cfg)
        assert (ins["BTC-USD"].tick_size, ins["BTC-USD"].lot_size) == (0.01, 1e-8)
        assert (ins["ETH-USD"].tick_size, ins["ETH-USD"].lot_size) == (0.01, 1e-4)  # --tick-size wins
        assert sorted(rest.requests) == ["/api/v3/brokerage/market/products/BTC-USD",
                                         "/api/v3/brokerage/market/products/ETH-USD"]
        run = record_against_mock(capture, tmp_path, products_url=rest.url, tick_size="", lot_size="")
    meta = schema.RecordingMeta.from_kv(pq.read_schema(next((tmp_path / "book").rglob("*.parquet"))).metadata, "x")
    assert meta.lot_size is not None and run.rec.exit_code() == 0
    metas = {p: schema.RecordingMeta.from_kv(pq.read_schema(next((tmp_path / "trades" / f"product={p}").rglob(
        "*.parquet"))).metadata, p) for p in ("BTC-USD", "ETH-USD")}
    assert (metas["ETH-USD"].tick_size, metas["ETH-USD"].lot_size) == (0.05, 1e-4)
    assert (metas["BTC-USD"].tick_size, metas["BTC-USD"].lot_size) == (0.01, 1e-8)


def test_no_tick_from_anywhere_fails_clearly_and_a_missing_lot_is_unknown(tmp_path):
    with ProductsEndpoint({"BTC-USD": coinbase_product("BTC-USD")}) as rest:
        cfg = RecordConfig(out=str(tmp_path), products="BTC-USD,XYZ-USD", products_url=rest.url)
        with pytest.raises(InstrumentError, match=r"XYZ-USD: GET .*XYZ-USD answered HTTP 404 \(no such product\).*--tick-size"):
            resolve_instruments(cfg)
        assert main(cfg) == 1 and not (tmp_path / "book").exists()  # fails before connecting
        broken = {"BTC-USD": {**coinbase_product("BTC-USD"), "price_increment": "", "quote_increment": "zero"}}
        rest.bodies = broken
        with pytest.raises(InstrumentError, match="field 'quote_increment': 'zero' is not a number"):
            resolve_instruments(RecordConfig(out="x", products_url=rest.url))
    down = RecordConfig(out="x", products_url=rest.url, products_timeout_s=1.0, tick_size="0.01")
    ins = resolve_instruments(down)  # endpoint gone: the override is enough, the lot is unknown
    assert ins["BTC-USD"].tick_size == 0.01 and ins["BTC-USD"].lot_size is None


def test_lot_size_metadata_round_trips_and_old_recordings_read_as_unknown():
    meta = schema.RecordingMeta("BTC-USD", 0.01, lot_size=1e-8)
    assert schema.RecordingMeta.from_kv(meta.to_kv(), "x") == meta
    old = {k: v for k, v in meta.to_kv().items() if k != b"mmjax.lot_size"}
    assert schema.RecordingMeta.from_kv(old, "x").lot_size is None
    with pytest.raises(ValueError, match=r"f.parquet: Parquet metadata mmjax.lot_size: '-1' must be a positive number"):
        schema.RecordingMeta.from_kv({**old, b"mmjax.lot_size": b"-1"}, "f.parquet")


def test_a_recorder_given_its_own_writer_asks_no_endpoint():
    class NullWriter:
        q = None

        def put_book(self, *a): ...
        def put_trade(self, *a): ...

    rec = Recorder(RecordConfig(out="", products_url="http://127.0.0.1:9/none"), writer=NullWriter())
    assert rec.products == ["BTC-USD"] and rec.engine.emit_book.__self__ is rec.writer
