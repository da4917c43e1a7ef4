"""Specification of the dashboard's pure parts: figure builders and refresh/control callbacks."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from dash import no_update

from mmjax.dashboard import callbacks
from mmjax.live import SERIES, BookEvent, LiveState
from mmjax.live.state import SIDE_AT_LIMIT, SIDE_PULLED, SIDE_QUOTED

T0_MS = 1_790_000_000_000.0


def _book(mid: float = 65_000.0, levels: int = 5) -> BookEvent:
    k = np.arange(levels)
    return BookEvent(ts_recv_ns=0, after_gap=False, bid_px=mid - 0.5 - k, bid_sz=np.full(levels, 0.5),
                     ask_px=mid + 0.5 + k, ask_sz=np.full(levels, 0.25))


def _row(i: int) -> dict:
    pnl = math.sin(i / 50.0) * 10.0
    return {"t_ms": T0_MS + 100.0 * i, "mid": 65_000.0 + i * 0.01, "pnl": pnl, "inventory": (i % 7) - 3.0,
            "drawdown": min(0.0, pnl), "spread_z": math.cos(i / 30.0), "bid_quote": 64_999.0, "ask_quote": 65_001.0,
            "bid_state": SIDE_QUOTED, "ask_state": SIDE_QUOTED, "fills": float(i // 10),
            "bid_queue_ahead": 0.25 + 0.01 * i, "ask_queue_ahead": math.inf}


def _state(n: int, capacity: int = 36_000, mode: str = "baseline") -> LiveState:
    st = LiveState(capacity)
    st.set_info(mode=mode, quoter="baseline: fixed" if mode == "baseline" else "model: p.npz",
                feed_status="running", inventory_limit=10.0, speed=1.0)
    st.touch()
    for i in range(n):
        st.append(_row(i), _book(), {"pnl": _row(i)["pnl"], "inventory": _row(i)["inventory"], "fill_rate": 0.1,
                                      "spread_captured_bps": 1.5, "max_drawdown": 3.0, "n_fills": i // 10})
    return st


def test_refresh_first_load_draws_everything_then_nothing_when_unchanged():
    st = _state(50)
    kpis, banners, depth, pnl, touch, risk, attribution, client = callbacks.refresh(st, None)
    assert isinstance(pnl, dict) and len(pnl["data"][0]["x"]) == 50
    assert isinstance(depth, dict) and isinstance(risk, dict) and isinstance(attribution, dict) and kpis is not no_update
    assert client == {"epoch": 0, "version": 50, "points": 50}
    out = callbacks.refresh(st, client)
    assert len(out) == callbacks.N_OUTPUTS
    assert all(o is no_update for o in (out[0], *out[2:7]))
    assert out[7] == client


def test_refresh_appends_only_new_rows_with_a_patch():
    st = _state(50)
    client = callbacks.refresh(st, None)[-1]
    for i in range(50, 53):
        st.append(_row(i), _book(), {"pnl": 1.0})
    _, _, _, pnl, touch, _, _, client2 = callbacks.refresh(st, client)
    ops = pnl.to_plotly_json()["operations"]
    assert [op["operation"] for op in ops] == ["Extend"] * 6  # x and y of pnl, drawdown, inventory
    assert ops[0]["location"] == ["data", 0, "x"] and ops[0]["params"]["value"] == [T0_MS + 5000.0 + 100.0 * k for k in range(3)]
    assert ops[1]["params"]["value"] == [_row(i)["pnl"] for i in range(50, 53)]
    ops = touch.to_plotly_json()["operations"]  # the spread z strip grows, the queue bars are replaced
    assert [op["operation"] for op in ops[:2]] == ["Extend"] * 2 and ops[2]["operation"] == "Assign"
    assert client2 == {"epoch": 0, "version": 53, "points": 53}


def test_refresh_redraws_decimated_when_client_history_grows_too_long():
    st = _state(10)
    client = {"epoch": 0, "version": 10, "points": callbacks.MAX_CLIENT_POINTS - 5}
    for i in range(10, 20):
        st.append(_row(i), _book(), {})
    pnl = callbacks.refresh(st, client)[3]
    assert isinstance(pnl, dict) and len(pnl["data"][0]["x"]) == 20  # full redraw from the whole buffer


def test_refresh_after_history_reset_redraws():
    st = _state(30)
    client = callbacks.refresh(st, None)[-1]
    st.clear()  # a policy switch starts a new epoch
    st.append(_row(0), _book(), {})
    pnl, client2 = callbacks.refresh(st, client)[3], callbacks.refresh(st, client)[-1]
    assert isinstance(pnl, dict) and len(pnl["data"][0]["x"]) == 1
    assert client2["epoch"] == 1


def test_ring_buffer_keeps_last_capacity_rows_and_full_redraw_is_bounded():
    st = _state(1200, capacity=1000)
    snap = st.snapshot()
    assert len(snap.series["t_ms"]) == 1000 and snap.series["t_ms"][0] == T0_MS + 100.0 * 200
    assert not st.snapshot(since=100).complete and st.snapshot(since=500).complete
    pnl = callbacks.refresh(st, None, callbacks.RefreshParams(full_points=200))[3]
    assert len(pnl["data"][0]["x"]) <= 202
    assert set(SERIES) == set(snap.series)


def test_refresh_full_redraw_survives_every_history_length_past_the_budget():
    """Issue #21: a full redraw raised once the history outgrew the budget; every n up to 3.5x it now draws."""
    st = _state(0, capacity=500)
    for i in range(700):  # the ring fills at 500: lengths 1..500, then 500 rows sliding
        st.append(_row(i), _book(), {"pnl": 0.0})
        kpis, banners, depth, pnl, touch, risk, attribution, client = callbacks.refresh(
            st, None, callbacks.RefreshParams(full_points=200))
        n = min(i + 1, 500)
        x = pnl["data"][0]["x"]
        assert len(x) == len(pnl["data"][0]["y"]) and (len(x) == n if n <= 200 else len(x) <= 202)
        assert pnl["data"][0]["x"][-1] == _row(i)["t_ms"] and len(touch["data"][0]["x"]) <= 202
        assert client["points"] == len(pnl["data"][0]["x"])


