"""Coinbase websocket frames written by hand, and a one-product recorder engine fed by them."""

from __future__ import annotations

import json

from recorder.config import RecordConfig
from recorder.engine import Engine
from recorder.status import Counters


def cfg(**kw) -> RecordConfig:
    return RecordConfig(out="", **kw)


def l2_frame(seq, product, kind, updates, ts="2026-08-09T21:05:48.5Z"):
    return json.dumps({"channel": "l2_data", "timestamp": ts, "sequence_num": seq, "events": [
        {"type": kind, "product_id": product, "updates": [
            {"side": s, "event_time": ts, "price_level": p, "new_quantity": q} for s, p, q in updates]}]})


def heartbeat_frame(seq):
    return json.dumps({"channel": "heartbeats", "timestamp": "2026-08-09T21:05:49Z", "sequence_num": seq,
                       "events": [{"current_time": "x", "heartbeat_counter": seq}]})


def ack_frame(seq, products=("BTC-USD",), channels=("market_trades", "level2")):
    return json.dumps({"channel": "subscriptions", "timestamp": "2026-08-09T21:05:48Z", "sequence_num": seq,
                       "events": [{"subscriptions": {ch: list(products) for ch in channels}}]})


def one_product_engine(**kw):
    """A BTC-USD engine whose subscriptions are confirmed (frame 0 at t=0), and what it emits."""
    c, rows, trades = Counters(), [], []
    eng = Engine(["BTC-USD"], lambda *r: rows.append(r), lambda *t: trades.append(t), c,
                 cfg(levels=2, grid_ms=100, **kw))
    eng.on_connect(0)
    sent = drain(eng, 0)
    assert [r[1] for r in sent] == ["market_trades", "heartbeats", "level2"]  # trades before the book
    eng.on_frame(0, ack_frame(0))
    return eng, c, rows, trades


def drain(eng, now_ns):
    """Do what the client does: send the engine's requests (now), and return them."""
    sent, eng.requests = eng.requests, []
    for r in sent:
        eng.on_sent(r, now_ns)
    return sent
