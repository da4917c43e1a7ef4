"""44 bad inputs a careful new user tries (issue 29): each must exit non-zero with one line naming what was wrong.

    python benchmarks/bad_inputs.py --json benchmarks/results/bad_inputs.json [--keep DIR]

First it makes good outputs: a synthetic recording, a Tardis import, a trained run (seconds), a live
KPI file, a features report, and (written by hand) a report, a backtest JSON, a grid report and a sweep. Then each case runs ``python -m mmjax ...`` in a fresh process and is
judged: a *clear error* exits non-zero with exactly one line on stderr (besides one-line warnings),
``mmjax CMD: error: ...`` (or the one-line Ctrl-C notice), holding the case's expected words; a
*traceback* is any "Traceback" on stderr. Every good output is hashed (sha256 of each file) before and after each case, and any
difference counts in ``outputs_changed``. The JSON reports ``cases``, ``clear_errors``, ``tracebacks``,
``outputs_changed`` and, per case, the command, the expected words, the exit status and the error line.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmjax import outputs  # noqa: E402

TRAIN = ["--split-gap-steps", "50", "--episode-steps", "50", "--num-envs", "4", "--num-steps", "8",
         "--num-minibatches", "2", "--update-epochs", "1", "--total-timesteps", "96", "--hidden-sizes", "8",
         "--updates-per-chunk", "1"]
BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADE_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
T0_US = 1_700_000_000_000_000


def tardis_csvs(d: Path, bad_line: int | None = None) -> tuple[Path, Path]:
    """A snapshot, 2 s of increments and 600 trades (.csv.gz); with ``bad_line`` that trades line has size -1."""
    d.mkdir(parents=True, exist_ok=True)
    book = [f"binance,BTCUSDT,{T0_US},{T0_US + 10},true,{s},{p},1" for s, p in (("bid", 100.0), ("ask", 100.1))]
    book += [f"binance,BTCUSDT,{T0_US + k * 100_000},{T0_US + k * 100_000 + 10},false,bid,100.0,{1 + k % 3}"
             for k in range(1, 21)]
    trades = [f"binance,BTCUSDT,{T0_US + 100 + k * 3000},{T0_US + 110 + k * 3000},{k},{'buy' if k % 2 else 'sell'},"
              f"{100.1 if k % 2 else 100.0},{-1 if bad_line == k + 2 else 0.5}" for k in range(600)]
    paths = d / "incremental_book_L2.csv.gz", d / "trades.csv.gz"
    for path, header, lines in ((paths[0], BOOK_HEADER, book), (paths[1], TRADE_HEADER, trades)):
        path.write_bytes(gzip.compress(("\n".join([header, *lines]) + "\n").encode(), mtime=0))
    return paths


def mmjax(args: list[str], cwd: Path, timeout: float = 300, sigint_after: str | None = None) -> tuple[int, str, str]:
    """Run ``python -m mmjax ARGS``; with ``sigint_after``, press Ctrl-C once stdout shows that text."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "XLA_FLAGS": os.environ.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")}
    cmd = [sys.executable, "-m", "mmjax", *args]
    if sigint_after is None:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in p.stdout:  # type: ignore[union-attr]
        seen.append(line)
        if sigint_after in line:
            p.send_signal(signal.SIGINT)
            break
    out, err = p.communicate(timeout=timeout)
    return p.returncode, "".join(seen) + out, err


