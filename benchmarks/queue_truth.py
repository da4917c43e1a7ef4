"""mmjax's queue model against the true FIFO queue of order-by-order data (three real MBO days).

    python benchmarks/queue_truth.py --json benchmarks/results/queue_truth.json [--quick] [--data-root ../shared/data]

Per dataset: `mmjax import-dbn --orders` writes the recording and the per-order stream; fixed quoters at
the touch and 1 and 2 ticks behind it (latency 1 grid step, 100 ms; one quote size; no inventory
limit) run on mmjax's fill rules over the recording (the NumPy twin, `mmjax.env.sim_np`) and in the
true FIFO queue of the L3 stream (`mmjax.evaluation.queue_truth` states both). The JSON holds, per
dataset and per quoter offset (``touch``, ``1``, ``2``): fills_truth, fills_model (fill events: a side
filling in one 100 ms interval), fill_delay_median_s_truth/_model (arrival to fill, on the grid),
queue_ahead_mae_frac (median over every row of every order live in both runs at the same price since
the same arrival row of |model queue ahead - true queue ahead| / the true level size), and the same in
lots. ``bar`` says whether the touch quoter meets issue 26's bar (fills within 15 %, MAE <= 25 % of
the level), and ``fills_backtest`` is the touch quoter's count from `mmjax backtest`'s own JAX env
(equal to ``fills_model``: the twin runs the same rules). hftbacktest's MBO path is not run (it needs its own Databento converter and venv).

Datasets: ES (CME E-mini, 2023-12-25 session; its file starts with the same start-of-day snapshot as
the 2023-12-24 file, so it is read alone), SSE 600961 and SSE 601825 (whole days, lunch break = gap).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmjax.data.dbn import DbnImportConfig, import_dbn
from mmjax.data.loader import load_market
from mmjax.env import sim_np
from mmjax.env.knobs import EnvKnobs, EnvOverrides
from mmjax.env.reference import ReplayData
from mmjax.evaluation.backtest import BacktestConfig, backtest
from mmjax.evaluation.queue_truth import ModelVenue, TruthVenue, compare, read_orders, run_quoter

# name: (MBO file under --data-root, quote size in the venue's unit, --max-silence-s of the import)
DATASETS = {
    "es": ("cme-es-mbo-2023-12-25/esh4-glbx-mdp3-20231225.mbo.dbn.zst", 1.0, 60.0),
    "sse-600961": ("sse-600961-2023-07-11/sse-600961-2023-07-11.mbo.dbn.zst", 100.0, 60.0),
    "sse-601825": ("sse-601825-2023-07-11/sse-601825-2023-07-11.mbo.dbn.zst", 100.0, 60.0),
}
OFFSETS = {"touch": 0, "1": 1, "2": 2}
LATENCY_STEPS = 1
QUICK_ROWS = 20_000  # --quick: the first 2000 s of each recording
BAR_FILLS, BAR_MAE_FRAC = 0.15, 0.25


def run_dataset(name: str, path: Path, quote_size: float, silence_s: float, work: Path, rows: int | None) -> dict:
    t0 = time.perf_counter()
    rec = work / name
    rep = import_dbn(DbnImportConfig(mbo=[str(path)], out=str(rec), max_silence_s=silence_s, orders=True,
                                     overwrite=True, quiet=True))
    market, raw = load_market(rec)
    rd = ReplayData.from_market(market)
    knobs = EnvKnobs(quote_size=quote_size, max_inventory=1e9, latency_steps=LATENCY_STEPS)
    params = sim_np.SimParams(knobs, rd.tick_size, rd.px_anchor_ticks, rd.grid_ms / 1000, rd.lot_size)
    orders = read_orders(rec, rep.product, rd.tick_size, rd.px_anchor_ticks)
    after_gap, grid_ts = np.asarray(market.after_gap), np.asarray(raw.ts_recv_ns)
    bid0, ask0 = rd.bid_px[:, 0], rd.ask_px[:, 0]
    out = {"product": rep.product, "rows": int(rows or rd.num_steps), "tick_size": rd.tick_size, "lot_size": params.lot,
           "quote_lots": params.quote_lots, "size_unit": rep.size_unit, "segments": int(after_gap.sum()),
           "import_s": round(time.perf_counter() - t0, 2)}
    for label, k in OFFSETS.items():
        t1 = time.perf_counter()
        model = run_quoter(ModelVenue(rd, params), k, bid0, ask0, after_gap, None, LATENCY_STEPS, rows)
        truth_venue = TruthVenue(orders["ts_recv"], orders["action"], orders["side"], orders["px_ticks"],
                                 orders["size"], orders["order_id"], orders["flags"], params.lot, params.quote_lots)
        truth = run_quoter(truth_venue, k, bid0, ask0, after_gap, grid_ts, LATENCY_STEPS, rows)
        out[label] = {**compare(model, truth, rd.grid_ms / 1000), "seconds": round(time.perf_counter() - t1, 2)}
    if rows is None:  # the device env's own backtest of the touch quoter: its counts must equal the twin's
        knobs = EnvOverrides(quote_size=quote_size, max_inventory=1e9, latency_steps=LATENCY_STEPS)
        bt = backtest(BacktestConfig(data=str(rec), policy="fixed", fixed_ticks=0, env=knobs, quiet=True), progress=None)
        out["touch"].update(fills_backtest=int(bt["fills"]), rejected_backtest=int(bt["rejected_post_only"]))
    touch = out["touch"]
    fills_ok = abs(touch["fills_model"] - touch["fills_truth"]) <= BAR_FILLS * max(touch["fills_truth"], 1)
    mae_ok = touch["queue_ahead_mae_frac"] is not None and touch["queue_ahead_mae_frac"] <= BAR_MAE_FRAC
    out["bar"] = {"fills_within_15pct": bool(fills_ok), "queue_mae_within_25pct": bool(mae_ok)}
    return out


def table(results: dict) -> str:
    lines = ["| dataset | quoter | fills truth | fills model | delay truth (s) | delay model (s) | queue MAE (lots) "
             "| queue MAE / level | bias (lots) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        for label in OFFSETS:
            x = {k: ("-" if v is None else v) for k, v in r[label].items()}
            f = lambda v, spec: v if v == "-" else format(v, spec)  # noqa: E731
            lines.append(f"| {name} | {label} | {x['fills_truth']:,} | {x['fills_model']:,} | "
                         f"{f(x['fill_delay_median_s_truth'], '.1f')} | {f(x['fill_delay_median_s_model'], '.1f')} | "
                         f"{f(x['queue_ahead_mae_lots'], ',.0f')} | {f(x['queue_ahead_mae_frac'], '.2f')} | "
                         f"{f(x['queue_ahead_bias_lots'], '+,.0f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write results here")
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_ROWS:,} rows of each recording")
    ap.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                    help="folder holding the MBO datasets (default ../shared/data)")
    ap.add_argument("--only", default="", help="comma-separated dataset names (default: all): " + ", ".join(DATASETS))
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(DATASETS)
    missing = [n for n in names if n not in DATASETS or not (args.data_root / DATASETS[n][0]).is_file()]
    if missing:
        print(f"queue_truth: error: no MBO file for {missing} under {args.data_root}", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="queue_truth_") as work:
        for n in names:
            rel, quote, silence = DATASETS[n]
            results[n] = run_dataset(n, args.data_root / rel, quote, silence, Path(work),
                                     QUICK_ROWS if args.quick else None)
            print(f"{n}: done in {results[n]['import_s'] + sum(results[n][k]['seconds'] for k in OFFSETS):.0f} s",
                  flush=True)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"latency_steps": LATENCY_STEPS, "quick": args.quick, "datasets": results},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
