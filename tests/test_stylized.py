"""Stylized facts: each fact checked on a hand-built recording where the answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mmjax import schema
from mmjax.data.loader import RawRecording
from mmjax.market import stylized

GRID_NS = 100_000_000


def _raw(T=400, L=3, spread_ticks=1, trades=None, after_gap=None, mid_ticks=None, bid_sz0=None, ask_sz0=None):
    """A recording with mid ``mid_ticks`` (ticks from $60,000), constant spread, levels 1 tick apart."""
    tick = 0.01
    mid = (np.zeros(T) if mid_ticks is None else np.asarray(mid_ticks, float)) * tick + 60_000.0
    half = spread_ticks * tick / 2
    bid = (mid - half)[:, None] - tick * np.arange(L)[None, :]
    ask = (mid + half)[:, None] + tick * np.arange(L)[None, :]
    bsz = np.full((T, L), 0.5)
    asz = np.full((T, L), 0.5)
    bsz[:, 0] = 2.0 if bid_sz0 is None else bid_sz0
    asz[:, 0] = 2.0 if ask_sz0 is None else ask_sz0
    ts = np.arange(T, dtype=np.int64) * GRID_NS + 10**18
    ag = np.zeros(T, bool) if after_gap is None else np.asarray(after_gap, bool)
    ag[0] = True
    tr_step, tr_px, tr_sz, tr_side = trades if trades is not None else ([], [], [], [])
    tr_step = np.asarray(tr_step, np.int64)
    tr_ts = ts[0] + tr_step * GRID_NS + GRID_NS // 2  # inside (t, t+1]
    meta = schema.RecordingMeta(product="TEST", tick_size=tick, levels=L)
    return RawRecording(meta, ts.copy(), ts, ag, bid, bsz, ask, asz, tr_ts, tr_ts.copy(),
                        np.asarray(tr_px, float), np.asarray(tr_sz, float), np.asarray(tr_side, np.int8))


def test_spread_and_depth_profile():
    f = stylized.compute(_raw(spread_ticks=2))
    assert f["spread"]["mean_ticks"] == 2 and f["spread"]["buckets"]["2"] == 1.0 and f["spread"]["buckets"]["1"] == 0
    assert f["depth"]["mean_size"] == [2.0, 0.5, 0.5]
    assert f["depth"]["mean_distance_ticks"] == [0, 1, 2]


def test_trade_sign_acf_and_rate():
    T = 400
    n = 200
    side = np.where(np.arange(n) % 2 == 0, 1, -1)  # alternating: lag-1 ACF is -1, lag-2 is +1
    px = np.where(side > 0, 60_000.005, 59_999.995)
    f = stylized.compute(_raw(T=T, trades=(np.arange(n), px, np.full(n, 0.1), side)))
    assert f["sign_acf"]["1"] == pytest.approx(-1) and f["sign_acf"]["2"] == pytest.approx(1)
    assert f["trades_stats"]["per_s"] == pytest.approx(n / (T * 0.1))
    assert f["trade_depth"]["frac_beyond_touch"] == 0


def test_deeper_prints_measured_against_the_row_before():
    # buys at the touch, one tick through and two ticks through: quantiles see the depth
    steps = [10, 20, 30]
    px = [60_000.005, 60_000.015, 60_000.025]
    f = stylized.compute(_raw(trades=(steps, px, [1, 1, 1], [1, 1, 1])))
    assert f["trade_depth"]["frac_beyond_touch"] == pytest.approx(2 / 3)
    assert f["trade_depth"]["through_ticks_quantiles"]["0.5"] == pytest.approx(1)


def test_flow_and_imbalance_response():
    rng = np.random.default_rng(0)
    T = 2000
    side = rng.choice([-1, 1], T - 2)
    # the mid moves one tick in the direction of the flow of the previous interval, one row later
    mid = np.zeros(T)
    mid[2:] = np.cumsum(side)
    px = 60_000 + mid[: T - 2] * 0.01 + side * 0.005
    # imbalance leans the way the mid moves next
    bsz0 = np.full(T, 1.0)
    asz0 = np.full(T, 1.0)
    nxt = np.r_[np.diff(mid), 0]
    bsz0[nxt > 0], asz0[nxt < 0] = 3.0, 3.0
    f = stylized.compute(_raw(T=T, mid_ticks=mid, trades=(np.arange(T - 2), px, np.ones(T - 2), side),
                              bid_sz0=bsz0, ask_sz0=asz0))
    fr = f["flow_response"]
    assert fr["flow_predicts"]["1"] > 0.95
    assert fr["imbalance_predicts"]["1"] > 0.95
    assert fr["mid_move_after_net_buy_ticks_10rows"] > 0 > fr["mid_move_after_net_sell_ticks_10rows"]


def test_returns_never_span_a_gap():
    T = 1000
    mid = np.zeros(T)
    mid[500:] = 10_000  # a huge jump exactly at a gap
    ag = np.zeros(T, bool)
    ag[500] = True
    f = stylized.compute(_raw(T=T, mid_ticks=mid, after_gap=ag))
    assert f["volatility"]["ret_std_bps_1s"] == 0 and f["volatility"]["ret_std_bps_10s"] == 0
    f_nogap = stylized.compute(_raw(T=T, mid_ticks=mid))
    assert f_nogap["volatility"]["ret_std_bps_1s"] > 0


def test_table_and_json_ready():
    f = stylized.compute(_raw())
    text = stylized.format_table({"a": f, "b": f})
    assert "spread.buckets.1" in text and "sign_acf.1" in text
    json.dumps(f, allow_nan=True)  # plain floats, lists and dicts only
    assert math.isnan(f["sign_acf"]["1"])  # no trades: NaN, not a made-up number


def test_real_binance_spot_facts(shared_data, tmp_path):
    """The facts the synthetic market is calibrated to, measured on the real capture."""
    from mmjax.data import loader, tardis

    src = shared_data / "binance-spot-btcusdt-2024-08-08"
    tardis.import_tardis(tardis.TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"),
                                                   trades=str(src / "trades.csv.gz"), out=str(tmp_path), quiet=True))
    f = stylized.compute(loader.read_recording(tmp_path))
    assert f["spread"]["buckets"]["1"] > 0.98
    assert f["depth"]["mean_size"][0] > 5 * f["depth"]["mean_size"][1]
    assert f["sign_acf"]["1"] > 0.5
    assert f["flow_response"]["same_interval_corr"] > 0.2
    assert 0.5 < f["volatility"]["ret_std_bps_1s"] < 3
