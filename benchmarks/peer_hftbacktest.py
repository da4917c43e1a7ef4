"""mmjax's fills against hftbacktest's: the same fixed quoter on the same Tardis captures.

    python benchmarks/peer_hftbacktest.py --json benchmarks/results/peer_hftbacktest.json \
        [--hbt-python /work/venv-hbt/bin/python] [--data-root ../shared/data] [--levels 1000]

The quoter: every 100 ms, a post-only bid and ask of one quote size at the mid -/+ H bps (rounded
away from the mid to a tick, never through the opposite touch), no side beyond the inventory
limit; a quote at the price of the working order sends nothing; any other price cancels and
replaces it. Both simulators: 100 ms order entry latency, fills seen at once, zero fees, half-spreads
0.1, 1 and 3 bp, the shared Binance spot BTCUSDT and COIN-M BTCUSD-perp captures. hftbacktest
2.4.4 (GTX orders, partial-fill exchange, risk-averse and power-3 queue models) runs in its own
virtual environment as a subprocess of this script in ``--worker`` mode (that mode imports only
NumPy and hftbacktest); without it the script says so and reports mmjax alone. hftbacktest
refuses a cancel while the order's own request is in flight: refused cancels are retried every
step, else orphaned orders at stale prices inflate its fill counts. Both decide at the same instants:
hftbacktest's steps are put on mmjax's grid (whole 100 ms on the receive clock, `local_shift_ns`). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

# name: (directory under --data-root, tick, lot, quote size, inventory limit, hftbacktest exchange model).
# COIN-M quotes one contract, its lot, so no partial fill can happen there; hftbacktest's partial-fill
# exchange stops that run early (elapse code 14, an order state it does not expect), its no-partial
# one does not.
DATASETS = {
    "binance-spot-btcusdt": ("binance-spot-btcusdt-2024-08-08", 0.01, 1e-5, 0.01, 0.1, "partial"),
    "binance-coinm-btcusd-perp": ("binance-coinm-btcusd-perp-2024-08-08", 0.1, 1.0, 1.0, 10.0, "no_partial"),
}
HALF_SPREADS_BPS = (0.1, 1.0, 3.0)
QUEUE_MODELS = ("risk_averse", "power")
STEP_NS = 100_000_000
LATENCY_NS = 100_000_000
END_OF_DATA = 1  # hftbacktest's elapse code at the end of the data (others are errors)


# ------------------------------------------------------------------------------------------------
# hftbacktest side (runs in the hftbacktest venv: NumPy and hftbacktest only)


def local_shift_ns(paths: list[str]) -> int:
    """How far `tardis.convert` moves the receive clock (``correct_local_timestamp``, base latency 0): ns.

    hftbacktest shifts every local time stamp by the most negative feed latency (local - exchange) so that
    none is negative; its decisions run on that shifted clock.
    """
    import polars as pl

    lat = min(pl.read_csv(p, columns=["timestamp", "local_timestamp"])
              .select((pl.col("local_timestamp") - pl.col("timestamp")).min()).item() for p in paths)
    return max(0, -int(lat)) * 1000  # Tardis time stamps are microseconds


def _hbt_run(data, tick: float, lot: float, size: float, max_inv: float, half_spread_bps: float, queue: str,
             exchange: str, local_shift: int | None = None) -> dict:
    """The fixed quoter in hftbacktest over the converted events ``data``.

    With ``local_shift`` (`local_shift_ns`) its decisions fall on mmjax's grid: whole multiples of
    STEP_NS on the receive clock, as `mmjax import-tardis` lays its rows. Without it they fall wherever
    its first event puts them (this capture: 70 ms off mmjax's rows); quotes 2 bp and more from the mid
    fill only in fast moves, and such a phase shift alone moves their fill counts by up to 20 %.
    """
    from hftbacktest import (
        BUY,
        CANCELED,
        EXPIRED,
        FILLED,
        GTX,
        LIMIT,
        NEW,
        BacktestAsset,
        HashMapMarketDepthBacktest,
    )
    from hftbacktest.order import PARTIALLY_FILLED

    asset = BacktestAsset().data([data]).linear_asset(1.0).constant_order_latency(LATENCY_NS, 0)
    asset = asset.risk_adverse_queue_model() if queue == "risk_averse" else asset.power_prob_queue_model(3.0)
    asset = asset.partial_fill_exchange() if exchange == "partial" else asset.no_partial_fill_exchange()
    asset = asset.trading_value_fee_model(0.0, 0.0).tick_size(tick).lot_size(lot)
    hbt = HashMapMarketDepthBacktest([asset])
    working = {BUY: None, -BUY: None}  # side -> order id of the order the quoter knows it has
    stale: set[int] = set()  # replaced orders whose cancel the venue has not accepted yet
    next_id, expired, refused, steps, abs_pos = 1, 0, 0, 0, 0.0
    seen_expired: set[int] = set()
    if local_shift is not None:  # start the clock (its first event), then step to the next grid time
        hbt.elapse(1)
        if lag := (local_shift - hbt.current_timestamp) % STEP_NS:
            hbt.elapse(lag)
    while (rc := hbt.elapse(STEP_NS)) == 0:
        orders = hbt.orders(0)
        for oid in list(stale):  # retry refused cancels every step
            o = orders.get(oid)
            if o is None or o.status not in (NEW, PARTIALLY_FILLED):
                stale.discard(oid)
            elif o.cancellable:
                if hbt.cancel(0, oid, False) != 0:
                    refused += 1
            else:
                refused += 1
        for side, oid in working.items():
            o = orders.get(oid) if oid is not None else None
            if o is not None and o.status == EXPIRED and oid not in seen_expired:
                expired += 1  # GTX: it would have crossed on arrival
                seen_expired.add(oid)
            if o is None or o.status in (FILLED, EXPIRED, CANCELED):
                working[side] = None
        depth = hbt.depth(0)
        bb, ba = depth.best_bid_tick, depth.best_ask_tick
        pos = hbt.position(0)
        steps += 1
        abs_pos += abs(pos)
        if not (bb < ba) or bb <= 0:
            continue
        mid = (bb + ba) / 2.0
        off = mid * half_spread_bps * 1e-4
        want = {BUY: min(math.floor(mid - off), math.ceil(mid) - 1, ba - 1),
                -BUY: max(math.ceil(mid + off), math.floor(mid) + 1, bb + 1)}
        on = {BUY: pos < max_inv - lot / 2, -BUY: pos > -max_inv + lot / 2}
        for side in (BUY, -BUY):
            oid = working[side]
            o = orders.get(oid) if oid is not None else None
            if on[side] and o is not None and o.price_tick == want[side]:
                continue  # the known order's price: no message, it keeps its queue place
            if oid is not None:
                stale.add(oid)
                if o is not None and o.cancellable and hbt.cancel(0, oid, False) != 0:
                    refused += 1
                working[side] = None
            if on[side]:
                submit = hbt.submit_buy_order if side == BUY else hbt.submit_sell_order
                submit(0, next_id, want[side] * tick, size, GTX, LIMIT, False)
                working[side] = next_id
                next_id += 1
        hbt.clear_inactive_orders(0)
    sv = hbt.state_values(0)
    depth = hbt.depth(0)
    mid_px = (depth.best_bid + depth.best_ask) / 2.0
    out = {"fills": int(sv.num_trades), "filled_size": float(sv.trading_volume),
           "pnl": float(sv.balance + sv.position * mid_px - sv.fee), "mean_abs_position": abs_pos / max(steps, 1),
           "rejected_post_only": expired, "cancels_refused": refused, "steps": steps,
           "stopped_early": int(rc) != END_OF_DATA, "stop_code": int(rc)}
    hbt.close()
    return out


def worker(args) -> int:
    """``--worker``: convert the Tardis CSVs and run every configuration; JSON to ``--out``."""
    import gzip

    from hftbacktest.data.utils import tardis

    rows = sum(sum(1 for _ in gzip.open(f)) for f in (args.trades, args.book))
    data = tardis.convert([args.trades, args.book], buffer_size=rows + 1000)
    shift = local_shift_ns([args.trades, args.book])
    results = []
    for queue in args.queue_models.split(","):
        for h in (float(x) for x in args.half_spreads.split(",")):
            r = _hbt_run(data, args.tick, args.lot, args.size, args.max_inventory, h, queue, args.exchange, shift)
            results.append({"queue_model": queue, "half_spread_bps": h, **r})
            print(f"hftbacktest {queue:>11} {h:>4} bp: {r['fills']} fills", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


# ------------------------------------------------------------------------------------------------
# mmjax side and the comparison


def _mmjax_runs(src: Path, tick: float, size: float, max_inv: float, levels: int, cache: Path) -> list[dict]:
    from mmjax.data.tardis import TardisImportConfig, import_tardis
    from mmjax.env.knobs import EnvOverrides
    from mmjax.evaluation.backtest_command import BacktestConfig, backtest

    rec = cache / src.name
    # a linear account on both sides (hftbacktest's linear_asset(1.0) above), so that the PnLs compare; mmjax
    # would otherwise account COIN-M as the inverse contract it is (docs/env.md, "Inverse contracts")
    import_tardis(TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"),
                                     out=str(rec), levels=levels, quiet=True, overwrite=True, contract_type="linear"))
    out = []
    for h in HALF_SPREADS_BPS:
        knobs = EnvOverrides(quote_size=size, max_inventory=max_inv, latency_steps=1, maker_fee_bps=0.0)
        r = backtest(BacktestConfig(data=str(rec), policy="fixed", half_spread_bps=h, env=knobs, quiet=True), progress=None)
        out.append({"half_spread_bps": h, **{k: r[k] for k in ("fills", "filled_size", "pnl", "mean_abs_position",
                                                                "rejected_post_only", "steps", "fills_by_kind",
                                                                "beyond_depth_steps", "quote_steps")}})
        print(f"mmjax {h:>4} bp: {r['fills']} fills {r['fills_by_kind']}", flush=True)
    return out


def _hbt_runs(python: str, src: Path, tick: float, lot: float, size: float, max_inv: float, exchange: str,
              cache: Path) -> list[dict] | str:
    """hftbacktest results, or the reason it could not run."""
    if not Path(python).exists():
        return f"hftbacktest skipped: no interpreter at {python} (python -m venv /work/venv-hbt && /work/venv-hbt/bin/pip install hftbacktest==2.4.4)"
    check = subprocess.run([python, "-c", "import hftbacktest"], capture_output=True, text=True)
    if check.returncode:
        return f"hftbacktest skipped: {python} cannot import hftbacktest ({check.stderr.strip().splitlines()[-1]})"
    out = cache / f"hbt_{src.name}.json"
    cmd = [python, __file__, "--worker", "--book", str(src / "incremental_book_L2.csv.gz"), "--trades",
           str(src / "trades.csv.gz"), "--tick", repr(tick), "--lot", repr(lot), "--size", repr(size),
           "--max-inventory", repr(max_inv), "--half-spreads", ",".join(map(str, HALF_SPREADS_BPS)),
           "--queue-models", ",".join(QUEUE_MODELS), "--exchange", exchange, "--out", str(out)]
    done = subprocess.run(cmd, text=True)
    if done.returncode:
        return f"hftbacktest failed (exit {done.returncode}); see its output above"
    return json.loads(out.read_text())


def _table(results: dict) -> str:
    head = (f"{'dataset':<27}{'H bp':>5}{'hbt RA':>8}{'hbt pow':>8}{'mmjax':>7}{'vs RA':>8}{'vs pow':>8}{'<=20%':>6}"
            f"{'PnL RA':>9}{'PnL mmjax':>10}{'|q| RA':>8}{'|q| mmjax':>10}")
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        hbt = {(x["queue_model"], x["half_spread_bps"]): x for x in r["hftbacktest"]} if isinstance(r["hftbacktest"], list) else {}
        for m in r["mmjax"]:
            h = m["half_spread_bps"]
            ra, pw = hbt.get(("risk_averse", h)), hbt.get(("power", h))
            pct = lambda x, n=m["fills"]: f"{100 * (n / x['fills'] - 1):+.0f}%" if x and x["fills"] else "n/a"  # noqa: E731
            num = lambda x, k, f: format(x[k], f) if x else "n/a"  # noqa: E731
            ok = all(x and x["fills"] and abs(m["fills"] / x["fills"] - 1) <= 0.2 and not x["stopped_early"]
                     for x in (ra, pw))
            lines.append(f"{name:<27}{h:>5}{num(ra, 'fills', 'd'):>8}{num(pw, 'fills', 'd'):>8}{m['fills']:>7}"
                         f"{pct(ra):>8}{pct(pw):>8}{'yes' if ok else 'NO':>6}{num(ra, 'pnl', '.2f'):>9}{m['pnl']:>10.2f}"
                         f"{num(ra, 'mean_abs_position', '.4f'):>8}{m['mean_abs_position']:>10.4f}")
        if isinstance(r["hftbacktest"], str):
            lines.append(f"  {r['hftbacktest']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="output JSON path")
    ap.add_argument("--hbt-python", default="/work/venv-hbt/bin/python", help="interpreter of the hftbacktest venv")
    ap.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--levels", type=int, default=1000, help="book levels per side mmjax imports (cover the quotes)")
    ap.add_argument("--cache", default="", help="directory for the imports (default: a temporary one)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--book", "--trades", "--out", "--half-spreads", "--queue-models", "--exchange"):
        ap.add_argument(flag, help=argparse.SUPPRESS)
    for flag in ("--tick", "--lot", "--size", "--max-inventory"):
        ap.add_argument(flag, type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if not args.json:
        ap.error("--json is required")
    root = Path(args.data_root)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache or tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for name, (sub, tick, lot, size, max_inv, exchange) in DATASETS.items():
            src = root / sub
            if not src.is_dir():
                print(f"{name}: {src} absent, skipped")
                continue
            results[name] = {"mmjax": _mmjax_runs(src, tick, size, max_inv, args.levels, cache),
                             "hftbacktest": _hbt_runs(args.hbt_python, src, tick, lot, size, max_inv, exchange, cache),
                             "quote_size": size, "max_inventory": max_inv, "levels": args.levels,
                             "hftbacktest_exchange": exchange}
    if not results:
        print("nothing to compare: no dataset found under", root, file=sys.stderr)
        return 1
    print(_table(results))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
