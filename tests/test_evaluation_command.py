"""Specification of the out-of-sample evaluation (mmjax/evaluation/evaluate_command.py, mmjax/evaluation/harness.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmjax.env.knobs import EnvOverrides
from mmjax.evaluation import harness as H
from mmjax.evaluation.tuning import tune_baseline
from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run

EPISODE = 100


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "market"
    synth_run(SynthConfig(out=str(out), hours=0.25, seed=3))
    return out


def test_non_overlapping_starts_are_disjoint_inside_the_window_and_skip_gaps():
    after_gap = np.zeros(2000, bool)
    after_gap[[0, 700, 705]] = True  # a gap at 700 and a tiny segment 700..704
    from mmjax.data.layout import steps_to_gap

    stg = steps_to_gap(after_gap)
    starts = H.non_overlapping_starts(stg, 100, 1900, 200, 1, None)
    span = 200 + 1 + 1
    assert np.all(np.diff(starts) >= span) and starts[0] >= 100 and starts[-1] + span <= 1900
    for s in starts:  # no window spans a segment start
        assert not after_gap[s + 1: s + span].any()
    assert len(H.non_overlapping_starts(stg, 100, 1900, 200, 1, 3)) == 3


@pytest.fixture(scope="module")
def baseline_report(recording, tmp_path_factory):
    from mmjax.evaluation.evaluate_command import EvaluateConfig, evaluate

    out = tmp_path_factory.mktemp("report")
    payload = evaluate(EvaluateConfig(data=str(recording), out=str(out), env=EnvOverrides(episode_steps=EPISODE), episodes=12,
                                      tune_episodes=8, market_preset="builtin-btc"), progress=lambda *_: None)
    return payload, out


def test_test_split_episodes_never_overlap_the_tuning_window(baseline_report):
    payload, _ = baseline_report
    tune_lo, tune_hi = payload["windows"]["tuning_rows"]
    ev_lo, ev_hi = payload["windows"]["evaluation_rows"]
    starts = np.asarray(payload["windows"]["episode_starts"])
    assert tune_hi < ev_lo, "the test split lies strictly after the training split (with an embargo)"
    assert np.all(starts >= ev_lo) and np.all(starts + EPISODE + 2 <= ev_hi)
    assert np.all(np.diff(starts) >= EPISODE + 2)  # disjoint episodes
    assert payload["windows"]["tuning_episodes"] == 8  # --tune-episodes 8: more fit the window, 8 spread over it


def test_report_has_every_policy_with_confidence_intervals_and_the_retail_fee(baseline_report):
    payload, out = baseline_report
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_episodes"] == payload["n_episodes"] > 0 and saved["episode_steps"] == EPISODE
    for name in ("fixed", "avellaneda_stoikov", "glft"):
        m = saved["policies"][name]
        for key in ("mean_pnl", "median_pnl", "pnl_ci95", "sharpe", "map", "pnl_to_map", "fill_rate",
                    "max_drawdown", "markout_1s", "fees"):
            assert key in m, (name, key)
        lo, hi = m["pnl_ci95"]
        assert lo <= m["mean_pnl"] <= hi
        assert saved["retail_fee_policies"][name]["fees"] >= m["fees"]
    assert saved["retail_fee_bps"] == 40.0 and saved["maker_fee_bps"] == 0.0
    assert saved["market_preset"] == "builtin-btc"  # the market axis beside the fee axis (mmjax demo)
    assert (out / "report.md").read_text().count("|") > 20
    for png in ("pnl_distribution.png", "equity_curves.png", "inventory_distribution.png", "quote_skew.png", "markouts.png"):
        assert (out / png).stat().st_size > 1000


def test_baselines_are_tuned_on_the_tuning_window_to_the_best_trading_value(baseline_report):
    payload, _ = baseline_report
    for name, t in payload["tuning"].items():
        trading = [r for r in t["grid"] if r["fills_per_episode"] >= 1.0] or t["grid"]
        best = max(r["mean_pnl"] for r in trading)
        chosen = next(r for r in t["grid"] if r["value"] == pytest.approx(t["value"])
                      and r["requote_margin"] == t["requote_margin"])
        assert chosen["mean_pnl"] == pytest.approx(best), name
        assert len({r["value"] for r in t["grid"]}) >= 5, "a real grid, not a fixed guess"


def test_fixed_baseline_fills_less_the_further_it_quotes(recording):
    from mmjax.env import build

    market = build.load(build.DataConfig(data=str(recording), split_gap_steps=100), build.EnvKnobs(episode_steps=EPISODE))
    env = build.make_env()
    params = market.env_params(market.splits["train"])
    starts = H.non_overlapping_starts(np.asarray(market.md.steps_to_gap), market.splits["train"].start,
                                      market.splits["train"].stop, EPISODE, 1, 10)
    calib = H.calibrate(params, market.splits["train"].start, market.splits["train"].stop)
    table = tune_baseline(env, params, starts, "fixed", calib, grid=np.array([0.0, 1.0, 3.0, 10.0])).table
    fills = [r["fills_per_episode"] for r in table]
    assert fills[0] > 0 and all(a >= b for a, b in zip(fills, fills[1:], strict=False))


def test_baselines_choose_their_own_requote_margin_on_the_training_episodes(recording):
    """The agent's hysteresis cannot handicap a baseline: tuning runs every value at margin 0 and at the agent's."""
    from mmjax.env import build

    market = build.load(build.DataConfig(data=str(recording), split_gap_steps=100), build.EnvKnobs(episode_steps=EPISODE))
    params = market.env_params(market.splits["train"])
    starts = H.non_overlapping_starts(np.asarray(market.md.steps_to_gap), market.splits["train"].start,
                                      market.splits["train"].stop, EPISODE, 1, 10)
    calib = H.calibrate(params, market.splits["train"].start, market.splits["train"].stop)
    grid = np.array([0.0, 1.0, 3.0])
    # this book's touch jumps many ticks a step: a wide margin (half the action range) is needed to keep anything
    tuned = tune_baseline(build.make_env(), params, starts, "fixed", calib, grid=grid, margins=(1.0, 0.0))
    assert [(r["requote_margin"], r["value"]) for r in tuned.table] == [(m, v) for m in (0.0, 1.0) for v in grid]
    trading = [r for r in tuned.table if r["fills_per_episode"] >= 1.0] or tuned.table
    best = max(trading, key=lambda r: (r["mean_pnl"], -r["map"]))
    assert (tuned.value, tuned.requote_margin) == (best["value"], pytest.approx(best["requote_margin"]))
    at = {m: [(r["fills_per_episode"], r["mean_pnl"]) for r in tuned.table if r["requote_margin"] == m]
          for m in (0.0, 1.0)}
    assert at[0.0] != at[1.0], "the margin reaches the lanes"
    alone = tune_baseline(build.make_env(), params, starts, "fixed", calib, grid=grid).table  # params' margin: 0
    assert [(r["fills_per_episode"], r["mean_pnl"]) for r in alone] == at[0.0]


def test_abstain_never_quotes_and_is_the_zero_line(baseline_report):
    payload, _ = baseline_report
    m = payload["policies"]["abstain"]
    assert m["fills"] == 0 and m["mean_pnl"] == 0.0 and m["map"] == 0.0
    assert "abstain" not in payload["tuning"]  # nothing to tune
    assert {"signal_aware", "queue_aware", "abstain", "fixed"} <= set(payload["policies"])
    assert payload["tuning"]["queue_aware"]["param"] == "run_over_threshold"


def test_tuning_flags_a_value_at_its_grids_edge(baseline_report):
    payload, _ = baseline_report
    for name, t in payload["tuning"].items():
        values = [r["value"] for r in t["grid"]]
        assert t["at_grid_edge"] == (t["value"] in (values[0], values[-1])), name


def _one_episode(recording, policy):
    import jax.numpy as jnp

    from mmjax.env import build

    market = build.load(build.DataConfig(data=str(recording), split_gap_steps=100), build.EnvKnobs(episode_steps=EPISODE))
    env = build.make_env()
    params = market.env_params(market.splits["train"])
    starts = H.non_overlapping_starts(np.asarray(market.md.steps_to_gap), market.splits["train"].start,
                                      market.splits["train"].stop, EPISODE, 1, 3)
    tr = H.rollout(env, params, jnp.asarray(starts), policy)
    return market, params, {k: np.asarray(v) for k, v in tr.items()}


def test_the_fixed_baseline_quotes_whole_ticks_behind_each_touch(recording):
    import jax.numpy as jnp

    for d in (0, 3):
        market, _, tr = _one_episode(recording, H.baseline_policy("fixed", jnp.float32(d), None))
        mid = np.asarray(market.md.mid)[tr["t"]]
        mid_abs = mid + market.md.px_anchor_ticks
        bid_px = mid - tr["bid_offset_bps"] * mid_abs * 1e-4  # the decided prices, ticks
        ask_px = mid + tr["ask_offset_bps"] * mid_abs * 1e-4
        spread = np.rint(ask_px - bid_px)
        # on a one-tick book: bid = best bid - d, ask = best ask + d, so the quoted spread is 1 + 2d ticks
        one_tick = np.abs(spread - (1 + 2 * d)) < 1e-3
        assert one_tick.mean() > 0.9, (d, np.unique(spread, return_counts=True))


def test_signal_aware_pulls_a_side_when_the_forecast_runs_over_it(recording):
    import jax.numpy as jnp

    from mmjax.env import build

    market = build.load(build.DataConfig(data=str(recording), split_gap_steps=100), build.EnvKnobs(episode_steps=EPISODE))
    tr_split = market.splits["train"]
    calib = H.calibrate(market.env_params(tr_split), tr_split.start, tr_split.stop)
    # a strong forecast weight on every feature: some decisions expect moves past the quotes
    loud = dataclasses_replace(calib, forecast_weights=tuple(50.0 * np.sign(np.asarray(calib.forecast_weights) + 1e-9)))
    _, _, tr = _one_episode(recording, H.baseline_policy("signal_aware", jnp.float32(calib.k_per_tick * 0.01), loud))
    pulled = np.isnan(tr["bid_offset_bps"]) | np.isnan(tr["ask_offset_bps"])
    assert 0 < pulled.mean() < 1, "some decisions pull a side, not all"
    assert not (np.isnan(tr["bid_offset_bps"]) & np.isnan(tr["ask_offset_bps"])).all()
    _, _, quiet = _one_episode(recording, H.baseline_policy("signal_aware", jnp.float32(calib.k_per_tick * 0.01),
                                                            dataclasses_replace(calib, forecast_weights=tuple(
                                                                0.0 * np.asarray(calib.forecast_weights)),
                                                                forecast_bias=0.0)))
    assert not np.isnan(quiet["bid_offset_bps"]).any(), "without a forecast nothing is pulled"


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_the_report_names_the_market_it_was_run_on(baseline_report):
    payload, out = baseline_report
    m = json.loads((out / "metrics.json").read_text())["market"]
    assert m == payload["market"]
    assert (m["product"], m["size_unit"], m["contract_type"], m["contract_value"]) == ("BTC-USD", "BTC", "linear", 0.0)
    assert m["tick_size"] == pytest.approx(0.01) and m["lot_size"] > 0
    text = (out / "report.md").read_text()
    assert f"- market: BTC-USD, tick 0.01 $, lot {m['lot_size']:g}, sizes in BTC, contract linear" in text


def test_split_all_on_a_recording_shorter_than_twice_the_embargo_fails_clearly(tmp_path, capsys):
    from mmjax.cli import main

    short = tmp_path / "short"
    synth_run(SynthConfig(out=str(short), hours=0.15, seed=1))  # 5,400 rows < 2 x 3,000
    assert main(["evaluate", "--data", str(short), "--split", "all", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "mmjax evaluate: error:" in err and "5,400 rows" in err and "2 x the embargo of 3,000 rows" in err
    assert "Traceback" not in err and not (tmp_path / "r" / "metrics.json").exists()
