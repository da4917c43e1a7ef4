"""Pure figure builders: engine state (NumPy arrays) -> plotly figure dicts. No Dash, no globals.

Plain dicts, not ``plotly.graph_objects``: building validated objects costs milliseconds per figure,
and a refresh must stay well under 50 ms with an hour of history.
"""

from __future__ import annotations

import math

import numpy as np
from dash import Patch

from mmjax.live.state import SIDE_QUOTED, side_text

# Traces of the history figures, in order; appends extend exactly these (they come first in `data`).
PNL_TRACES = ("pnl", "drawdown", "inventory")
TOUCH_TRACES = ("spread_z",)
FULL_POINTS = 1500  # points per trace on a full redraw (min/max decimated; JSON encoding dominates)
QUEUE_LEVELS = 5  # book levels per side in the queue panel (level 1 = the touch)

_COLORS = {"bid": "#1f9d55", "ask": "#d64545", "pnl": "#2b6cb0", "dd": "rgba(214,69,69,0.35)",
           "inv": "#805ad5", "z": "#dd6b20", "quote": "#111111"}
# Title in the top 30 px of the figure, legend in the row below it (above the plot area), so the two never meet.
_MARGIN = {"l": 55, "r": 55, "t": 64, "b": 35}
_LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "font": {"size": 11}}


def _layout(title: str, uirevision: str, legend: bool, **extra) -> dict:
    """Layout shared by every panel: title top-left in the margin, optional legend under it."""
    return {"title": {"text": title, "font": {"size": 13}, "x": 0.01, "xanchor": "left", "xref": "container",
                      "y": 0.98, "yanchor": "top", "yref": "container"},
            "margin": _MARGIN, "showlegend": legend, "legend": _LEGEND, "uirevision": uirevision, **extra}


