"""`mmjax backtest --grid` (mmjax/evaluation/grid*.py): every configuration equals a single `mmjax backtest`."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from mmjax.cli import main as cli_main
from mmjax.env.knobs import EnvOverrides
from mmjax.evaluation import grid, grid_report, grid_spec
from mmjax.evaluation.backtest_command import BacktestConfig, backtest

SAME = ("fills", "bid_fills", "ask_fills", "rejected_post_only", "quote_steps", "beyond_depth_steps", "steps", "segments")


@pytest.fixture(scope="module")
def rec(recording):  # noqa: F811
    return grid.load(str(recording))


def _single(recording, **kw):  # noqa: F811
    return backtest(BacktestConfig(data=str(recording), chunk_steps=100, quiet=True, **kw), progress=None)


def _assert_same(row, single):
    """Fill for fill (every count, by side and kind), PnL to 1e-6."""
    assert {k: row[k] for k in SAME} == {k: single[k] for k in SAME}
    assert {k: row[f"fills_{k}"] for k in single["fills_by_kind"]} == single["fills_by_kind"]
    assert row["pnl"] == pytest.approx(single["pnl"], abs=1e-6)
    assert row["filled_size"] == pytest.approx(single["filled_size"], rel=1e-6)
    assert row["mean_abs_position"] == pytest.approx(single["mean_abs_position"], rel=1e-6)
    assert row["fees"] == pytest.approx(single["fees"], abs=1e-6)


def test_each_fixed_configuration_equals_a_single_backtest(rec, recording):  # noqa: F811
    # two static groups (latency 1 with a 0.01 lot; latency 2 with a 0.005 lot) and traced fees, limits and
    # half-spreads, in chunks of 2 configurations (the last one padded) and 64 steps (segments of 249 and 149)
    cols = {"half_spread_bps": np.array([0.0, 0.5, 2.0, 0.0]), "quote_size": np.array([0.01, 0.015, 0.01, 0.01]),
            "latency_steps": np.array([1, 2, 1, 1]), "maker_fee_bps": np.array([0.0, -0.5, 1.0, 0.0]),
            "max_inventory": np.array([0.05, 0.06, 0.02, 0.05])}
    rows = grid.run_quoter(rec, grid.QUOTERS["fixed"], cols, chunk_steps=64, chunk_configs=2, progress=None)
    assert len({r["fills"] for r in rows}) == 3 and rows[0]["fills"] == rows[3]["fills"]  # they differ, so tell apart
    for i in (1, 2):
        knobs = EnvOverrides(quote_size=float(cols["quote_size"][i]), max_inventory=float(cols["max_inventory"][i]),
                             latency_steps=int(cols["latency_steps"][i]), maker_fee_bps=float(cols["maker_fee_bps"][i]))
        _assert_same(rows[i], _single(recording, policy="fixed", half_spread_bps=float(cols["half_spread_bps"][i]),  # noqa: F811
                                      env=knobs))
    assert rows[0]["max_drawdown"] >= 0 and np.isfinite(rows[0]["markout_1s_bps"])


def test_ticks_and_a_closed_form_equal_single_backtests(rec, recording):  # noqa: F811
    rows = grid.run_quoter(rec, grid.QUOTERS["fixed"], {"ticks": np.array([-1.0, 0.0, 2.0])}, progress=None)
    _assert_same(rows[0], _single(recording, policy="fixed", fixed_ticks=-1))
    # signal-aware: A-S around a fitted forecast, the richest closed form (its gamma, intensity and forecast traced)
    rows = grid.run_quoter(rec, grid.QUOTERS["signal_aware"], {"gamma": np.array([np.nan, 0.5])}, progress=None)
    assert rows[1]["gamma"] == 0.5 and rows[0]["gamma"] > 0  # NaN: the backtest's default gamma, resolved
    _assert_same(rows[1], _single(recording, policy="signal_aware", baseline_gamma=0.5))
    assert rows[1]["fills"] > 0


def test_the_queue_aware_quoter_equals_single_backtests(rec, recording):  # noqa: F811
    rows = grid.run_quoter(rec, grid.QUOTERS["queue_aware"], {"threshold": np.array([0.3, 2.0])}, progress=None)
    for row, th in zip(rows, (0.3, 2.0), strict=True):
        _assert_same(row, _single(recording, policy="queue_aware", queue_threshold=th))
    assert rows[1]["fills"] > 0


def test_threads_chunks_and_per_lane_starts_change_nothing(rec, monkeypatch):
    """Chunks of lanes on two threads equal one chunk on one; lanes with their own start rows (the
    tuning path: the state's row batched) equal the shared-row program at the same rows."""
    cols = {"half_spread_bps": np.array([0.0, 0.3, 1.0, 2.0, 0.0]), "max_inventory": np.array([0.05, 0.02, 0.05, 0.1, 0.1])}
    monkeypatch.setattr(grid, "_workers", lambda: 2)  # two threads even on a one-CPU runner
    threaded = grid.run_quoter(rec, grid.QUOTERS["fixed"], cols, chunk_configs=2, chunk_steps=64, progress=None)
    monkeypatch.setattr(grid, "_workers", lambda: 1)
    single = grid.run_quoter(rec, grid.QUOTERS["fixed"], cols, chunk_configs=64, chunk_steps=64, progress=None)
    assert threaded == single and len({r["fills"] for r in single}) >= 3
    params = grid._params(rec, grid._knobs_of(cols, 0, grid.EnvKnobs()))
    inputs = {"half_spread_bps": cols["half_spread_bps"].astype(np.float32),
              **{k: np.full(5, getattr(params, k), np.float32) for k in grid.TRACED_AXES}}
    inputs["max_inventory"] = cols["max_inventory"].astype(np.float32)
    a, b = rec.segs[0]
    same = grid.run_lanes(params, grid.QUOTERS["fixed"], inputs, [(np.full(5, a), b - a - 1)], chunk_steps=64)
    own = grid.run_lanes(params, grid.QUOTERS["fixed"], inputs, [(np.array([a, a, a, a, a + 1]), b - a - 1)], chunk_steps=64)
    own_same = grid.run_lanes(params, grid.QUOTERS["fixed"], inputs, [(np.full(5, a + 1), b - a - 1)], chunk_steps=64)
    for k in ("fills", "bid_fills", "rejected_post_only", "quote_steps"):  # counts: exactly
        assert own[k][:4] == same[k][:4] and own[k][4] == own_same[k][4], k
    for k in ("pnl", "max_drawdown", "filled_size"):  # float32 sums of two programs: to rounding
        assert own[k] == pytest.approx([*same[k][:4], own_same[k][4]], abs=1e-5), k
    assert same["fills"][4] > 0


def test_drawdown_and_markouts_are_what_the_steps_say(rec):
    """Max drawdown and the 1 s markout against a NumPy pass over the env's per-step infos of one segment."""
    import jax
    import jax.numpy as jnp

    from mmjax.env.market_env import MarketMakingEnv
    from mmjax.evaluation import harness as H

    cols = {"half_spread_bps": np.array([0.0])}
    one_seg = grid.Recording(rec.market, rec.raw, rec.features, rec.sigma, [rec.segs[0]])
    row = grid.run_quoter(one_seg, grid.QUOTERS["fixed"], cols, chunk_steps=50, progress=None)[0]
    env, policy = MarketMakingEnv(), H.offset_policy(jnp.float32(0.0))
    params = grid._params(one_seg, grid._knobs_of(cols, 0, grid.EnvKnobs()))
    a, b = rec.segs[0]

    def body(carry, _):
        obs, state = carry
        obs, state, _, _, info = env.step_env(jax.random.PRNGKey(0), state, policy(obs, state, params), params)
        return (obs, state), {k: info[k] for k in ("pnl", "bid_fill", "ask_fill", "bid_fill_px", "ask_fill_px", "t")}

    _, tr = jax.lax.scan(body, env.reset_at(jnp.int32(a), params), None, length=b - a - 1)
    tr = {k: np.asarray(v, np.float64) for k, v in tr.items()}
    pnl = tr["pnl"]
    assert row["max_drawdown"] == pytest.approx(float((np.maximum.accumulate(np.maximum(pnl, 0)) - pnl).max()), abs=1e-6)
    mid = np.asarray(rec.market.mid, np.float64)
    t = tr["t"].astype(int)
    later = mid[np.minimum(t + 11, len(mid) - 1)]  # 1 s = 10 steps of 100 ms after the step's row
    m = (tr["bid_fill"] * (later - tr["bid_fill_px"]) * (tr["bid_fill"] > 0)
         + tr["ask_fill"] * (tr["ask_fill_px"] - later) * (tr["ask_fill"] > 0)) / (mid[t] + rec.market.px_anchor_ticks) * 1e4
    assert row["fills"] > 5 and row["markout_1s_bps"] == pytest.approx(m.sum() / (tr["bid_fill"] + tr["ask_fill"]).sum(), rel=1e-4)


def test_grid_file_products_ranges_and_clear_errors(tmp_path):
    g = tmp_path / "g.toml"
    g.write_text("[env]\nmax_inventory = [0.05, 0.1]\n[fixed]\nhalf_spread_bps = {linspace = [0, 2, 3]}\n"
                 "[glft]\ngamma = {logspace = [-1, 1, 3]}\nmax_inventory = 0.2\n")
    plan = grid_spec.read_grid(g)
    assert plan["fixed"]["half_spread_bps"].tolist() == [0, 1, 2] * 2  # the env axes vary slowest
    assert plan["fixed"]["max_inventory"].tolist() == [0.05] * 3 + [0.1] * 3
    assert plan["glft"]["gamma"] == pytest.approx([0.1, 1, 10]) and plan["glft"]["max_inventory"].tolist() == [0.2] * 3
    j = tmp_path / "g.json"
    j.write_text(json.dumps({"fixed": {"ticks": [0, 1]}}))
    assert grid_spec.read_grid(j)["fixed"]["ticks"].tolist() == [0, 1]
    for text, words in (("[fixed]\nwidth = [1]\n", "has no axis ['width']"), ("[nope]\n", "unknown quoter [nope]"),
                        ("[fixed]\nticks = []\n", "empty list"), ("[fixed]\nticks = ['a']\n", "finite numbers"),
                        ("[fixed\n", "not valid TOML"), ("[env]\nfoo = 1\n[fixed]\n", "[env] has no axis")):
        g.write_text(text)
        with pytest.raises(ValueError, match=str(g).replace(".", r"\.")) as err:
            grid_spec.read_grid(g)
        assert words in str(err.value)


def test_the_command_writes_parquet_heatmaps_and_best_with_edge_flags(recording, tmp_path, capsys):  # noqa: F811
    g = tmp_path / "g.toml"
    g.write_text("[env]\nmax_inventory = [0.02, 0.05]\n[fixed]\nhalf_spread_bps = [0, 0.5, 1]\n")
    out = tmp_path / "out"
    assert cli_main(["backtest", "--data", str(recording), "--grid", str(g), "--out", str(out), "--quiet"]) == 0
    rows = pq.read_table(out / "grid.parquet").to_pylist()
    assert len(rows) == 6 and {"pnl", "mean_abs_position", "fills_crossed", "markout_10s_bps", "max_drawdown",
                                "rejected_post_only"} <= set(rows[0])
    best = json.loads((out / "best.json").read_text())["best"]["fixed"]
    assert best[0]["pnl"] == max(r["pnl"] for r in rows if r["fills"] >= 1)
    assert set(best[0]["at_grid_edge"]) <= {"half_spread_bps", "max_inventory"}
    assert (out / "heatmap_fixed.png").stat().st_size > 1000
    assert "best fixed:" in capsys.readouterr().out
    assert cli_main(["backtest", "--data", str(recording), "--grid", str(g), "--quiet"]) == 2  # no --out
    assert "--out" in capsys.readouterr().err


def test_edge_flags_name_the_axes_whose_best_value_is_at_an_end():
    rows = [{"quoter": "fixed", "half_spread_bps": h, "ticks": float("nan"), "max_inventory": 0.1, "fills": 5,
             "pnl": -abs(h - 1.0), "mean_abs_position": 0.0} for h in (0.0, 1.0, 2.0)]
    assert grid_report.best_configs(rows)["fixed"][0]["at_grid_edge"] == []
    rows[2]["pnl"] = 5.0
    assert grid_report.best_configs(rows)["fixed"][0]["at_grid_edge"] == ["half_spread_bps"]


def test_the_documented_example_grid_parses():
    from pathlib import Path

    plan = grid_spec.read_grid(Path(__file__).resolve().parents[1] / "docs" / "grid_example.toml")
    sizes = {q: len(next(iter(c.values()))) for q, c in plan.items()}
    assert sizes == {"fixed": 30 * 6, "avellaneda_stoikov": 9 * 2 * 6, "glft": 9 * 6, "signal_aware": 5 * 3 * 6}
