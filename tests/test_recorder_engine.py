"""Protocol parsing, the L2 book, and the engine's gap, grid and causality rules (no sockets)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from recorder.book import L2Book
from recorder.config import RecordConfig
from recorder.engine import Engine
from recorder.protocol import (
    credentials_from_env,
    jwt_claims,
    parse_ts_ns,
    redact,
    sign_jwt,
    subscribe_message,
)
from recorder.status import Counters
from tests.helpers.coinbase_frames import (
    cfg,
    heartbeat_frame,
    l2_frame,
    one_product_engine,
)

FIXTURE = Path(__file__).parent / "fixtures" / "coinbase_small.jsonl.gz"
CAPTURE = "coinbase-advanced-trade-2026-08-09/frames.jsonl.gz"
PRODUCTS = ["BTC-USD", "ETH-USD"]


def _recv_frames(path) -> list[tuple[int, str]]:
    with gzip.open(path, "rt") as fh:
        lines = [json.loads(x) for x in fh]
    return [(int(round(d["recv_ts"] * 1e9)), d["frame"]) for d in lines if d["dir"] == "recv"]


@pytest.fixture(scope="module")
def frames():
    return _recv_frames(FIXTURE)


def run_engine(frames, grid_ms=100, levels=5, **kw):
    rows, trades, c = [], [], Counters()
    eng = Engine(PRODUCTS, lambda *r: rows.append(r), lambda *t: trades.append(t), c,
                 cfg(levels=levels, grid_ms=grid_ms, **kw))
    eng.on_connect(frames[0][0] - 1)
    for t, f in frames:
        eng.on_frame(t, f)
    return rows, trades, c, eng


# ---- protocol ---------------------------------------------------------------------------------

def test_parse_ts_ns_keeps_nanoseconds_and_rejects_garbage():
    assert parse_ts_ns("2026-08-09T21:05:48.228568804Z") == 1786309548228568804
    assert parse_ts_ns("2026-08-09T21:05:48.17Z") == 1786309548170000000
    assert parse_ts_ns("2026-08-09T21:05:48Z") == 1786309548000000000
    for bad in ("2026-08-09 21:05:48Z", "2026-08-09T21:05:48.12", "yesterday", "2026-08-09T21:05:48.1x2Z"):
        with pytest.raises(ValueError, match="bad timestamp"):
            parse_ts_ns(bad)


def test_subscribe_messages_and_redaction():
    assert subscribe_message("level2", ["BTC-USD"]) == {"type": "subscribe", "channel": "level2",
                                                       "product_ids": ["BTC-USD"]}
    assert "product_ids" not in subscribe_message("heartbeats", ["BTC-USD"])
    msg = subscribe_message("level2", ["BTC-USD"], jwt="secret", kind="unsubscribe")
    assert msg["type"] == "unsubscribe" and redact(msg)["jwt"] == "<redacted>" and msg["jwt"] == "secret"
    with pytest.raises(ValueError):
        subscribe_message("level2", ["BTC-USD"], kind="sub")


def test_jwt_claims_and_optional_signing():
    header, payload = jwt_claims("organizations/x/apiKeys/y", now_s=1000)
    assert header["alg"] == "ES256" and header["kid"] == "organizations/x/apiKeys/y" and len(header["nonce"]) == 32
    assert payload == {"iss": "cdp", "nbf": 1000, "exp": 1120, "sub": "organizations/x/apiKeys/y"}
    assert credentials_from_env({}) is None
    with pytest.raises(ValueError, match="both"):
        credentials_from_env({"COINBASE_API_KEY_NAME": "k"})
    try:
        import cryptography  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="cryptography"):
            sign_jwt("k", "-----BEGIN EC PRIVATE KEY-----\n...")
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    token = sign_jwt("k", pem, now_s=1000)
    assert token.count(".") == 2


def test_record_config_validates_products_and_ticks():
    c = RecordConfig(out="x", products="BTC-USD, ETH-USD", tick_size="BTC-USD=0.01,ETH-USD=0.05", lot_size="1e-8")
    assert c.product_list() == PRODUCTS and c.tick_overrides() == {"BTC-USD": 0.01, "ETH-USD": 0.05}
    assert c.lot_overrides() == {"BTC-USD": 1e-8, "ETH-USD": 1e-8}
    assert RecordConfig(out="x", products="BTC-USD,ETH-USD", tick_size="BTC-USD=0.01").tick_overrides() == {"BTC-USD": 0.01}
    with pytest.raises(ValueError, match="SOL-USD"):
        RecordConfig(out="x", tick_size="SOL-USD=0.01").tick_overrides()
    with pytest.raises(ValueError, match="positive"):
        RecordConfig(out="x", tick_size="-1").tick_overrides()
    with pytest.raises(ValueError, match="BTCUSD"):
        RecordConfig(out="x", products="BTCUSD").product_list()
    with pytest.raises(ValueError, match="same data"):
        RecordConfig(out="x", products="BTC-USD,BTC-USDC").product_list()


# ---- book -------------------------------------------------------------------------------------

def test_book_matches_a_naive_dict_under_random_updates():
    rng = random.Random(0)
    book, ref = L2Book(), {"bid": {}, "offer": {}}
    snap = [("bid", f"{100 - i * 0.01:.2f}", "1") for i in range(50)] + [("offer", f"{100.01 + i * 0.01:.2f}", "2") for i in range(50)]
    book.load_snapshot([{"side": s, "price_level": p, "new_quantity": q} for s, p, q in snap])
    for s, p, q in snap:
        ref[s][float(p)] = float(q)
    for _ in range(3000):
        side = rng.choice(["bid", "offer"])
        px = round((99.0 + rng.random()) if side == "bid" else (100.01 + rng.random()), 2)
        q = rng.choice([0.0, 0.0, round(rng.random() * 3, 4)])
        book.apply([{"side": side, "price_level": repr(px), "new_quantity": repr(q)}])
        if q == 0:
            ref[side].pop(px, None)
        else:
            ref[side][px] = q
    bp, bs, ap, az = book.top(30)
    want_b = sorted(ref["bid"], reverse=True)[:30]
    want_a = sorted(ref["offer"])[:30]
    np.testing.assert_array_equal(bp[: len(want_b)], want_b)
    np.testing.assert_array_equal(bs[: len(want_b)], [ref["bid"][p] for p in want_b])
    np.testing.assert_array_equal(ap[: len(want_a)], want_a)
    np.testing.assert_array_equal(az[: len(want_a)], [ref["offer"][p] for p in want_a])
    assert len(book.bids) == len(ref["bid"]) and len(book.asks) == len(ref["offer"])


def test_book_top_pads_empty_levels_and_rejects_bad_levels():
    book = L2Book()
    book.load_snapshot([{"side": "bid", "price_level": "10", "new_quantity": "1"}])
    bp, bs, ap, az = book.top(3)
    assert bp[0] == 10 and np.isnan(bp[1:]).all() and (bs[1:] == 0).all() and np.isnan(ap).all() and (az == 0).all()
    with pytest.raises(ValueError, match="new_quantity"):
        book.apply([{"side": "bid", "price_level": "10", "new_quantity": "-1"}])
    with pytest.raises(ValueError, match="side"):
        book.apply([{"side": "buy", "price_level": "10", "new_quantity": "1"}])
    with pytest.raises(ValueError, match="price_level"):
        book.apply([{"side": "bid", "price_level": "nan", "new_quantity": "1"}])


def test_book_rebuilt_from_the_real_capture_matches_every_btc_ticker(shared_data):
    book, checked = None, 0
    for _, f in _recv_frames(shared_data / CAPTURE):
        msg = json.loads(f)
        for ev in msg.get("events", []):
            if msg["channel"] == "l2_data" and ev["product_id"] == "BTC-USD":
                if ev["type"] == "snapshot":
                    book = L2Book()
                    book.load_snapshot(ev["updates"])
                else:
                    book.apply(ev["updates"])
            elif msg["channel"] == "ticker" and book is not None:
                for tk in ev["tickers"]:
                    if tk["product_id"] == "BTC-USD":
                        assert (book.bids.best(), book.asks.best()) == (float(tk["best_bid"]), float(tk["best_ask"]))
                        checked += 1
    assert checked == 70  # the data README's 70/70


# ---- engine -----------------------------------------------------------------------------------

def test_rows_are_causal_perturbing_the_future_changes_nothing_before(frames):
    rows, _, _, _ = run_engine(frames)
    cut = frames[len(frames) // 2][0]
    perturbed = []
    for t, f in frames:
        if t > cut and '"l2_data"' in f[:30]:
            msg = json.loads(f)
            for ev in msg["events"]:
                for u in ev["updates"]:
                    if u["new_quantity"] != "0":
                        u["new_quantity"] = "7.5"
            f = json.dumps(msg)
        perturbed.append((t, f))
    rows2, _, _, _ = run_engine(perturbed)
    before = [r for r in rows if r[2] <= cut]
    before2 = [r for r in rows2 if r[2] <= cut]
    assert len(before) > 50 and len(before) == len(before2)
    for a, b in zip(before, before2, strict=True):
        assert a[:4] == b[:4] and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a[4:], b[4:], strict=True))
    after = [r for r in rows if r[2] > cut]
    after2 = [r for r in rows2 if r[2] > cut]
    assert any(not np.array_equal(a[5], b[5]) for a, b in zip(after, after2, strict=False))


def test_engine_is_deterministic_and_reconciles(frames):
    a = run_engine(frames)
    b = run_engine(frames)
    assert len(a[0]) == len(b[0]) and a[2] == b[2] and a[1] == b[1]
    c = a[2]
    assert c.l2_updates_received == c.l2_updates_applied and c.seq_gaps == 0 and c.snapshots == 2
    for p in PRODUCTS:  # after_gap only on each product's first row
        gaps = [r[3] for r in a[0] if r[0] == p]
        assert len(gaps) > 20 and gaps[0] and not any(gaps[1:])


def test_row_holds_the_book_after_messages_received_up_to_its_grid_time():
    eng, c, rows, _ = one_product_engine()
    eng.on_frame(1_000_000_000, l2_frame(1, "BTC-USD", "snapshot", [("bid", "10", "1"), ("offer", "11", "1")]))
    eng.on_frame(1_100_000_000, l2_frame(2, "BTC-USD", "update", [("bid", "10.5", "2")]))  # exactly at grid time 1.1 s
    eng.on_frame(1_150_000_000, heartbeat_frame(3))
    assert [r[2] for r in rows] == [1_000_000_000]  # a heartbeat proves nothing about BTC-USD's stream
    eng.on_frame(1_250_000_000, l2_frame(4, "BTC-USD", "update", [("bid", "10.5", "3")]))
    assert [r[2] for r in rows] == [1_000_000_000, 1_100_000_000, 1_200_000_000]
    assert rows[0][4][0] == 10 and rows[1][4][0] == 10.5  # the 1.1 s row includes the message received at 1.1 s
    assert rows[0][3] and not rows[1][3] and rows[2][5][0] == 2


def test_sequence_gap_invalidates_until_a_fresh_snapshot():
    eng, c, rows, _ = one_product_engine()
    eng.on_frame(1_000_000_000, l2_frame(1, "BTC-USD", "snapshot", [("bid", "10", "1"), ("offer", "11", "1")]))
    eng.on_frame(1_250_000_000, l2_frame(2, "BTC-USD", "update", [("bid", "10", "2")]))
    n_before = len(rows)
    eng.on_frame(1_550_000_000, l2_frame(4, "BTC-USD", "update", [("bid", "10", "3")]))  # 3 is missing
    assert len(rows) == n_before == 3  # no row for 1.3..1.5 s: they might miss message 3
    assert c.seq_gaps == 1 and c.l2_updates_in_gap == 1
    assert eng.requests == [("unsubscribe", "level2", ("BTC-USD",)), ("subscribe", "level2", ("BTC-USD",))]
    eng.requests.clear()
    eng.on_frame(1_600_000_000, l2_frame(5, "BTC-USD", "update", [("bid", "10", "4")]))
    assert not eng.requests  # asked once per gap
    eng.on_frame(1_620_000_000, l2_frame(6, "BTC-USD", "snapshot", [("bid", "9", "5"), ("offer", "11", "1")]))
    eng.on_frame(1_900_000_000, l2_frame(7, "BTC-USD", "update", [("offer", "12", "1")]))
    assert [r[2] for r in rows[3:]] == [1_700_000_000, 1_800_000_000]
    assert rows[3][3] and not rows[4][3] and rows[3][4][0] == 9
    assert c.l2_updates_received == c.l2_updates_applied + c.l2_updates_in_gap == 4


def test_update_before_snapshot_and_malformed_frames():
    eng, c, rows, _ = one_product_engine()
    eng.on_frame(1, l2_frame(1, "BTC-USD", "update", [("bid", "10", "2")]))
    assert c.l2_updates_in_gap == 1 and not eng.requests  # the initial subscribe brings the snapshot
    eng.on_frame(2, l2_frame(2, "BTC-USD", "snapshot", [("bid", "10", "1"), ("offer", "11", "1")]))
    eng.on_frame(3, '{"channel":"l2_data","sequence_num":3,"ev')
    assert c.malformed == 1 and eng.state["BTC-USD"].book is None
    assert ("subscribe", "level2", ("BTC-USD",)) in eng.requests


def test_persistently_crossed_book_is_never_written_and_resynced():
    eng, c, rows, _ = one_product_engine(crossed_max_msgs=3, crossed_max_ms=10_000)
    eng.on_frame(1_000_000_000, l2_frame(1, "BTC-USD", "snapshot", [("bid", "10", "1"), ("offer", "11", "1")]))
    eng.on_frame(1_050_000_000, l2_frame(2, "BTC-USD", "update", [("bid", "12", "1")]))  # crossed
    for i in range(3, 7):
        eng.on_frame(1_050_000_000 + i * 100_000_000, l2_frame(i, "BTC-USD", "update", [("bid", "9", str(i))]))
    assert c.crossed_resyncs == 1 and ("subscribe", "level2", ("BTC-USD",)) in eng.requests
    assert all(r[4][0] < r[6][0] for r in rows) and len(rows) == 1  # only the 1.0 s row


def test_trades_taker_side_dedup_and_snapshot_skipped():
    eng, c, _, trades = one_product_engine()

    def mt(seq, kind, tid, side):
        return json.dumps({"channel": "market_trades", "timestamp": "2026-08-09T21:05:48Z", "sequence_num": seq,
                           "events": [{"type": kind, "trades": [{"product_id": "BTC-USD", "trade_id": tid,
                                                                "price": "65000.5", "size": "0.1", "side": side,
                                                                "time": "2026-08-09T21:05:48.1Z"}]}]})

    eng.on_frame(10, mt(1, "snapshot", "1", "BUY"))
    eng.on_frame(11, mt(2, "update", "1", "BUY"))  # already seen in the snapshot
    eng.on_frame(12, mt(3, "update", "2", "BUY"))
    eng.on_frame(13, mt(4, "update", "3", "SELL"))
    eng.on_frame(14, mt(5, "update", "3", "SELL"))
    assert [(t[3], t[6]) for t in trades] == [("2", -1), ("3", 1)]  # maker BUY -> taker sold
    assert trades[0][1] == 1786309548100000000 and trades[0][2] == 12
    assert c.trades_snapshot_skipped == 1 and c.trades_duplicate == 2
