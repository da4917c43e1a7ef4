"""Specification of the runner, the engine and `mmjax live` (mmjax/live/runner.py, engine.py, command.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmjax.live import (
    BaselineParams,
    BaselineQuoter,
    LiveRunner,
    LiveState,
    PaperTrader,
    ReplayFeed,
)
from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run
from tests.helpers.live import PARAMS, synth_recording, write_policy


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return synth_recording(tmp_path_factory)



def test_runner_switches_quoter_and_publishes(raw):
    quoters = {"fixed": BaselineQuoter("fixed", BaselineParams()),
               "avellaneda_stoikov": BaselineQuoter("avellaneda_stoikov", BaselineParams())}
    st = LiveState(capacity=1000)
    feed = ReplayFeed(raw, speed=0)
    runner = LiveRunner(feed, lambda q: PaperTrader(raw.meta, q, PARAMS), quoters, "fixed", st,
                        inventory_limit=PARAMS.max_inventory)
    runner.set_quoter("avellaneda_stoikov")  # applied at the first book row: a fresh account
    runner.run_sync()
    snap = st.snapshot()
    assert snap.epoch == 1 and snap.version == raw.num_steps
    assert snap.quoter == "baseline: avellaneda_stoikov" and snap.mode == "baseline"
    assert snap.feed_status == "finished" and snap.kpis["steps"] == raw.num_steps
    with pytest.raises(ValueError, match="not among"):
        runner.set_quoter("nope")


def test_runner_surfaces_engine_errors(raw):
    class Broken:
        mode, name = "model", "model: broken"

        def act(self, obs, ctx):
            raise RuntimeError("boom")

    st = LiveState()
    runner = LiveRunner(ReplayFeed(raw, speed=0), lambda q: PaperTrader(raw.meta, q, PARAMS), {"m": Broken()}, "m",
                        st, 1.0)
    with pytest.raises(RuntimeError, match="boom"):
        runner.run_sync()
    snap = st.snapshot()
    assert snap.feed_status == "error" and "boom" in snap.notes[0]


def test_cli_live_replays_and_writes_kpis(raw, tmp_path, capsys):
    import json

    from mmjax.cli import main

    rec = tmp_path / "rec"
    synth_run(SynthConfig(out=str(rec), hours=300 / 36_000, seed=1))
    out = tmp_path / "kpis.json"
    assert main(["live", "--replay", str(rec), "--speed", "0", "--max-steps", "200", "--status-s", "0",
                 "--baseline", "avellaneda_stoikov", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PAPER TRADING ONLY" in text and "NO MODEL" in text and "BASELINE" in text
    summary = json.loads(out.read_text())
    assert summary["paper_only"] and summary["kpis"]["steps"] == 200
    assert summary["quoter"] == "baseline: avellaneda_stoikov"
    assert summary["maker_fee_bps"] == 0.0 and summary["fee_regime"] == "maker fee: coinbase-top (0 bps)"
    assert "maker fee: coinbase-top (0 bps)" in text and "bid quoting, ask quoting" in text
    k = summary["kpis"]  # the attribution adds up to the PnL
    assert k["spread_usd"] + k["adverse_10s_usd"] + k["carry_usd"] - k["fees_usd"] == pytest.approx(k["pnl"], abs=1e-9)


def test_the_fee_regime_reaches_the_state_and_the_status_line(raw, tmp_path, capsys):
    from mmjax.cli import main
    from mmjax.live import EngineConfig, build_runner
    from mmjax.live.command import latest, status_line
    from mmjax.live.state import fee_regime_text

    assert fee_regime_text(-0.5) == "maker fee: rebate (\u22120.5 bps)"
    assert fee_regime_text(40.0) == "maker fee: coinbase-retail (+40 bps)"
    assert fee_regime_text(0.0) == "maker fee: coinbase-top (0 bps)"
    assert fee_regime_text(1.5) == "maker fee: +1.5 bps (no preset)"
    rec = tmp_path / "rec"
    synth_run(SynthConfig(out=str(rec), hours=100 / 36_000, seed=1))
    runner, _ = build_runner(EngineConfig(replay=str(rec), speed=0, env=dataclasses.replace(PARAMS, maker_fee_bps=-0.5)))
    assert status_line(latest(runner.state)).count("no quotes yet") == 1  # before the first row
    runner.run_sync()
    snap = latest(runner.state)
    assert snap.maker_fee_bps == -0.5 and snap.fee_regime == "maker fee: rebate (\u22120.5 bps)"
    line = status_line(snap)
    assert "maker fee: rebate (\u22120.5 bps)" in line and "attribution $: spread " in line and "carry " in line
    assert main(["live", "--replay", str(rec), "--speed", "0", "--status-s", "0", "--maker-fee-bps", "coinbase-retail"]) == 0
    assert "maker fee: coinbase-retail (+40 bps)" in capsys.readouterr().out


def test_runner_with_a_policy_is_in_model_mode(raw, tmp_path):
    from mmjax.features.spec import NUM_MARKET_FEATURES, FeatureNorm
    from mmjax.live import EngineConfig, build_runner

    rec = tmp_path / "rec"
    synth_run(SynthConfig(out=str(rec), hours=100 / 36_000, seed=2))
    norm = FeatureNorm(np.zeros(NUM_MARKET_FEATURES, np.float32), np.ones(NUM_MARKET_FEATURES, np.float32))
    path = write_policy(tmp_path / "p.npz", norm, {"max_offset_bps": 5.0})
    runner, source = build_runner(EngineConfig(replay=str(rec), speed=0, policy=str(path)))
    runner.run_sync()
    snap = runner.state.snapshot()
    assert snap.mode == "model" and snap.quoter == "model: p.npz" and snap.version == 100
    assert runner.trader.knobs.max_offset_bps == 5.0
    assert [o["value"] for o in runner.quoter_options()] == ["model", "fixed", "avellaneda_stoikov", "queue_aware"]
    from mmjax.dashboard.callbacks import banner_messages

    assert not any("BASELINE" in t for _, t in banner_messages(snap))