def test_a_refresh_that_raises_shows_its_message_in_a_red_banner(monkeypatch):
    st = _state(50)
    ok = callbacks.safe_refresh(st, None, tick=7)
    assert ok[-1] == {"epoch": 0, "version": 50, "points": 50, "tick": 7}  # the watchdog sees the tick move

    def broken(*_a, **_k):
        raise RuntimeError("boom in the PnL figure")

    monkeypatch.setattr(callbacks.figures, "pnl_figure", broken)
    out = callbacks.safe_refresh(st, None, tick=8)
    assert len(out) == callbacks.N_OUTPUTS
    text = json.dumps([c.to_plotly_json() for c in out[1]], default=str)
    assert "REFRESH FAILED: RuntimeError: boom in the PnL figure" in text and "banner-error" in text
    assert all(o is no_update for o in out[2:-1]) and out[0] is no_update  # the figures stay as they were
    assert out[-1] == {"tick": 8}  # the store: what it held (nothing yet) and the tick, so the next one retries
    stale = {**ok[-1], "epoch": 99}  # a client from another epoch: a full redraw, which raises
    failed = callbacks.safe_refresh(st, stale, tick=9)
    assert "REFRESH FAILED" in json.dumps(failed[1][0].to_plotly_json(), default=str) and failed[-1] == {**stale, "tick": 9}
    monkeypatch.undo()
    assert callbacks.safe_refresh(st, None, tick=10)[3]["data"]  # the next tick draws again


def test_header_names_the_market_not_a_path(tmp_path):
    from mmjax.dashboard.app import DashboardConfig, market_label
    from mmjax.live import build_runner, builtin_market

    cfg = DashboardConfig(cache_dir=str(tmp_path / "cache"), builtin_hours=0.01, port=0)
    runner, source = build_runner(cfg)
    label = market_label(cfg, runner)
    assert str(tmp_path) in source and str(tmp_path) not in label and "/" not in label
    assert label.startswith("replay of the built-in market (mmjax.synth seed=0): BTC-USD, 360 rows of 100 ms")
    replay = DashboardConfig(replay=builtin_market(cfg.cache_dir, cfg.builtin_hours), loop=False)
    assert market_label(replay, build_runner(replay)[0]).startswith("replay of recording builtin-seed0-0.01h (")


