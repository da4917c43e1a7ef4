"""Independent checks of a recording against the raw frames the recorder received (test helper)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmjax import schema


def read_raw(out: Path) -> list[tuple[int, str, str]]:
    """(recv_ns, dir, frame) from every raw part, in order."""
    lines = []
    for path in sorted((out / "raw").glob("date=*/part-*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            lines += [json.loads(x) for x in fh]
    return [(d["recv_ns"], d["dir"], d["frame"]) for d in lines]


def read_dataset(out: Path, dataset: str, product: str) -> pa.Table:
    files = sorted((out / dataset / f"product={product}").glob("date=*/part-*.parquet"))
    if not files:
        return schema.book_schema(1).empty_table() if dataset == schema.BOOK_DIR else schema.TRADES_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])


def _top(side: dict[float, float], levels: int, bid: bool) -> tuple[np.ndarray, np.ndarray]:
    px = np.full(levels, np.nan)
    sz = np.zeros(levels)
    best = sorted(side, reverse=bid)[:levels]
    px[: len(best)] = best
    sz[: len(best)] = [side[p] for p in best]
    return px, sz


def check_recording(out: Path, products: list[str], grid_ms: int, levels: int) -> dict:
    """Assert every book row equals the book rebuilt from the received frames, was provably complete,
    and that ``after_gap`` marks exactly the segment starts. Returns tallies for further checks.

    The rules checked, independently of the engine's code: a row needs a valid book, a later frame
    that does not break the stream, and market_trades confirmed (by a ``subscriptions`` message) at or
    before its grid time; error frames break nothing (no sequence number is lost with them); a fresh
    snapshot that differs from a valid book starts a new segment; every trade received while its
    product's book was invalid lies in an interval that the loader drops (ending at an after_gap row,
    or outside the grid).
    """
    grid = grid_ms * 1_000_000
    raw = read_raw(out)
    rows = {}
    for p in products:
        t = read_dataset(out, schema.BOOK_DIR, p)
        rows[p] = {
            "g": t.column("ts_recv_ns").to_numpy(),
            "gap": t.column("after_gap").to_numpy(zero_copy_only=False),
            "bp": np.stack([t.column(f"bid_px_{i}").to_numpy(zero_copy_only=False) for i in range(levels)], 1),
            "bs": np.stack([t.column(f"bid_sz_{i}").to_numpy() for i in range(levels)], 1),
            "ap": np.stack([t.column(f"ask_px_{i}").to_numpy(zero_copy_only=False) for i in range(levels)], 1),
            "as": np.stack([t.column(f"ask_sz_{i}").to_numpy() for i in range(levels)], 1),
        } if t.num_rows else {"g": np.zeros(0, np.int64), "gap": np.zeros(0, bool)}
        assert np.all(np.diff(rows[p]["g"]) > 0), f"{p}: row times not increasing"
        assert np.all(rows[p]["g"] % grid == 0), f"{p}: row times off the grid"

    def canonical(pid):  # -USDC products are served as -USD
        return pid if pid in products else (pid + "C" if pid + "C" in products else None)

    books = {p: ({}, {}) for p in products}
    valid = dict.fromkeys(products, False)
    trades_since = dict.fromkeys(products, None)  # receive time market_trades was confirmed
    epoch = dict.fromkeys(products, 0)
    row_epoch = {p: np.full(len(rows[p]["g"]), -1) for p in products}
    nxt = dict.fromkeys(products, 0)
    expected = None
    tallies = {"updates_received": 0, "updates_applied": 0, "rows_checked": 0, "ticker_rows_checked": 0,
               "trades": {}, "breaks": 0, "trades_in_gaps": []}
    last_ticker = {p: None for p in products}  # (best_bid, best_ask) if no l2 frame since

    def invalidate_all():
        for p in products:
            if valid[p]:
                epoch[p] += 1
            valid[p] = False

    for recv_ns, direction, frame in raw:
        if direction == "send":
            continue
        broken = direction == "conn"
        msg = None
        if not broken:
            try:
                msg = json.loads(frame)
            except ValueError:
                broken = True
        if msg is not None:
            seq = msg.get("sequence_num")
            if isinstance(seq, int):
                if expected is not None and seq != expected:
                    broken = True
                expected = seq + 1
        if direction == "conn":
            expected = None
            trades_since = dict.fromkeys(products, None)
        # rows at grid times before this frame must have been written from a complete, valid book
        for p in products:
            r = rows[p]
            while nxt[p] < len(r["g"]) and r["g"][nxt[p]] < recv_ns:
                i = nxt[p]
                assert not broken, f"{p}: row at {r['g'][i]} written although the next frame broke the stream"
                assert valid[p], f"{p}: row at {r['g'][i]} written while the book was invalid"
                assert trades_since[p] is not None and trades_since[p] <= r["g"][i], \
                    f"{p}: row at {r['g'][i]} written before its trades were subscribed"
                bp, bs = _top(books[p][0], levels, True)
                ap, az = _top(books[p][1], levels, False)
                np.testing.assert_array_equal(r["bp"][i], bp, err_msg=f"{p} row {i} bid px")
                np.testing.assert_array_equal(r["bs"][i], bs, err_msg=f"{p} row {i} bid sz")
                np.testing.assert_array_equal(r["ap"][i], ap, err_msg=f"{p} row {i} ask px")
                np.testing.assert_array_equal(r["as"][i], az, err_msg=f"{p} row {i} ask sz")
                assert bp[0] < ap[0], f"{p} row {i}: crossed book written"
                if last_ticker[p] is not None:
                    assert (bp[0], ap[0]) == last_ticker[p], f"{p} row {i}: top differs from ticker"
                    tallies["ticker_rows_checked"] += 1
                row_epoch[p][i] = epoch[p]
                tallies["rows_checked"] += 1
                nxt[p] += 1
        if broken:
            tallies["breaks"] += 1
            invalidate_all()
            if msg is None:
                continue  # nothing usable; a frame after a sequence jump is itself fine
        if msg.get("type") == "error":
            continue
        ch = msg.get("channel")
        if ch == "subscriptions":
            for ev in msg["events"]:
                for pid in ev["subscriptions"].get("market_trades", []):
                    p = canonical(pid)
                    if p is not None and trades_since[p] is None:
                        trades_since[p] = recv_ns
        elif ch == "l2_data":
            for ev in msg["events"]:
                p = canonical(ev["product_id"])
                if p is None:
                    continue
                last_ticker[p] = None
                bids, asks = books[p]
                if ev["type"] == "snapshot":
                    fresh = ({}, {})
                    for u in ev["updates"]:
                        if float(u["new_quantity"]) != 0:
                            fresh[u["side"] != "bid"][float(u["price_level"])] = float(u["new_quantity"])
                    if valid[p] and fresh != (bids, asks):
                        epoch[p] += 1  # the book had gone stale: a new segment
                    bids.clear()
                    asks.clear()
                    valid[p] = True
                else:
                    tallies["updates_received"] += len(ev["updates"])
                    if not valid[p]:
                        continue
                    tallies["updates_applied"] += len(ev["updates"])
                for u in ev["updates"]:
                    side = bids if u["side"] == "bid" else asks
                    px, sz = float(u["price_level"]), float(u["new_quantity"])
                    if sz == 0:
                        side.pop(px, None)
                    else:
                        side[px] = sz
        elif ch == "ticker":
            for ev in msg["events"]:
                for tk in ev["tickers"]:
                    p = canonical(tk["product_id"])
                    if p == "BTC-USD" and ev["type"] == "update" and valid.get(p):
                        last_ticker[p] = (float(tk["best_bid"]), float(tk["best_ask"]))
        elif ch == "market_trades":
            for ev in msg["events"]:
                if ev["type"] != "update":
                    continue
                for t in ev["trades"]:
                    p = canonical(t["product_id"])
                    tallies["trades"].setdefault(t["trade_id"], (p, float(t["price"]), t["side"]))
                    if p is not None and not valid[p]:
                        tallies["trades_in_gaps"].append((p, recv_ns))
    for p in products:
        r = rows[p]
        checked = row_epoch[p] >= 0
        assert checked.all(), f"{p}: {int((~checked).sum())} rows after the last received frame"
        g, gap, ep = r["g"], r["gap"], row_epoch[p]
        if len(g):
            should = np.ones(len(g), bool)
            should[1:] = (np.diff(g) != grid) | (np.diff(ep) != 0)
            bad = np.flatnonzero(gap != should)
            assert not len(bad), f"{p}: after_gap wrong at rows {bad[:5]} (has {gap[bad[:5]]})"
    for p, recv_ns in tallies["trades_in_gaps"]:  # the loader's rule (mmjax.data.loader.to_market_data)
        g, gap = rows[p]["g"], rows[p]["gap"]
        step = int(np.searchsorted(g, recv_ns, side="left")) - 1
        assert step < 0 or step >= len(g) - 1 or gap[step + 1], \
            f"{p}: trade received at {recv_ns} with the book invalid falls in a used interval (row {step})"
    return tallies


def check_trades(out: Path, products: list[str], received: dict) -> int:
    """Recorded trades are exactly the received (deduplicated) trade updates, with the taker side."""
    n = 0
    for p in products:
        t = read_dataset(out, schema.TRADES_DIR, p)
        ids = t.column("trade_id").to_pylist()
        assert len(ids) == len(set(ids)), f"{p}: duplicate trades"
        for tid, px, side in zip(ids, t.column("price").to_pylist(), t.column("taker_side").to_pylist(), strict=True):
            prod, rpx, maker = received[tid]
            assert prod == p and rpx == px
            assert side == (-1 if maker == "BUY" else 1)
        expected = {k for k, v in received.items() if v[0] == p}
        assert set(ids) == expected, f"{p}: trades missing {sorted(expected - set(ids))[:5]}"
        n += len(ids)
    return n
