"""Server time of one dashboard refresh with an hour of history (36k rows at 100 ms).

Measures the refresh callback two ways: the pure function (`callbacks.refresh`, including JSON
encoding of its outputs, as Dash does) and a full HTTP round trip through the real Dash app's
``/_dash-update-component`` endpoint (Flask test client, no network). Cases: a first load (full,
decimated redraw), a steady tick with 5 new rows (Patch appends), and a tick with nothing new.
Budget: 50 ms per refresh.

    python benchmarks/bench_dashboard.py --json benchmarks/results/dashboard.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import numpy as np
import plotly.io

from mmjax.dashboard import callbacks, figures
from mmjax.dashboard.app import build_app
from mmjax.live import SERIES, BookEvent, LiveState

BUDGET_MS = 50.0
OUTPUTS = [("kpis", "children"), ("banners", "children"), ("depth", "figure"), ("pnl", "figure"),
           ("touch", "figure"), ("risk", "figure"), ("attribution", "figure"), ("client", "data")]
# history lengths just above the budget: one row over, a few over, one row over two budgets and four
ABOVE_BUDGET = tuple(figures.FULL_POINTS + d for d in (1, 7, figures.FULL_POINTS + 1, 3 * figures.FULL_POINTS + 1))


def filled_state(rows: int, levels: int = 20, seed: int = 0) -> LiveState:
    """A LiveState holding ``rows`` steps of a random-walk session and a full book."""
    rng = np.random.default_rng(seed)
    st = LiveState(capacity=rows)
    st.set_info(mode="baseline", quoter="baseline: fixed", feed_status="running", inventory_limit=0.1, speed=1.0,
                maker_fee_bps=-0.5)
    st.touch()
    mid = 62_000 + np.cumsum(rng.normal(0, 0.5, rows))
    pnl = np.cumsum(rng.normal(0, 0.05, rows))
    inv = np.clip(np.cumsum(rng.choice([-0.01, 0, 0.01], rows, p=[0.01, 0.98, 0.01])), -0.1, 0.1)
    k = np.arange(levels)
    for i in range(rows):
        book = BookEvent(0, False, mid[i] - 0.005 - k * 0.5, rng.uniform(0.01, 2, levels), mid[i] + 0.005 + k * 0.5,
                         rng.uniform(0.01, 2, levels))
        row = {"t_ms": 1.79e12 + 100.0 * i, "mid": mid[i], "pnl": pnl[i], "inventory": inv[i],
               "drawdown": pnl[i] - pnl[: i + 1].max() if i % 100 == 0 else 0.0, "spread_z": rng.normal(),
               "bid_quote": mid[i] - 1, "ask_quote": mid[i] + 1, "bid_state": 0.0, "ask_state": 0.0,
               "fills": float(i // 50)}
        st.append(row, book, {"pnl": pnl[i], "inventory": inv[i], "fill_rate": 0.01, "spread_captured_bps": 0.5,
                              "max_drawdown": 3.0, "n_fills": i // 50, "steps": i + 1, "spread_usd": 0.02 * i,
                              "fees_usd": -0.001 * i, "adverse_1s_usd": -0.01 * i, "adverse_10s_usd": -0.015 * i,
                              "carry_usd": pnl[i] - 0.006 * i, "pnl_usd": pnl[i], "markouts_open_10s": 3.0})
    return st


def _append(st: LiveState, n: int) -> None:
    snap = st.snapshot(since=st.version[1] - 1)
    last = {k: float(v[-1]) for k, v in snap.series.items()}
    for _ in range(n):
        last["t_ms"] += 100.0
        st.append(last, snap.book, snap.kpis)


def _encode(res) -> str:
    return plotly.io.json.to_json_plotly(list(res))  # what Dash sends


def time_full_redraw(rows: int, reps: int) -> list[float]:
    """First load (full, decimated redraw) of a history of ``rows`` rows, callback + JSON encoding, s each."""
    st = filled_state(rows, seed=rows)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = callbacks.refresh(st, None)
        _encode(res)
        out.append(time.perf_counter() - t0)
    drawn = len(res[3]["data"][0]["x"])
    if rows > figures.FULL_POINTS and not drawn <= figures.FULL_POINTS + 2:
        raise RuntimeError(f"{rows} rows: the redraw holds {drawn} points, over the budget")
    return out


def time_pure(st: LiveState, reps: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first load (full redraw)": [], "tick, 5 new rows (Patch)": [],
                                   "tick, nothing new": []}
    enc = _encode
    for _ in range(reps):
        t0 = time.perf_counter()
        res = callbacks.refresh(st, None)
        enc(res)
        out["first load (full redraw)"].append(time.perf_counter() - t0)
        client = res[-1]
        _append(st, 5)
        t0 = time.perf_counter()
        res = callbacks.refresh(st, client)
        enc(res)
        out["tick, 5 new rows (Patch)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        enc(callbacks.refresh(st, res[-1]))
        out["tick, nothing new"].append(time.perf_counter() - t0)
    return out


class _Runtime:
    """The control surface `build_app` needs, around a prefilled state."""

    product, quoter_name, speed, can_set_speed, paused = "BTC-USD", "fixed", 1.0, True, False

    def __init__(self, state):
        self.state = state

    def quoter_options(self):
        return [{"label": "baseline: fixed", "value": "fixed"}]


def time_http(st: LiveState, reps: int) -> dict[str, list[float]]:
    app = build_app(_Runtime(st))
    client_http = app.server.test_client()
    client_http.get("/")  # first request initializes the app
    body = lambda client, n: {  # noqa: E731
        "output": ".." + "...".join(f"{i}.{p}" for i, p in OUTPUTS) + "..",
        "outputs": [{"id": i, "property": p} for i, p in OUTPUTS],
        "inputs": [{"id": "tick", "property": "n_intervals", "value": n}],
        "state": [{"id": "client", "property": "data", "value": client}],
        "changedPropIds": ["tick.n_intervals"],
    }
    out: dict[str, list[float]] = {"HTTP first load (full redraw)": [], "HTTP tick, 5 new rows (Patch)": []}
    for r in range(reps):
        t0 = time.perf_counter()
        resp = client_http.post("/_dash-update-component", json=body(None, r))
        out["HTTP first load (full redraw)"].append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise RuntimeError(f"refresh failed: HTTP {resp.status_code}: {resp.data[:500]!r}")
        client = resp.get_json()["response"]["client"]["data"]
        _append(st, 5)
        t0 = time.perf_counter()
        resp = client_http.post("/_dash-update-component", json=body(client, r))
        out["HTTP tick, 5 new rows (Patch)"].append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise RuntimeError(f"refresh failed: HTTP {resp.status_code}")
    return out


def time_engine(rows: int = 3000) -> dict[str, list[float]]:
    """Paper-trader step (settle + features + decision + publish) on the built-in market, per step."""
    import tempfile

    from mmjax.data.loader import read_recording
    from mmjax.live import BaselineParams, BaselineQuoter, PaperTrader, ReplayFeed
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run

    with tempfile.TemporaryDirectory() as tmp:
        synth_run(SynthConfig(out=tmp, hours=rows / 36_000, seed=0))
        raw = read_recording(tmp)
    tr = PaperTrader(raw.meta, BaselineQuoter("avellaneda_stoikov", BaselineParams()))
    st = LiveState(rows)
    per_step = []
    for ev in ReplayFeed(raw, speed=0).events():
        if isinstance(ev, BookEvent):
            t0 = time.perf_counter()
            row = tr.on_book(ev)
            st.append(row, ev, tr.kpis())
            per_step.append(time.perf_counter() - t0)
        else:
            tr.on_trade(ev)
    return {"engine step (one 100 ms grid row)": per_step}


def _table(results: dict[str, list[float]], header: str, **extra) -> list[dict]:
    """Print one row per case (median, p95, max in ms, within the budget?) and return them."""
    rows = []
    print(header)
    print(f"{'case':<40}{'median ms':>10}{'p95 ms':>10}{'max ms':>10}  ok")
    for name, ts in results.items():
        ms = sorted(t * 1e3 for t in ts)
        p95 = ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]
        ok = p95 <= BUDGET_MS
        rows.append({"case": name, **extra.get(name, {}), "median_ms": statistics.median(ms), "p95_ms": p95,
                     "max_ms": ms[-1], "within_budget": ok})
        print(f"{name:<40}{statistics.median(ms):>10.2f}{p95:>10.2f}{ms[-1]:>10.2f}  {'yes' if ok else 'NO'}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--rows", type=int, default=36_000, help="history rows (36k = 1 h at 100 ms)")
    ap.add_argument("--reps", type=int, default=20, help="repetitions per case")
    ap.add_argument("--quick", action="store_true", help="10 repetitions per case (run_all.py --quick passes it)")
    args = ap.parse_args()
    reps = 10 if args.quick else args.reps
    t0 = time.perf_counter()
    st = filled_state(args.rows)
    fill_s = time.perf_counter() - t0
    results = {**time_pure(st, reps), **time_http(st, reps), **time_engine()}
    rows = _table(results, f"dashboard refresh, {args.rows:,} history rows ({args.rows / 36_000:.2f} h at 100 ms), "
                           f"{reps} reps; budget {BUDGET_MS:.0f} ms")
    assert set(SERIES) <= set(st.snapshot(since=args.rows - 1).series)
    above = {f"full redraw, {n:,} rows": time_full_redraw(n, reps) for n in ABOVE_BUDGET}
    above_rows = _table(above, f"\nfull redraw (callback + JSON) just above the budget of {figures.FULL_POINTS:,} "
                               f"points per trace, {reps} reps",
                        **{f"full redraw, {n:,} rows": {"rows": n} for n in ABOVE_BUDGET})
    if args.json:
        from pathlib import Path

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "benchmark": "dashboard_refresh", "rows": args.rows, "reps": reps, "quick": args.quick,
            "budget_ms": BUDGET_MS, "full_points": figures.FULL_POINTS, "fill_state_s": fill_s,
            "python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor(),
            "results": rows, "above_budget": above_rows}, indent=2))
        print(f"wrote {args.json}")
    return 0 if all(r["within_budget"] for r in rows + above_rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