def test_banners_baseline_stale_and_model():
    st = _state(5, mode="baseline")
    msgs = callbacks.banner_messages(st.snapshot())
    assert any("BASELINE FALLBACK" in t for _, t in msgs)
    assert not any("STALE" in t for _, t in msgs)
    st.set_info(mode="model", quoter="model: p.npz")
    assert callbacks.banner_messages(st.snapshot()) == []
    st._last_event_wall -= 10.0  # ten seconds without an event
    assert any("FEED STALE" in t for _, t in callbacks.banner_messages(st.snapshot()))
    st.set_info(feed_status="disconnected")
    assert any("DISCONNECTED" in t for _, t in callbacks.banner_messages(st.snapshot()))


def test_kpi_tiles_show_values_and_mode():
    st = _state(5)
    text = json.dumps([c.to_plotly_json() for c in callbacks.kpi_children(st.snapshot())], default=str)
    assert "+0.80" in text  # pnl of row 4 = 10 sin(0.08)
    assert "baseline: fixed" in text and "10.0%" in text


def test_tiles_and_depth_show_a_pulled_side_the_limit_and_the_fee_regime():
    st = _state(5)
    st.set_info(maker_fee_bps=-0.5)
    st.append({**_row(5), "bid_quote": math.nan, "bid_state": SIDE_PULLED, "ask_quote": math.nan,
               "ask_state": SIDE_AT_LIMIT}, _book(), {"pnl": 1.0, "spread_usd": 2.0, "fees_usd": -0.25,
                                                       "adverse_10s_usd": -1.5, "carry_usd": 0.25, "pnl_usd": 1.0})
    kpis, _, depth, _, _, _, attribution, _ = callbacks.refresh(st, None)
    values = {getattr(tile.children[1], "id", None): tile.children[1].children for tile in kpis}
    assert values["kpi-fee"] == "rebate (\u22120.5 bps)"
    badges = {b.id: (b.children, b.className) for b in callbacks.side_badges(st.snapshot().series)}
    assert badges == {"badge-bid": ("bid pulled", "badge badge-pulled"),
                      "badge-ask": ("ask at inventory limit", "badge badge-limit")}
    assert depth["layout"]["title"]["text"].endswith(": bid pulled, ask at inventory limit")
    assert not any(d["name"].startswith("our ") for d in depth["data"])  # no quote line
    assert attribution["data"][0]["x"] == [2.0, 0.25, -1.5, 0.25, 1.0]
    st.append(_row(6), _book(), {})  # quoting again on both sides
    depth = callbacks.refresh(st, None)[2]  # the queue ahead of each live quote, by the fill model
    assert {d["name"] for d in depth["data"]} >= {"our bid (0.31 ahead)", "our ask (queue unknown)"}
    assert [b.children for b in callbacks.side_badges(st.snapshot().series)] == ["bid quoting", "ask quoting"]
    assert [b.children for b in callbacks.side_badges(LiveState(10).snapshot().series)] == [
        "bid: no decision yet", "ask: no decision yet"]


class _Controls:
    def __init__(self):
        self.paused, self.can_set_speed, self.speed, self.quoter = False, True, 1.0, None

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def set_speed(self, s):
        self.speed = s

    def set_quoter(self, name):
        self.quoter = name


def test_control_callbacks_act_on_the_runtime():
    c = _Controls()
    assert callbacks.on_pause(None, c) == "Pause" and not c.paused  # initial call does nothing
    assert callbacks.on_pause(1, c) == "Resume" and c.paused
    assert callbacks.on_pause(2, c) == "Pause" and not c.paused
    assert callbacks.on_speed(0.0, c) == "speed max" and c.speed == 0.0
    assert callbacks.on_speed(5.0, c) == "speed 5x" and c.speed == 5.0
    c.can_set_speed = False
    assert callbacks.on_speed(2.0, c) is no_update and c.speed == 5.0
    assert callbacks.on_quoter("avellaneda_stoikov", c) == "quoter: avellaneda_stoikov" and c.quoter == "avellaneda_stoikov"


def test_dashboard_imports_no_jax():
    code = "import sys, mmjax.dashboard.app, mmjax.dashboard.callbacks, mmjax.live; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_server_refuses_non_loopback_host():
    from mmjax.dashboard.app import check_host

    check_host("127.0.0.1")
    with pytest.raises(ValueError, match="no authentication"):
        check_host("0.0.0.0")
