"""Pure figure builders: engine state (NumPy arrays) -> plotly figure dicts. No Dash, no globals.

Plain dicts, not ``plotly.graph_objects``: building validated objects costs milliseconds per figure,
and a refresh must stay well under 50 ms with an hour of history.
"""

from __future__ import annotations

import math

import numpy as np
from dash import Patch

# Traces of the history figures, in order; appends extend exactly these.
PNL_TRACES = ("pnl", "drawdown", "inventory")
SPREAD_TRACES = ("spread_z",)
FULL_POINTS = 1500  # points per trace on a full redraw (min/max decimated; JSON encoding dominates)

_COLORS = {"bid": "#1f9d55", "ask": "#d64545", "pnl": "#2b6cb0", "dd": "rgba(214,69,69,0.35)",
           "inv": "#805ad5", "z": "#dd6b20", "quote": "#111111"}
_MARGIN = {"l": 55, "r": 55, "t": 30, "b": 35}


def decimate(y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices into ``y`` [n] keeping each bucket's min and max (spikes survive), sorted, last kept."""
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    size = math.ceil(n / buckets)
    pad = size * buckets - n
    yy = np.concatenate([np.where(np.isnan(y), 0.0, y), np.full(pad, np.nan)]).reshape(buckets, size)
    base = np.arange(buckets) * size
    lo = base + np.nanargmin(yy, axis=1)
    hi = base + np.nanargmax(yy, axis=1)
    idx = np.unique(np.concatenate([lo, hi, [0, n - 1]]))
    return idx[idx < n]


def _list(a: np.ndarray) -> list:
    """Floats for JSON with NaN -> None (plotly draws a gap)."""
    a = np.asarray(a, np.float64)
    out = a.tolist()
    if np.isnan(a).any():
        out = [None if v != v else v for v in out]
    return out


def depth_figure(book, bid_quote: float, ask_quote: float, levels: int | None = None) -> dict:
    """Cumulative bid/ask size ladder (step lines) with our bid/ask quotes as vertical lines."""
    layout = {"title": {"text": "Order-book depth (cumulative) and our quotes", "font": {"size": 13}},
              "margin": _MARGIN, "xaxis": {"title": {"text": "price"}},
              "yaxis": {"title": {"text": "cumulative size"}}, "showlegend": True,
              "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
              "uirevision": "depth"}
    if book is None:
        return {"data": [], "layout": {**layout, "annotations": [
            {"text": "waiting for the first book row", "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]}}
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
    for name, q in (("our bid", bid_quote), ("our ask", ask_quote)):
        if q is not None and math.isfinite(q):
            data.append({"type": "scatter", "mode": "lines", "name": name, "x": [q, q], "y": [0.0, ymax or 1.0],
                         "line": {"dash": "dash", "width": 2,
                                  "color": _COLORS["bid" if name == "our bid" else "ask"]}})
    return {"data": data, "layout": layout}


def pnl_figure(series: dict[str, np.ndarray], max_points: int = FULL_POINTS) -> dict:
    """PnL (left axis) with drawdown filled below zero, inventory (right axis); min/max decimated."""
    idx = decimate(series["pnl"], max_points)
    x = _list(series["t_ms"][idx])
    data = [
        {"type": "scattergl", "mode": "lines", "name": "PnL", "x": x, "y": _list(series["pnl"][idx]),
         "line": {"color": _COLORS["pnl"]}},
        {"type": "scattergl", "mode": "lines", "name": "drawdown", "x": list(x), "y": _list(series["drawdown"][idx]),
         "fill": "tozeroy", "fillcolor": _COLORS["dd"], "line": {"width": 0.5, "color": _COLORS["ask"]}},
        {"type": "scattergl", "mode": "lines", "name": "inventory", "x": list(x), "y": _list(series["inventory"][idx]),
         "yaxis": "y2", "line": {"color": _COLORS["inv"], "shape": "hv"}},
    ]
    layout = {"title": {"text": "PnL (marked to mid) and inventory", "font": {"size": 13}}, "margin": _MARGIN,
              "xaxis": {"type": "date"}, "yaxis": {"title": {"text": "PnL / drawdown"}},
              "yaxis2": {"title": {"text": "inventory"}, "overlaying": "y", "side": "right", "showgrid": False},
              "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
              "uirevision": "pnl"}
    return {"data": data, "layout": layout}


def spread_figure(series: dict[str, np.ndarray], max_points: int = FULL_POINTS) -> dict:
    """Market spread z-score history with +-2 reference lines."""
    idx = decimate(series["spread_z"], max_points)
    data = [{"type": "scattergl", "mode": "lines", "name": "spread z", "x": _list(series["t_ms"][idx]),
             "y": _list(series["spread_z"][idx]), "line": {"color": _COLORS["z"]}}]
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": v, "y1": v,
               "line": {"dash": "dot", "color": "#999", "width": 1}} for v in (-2.0, 2.0)]
    layout = {"title": {"text": "Spread z-score", "font": {"size": 13}}, "margin": _MARGIN, "xaxis": {"type": "date"},
              "yaxis": {"title": {"text": "z"}}, "shapes": shapes, "showlegend": False, "uirevision": "spread"}
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
    layout = {"title": {"text": f"Inventory risk: {use:.0%} of limit {lim:.4g}", "font": {"size": 13}},
              "margin": _MARGIN, "barmode": "overlay", "xaxis": {"range": [0, lim * 1.05]}, "showlegend": False,
              "uirevision": "risk"}
    return {"data": data, "layout": layout}


def history_patch(series: dict[str, np.ndarray], traces: tuple[str, ...]) -> Patch:
    """Append new rows to a history figure's traces (no full redraw)."""
    patch = Patch()
    x = _list(series["t_ms"])
    for i, name in enumerate(traces):
        patch["data"][i]["x"].extend(x)
        patch["data"][i]["y"].extend(_list(series[name]))
    return patch
