"""Products other than BTC, end to end: recording -> loader -> features -> env -> evaluation, with their own tick and units.

* ETH-USD from the shared Coinbase capture (24 s, both products on one connection), recorded by the
  recorder's engine and writer exactly as `mmjax record` does, minus the socket.
* SOL, as a Tardis.dev CSV pair written here from the built-in market re-scaled to a $150 asset
  (tick $0.01, sizes in whole lots of 0.01 SOL), imported with `mmjax import-tardis`.

Each stage must carry the product's tick and size unit (and the Tardis import its lot), and its
prices must come out in the product's own dollars, not BTC's.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from mmjax import schema
from mmjax.cli import main
from mmjax.data.loader import load_market
from mmjax.env import build
from mmjax.env.knobs import EnvOverrides
from mmjax.evaluation import harness as H
from mmjax.evaluation.tuning import tune_baseline
from mmjax.features.batch import compute_market_features

CAPTURE = "coinbase-advanced-trade-2026-08-09/frames.jsonl.gz"


def record_capture(capture: Path, out: Path, product: str, tick: float, grid_ms: int = 100, levels: int = 10) -> None:
    """The capture's received frames through the recorder's engine and writer (`mmjax record` without the socket)."""
    from recorder.config import RecordConfig
    from recorder.engine import Engine
    from recorder.status import Counters
    from recorder.writer import Writer

    with gzip.open(capture, "rt") as fh:
        frames = [(int(round(d["recv_ts"] * 1e9)), d["frame"]) for d in map(json.loads, fh) if d["dir"] == "recv"]
    meta = schema.RecordingMeta(product=product, tick_size=tick, size_unit=product.split("-")[0], grid_ms=grid_ms,
                                levels=levels, source="test: recorder engine on the cryptofeed capture")
    counters = Counters()
    writer = Writer(out, {product: meta}, flush_s=3600.0, counters=counters)
    writer.start()
    engine = Engine([product], writer.put_book, writer.put_trade, counters,
                    cfg=RecordConfig(out=str(out), products=product, levels=levels, grid_ms=grid_ms))
    engine.on_connect(frames[0][0] - 1)
    for t_ns, frame in frames:
        engine.on_frame(t_ns, frame)
    writer.close()


def run_baselines(market: build.Market, episode_steps: int, episodes: int, names: tuple[str, ...]) -> dict[str, dict]:
    """Calibrate and tune baselines on the first half, roll them out on the second: metrics and traces per name."""
    from mmjax.data.splits import Split
    from mmjax.evaluation import metrics as M

    T = market.md.num_steps
    tune, ev = Split("tune", 0, T // 2), Split("eval", T // 2, T)
    env = build.make_env()
    p_tune, p_eval = market.env_params(tune), market.env_params(ev)
    stg = np.asarray(market.md.steps_to_gap)
    L = market.knobs.latency_steps
    tune_starts = H.non_overlapping_starts(stg, tune.start, tune.stop, episode_steps, L, episodes)
    starts = H.non_overlapping_starts(stg, ev.start, ev.stop, episode_steps, L, episodes)
    assert len(starts) == len(tune_starts) == episodes
    calib = H.calibrate(p_tune, tune.start, tune.stop)
    out = {}
    for name in names:
        best = tune_baseline(env, p_tune, tune_starts, name, calib).value
        raw = H.rollout(env, p_eval, np.asarray(starts), H.baseline_policy(name, np.float32(best), calib))
        tr = H.to_traces(raw, p_eval)
        out[name] = {"metrics": M.policy_metrics(tr), "traces": tr}
    return out


def assert_reports_name_the_product(rec: Path, product: str, tick: float, unit: str, tmp_path: Path, capsys) -> None:
    """`mmjax load` and `mmjax features` both state the product, its tick and its size unit."""
    assert main(["load", "--data", str(rec), "--on-crossed", "raise"]) == 0
    text = capsys.readouterr().out
    for line in (f"product: {product}", f"tick_size: {tick:.4f}", f"size_unit: {unit}"):
        assert line in text, line
    js = tmp_path / "features.json"
    assert main(["features", "--data", str(rec), "--json", str(js)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith(f"{product} (tick {tick:g}, sizes in {unit})"), head
    rep = json.loads(js.read_text())
    assert (rep["product"], rep["tick_size"], rep["size_unit"]) == (product, tick, unit)


def assert_fills_in_dollars_of(tr, lo_usd: float, hi_usd: float, tick: float) -> int:
    """Every fill price lies in the product's own price range and on its tick; returns the number of fills."""
    fills = 0
    for px, sz in ((tr.bid_fill_px, tr.bid_fill), (tr.ask_fill_px, tr.ask_fill)):
        p = px[sz > 0]
        fills += len(p)
        assert ((p > lo_usd) & (p < hi_usd)).all(), (p.min(), p.max())
        np.testing.assert_allclose(p / tick, np.rint(p / tick), atol=1e-6)
    return fills


