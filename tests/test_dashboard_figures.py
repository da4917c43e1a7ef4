"""Specification of the dashboard's figure builders (`mmjax.dashboard.figures`): pure dicts, valid plotly.

The decimation properties hold for every history length: every n from 0 to 3,000 against budgets below,
at and above it, and random n up to 200,000 (issue #21: a bucket of pure padding crashed every redraw).
"""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.io
import pytest

from mmjax.dashboard import figures
from mmjax.live import SERIES, BookEvent
from mmjax.live.state import SIDE_AT_LIMIT, SIDE_PULLED, SIDE_QUOTED

T0_MS = 1_790_000_000_000.0
BUDGETS = (10, 101, 1500)  # max points: tiny, odd, the default


def _book(mid: float = 65_000.0, levels: int = 5, bid_sz: float = 0.5, ask_sz: float = 0.25) -> BookEvent:
    k = np.arange(levels)
    return BookEvent(ts_recv_ns=0, after_gap=False, bid_px=mid - 0.5 - k, bid_sz=np.full(levels, bid_sz),
                     ask_px=mid + 0.5 + k, ask_sz=np.full(levels, ask_sz))


def _series(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A random session of ``n`` rows with every published series; spread_z NaN while warming up, as live."""
    rng = np.random.default_rng(seed)
    pnl = np.cumsum(rng.normal(0, 1, n))
    out = {k: rng.normal(0, 1, n) for k in SERIES}
    out.update(t_ms=T0_MS + 100.0 * np.arange(n), pnl=pnl, drawdown=pnl - np.maximum.accumulate(pnl) if n else pnl,
               inventory=np.round(np.cumsum(rng.choice([-1.0, 0.0, 1.0], n, p=[0.05, 0.9, 0.05])), 6))
    out["spread_z"][:20] = np.nan
    out["spread_z"][rng.random(n) < 0.01] = np.nan  # and the odd gap
    return out


def _check_decimation(y: np.ndarray, idx: np.ndarray, max_points: int) -> None:
    """The contract of `figures.decimate` for series ``y`` [k, n] (vectorised over buckets with ufunc.reduceat)."""
    k, n = y.shape
    assert idx.dtype.kind == "i" and np.all(np.diff(idx) > 0) and (len(idx) == 0 or 0 <= idx[0] <= idx[-1] < n)
    if n <= max_points:
        np.testing.assert_array_equal(idx, np.arange(n))
        return
    assert len(idx) <= max_points + 2 and idx[0] == 0 and idx[-1] == n - 1
    size = figures.bucket_size(n, max_points, k)
    starts = np.arange(0, n, size)  # [B] consecutive buckets of `size` rows, the last one shorter
    assert len(starts) <= max(1, max_points // (2 * k))
    kept = np.zeros(n, bool)
    kept[idx] = True
    assert np.all(np.add.reduceat(kept, starts) > 0)  # every bucket is non-empty and keeps a row
    shown = np.where(kept, y, np.nan)  # [k, n] the values drawn
    for fn in (np.fmin, np.fmax):  # NaN-ignoring: a bucket's min/max (NaN only for an all-NaN bucket)
        want, got = fn.reduceat(y, starts, axis=1), fn.reduceat(shown, starts, axis=1)  # [k, B]
        np.testing.assert_array_equal(got, want)


def _check_decimation_by_loop(y: np.ndarray, idx: np.ndarray, max_points: int) -> None:
    """The same contract, spelled out bucket by bucket (small n only)."""
    n = y.shape[1]
    if n <= max_points:
        assert idx.tolist() == list(range(n))
        return
    size = figures.bucket_size(n, max_points, len(y))
    kept = set(idx.tolist())
    assert {0, n - 1} <= kept and len(kept) <= max_points + 2
    for s in range(0, n, size):
        rows = [i for i in range(s, min(s + size, n)) if i in kept]
        assert rows
        for series in y:
            vals = [v for v in series[s:s + size] if not math.isnan(v)]
            shown = [series[i] for i in rows if not math.isnan(series[i])]
            assert (min(vals), max(vals)) == (min(shown), max(shown)) if vals else not shown


def test_decimate_keeps_ends_and_every_bucket_extreme_for_every_length():
    rng = np.random.default_rng(1)
    base = _series(3001)
    ys = np.stack([base["pnl"], base["spread_z"], base["inventory"]])  # [3, N]: walk, NaN gaps, steps
    for max_points in BUDGETS:
        for n in range(0, 3001):
            for k in (1, 3):
                y = ys[:k, :n]
                _check_decimation(y, figures.decimate(y[0] if k == 1 else y, max_points), max_points)
    for n in range(0, 400):  # the plain-loop spelling agrees on small n
        for max_points, k in ((10, 1), (10, 3), (101, 2)):
            _check_decimation_by_loop(ys[:k, :n], figures.decimate(ys[:k, :n], max_points), max_points)
    for n in rng.integers(3001, 200_000, 12):
        y = np.stack([np.cumsum(rng.normal(size=n)), rng.normal(size=n)])
        for max_points in BUDGETS:
            _check_decimation(y, figures.decimate(y, max_points), max_points)


def test_decimate_keeps_spikes_and_all_nan_buckets():
    y = np.zeros(100_000)
    y[12_345] = 50.0  # a spike must survive decimation
    y[54_321] = -70.0
    y[70_000:80_000] = np.nan  # a gap: kept as a gap, never chosen over a real extreme elsewhere
    idx = figures.decimate(y, 2000)
    assert len(idx) <= 2002 and {0, 12_345, 54_321, 99_999} <= set(idx.tolist())
    assert np.isnan(y[idx]).any() and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(figures.decimate(np.arange(10.0), 2000), np.arange(10))
    # the case of issue #21: 1,001 rows, budget 1,000 (a third of the buckets used to be pure padding)
    _check_decimation(np.arange(1001.0)[None], figures.decimate(np.arange(1001.0), 1000), 1000)


def _check_history_figure(fig: dict, series: dict, n_traces: int, max_points: int) -> None:
    """Same-length x/y per history trace, time strictly increasing, ends kept, no NaN in the JSON."""
    json.dumps(fig, allow_nan=False)  # NaN must travel as None (a gap), never as invalid JSON
    n = len(series["t_ms"])
    for trace in fig["data"][:n_traces]:
        x, y = trace["x"], trace["y"]
        assert len(x) == len(y) == n if n <= max_points else len(x) == len(y) <= max_points + 2
        assert np.all(np.diff(np.asarray(x, np.float64)) > 0)
        if n:
            assert x[0] == series["t_ms"][0] and x[-1] == series["t_ms"][-1]


def test_every_figure_builder_draws_every_history_length():
    """pnl and touch (the history figures) for each n in 0..3000 at budget 200; all four validated by plotly."""
    max_points = 200
    full = _series(3001, seed=2)
    book = _book()
    validate = {0, 1, 2, 3, 199, 200, 201, 202, 203, 399, 400, 401, 1001, 2999, 3000} | set(range(0, 3001, 250))
    for n in range(0, 3001):
        s = {k: v[:n] for k, v in full.items()}
        pnl = figures.pnl_figure(s, max_points)
        touch = figures.touch_figure(s, book if n else None, max_points)
        _check_history_figure(pnl, s, len(figures.PNL_TRACES), max_points)
        _check_history_figure(touch, s, len(figures.TOUCH_TRACES), max_points)
        if n > max_points:  # the figures keep what decimate keeps, for all the series they draw
            kept = np.searchsorted(s["t_ms"], pnl["data"][0]["x"])
            _check_decimation(np.stack([s[k] for k in figures.PNL_TRACES]), kept, max_points)
            kept = np.searchsorted(s["t_ms"], touch["data"][0]["x"])
            _check_decimation(s["spread_z"][None], kept, max_points)
        if n in validate:  # the figures of the latest row (depth, risk) do not depend on n: sampled only
            last = {k: float(v[-1]) if n else float("nan") for k, v in s.items()}
            for fig in (pnl, touch, figures.depth_figure(book if n else None, last["bid_quote"], last["ask_quote"]),
                        figures.risk_figure(last["inventory"], 10.0)):
                plotly.io.from_json(json.dumps(fig))  # raises on an invalid property


def test_random_long_histories_draw_within_budget():
    rng = np.random.default_rng(3)
    for n in rng.integers(3001, 200_000, 6):
        s = _series(int(n), seed=int(n))
        for fig, traces in ((figures.pnl_figure(s), figures.PNL_TRACES), (figures.touch_figure(s, _book()), figures.TOUCH_TRACES)):
            _check_history_figure(fig, s, len(traces), figures.FULL_POINTS)
            assert len(fig["data"][0]["x"]) <= figures.FULL_POINTS + 2


def test_figures_are_valid_plotly_json():
    s = _series(300)
    for fig in (figures.pnl_figure(s), figures.touch_figure(s, _book()), figures.touch_figure(s, None),
                figures.depth_figure(_book(), 64_999.0, 65_001.0), figures.risk_figure(-4.0, 10.0),
                figures.depth_figure(None, float("nan"), float("nan"))):
        plotly.io.from_json(json.dumps(fig))  # raises on an invalid property


def test_titles_sit_above_the_legend_row_never_in_it():
    s = _series(50)
    for fig in (figures.pnl_figure(s), figures.touch_figure(s, _book()), figures.depth_figure(_book(), 1.0, 2.0),
                figures.risk_figure(1.0, 2.0)):
        lay = fig["layout"]
        assert lay["title"]["yref"] == "container" and lay["title"]["yanchor"] == "top"  # in the top margin
        assert lay["legend"]["yanchor"] == "bottom" and lay["legend"]["y"] == 1.0  # just above the plot area
        assert lay["margin"]["t"] >= 60  # room for a 13 px title row and an 11 px legend row


def test_depth_figure_is_cumulative_with_quotes_overlaid():
    fig = figures.depth_figure(_book(levels=4), 64_998.0, float("nan"))
    bids, asks = fig["data"][0], fig["data"][1]
    assert bids["y"] == [0.5, 1.0, 1.5, 2.0] and asks["y"] == [0.25, 0.5, 0.75, 1.0]
    assert bids["x"][0] == 64_999.5 and asks["x"][0] == 65_000.5
    names = [d["name"] for d in fig["data"]]
    assert "our bid" in names and "our ask" not in names  # a side not quoted is not drawn
    queued = figures.depth_figure(_book(levels=4), 64_998.0, 65_002.0, bid_queue=0.5, ask_queue=math.inf)
    assert [d["name"] for d in queued["data"]][2:] == ["our bid (0.5 ahead)", "our ask (queue unknown)"]


def test_touch_figure_shows_queue_sizes_and_imbalance_of_the_latest_book():
    book = _book(levels=7, bid_sz=0.75, ask_sz=0.25)
    book.bid_sz[1] = 2.0
    fig = figures.touch_figure(_series(10), book, levels=5)
    bids, asks = fig["data"][1], fig["data"][2]
    assert bids["x"] == ["bid 5", "bid 4", "bid 3", "bid 2", "bid 1"] and asks["x"] == ["ask 1", "ask 2", "ask 3", "ask 4", "ask 5"]
    assert bids["y"] == [0.75, 0.75, 0.75, 2.0, 0.75] and asks["y"] == [0.25] * 5  # touch in the middle
    assert bids["customdata"][-1] == 64_999.5 and asks["customdata"][0] == 65_000.5
    title = fig["layout"]["title"]["text"]
    assert "bid 0.75 / ask 0.25" in title and "imbalance +0.50" in title  # (0.75 - 0.25) / 1.0
    assert "top 5: +0.60" in title  # bids 4 * 0.75 + 2.0 = 5.0, asks 1.25: 3.75 / 6.25
    s = figures.touch_summary(book)
    assert s["bid_touch"] == 0.75 and s["imbalance_touch"] == 0.5 and math.isclose(s["imbalance_depth"], 3.75 / 6.25)


def test_touch_summary_of_a_one_sided_book_is_nan_not_an_error():
    book = _book(levels=3)
    book = BookEvent(0, False, book.bid_px, book.bid_sz, np.full(3, np.nan), np.full(3, np.nan))
    s = figures.touch_summary(book)
    assert s["bid_touch"] == 0.5 and math.isnan(s["ask_touch"]) and math.isnan(s["imbalance_touch"])
    assert s["imbalance_depth"] == 1.0  # all the resting size is on the bid
    fig = figures.touch_figure(_series(5), book)
    assert fig["data"][2]["y"] == [] and "ask –" in fig["layout"]["title"]["text"]
    assert figures.imbalance(0.0, 0.0) != figures.imbalance(0.0, 0.0)  # NaN: nothing resting on either side


def test_touch_patch_appends_spread_rows_and_replaces_the_bars():
    ops = figures.touch_patch(_series(3), _book(bid_sz=1.0, ask_sz=3.0)).to_plotly_json()["operations"]
    by_loc = {tuple(op["location"]): op for op in ops}
    assert by_loc[("data", 0, "x")]["operation"] == "Extend" and len(by_loc[("data", 0, "y")]["params"]["value"]) == 3
    assert by_loc[("data", 1, "y")]["operation"] == "Assign" and by_loc[("data", 1, "y")]["params"]["value"] == [1.0] * 5
    assert by_loc[("data", 2, "y")]["params"]["value"] == [3.0] * 5
    assert "imbalance -0.50" in by_loc[("layout", "title", "text")]["params"]["value"]


def test_risk_figure_splits_long_and_short():
    fig = figures.risk_figure(-4.0, 10.0)
    assert fig["data"][1]["x"] == [0.0, 4.0] and fig["data"][0]["x"] == [10.0, 10.0]
    assert "40%" in fig["layout"]["title"]["text"]


def test_depth_figure_names_a_pulled_side_and_a_side_at_the_limit():
    fig = figures.depth_figure(_book(), float("nan"), float("nan"), bid_state=SIDE_PULLED, ask_state=SIDE_AT_LIMIT)
    assert fig["layout"]["title"]["text"].endswith(": bid pulled, ask at inventory limit")
    assert [d["name"] for d in fig["data"]] == ["bids", "asks"]  # no quote line on either side
    quoting = figures.depth_figure(_book(), 64_998.0, 65_002.0, bid_state=SIDE_QUOTED, ask_state=SIDE_QUOTED)
    assert quoting["layout"]["title"]["text"] == "Order-book depth (cumulative) and our quotes"
    waiting = figures.depth_figure(None, float("nan"), float("nan"), bid_state=float("nan"), ask_state=float("nan"))
    assert "bid: no decision yet" in waiting["layout"]["title"]["text"]
    plotly.io.from_json(json.dumps(fig))


ATTRIBUTION = {"spread_usd": 1.25, "fees_usd": -0.5, "adverse_1s_usd": -0.4, "adverse_10s_usd": -0.75,
               "carry_usd": 0.1, "pnl_usd": 1.1, "markouts_open_10s": 3.0}


def test_attribution_figure_shows_each_parts_contribution_and_their_sum():
    fig = figures.attribution_figure(ATTRIBUTION)
    bars = fig["data"][0]
    assert bars["y"] == ["spread captured", "fees / rebates", "adverse selection 10 s", "inventory carry", "PnL"]
    assert bars["x"] == [1.25, 0.5, -0.75, 0.1, 1.1]  # a rebate (fees paid < 0) adds to the PnL
    assert sum(bars["x"][:-1]) == pytest.approx(bars["x"][-1])
    assert bars["text"][1] == "+0.50" and bars["marker"]["color"][2] == "#d64545"  # a loss is red
    title = fig["layout"]["title"]["text"]
    assert "adverse selection 1 s: -0.40" in title and "3 fills' 10 s markouts open" in title
    assert "open" not in figures.attribution_figure({**ATTRIBUTION, "markouts_open_10s": 0.0})["layout"]["title"]["text"]
    assert figures.attribution_figure({})["data"][0]["x"] == [0.0] * 5  # before the first row
    plotly.io.from_json(json.dumps(fig))