def bucket_size(n: int, max_points: int, n_series: int = 1) -> int:
    """Rows per decimation bucket for ``n`` rows; buckets are consecutive, only the last may be shorter."""
    buckets = max(1, max_points // (2 * n_series))  # each bucket gives each series' min and max
    return max(1, math.ceil(n / buckets))


def decimate(y: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted indices into ``y`` [n] or [k, n] keeping the first and last rows and, per series, each bucket's
    min and max (spikes survive, in every series drawn).

    At most ``max_points`` + 2 indices (buckets of `bucket_size`). NaN rows are never chosen as an extreme
    unless a whole bucket is NaN; then its first row is kept, so a gap stays a gap.
    """
    y = np.asarray(y, np.float64)
    y = y[None] if y.ndim == 1 else y  # [k, n]
    k, n = y.shape
    if n <= max_points:
        return np.arange(n)
    size = bucket_size(n, max_points, k)
    n_buckets = math.ceil(n / size)  # every bucket holds >= 1 real row: the padding is < size
    nan = np.isnan(y)
    # +-inf in the padding and at NaN rows: neither can win a min/max against a real value
    lo_vals = np.full((k, n_buckets * size), np.inf)
    hi_vals = np.full((k, n_buckets * size), -np.inf)
    lo_vals[:, :n], hi_vals[:, :n] = y, y
    if nan.any():
        lo_vals[:, :n][nan], hi_vals[:, :n][nan] = np.inf, -np.inf
    lo_vals, hi_vals = lo_vals.reshape(k, n_buckets, size), hi_vals.reshape(k, n_buckets, size)
    base = np.arange(n_buckets) * size  # [B] first row of each bucket
    # argmin/argmax return the first of equal values, and padding only ties real rows that precede it
    lo = base + np.argmin(lo_vals, axis=2)  # [k, B]
    hi = base + np.argmax(hi_vals, axis=2)
    return np.unique(np.concatenate([lo.ravel(), hi.ravel(), [0, n - 1]]))


def _list(a: np.ndarray) -> list:
    """Floats for JSON with NaN -> None (plotly draws a gap)."""
    a = np.asarray(a, np.float64)
    out = a.tolist()
    if np.isnan(a).any():
        out = [None if v != v else v for v in out]
    return out


def _waiting(layout: dict) -> dict:
    return {"data": [], "layout": {**layout, "annotations": [
        {"text": "waiting for the first book row", "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]}}


def depth_title(bid_state: float = SIDE_QUOTED, ask_state: float = SIDE_QUOTED) -> str:
    """The depth panel's title, naming each side without a quote line and why (pulled, at the limit)."""
    absent = [side_text(side, st) for side, st in (("bid", bid_state), ("ask", ask_state)) if st != SIDE_QUOTED]
    return "Order-book depth (cumulative) and our quotes" + (": " + ", ".join(absent) if absent else "")


def queue_text(ahead: float | None) -> str:
    """" (0.42 ahead)" for a resting order's queue, " (queue unknown)" beyond the stored depth, "" for none."""
    if ahead is None or math.isnan(ahead):
        return ""
    return " (queue unknown)" if math.isinf(ahead) else f" ({ahead:.4g} ahead)"


def depth_figure(book, bid_quote: float, ask_quote: float, levels: int | None = None,
                 bid_state: float = SIDE_QUOTED, ask_state: float = SIDE_QUOTED,
                 bid_queue: float | None = None, ask_queue: float | None = None) -> dict:
    """Cumulative bid/ask size ladder (step lines) with our bid/ask quotes as vertical lines.

    A side without a quote has no line; the title says why (``*_state``: `mmjax.live.state.SIDE_*`).
    ``*_queue``: the fill model's size ahead of our resting order (NaN/None: none, inf: unknown), named
    on the quote's line.
    """
    layout = _layout(depth_title(bid_state, ask_state), "depth", True,
                     xaxis={"title": {"text": "price"}, "automargin": True},
                     yaxis={"title": {"text": "cumulative size"}, "automargin": True})
    if book is None:
        return _waiting(layout)
    data = []
    ymax = 0.0
    for side, px, sz in (("bid", book.bid_px, book.bid_sz), ("ask", book.ask_px, book.ask_sz)):
        px = np.asarray(px, np.float64)[:levels]
        sz = np.asarray(sz, np.float64)[:levels]
        keep = ~np.isnan(px)
        cum = np.cumsum(sz[keep])  # [L'] size available at this price or better
        ymax = max(ymax, float(cum[-1]) if len(cum) else 0.0)
        data.append({"type": "scatter", "mode": "lines", "name": f"{side}s", "x": _list(px[keep]), "y": _list(cum),
                     "line": {"shape": "hv" if side == "ask" else "vh", "color": _COLORS[side]},
                     "fill": "tozeroy"})
    for name, q, ahead in (("our bid", bid_quote, bid_queue), ("our ask", ask_quote, ask_queue)):
        if q is not None and math.isfinite(q):
            data.append({"type": "scatter", "mode": "lines", "name": name + queue_text(ahead), "x": [q, q],
                         "y": [0.0, ymax or 1.0],
                         "line": {"dash": "dash", "width": 2,
                                  "color": _COLORS["bid" if name == "our bid" else "ask"]}})
    return {"data": data, "layout": layout}


def pnl_figure(series: dict[str, np.ndarray], max_points: int = FULL_POINTS) -> dict:
    """PnL (left axis) with drawdown filled below zero, inventory (right axis); min/max decimated on all three."""
    idx = decimate(np.stack([series[k] for k in PNL_TRACES]), max_points)
    x = _list(series["t_ms"][idx])
    data = [
        {"type": "scattergl", "mode": "lines", "name": "PnL", "x": x, "y": _list(series["pnl"][idx]),
         "line": {"color": _COLORS["pnl"]}},
        {"type": "scattergl", "mode": "lines", "name": "drawdown", "x": list(x), "y": _list(series["drawdown"][idx]),
         "fill": "tozeroy", "fillcolor": _COLORS["dd"], "line": {"width": 0.5, "color": _COLORS["ask"]}},
        {"type": "scattergl", "mode": "lines", "name": "inventory", "x": list(x), "y": _list(series["inventory"][idx]),
         "yaxis": "y2", "line": {"color": _COLORS["inv"], "shape": "hv"}},
    ]
    layout = _layout("PnL (marked to mid) and inventory", "pnl", True, xaxis={"type": "date", "automargin": True},
                     yaxis={"title": {"text": "PnL / drawdown"}, "automargin": True},
                     yaxis2={"title": {"text": "inventory"}, "overlaying": "y", "side": "right", "showgrid": False,
                             "automargin": True, "tickformat": ".3~g", "tickmode": "auto",
                             "zerolinecolor": "rgba(128,90,213,0.35)"})
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------------------------
# QUEUES AT THE TOUCH: per-level sizes of the latest book, imbalance, and the spread z-score strip


def _levels(px, sz, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``levels`` non-empty levels of one side: (prices [k], sizes [k])."""
    px = np.asarray(px, np.float64)
    sz = np.asarray(sz, np.float64)
    keep = ~np.isnan(px) & ~np.isnan(sz)
    return px[keep][:levels], sz[keep][:levels]


def imbalance(bid_sz: float, ask_sz: float) -> float:
    """(bid - ask) / (bid + ask) in [-1, 1]: > 0 when buyers queue more (NaN when both are empty)."""
    total = bid_sz + ask_sz
    return (bid_sz - ask_sz) / total if total > 0 else float("nan")  # NaN > 0 is False: NaN in, NaN out


def touch_summary(book, levels: int = QUEUE_LEVELS) -> dict[str, float]:
    """Touch queue sizes, touch imbalance and top-``levels`` imbalance of one book row (NaN when a side is empty)."""
    _, b = _levels(book.bid_px, book.bid_sz, levels)
    _, a = _levels(book.ask_px, book.ask_sz, levels)
    b1 = float(b[0]) if len(b) else float("nan")
    a1 = float(a[0]) if len(a) else float("nan")
    return {"bid_touch": b1, "ask_touch": a1, "imbalance_touch": imbalance(b1, a1),
            "imbalance_depth": imbalance(float(b.sum()), float(a.sum()))}


def _num(v: float, fmt: str = "+.2f") -> str:
    """A number for a title, "–" when undefined (an empty side)."""
    return format(v, fmt) if math.isfinite(v) else "–"


def _touch_title(book, levels: int) -> str:
    if book is None:
        return "Queues at the touch: waiting for the first book row"
    s = touch_summary(book, levels)
    return (f"Queues at the touch: bid {_num(s['bid_touch'], '.4g')} / ask {_num(s['ask_touch'], '.4g')}, "
            f"imbalance {_num(s['imbalance_touch'])} (top {levels}: {_num(s['imbalance_depth'])})")


def _queue_bars(book, levels: int) -> list[dict]:
    """Bid and ask bars [levels] each, touch in the middle: x = "bid k" ... "bid 1", "ask 1" ... "ask k"."""
    empty: list[float] = []
    sides = ((("bid", book.bid_px, book.bid_sz), ("ask", book.ask_px, book.ask_sz)) if book is not None
             else (("bid", empty, empty), ("ask", empty, empty)))
    bars = []
    for side, px, sz in sides:
        p, s = _levels(px, sz, levels)
        names = [f"{side} {k + 1}" for k in range(len(s))]
        if side == "bid":  # deepest bid on the left, so both touches meet in the middle
            names, p, s = names[::-1], p[::-1], s[::-1]
        bars.append({"type": "bar", "name": f"{side} queue", "x": names, "y": _list(s), "customdata": _list(p),
                     "hovertemplate": "%{x}: %{y:.4g} at %{customdata}<extra></extra>",
                     "marker": {"color": _COLORS[side]}, "xaxis": "x2", "yaxis": "y2"})
    return bars


def touch_figure(series: dict[str, np.ndarray], book, max_points: int = FULL_POINTS, levels: int = QUEUE_LEVELS) -> dict:
    """Queue size per level at the latest book (bars, top) and the market spread z-score history (strip, bottom).

    On a market whose spread is one tick nearly always the z-score is flat; the queues and the imbalance
    are what a maker watches there: how much size stands ahead at the touch, and which side is heavier.
    """
    idx = decimate(series["spread_z"], max_points)
    data = [{"type": "scattergl", "mode": "lines", "name": "spread z", "x": _list(series["t_ms"][idx]),
             "y": _list(series["spread_z"][idx]), "line": {"color": _COLORS["z"]}, "xaxis": "x", "yaxis": "y"},
            *_queue_bars(book, levels)]
    order = [f"bid {k}" for k in range(levels, 0, -1)] + [f"ask {k}" for k in range(1, levels + 1)]
    shapes = [{"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": v, "y1": v,
               "line": {"dash": "dot", "color": "#999", "width": 1}} for v in (-2.0, 2.0)]
    layout = _layout(_touch_title(book, levels), "touch", False, shapes=shapes, bargap=0.15,
                     xaxis={"type": "date", "domain": [0, 1], "anchor": "y", "automargin": True},
                     yaxis={"title": {"text": "spread z"}, "domain": [0, 0.24], "automargin": True,
                            "nticks": 4},
                     xaxis2={"type": "category", "categoryorder": "array", "categoryarray": order, "anchor": "y2"},
                     yaxis2={"title": {"text": "queue size"}, "domain": [0.4, 1], "automargin": True,
                             "rangemode": "tozero"})
    return {"data": data, "layout": layout}


def risk_figure(inventory: float, limit: float) -> dict:
    """Inventory-risk bars: long and short exposure against the position limit."""
    inv = 0.0 if inventory is None or not math.isfinite(inventory) else float(inventory)
    lim = float(limit) if limit is not None and math.isfinite(limit) and limit > 0 else max(abs(inv), 1.0)
    long_, short = max(inv, 0.0), max(-inv, 0.0)
    use = abs(inv) / lim
    color = "#1f9d55" if use < 0.5 else ("#dd6b20" if use < 0.9 else "#d64545")
    data = [
        {"type": "bar", "orientation": "h", "name": "limit", "y": ["long", "short"], "x": [lim, lim],
         "marker": {"color": "rgba(0,0,0,0.08)"}, "hoverinfo": "x+name"},
        {"type": "bar", "orientation": "h", "name": "position", "y": ["long", "short"], "x": [long_, short],
         "marker": {"color": color}, "text": [f"{long_:.4g}", f"{short:.4g}"], "textposition": "auto"},
    ]
    layout = _layout(f"Inventory risk: {use:.0%} of limit {lim:.4g}", "risk", False, barmode="overlay",
                     xaxis={"range": [0, lim * 1.05], "automargin": True}, yaxis={"automargin": True})
    return {"data": data, "layout": layout}


# (label, key in the KPIs, sign): the bars of the attribution panel, which add up to the PnL
ATTRIBUTION_BARS = (("spread captured", "spread_usd", 1.0), ("fees / rebates", "fees_usd", -1.0),
                    ("adverse selection 10 s", "adverse_10s_usd", 1.0), ("inventory carry", "carry_usd", 1.0),
                    ("PnL", "pnl_usd", 1.0))


def _attribution_title(kpis: dict[str, float]) -> str:
    adv1, n_open = kpis.get("adverse_1s_usd", math.nan), kpis.get("markouts_open_10s", 0.0)
    open_ = f"; {n_open:.0f} fills' 10 s markouts open, marked at the latest mid" if n_open else ""
    return f"PnL attribution, $ (adverse selection 1 s: {_num(adv1, '+,.2f')}{open_})"


def attribution_figure(kpis: dict[str, float]) -> dict:
    """The session's PnL split into spread captured, fees or rebates, adverse selection (10 s) and carry.

    Horizontal bars of each part's contribution to the PnL (fees paid count negative, rebates
    positive); the last bar is the PnL they add up to. ``kpis`` holds the trader's attribution keys
    (`mmjax.live.attribution.LiveAttribution.totals`); missing ones draw as 0.
    """
    labels = [label for label, _, _ in ATTRIBUTION_BARS]
    vals = [sign * kpis.get(key, 0.0) for _, key, sign in ATTRIBUTION_BARS]
    vals = [v if math.isfinite(v) else 0.0 for v in vals]
    colors = [_COLORS["quote"] if label == "PnL" else (_COLORS["bid"] if v >= 0 else _COLORS["ask"])
              for label, v in zip(labels, vals, strict=True)]
    data = [{"type": "bar", "orientation": "h", "y": labels, "x": vals, "marker": {"color": colors},
             "text": [f"{v:+,.2f}" for v in vals], "textposition": "auto", "hoverinfo": "y+x"}]
    layout = _layout(_attribution_title(kpis), "attribution", False,
                     xaxis={"title": {"text": "$"}, "automargin": True, "zeroline": True},
                     yaxis={"automargin": True, "autorange": "reversed"})
    return {"data": data, "layout": layout}


def history_patch(series: dict[str, np.ndarray], traces: tuple[str, ...], patch: Patch | None = None) -> Patch:
    """Append new rows to a history figure's first ``len(traces)`` traces (no full redraw)."""
    patch = Patch() if patch is None else patch
    x = _list(series["t_ms"])
    for i, name in enumerate(traces):
        patch["data"][i]["x"].extend(x)
        patch["data"][i]["y"].extend(_list(series[name]))
    return patch


def touch_patch(series: dict[str, np.ndarray], book, levels: int = QUEUE_LEVELS) -> Patch:
    """Append new spread z rows and replace the queue bars and title with the latest book's."""
    patch = history_patch(series, TOUCH_TRACES)
    for i, bars in enumerate(_queue_bars(book, levels), start=len(TOUCH_TRACES)):
        patch["data"][i]["x"] = bars["x"]
        patch["data"][i]["y"] = bars["y"]
        patch["data"][i]["customdata"] = bars["customdata"]
    patch["layout"]["title"]["text"] = _touch_title(book, levels)
    return patch