# ETH-USD FROM THE COINBASE CAPTURE ------------------------------------------------------------

@pytest.fixture(scope="module")
def eth(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("eth") / "rec"
    record_capture(shared_data / CAPTURE, out, "ETH-USD", tick=0.01)
    return out


def test_eth_from_the_coinbase_capture_end_to_end(eth, tmp_path, capsys):
    md, raw = load_market(eth, on_crossed="raise")
    assert raw.meta.product == "ETH-USD" and md.tick_size == 0.01 and raw.meta.size_unit == "ETH"
    assert md.num_steps > 200 and int(md.n_trades.sum()) > 0  # ~24 s of 100 ms rows, with trades
    mid_usd = np.asarray(md.to_price(np.asarray(md.mid, np.float64)))
    lo, hi = mid_usd.min(), mid_usd.max()
    assert 500 < lo <= hi < 20_000, "an ETH price, not BTC's"
    # the same capture holds BTC-USD: its book is a different market entirely
    assert_reports_name_the_product(eth, "ETH-USD", 0.01, "ETH", tmp_path, capsys)

    # FEATURES: finite, and the streaming twin (live trading) agrees on this product too
    from mmjax.features.spec import FeatureConfig
    from tests.helpers.feature_twins import assert_twins_agree

    assert np.isfinite(np.asarray(compute_market_features(md).values)).all()
    assert_twins_agree(raw, md, FeatureConfig(), "ETH-USD")

    # ENV AND EVALUATION: quotes of 0.01 ETH, a baseline calibrated and tuned on the first half, run on the
    # second (the evaluate command needs 2 x 3000 rows of embargo; the SOL test below runs the command itself)
    knobs = build.EnvKnobs(quote_size=0.01, max_inventory=0.05, episode_steps=40, max_offset_bps=5.0)
    market = build.load(build.DataConfig(data=str(eth), split_gap_steps=5), knobs)
    assert market.md.tick_size == 0.01
    results = run_baselines(market, episode_steps=40, episodes=2, names=("fixed", "glft"))
    fills = 0
    for name, r in results.items():
        assert np.isfinite(r["metrics"]["mean_pnl"]), name
        fills += assert_fills_in_dollars_of(r["traces"], lo - 5, hi + 5, 0.01)
    assert fills > 0, "no baseline traded on the ETH book"


# A NON-BTC TARDIS FILE -------------------------------------------------------------------------

SOL_LOT = 0.01  # SOL


def write_tardis_csvs(out_dir: Path, hours: float = 0.25, seed: int = 5):
    """A binance SOLUSDT-like book (snapshot, then top-20 diffs every 100 ms) and its trades, as Tardis CSVs.

    Returns the two paths and the generated market (prices $, sizes rounded to whole lots).
    """
    from mmjax.market import synth
    from mmjax.market.params import SynthParams

    model = SynthParams(start_price_usd=150.0, tick_size=0.01,
                        order_size_median_btc=1.5, order_size_max_btc=5_000.0, touch_size_median_btc=600.0,
                        depth_size_median_btc=20.0, impact_ticks_per_sqrt_btc=0.05, gap_median_ticks=2.0,
                        band_bps=1.0, wide_mean_ticks=3.0)
    cfg = synth.SynthConfig(out="-", hours=hours, seed=seed, product="SOL-USD", model=model)
    mk = synth.generate(cfg)

    def lots(x):
        return np.maximum(np.rint(np.asarray(x) / SOL_LOT), 1) * SOL_LOT

    us = mk.ts_recv_ns // 1000 - 50_000  # each row's message arrives 50 ms before its grid time
    book = out_dir / "incremental_book_L2.csv.gz"
    with gzip.open(book, "wt") as fh:
        fh.write("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
        prev = {"bid": {}, "ask": {}}
        for t in range(len(us)):
            snap = "true" if t == 0 else "false"
            for side, px, sz in (("bid", mk.bid_px[t], lots(mk.bid_sz[t])), ("ask", mk.ask_px[t], lots(mk.ask_sz[t]))):
                now = {round(float(p), 2): round(float(s), 2) for p, s in zip(px, sz, strict=True)}
                for p in prev[side].keys() - now.keys():
                    fh.write(f"binance,SOLUSDT,{us[t] - 1000},{us[t]},false,{side},{p},0\n")
                for p, s in now.items():
                    if prev[side].get(p) != s:
                        fh.write(f"binance,SOLUSDT,{us[t] - 1000},{us[t]},{snap},{side},{p},{s}\n")
                prev[side] = now
    trades = out_dir / "trades.csv.gz"
    t_us = mk.trade_ts_recv_ns // 1000
    with gzip.open(trades, "wt") as fh:
        fh.write("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
        for i, (t, p, s, side) in enumerate(zip(t_us, mk.trade_px, lots(mk.trade_sz), mk.trade_side, strict=True)):
            fh.write(f"binance,SOLUSDT,{t - 1000},{t},{i + 1},{'buy' if side > 0 else 'sell'},{p:.2f},{s:.2f}\n")
    mk.bid_sz, mk.ask_sz = lots(mk.bid_sz), lots(mk.ask_sz)
    return book, trades, mk


@pytest.fixture(scope="module")
def sol(tmp_path_factory):
    from mmjax.data.tardis import TardisImportConfig, import_tardis

    src = tmp_path_factory.mktemp("sol_csv")
    book, trades, mk = write_tardis_csvs(src)
    out = tmp_path_factory.mktemp("sol") / "rec"
    report = import_tardis(TardisImportConfig(book=str(book), trades=str(trades), out=str(out), size_unit="SOL"))
    return out, report, mk


def test_a_non_btc_tardis_import_end_to_end(sol, tmp_path, capsys):
    rec, report, mk = sol
    # IMPORT: the tick and the lot come from the data (SOLUSDT is not in the venue table), the unit as given
    assert report.product == "binance-SOLUSDT" and report.size_unit == "SOL"
    assert report.tick_size == pytest.approx(0.01) and report.tick_source.startswith("inferred")
    assert report.lot_size == pytest.approx(SOL_LOT) and report.lot_source.startswith("inferred")
    # every grid row but the last (nothing is written after the last message) is the generated book
    assert report.grid_rows_written == 8999 and report.snapshots == 1 and report.trades_written > 10_000
    md, raw = load_market(rec, on_crossed="raise")
    assert raw.meta.lot_size == pytest.approx(SOL_LOT)  # the inferred lot travels in the recording's metadata
    for got, want in ((raw.bid_px, mk.bid_px), (raw.ask_px, mk.ask_px), (raw.bid_sz, mk.bid_sz), (raw.ask_sz, mk.ask_sz)):
        np.testing.assert_allclose(got, want[:-1], rtol=0, atol=1e-9)
    mid_usd = np.asarray(md.to_price(np.asarray(md.mid, np.float64)))
    lo, hi = mid_usd.min(), mid_usd.max()
    assert 100 < lo <= hi < 200
    assert_reports_name_the_product(rec, "binance-SOLUSDT", 0.01, "SOL", tmp_path, capsys)


# slow: the ETH import's end-to-end test covers the evaluate command on a Tardis import in the fast suite
@pytest.mark.slow
def test_the_evaluate_command_on_the_sol_import(sol, tmp_path):
    """`mmjax evaluate --split all` with quotes of 1 SOL: the baselines trade, PnL in $ at SOL prices."""
    from mmjax.evaluation.evaluate_command import EvaluateConfig, evaluate

    rec, _, mk = sol
    out = tmp_path / "report"
    payload = evaluate(EvaluateConfig(data=str(rec), out=str(out), split="all", episodes=3, tune_episodes=3,
                                      env=EnvOverrides(episode_steps=300, quote_size=1.0, max_inventory=5.0)), progress=lambda *_: None)
    assert payload["n_episodes"] == 3 and payload["quote_size"] == 1.0 and payload["max_inventory"] == 5.0
    fixed = payload["policies"]["fixed"]
    assert fixed["fills"] > 0 and np.isfinite(fixed["mean_pnl"])
    # a fill of 1 SOL earns cents, not the dollars a BTC-priced fill would: |PnL| per episode stays small
    notional = 150.0 * 5.0  # the inventory limit in $
    assert all(abs(p["mean_pnl"]) < 0.1 * notional for p in payload["policies"].values())
    text = (out / "report.md").read_text()
    assert "quote size 1.0, inventory limit 5.0" in text and "3 non-overlapping episodes of 300 steps" in text
