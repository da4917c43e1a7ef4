"""Dashboard callbacks as pure functions of (engine state, client state) -> outputs; `register` wires them.

The client keeps ``{"epoch", "version", "points"}`` in a dcc.Store: which rows its history figures
already hold. A refresh then either appends the new rows (a `Patch`), or redraws from the whole
ring buffer (first load, a history reset, or too many points on the client), or sends nothing.

A refresh that raises shows its message in a red banner (`safe_refresh`); one that never comes back
(server gone, a response that cannot be encoded) is caught in the browser by a watchdog
(`WATCHDOG_JS`) that sees the store's ``tick`` stop changing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from dash import Input, Output, State, ctx, html, no_update

from mmjax.dashboard import figures
from mmjax.live.state import SIDE_AT_LIMIT, SIDE_PULLED, SIDE_QUOTED, side_text

MAX_CLIENT_POINTS = 6000  # per trace; beyond this the client gets a fresh decimated redraw
STALE_AFTER_S = 3.0  # no feed event for this long while running -> "feed stale" banner
MAX_ERROR_CHARS = 400  # an error banner shows at most this much of the exception's message
N_OUTPUTS = 8  # kpis, banners, depth, pnl, touch, risk, attribution, client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshParams:
    """How a refresh draws: each field's default is the module constant that documents it."""

    full_points: int = figures.FULL_POINTS  # points per trace of a full (decimated) redraw
    max_client_points: int = MAX_CLIENT_POINTS  # points per trace the client may hold before a full redraw
    stale_after_s: float = STALE_AFTER_S  # seconds without a feed event before the "feed stale" banner


DEFAULT_REFRESH = RefreshParams()

# Browser side: no successful refresh (the store's "tick" unchanged) for max(3 s, 6 intervals) -> red banner.
WATCHDOG_JS = """
function(n, client, interval_ms) {
    const now = Date.now();
    const w = window.mmjaxWatchdog = window.mmjaxWatchdog || {tick: null, at: now};
    const tick = client ? client.tick : null;
    if (tick !== w.tick) { w.tick = tick; w.at = now; }
    const age_s = (now - w.at) / 1000;
    if (age_s < Math.max(3, 6 * interval_ms / 1000)) { return ["", {"display": "none"}]; }
    return ["REFRESH FAILED: no answer from the dashboard server for " + age_s.toFixed(0) +
            " s (stopped, unreachable, or failing: see its log); the panels below are stale.", {"display": "block"}];
}
"""

# (label, KPI key, format) of the tiles, left to right
KPI_TILES = (
    ("PnL", "pnl", "{:+,.2f}"),
    ("Inventory", "inventory", "{:+.4g}"),
    ("Fill rate", "fill_rate", "{:.1%}"),
    ("Spread captured", "spread_captured_bps", "{:.2f} bps"),
    ("Max drawdown", "max_drawdown", "{:,.2f}"),
    ("Fills", "n_fills", "{:,.0f}"),
)


