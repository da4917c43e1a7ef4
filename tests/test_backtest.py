"""`mmjax backtest` (mmjax/evaluation/backtest_command.py): whole recording, one episode per gap-free segment."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmjax.cli import main as cli_main
from mmjax.env.knobs import EnvOverrides
from mmjax.evaluation.backtest_command import BacktestConfig, backtest, segments

KEYS = ("fills", "filled_size", "pnl", "mean_abs_position", "rejected_post_only", "steps", "segments")


def test_segments_split_at_gaps_and_drop_single_rows():
    ag = np.zeros(10, bool)
    ag[[4, 5, 9]] = True
    assert segments(ag) == [(0, 4), (5, 9)]  # row 4 alone and row 9 alone have no step


def test_backtest_reports_the_documented_keys_and_never_carries_inventory_across_a_gap(recording):
    cfg = BacktestConfig(data=str(recording), policy="fixed", half_spread_bps=0.0, chunk_steps=64, quiet=True,
                         env=EnvOverrides(quote_size=0.01, max_inventory=0.05, latency_steps=1, maker_fee_bps=0.0))
    r = backtest(cfg, progress=None)
    assert set(KEYS) <= set(r)
    assert r["segments"] == 2 and r["steps"] == (250 - 1) + (150 - 1) and len(r["segment_pnl"]) == 2
    assert r["pnl"] == pytest.approx(sum(r["segment_pnl"]))
    assert r["fills"] > 5 and r["fills"] == r["bid_fills"] + r["ask_fills"] == sum(r["fills_by_kind"].values())
    assert 0 < r["filled_size"] <= 0.01 * r["fills"] + 1e-6  # whole quotes, or less where fills were partial
    assert 0 < r["mean_abs_position"] <= 0.05 + 1e-9
    # chunking changes nothing: the same totals in one chunk or in chunks of 7 steps
    r7 = backtest(cfg.__class__(**{**cfg.__dict__, "chunk_steps": 7}), progress=None)
    assert {k: r7[k] for k in KEYS} == pytest.approx({k: r[k] for k in KEYS}, rel=1e-5)


def test_the_command_writes_json_and_bad_input_is_an_error(recording, tmp_path, capsys):
    out = tmp_path / "bt.json"
    assert cli_main(["backtest", "--data", str(recording), "--policy", "fixed", "--half-spread-bps", "0.5",
                     "--chunk-steps", "128", "--json", str(out), "--quiet"]) == 0
    assert set(KEYS) <= set(json.loads(out.read_text()))
    assert cli_main(["backtest", "--data", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err
    assert cli_main(["backtest", "--data", str(recording), "--policy", "nonsense", "--quiet"]) == 2


def test_an_exported_policy_backtests_with_the_knobs_it_was_exported_with(recording, tmp_path):
    from mmjax.policy import export
    from tests.helpers.policy import EXTRA, make_params

    path = export.export_policy(make_params()[1], tmp_path / "policy.npz", EXTRA)
    r = backtest(BacktestConfig(data=str(recording), policy=str(path), chunk_steps=128, quiet=True), progress=None)
    assert r["steps"] == 249 + 149 and r["knobs"]["quote_size"] == EXTRA["action_mapping"]["quote_size"]
    assert r["knobs"]["max_offset_bps"] == EXTRA["action_mapping"]["max_offset_bps"]


def test_the_queue_aware_baseline_backtests_through_the_command(recording, tmp_path):
    out = tmp_path / "q.json"
    assert cli_main(["backtest", "--data", str(recording), "--policy", "queue_aware", "--queue-threshold", "2",
                     "--quote-size", "0.01", "--max-inventory", "0.05", "--chunk-steps", "128", "--json", str(out),
                     "--quiet"]) == 0
    r = json.loads(out.read_text())
    # 2 never pulls: it joins both touches whenever the inventory allows, and it trades
    assert r["fills"] > 0 and r["quote_steps"] > r["steps"]
