"""The paper trader's output, pinned to the last bit: a speed-up of the live path must change no number.

A hand-built recording (not the synthetic market, whose generator may change on its own) is replayed
through `PaperTrader` with quoters whose arithmetic is IEEE-exact on any machine (no BLAS, no libm
log): a constant action, Avellaneda-Stoikov (its sigma is a square root) and queue-aware. Every
dashboard row, step record, KPI and count is hashed with its floats in hex. A deliberate change of a
rule (fills, account, quote mapping, KPIs, dashboard row) changes the digest: re-pin it then, and say
why in the commit. The digests below were produced at f41d9b3 (before the issue #27 speed-up) and
are unchanged after it; "const" and "queue_aware" were re-pinned when the venue stopped refusing fills
past our inventory limit (the limit gates new orders only; at the 0.03 limit here a resting order's fill
used to be cut to the room). Avellaneda-Stoikov never reached the limit: its digest did not move.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from mmjax import schema
from mmjax.data.raw import RawRecording
from mmjax.env.knobs import EnvKnobs
from mmjax.live import BaselineParams, BaselineQuoter, BookEvent, PaperTrader, ReplayFeed
from tests.helpers.live import ACTION, ConstQuoter

KNOBS = EnvKnobs(quote_size=0.01, max_inventory=0.03, max_offset_bps=3.0, maker_fee_bps=-0.5, latency_steps=2,
                 episode_steps=300)
DIGESTS = {
    "const": "7b9f87d6866a1eb8349632b9cc9e982715d9671c6938747f11f3afbead2dbdc6",
    "avellaneda_stoikov": "96fff0529668da49f001946382e7aaf93c99a72fee8656f29bf01ff2f29c3840",
    "queue_aware": "c0d247c4124134ad0b68ed2f24fec77172f6218fe39f2e2c1ce3013e09fedc33",
}


def pinned_recording(rows: int = 800, levels: int = 10, seed: int = 7) -> RawRecording:
    """A random-walk book (1-3 tick spreads, an empty deep level now and then) with taker trades near the
    touch, a sweep through six prices every 50 rows, a gap, a crossed row and trades the book showed first."""
    rng = np.random.default_rng(seed)
    tick, lot = 0.5, 0.001
    meta = schema.RecordingMeta(product="PIN-USD", tick_size=tick, grid_ms=100, levels=levels, source="test",
                                lot_size=lot)
    ts = 1_700_000_000_000_000_000 + 100_000_000 * np.arange(1, rows + 1, dtype=np.int64)
    best_bid = 120_000 + np.cumsum(rng.choice([-1, 0, 0, 0, 1], rows))
    best_ask = best_bid + rng.choice([1, 1, 1, 2, 3], rows)
    depth = np.arange(levels)
    bid_px = (best_bid[:, None] - depth) * tick
    ask_px = (best_ask[:, None] + depth) * tick
    bid_sz = np.round(rng.lognormal(-3, 1, (rows, levels)) / lot) * lot + lot
    ask_sz = np.round(rng.lognormal(-3, 1, (rows, levels)) / lot) * lot + lot
    empty = rng.random(rows) < 0.05  # the deepest bid level empty
    bid_px[empty, -1], bid_sz[empty, -1] = np.nan, 0.0
    after_gap = np.zeros(rows, bool)
    after_gap[[0, 400]] = True
    ask_px[600, 0] = bid_px[600, 0]  # crossed: dropped, and the next row starts a segment
    t_recv, t_ex, px, sz, side = [], [], [], [], []
    for t in range(1, rows):
        trades = [(rng.integers(1, 99_000_000), int(rng.choice([-1, 1])), int(rng.geometric(0.6)) - 1)
                  for _ in range(rng.poisson(1.5))]
        if t % 50 == 25:  # a sweep through six prices of one side
            taker = 1 if t % 100 == 25 else -1
            trades += [(99_000_000 + k, taker, 3 * k) for k in range(6)]
        for dt, taker, behind in trades:
            touch = best_ask[t - 1] if taker == 1 else best_bid[t - 1]
            t_recv.append(ts[t - 1] + dt)
            # every 40th trade was already shown by the previous row (the exchange clock); the others are fresh
            t_ex.append(ts[t - 1] - 30_000_000 if len(t_recv) % 40 == 0 else ts[t - 1] + dt - 5_000_000)
            px.append((touch + taker * behind) * tick)
            sz.append((int(rng.integers(1, 30)) + (15 if behind else 0)) * lot)
            side.append(taker)
    order = np.argsort(np.asarray(t_recv), kind="stable")
    arr = lambda v, dt: np.asarray(v, dt)[order]  # noqa: E731
    return RawRecording(meta, ts - 20_000_000, ts, after_gap, bid_px, bid_sz, ask_px, ask_sz,
                        arr(t_recv, np.int64), arr(t_ex, np.int64), arr(px, np.float64), arr(sz, np.float64),
                        arr(side, np.int8))


def _hex(x):
    if isinstance(x, float):
        return x.hex() if math.isfinite(x) else repr(x)
    if isinstance(x, np.ndarray):
        return [_hex(v) for v in x.tolist()]
    if isinstance(x, dict):
        return {k: _hex(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_hex(v) for v in x]
    return repr(x)


def replay_digest(raw: RawRecording, quoter) -> str:
    """sha256 of every dashboard row, step record, KPI and count of one replay (floats as hex)."""
    tr = PaperTrader(raw.meta, quoter, KNOBS, record_steps=True)
    rows = [(tr.on_book if isinstance(ev, BookEvent) else tr.on_trade)(ev) for ev in ReplayFeed(raw, speed=0).events()]
    out = {"rows": rows, "records": [dataclasses.astuple(r) for r in tr.records],
           "kpis": tr.kpis(), "counts": tr.counts}
    return hashlib.sha256(json.dumps(_hex(out), sort_keys=True).encode()).hexdigest()


QUOTERS = {
    "const": lambda: ConstQuoter(ACTION),
    "avellaneda_stoikov": lambda: BaselineQuoter("avellaneda_stoikov", BaselineParams()),
    "queue_aware": lambda: BaselineQuoter("queue_aware", BaselineParams()),
}


@pytest.fixture(scope="module")
def raw():
    return pinned_recording()


def test_the_pinned_recording_exercises_every_path(raw):
    tr = PaperTrader(raw.meta, QUOTERS["queue_aware"](), KNOBS, record_steps=True)
    for ev in ReplayFeed(raw, speed=0).events():
        (tr.on_book if isinstance(ev, BookEvent) else tr.on_trade)(ev)
    k, c = tr.kpis(), tr.counts
    assert k["n_fills"] > 20 and k["fills_traded_through"] > 0 and k["fills_crossed"] > 0 and k["n_rejected"] > 0
    assert c["gaps"] >= 2 and c["crossed_rows_dropped"] == 1 and c["trades_shown_before_received"] > 0
    assert k["bid_pulled"] + k["ask_pulled"] > 0 and k["markouts_open_10s"] > 0


@pytest.mark.parametrize("name", sorted(QUOTERS))
def test_replay_output_is_pinned(raw, name):
    assert replay_digest(raw, QUOTERS[name]()) == DIGESTS[name], (
        f"the paper trader's output changed ({name}): a speed-up must keep every number; re-pin only for a "
        "deliberate rule change")


def test_the_digest_sees_a_one_ulp_change(raw, monkeypatch):
    """The pin has teeth: marking to a mid one ulp off changes the digest."""
    from mmjax.env import sim_np

    mark = sim_np.mark
    monkeypatch.setattr(sim_np, "mark", lambda acct, mid, tick, inverse=None: mark(acct, math.nextafter(mid, math.inf),
                                                                                    tick, inverse))
    assert replay_digest(raw, QUOTERS["const"]()) != DIGESTS["const"]