def digest(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file under the good outputs (a file added or removed shows too)."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def make_inputs(w: Path) -> list[Path]:
    """Good outputs (returned: these must never change) and the bad inputs the cases use."""
    def ok(args):
        code, out, err = mmjax(args, w)
        if code != 0:
            raise SystemExit(f"setup failed: mmjax {' '.join(args)}\n{out}\n{err}")

    ok(["synth", "--out", "rec", "--hours", "0.05", "--seed", "1"])
    ok(["synth", "--out", "twoday", "--hours", "0.1", "--seed", "1", "--start", "2026-01-05T23:57:00"])
    shutil.rmtree(w / "twoday/trades/product=BTC-USD/date=2026-01-06")  # a lost part file
    book, trades = tardis_csvs(w / "csv")
    ok(["import-tardis", "--book", str(book), "--trades", str(trades), "--out", "trec", "--quiet"])
    tardis_csvs(w / "csv_bad", bad_line=500)
    trunc = w / "csv_trunc"
    shutil.copytree(w / "csv", trunc)
    (trunc / "trades.csv.gz").write_bytes((trunc / "trades.csv.gz").read_bytes()[:-40])
    ok(["train", "--data", "rec", "--out", "run", *TRAIN])
    ok(["live", "--replay", "rec", "--max-steps", "20", "--speed", "0", "--status-s", "0", "--out", "kpi.json"])
    ok(["features", "--data", "rec", "--json", "feat.json"])
    for d, name in (("report", "metrics.json"), ("grid", "best.json"), ("sweep", "sweep_best.json")):
        (w / d).mkdir()
        (w / d / name).write_text(f'{{"made": "by an earlier {d}"}}\n')
    (w / "bt.json").write_text('{"made": "by an earlier backtest"}\n')
    (w / "grid.toml").write_text("[fixed]\nhalf_spread_bps = [0.5, 1]\n")
    shutil.copytree(w / "run", w / "run_trunc")
    ck = w / "run_trunc" / "checkpoint.npz"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    (w / "afile").write_text("not a directory\n")
    good = w / "run" / "policy.npz"
    with np.load(good, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    (w / "truncated.npz").write_bytes(good.read_bytes()[:300])
    (w / "random.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    np.savez(w / "foreign.npz", weights=np.zeros(3))
    np.savez(w / "other_spec.npz", **{**files, "features/spec_hash": np.asarray("0" * 64)})
    d = files["obs_norm/mean"].shape[0] - 1
    np.savez(w / "small_obs.npz", **{**files, "obs_norm/mean": files["obs_norm/mean"][:d], "obs_norm/var": files["obs_norm/var"][:d],
                                     "actor/dense_0/kernel": files["actor/dense_0/kernel"][:d],
                                     "features/names": files["features/names"][:d]})
    return [w / n for n in ("rec", "trec", "run", "kpi.json", "report", "run_trunc", "feat.json", "bt.json", "grid",
                            "sweep")]


def cases() -> list[dict]:
    """Each: the mmjax arguments and the words the one-line error must hold (``sigint_after``: press Ctrl-C)."""
    imp = ["import-tardis", "--quiet", "--book", "csv/incremental_book_L2.csv.gz", "--trades", "csv/trades.csv.gz"]
    live = ["live", "--replay", "rec", "--max-steps", "5", "--speed", "0", "--status-s", "0"]
    dash = ["dashboard", "--replay", "rec", "--port", "0"]
    tr = ["train", "--data", "rec", *TRAIN]
    c = [
        (["import-tardis", "--quiet", "--book", "csv_bad/incremental_book_L2.csv.gz", "--trades", "csv_bad/trades.csv.gz",
          "--out", "trec", "--overwrite"], ["line 500", "amount"]),
        ([*imp, "--out", "trec"], ["exists", "--overwrite"]),
        (["import-tardis", "--quiet", "--book", "csv_trunc/incremental_book_L2.csv.gz", "--trades",
          "csv_trunc/trades.csv.gz", "--out", "new_trec"], ["trades.csv.gz"]),
        (["import-tardis", "--quiet", "--book", "nothere.csv.gz", "--trades", "csv/trades.csv.gz", "--out", "t2"],
         ["--book", "nothere.csv.gz"]),
        ([*imp, "--out", "t3", "--tick-size", "-1"], ["--tick-size", "> 0"]),
        ([*imp, "--out", "t4", "--grid-ms", "0"], ["--grid-ms", "got 0"]),
        (["synth", "--out", "rec", "--hours", "0.01", "--seed", "5"], ["exists", "--overwrite"]),
        (["synth", "--out", "rec", "--hours", "0.05", "--seed", "1"], ["exists", "--overwrite"]),
        (["synth", "--out", "s1", "--hours", "0"], ["--hours", "got 0"]),
        (["synth", "--out", "s2", "--levels", "1"], ["--levels", "got 1"]),
        (["load", "--data", "twoday"], ["2026-01-06", "trades"]),
        (["load", "--data", "rec", "--start-date", "2026-13-45"], ["--start-date", "calendar date"]),
        (["load", "--data", "nowhere"], ["nowhere"]),
        (["load", "--data", "rec", "--start-date", "2026-01-06", "--end-date", "2026-01-05"], ["after --end-date"]),
        (["features", "--data", "nowhere", "--json", "f1.json"], ["nowhere"]),
        (["features", "--data", "rec", "--json", "f2.json", "--train-frac", "2"], ["--train-frac"]),
        ([*tr, "--out", "run"], ["--resume", "--overwrite"]),
        ([*tr, "--out", "run", "--resume", "--num-envs", "0"], ["--num-envs", "got 0"]),
        ([*tr, "--out", "run", "--resume", "--lr", "0.001"], ["--lr: 0.0003 -> 0.001"]),
        ([*tr, "--out", "n1", "--total-timesteps", "0"], ["--total-timesteps", "got 0"]),
        ([*tr, "--out", "n2", "--lr", "-1"], ["--lr", "got -1"]),
        (["train", "--data", "nowhere", "--out", "n3"], ["nowhere"]),
        ([*tr, "--out", "n4", "--split-fractions", "0.5,0.5"], ["--split-fractions"]),
        ([*tr, "--out", "n5", "--maker-fee-bps", "1e9"], ["maker_fee_bps", "10000"]),
        ([*tr, "--out", "run", "--resume"], ["another mmjax train"]),  # run while this script holds the lock
        ([*tr, "--out", "afile/run"], ["afile"]),
        ([*tr, "--out", "n6", "--gamma", "2"], ["--gamma", "got 2"]),
        ([*tr, "--out", "n7", "--total-timesteps", "100000000"], ["interrupted", "--resume"]),  # Ctrl-C
        (["evaluate", "--data", "rec", "--policy", "run_trunc", "--out", "r1"], ["checkpoint.npz"]),
        (["evaluate", "--data", "rec", "--episodes", "0"], ["--episodes", "got 0"]),
        (["evaluate", "--data", "rec", "--out", "report"], ["exists", "--overwrite"]),
        (["backtest", "--data", "rec", "--policy", "small_obs.npz", "--quiet"], ["small_obs.npz", "observes"]),
        (["backtest", "--data", "rec", "--policy", "random.npz", "--quiet"], ["random.npz", "zip signature"]),
        (["backtest", "--data", "rec", "--quiet", "--json", "bt.json"], ["bt.json", "exists", "--overwrite"]),
        (["backtest", "--data", "rec", "--grid", "grid.toml", "--out", "grid", "--quiet"], ["grid", "exists", "--overwrite"]),
        (["features", "--data", "rec", "--json", "feat.json"], ["feat.json", "exists", "--overwrite"]),
        (["sweep", "--data", "rec", "--out", "sweep", "--seeds", "1"], ["sweep", "exists", "--overwrite"]),
        (["live", "--max-steps", "-5", "--out", "k2.json"], ["--max-steps", "got -5"]),
        (["live", "--replay", "nowhere"], ["nowhere"]),
        ([*live, "--policy", "truncated.npz"], ["truncated.npz"]),
        ([*live, "--policy", "other_spec.npz"], ["other_spec.npz", "spec hash"]),
        ([*live, "--out", "kpi.json"], ["kpi.json", "--overwrite"]),
        (["dashboard", "--port", "99999"], ["--port", "got 99999"]),
        ([*dash, "--policy", "foreign.npz"], ["foreign.npz", "missing field"]),
    ]
    return [{"args": a, "expect": e, **({"sigint_after": "update 2/"} if "interrupted" in e else {}),
             **({"hold_lock": "run"} if "another mmjax train" in e else {})} for a, e in c]


def judge(case: dict, code: int, err: str) -> dict:
    cmd = case["args"][0]
    # a warning is one line of its own (`mmjax CMD: warning: ...`, e.g. a feature window the data cannot fill)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(f"mmjax {cmd}: warning: ")]
    one = len(lines) == 1 and lines[0].startswith(f"mmjax {cmd}: ")
    clear = code != 0 and one and all(word in lines[0] for word in case["expect"])
    return {"command": "mmjax " + " ".join(case["args"]), "expect": case["expect"], "exit": code, "clear": clear,
            "traceback": "Traceback" in err, "error": lines[0] if len(lines) == 1 else "\n".join(lines[-5:])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the result")
    ap.add_argument("--keep", default="", help="work in this (new) directory and keep it; default: a temporary one")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        w = Path(args.keep or tmp).resolve()
        w.mkdir(parents=True, exist_ok=True)
        good = make_inputs(w)
        results = []
        for case in cases():
            before = digest(good)
            t = time.perf_counter()
            if "hold_lock" in case:
                with outputs.lock(w / case["hold_lock"], "mmjax train"):
                    code, _, err = mmjax(case["args"], w)
            else:
                code, _, err = mmjax(case["args"], w, sigint_after=case.get("sigint_after"))
            r = judge(case, code, err)
            r["outputs_changed"] = digest(good) != before
            r["seconds"] = round(time.perf_counter() - t, 1)
            results.append(r)
            mark = "ok " if r["clear"] and not r["outputs_changed"] else "BAD"
            print(f"{mark} exit {code:>3}  {r['command'][:90]}\n      {r['error'][:160]}", flush=True)
    summary = {"cases": len(results), "clear_errors": sum(r["clear"] for r in results),
               "tracebacks": sum(r["traceback"] for r in results),
               "outputs_changed": sum(r["outputs_changed"] for r in results),
               "seconds": round(time.perf_counter() - t0, 1), "results": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    outputs.write_json(args.json, summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}))
    return 0 if summary["clear_errors"] == summary["cases"] and not summary["outputs_changed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