def _fmt(fmt: str, v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


_BADGE_CLASS = {SIDE_QUOTED: "badge badge-quoted", SIDE_PULLED: "badge badge-pulled",
                SIDE_AT_LIMIT: "badge badge-limit"}


def side_badges(series: dict) -> list:
    """One badge per side from the latest row: "bid quoting", "ask pulled", "bid at inventory limit"."""
    out = []
    for side in ("bid", "ask"):
        v = series.get(f"{side}_state")
        state = float(v[-1]) if v is not None and len(v) else math.nan
        out.append(html.Span(side_text(side, state), id=f"badge-{side}",
                             className=_BADGE_CLASS.get(state, "badge badge-none")))
    return out


def kpi_children(snap) -> list:
    """KPI tiles (html.Div each) from a snapshot, then the quotes' side badges, the maker fee and the mode."""
    tiles = [html.Div([html.Div(label, className="kpi-label"), html.Div(_fmt(fmt, snap.kpis.get(key)), className="kpi-value", id=f"kpi-{key}")],
                      className="kpi") for label, key, fmt in KPI_TILES]
    tiles.append(html.Div([html.Div("Quotes", className="kpi-label"), html.Div(side_badges(snap.series), className="kpi-value")],
                          className="kpi kpi-sides"))
    tiles.append(html.Div([html.Div("Maker fee", className="kpi-label"),
                           html.Div(snap.fee_regime.removeprefix("maker fee: "), className="kpi-value", id="kpi-fee")],
                          className="kpi kpi-fee"))
    tiles.append(html.Div([html.Div("Mode", className="kpi-label"), html.Div(snap.quoter or snap.mode, className="kpi-value", id="kpi-mode")],
                          className="kpi kpi-mode-" + snap.mode))
    return tiles


def banner_messages(snap, stale_after_s: float = STALE_AFTER_S) -> list[tuple[str, str]]:
    """(severity, text) banners: baseline fallback, stale/disconnected feed, paused, replay finished."""
    out = []
    if snap.mode == "baseline":
        out.append(("warn", f"BASELINE FALLBACK: no model is quoting; using {snap.quoter or 'a baseline'}."))
    status = snap.feed_status
    if status in ("disconnected", "error"):
        out.append(("error", f"FEED {status.upper()}: no market data; quotes are frozen."))
    elif status == "running" and snap.event_age_s > stale_after_s:
        age = "never" if not math.isfinite(snap.event_age_s) else f"{snap.event_age_s:.1f} s ago"
        out.append(("error", f"FEED STALE: last event {age}."))
    elif status == "connecting":
        out.append(("info", "Connecting to the feed…"))
    elif status == "paused":
        out.append(("info", "Paused."))
    elif status == "finished":
        out.append(("info", "Replay finished."))
    out.extend(("info", n) for n in snap.notes)
    return out


def banner_children(messages: list[tuple[str, str]]) -> list:
    return [html.Div(text, className=f"banner banner-{sev}") for sev, text in messages]


def refresh(state, client: dict | None, params: RefreshParams = DEFAULT_REFRESH):
    """One refresh tick: (kpis, banners, depth, pnl, touch, risk, attribution, new client) for the Dash outputs.

    ``state`` is a `mmjax.live.LiveState`; unchanged figures are `no_update`, growing histories a `Patch`.
    """
    client = client or {}
    epoch, version = state.version
    same_epoch = client.get("epoch") == epoch
    seen = int(client.get("version", -1)) if same_epoch else -1
    points = int(client.get("points", 0)) if same_epoch else 0
    full = seen < 0 or seen > version or points + (version - seen) > params.max_client_points
    snap = state.snapshot(since=0 if full else seen, epoch=epoch)
    full = full or not snap.complete or snap.epoch != epoch
    banners = banner_children(banner_messages(snap, params.stale_after_s))
    n_new = len(snap.series["t_ms"])
    if full:
        pnl_out = figures.pnl_figure(snap.series, params.full_points)
        touch_out = figures.touch_figure(snap.series, snap.book, params.full_points)
        points = len(pnl_out["data"][0]["x"])
    elif n_new:
        pnl_out = figures.history_patch(snap.series, figures.PNL_TRACES)
        touch_out = figures.touch_patch(snap.series, snap.book)
        points += n_new
    else:
        pnl_out = touch_out = no_update
    if full or n_new:
        last = {k: float(v[-1]) if len(v) else float("nan") for k, v in snap.series.items()}
        depth = figures.depth_figure(snap.book, last.get("bid_quote"), last.get("ask_quote"),
                                     bid_state=last.get("bid_state"), ask_state=last.get("ask_state"),
                                     bid_queue=last.get("bid_queue_ahead"), ask_queue=last.get("ask_queue_ahead"))
        risk = figures.risk_figure(snap.kpis.get("inventory", 0.0), snap.inventory_limit)
        attribution = figures.attribution_figure(snap.kpis)
        kpis = kpi_children(snap)
    else:
        depth = risk = attribution = kpis = no_update
    new_client = {"epoch": snap.epoch, "version": snap.version, "points": points}
    return kpis, banners, depth, pnl_out, touch_out, risk, attribution, new_client


def safe_refresh(state, client: dict | None, tick: int | None = None, params: RefreshParams = DEFAULT_REFRESH):
    """`refresh`, stamping the new client store with ``tick``; if it raises, only a red banner with the message.

    The figures then stay as they were (stale, and the banner says so); the client store keeps what it
    held, with the new tick (the server did answer, so the browser's watchdog stays quiet), and the next
    tick tries again.
    """
    try:
        *out, new_client = refresh(state, client, params)
    except Exception as exc:  # any failure must reach the page, not only the server log
        log.exception("dashboard refresh failed")
        text = f"REFRESH FAILED: {type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        banners = banner_children([("error", f"{text} (the panels below are stale; see the server log)")])
        return (no_update, banners) + (no_update,) * (N_OUTPUTS - 3) + ({**(client or {}), "tick": tick},)
    return (*out, {**new_client, "tick": tick})


def on_pause(n_clicks: int | None, controls) -> str:
    """Toggle pause on each click; returns the button label."""
    if n_clicks:
        (controls.resume if controls.paused else controls.pause)()
    return "Resume" if controls.paused else "Pause"


def on_speed(speed, controls):
    """Apply a replay speed from the control (0 = as fast as possible); returns the status text."""
    if speed is None or not controls.can_set_speed:
        return no_update
    controls.set_speed(float(speed))
    return f"speed {'max' if float(speed) == 0 else f'{float(speed):g}x'}"


def on_quoter(name: str | None, controls):
    """Switch between the model and the baselines; returns the status text."""
    if not name:
        return no_update
    controls.set_quoter(name)
    return f"quoter: {name}"


def register(app, runtime, params: RefreshParams = DEFAULT_REFRESH) -> None:
    """Wire the pure callbacks above to the layout's component ids."""

    @app.callback(
        Output("kpis", "children"), Output("banners", "children"), Output("depth", "figure"),
        Output("pnl", "figure"), Output("touch", "figure"), Output("risk", "figure"), Output("attribution", "figure"),
        Output("client", "data"),
        Input("tick", "n_intervals"), State("client", "data"),
    )
    def _refresh(n, client):
        return safe_refresh(runtime.state, client, tick=n, params=params)

    app.clientside_callback(WATCHDOG_JS, Output("watchdog", "children"), Output("watchdog", "style"),
                            Input("tick", "n_intervals"), State("client", "data"), State("tick", "interval"))

    @app.callback(Output("pause", "children"), Input("pause", "n_clicks"))
    def _pause(n_clicks):
        return on_pause(n_clicks if ctx.triggered_id == "pause" else None, runtime)

    @app.callback(Output("speed-status", "children"), Input("speed", "value"), prevent_initial_call=True)
    def _speed(value):
        return on_speed(value, runtime)

    @app.callback(Output("quoter-status", "children"), Input("quoter", "value"), prevent_initial_call=True)
    def _quoter(value):
        return on_quoter(value, runtime)

