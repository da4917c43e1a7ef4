"""Page layout: header, banners, controls, KPI tiles and five panels; refreshed by one dcc.Interval."""

from __future__ import annotations

from dash import dcc, html

SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 0.0)  # replay multipliers; 0 = as fast as possible

CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #1a202c; }
.header { display: flex; align-items: baseline; gap: 16px; padding: 10px 18px; background: #1a202c; color: #fff; }
.header h1 { font-size: 18px; margin: 0; }
.paper { background: #d64545; color: #fff; padding: 2px 8px; border-radius: 4px; font-weight: 700; font-size: 12px; }
.sub { font-size: 12px; opacity: 0.8; }
.banner { padding: 6px 18px; font-weight: 600; font-size: 14px; }
.banner-warn { background: #fefcbf; color: #744210; border-bottom: 1px solid #ecc94b; }
.banner-error { background: #fed7d7; color: #822727; border-bottom: 1px solid #e53e3e; }
.banner-info { background: #e2e8f0; color: #2d3748; }
.controls { display: flex; align-items: center; gap: 14px; padding: 8px 18px; font-size: 13px; }
.controls .ctl { width: 190px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; padding: 4px 18px; }
.kpi { background: #fff; border-radius: 6px; padding: 8px 12px; min-width: 96px; flex: 1 1 auto; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.kpi-label { font-size: 11px; text-transform: uppercase; color: #718096; }
.kpi-value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.kpi-mode-baseline .kpi-value { color: #b7791f; font-size: 14px; }
.kpi-mode-model .kpi-value { color: #2b6cb0; font-size: 14px; }
.kpi-sides .kpi-value, .kpi-fee .kpi-value { font-size: 14px; }
.badge { display: block; padding: 0 6px; margin: 1px 0; border-radius: 4px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge-quoted { background: #c6f6d5; color: #22543d; }
.badge-pulled { background: #e2e8f0; color: #2d3748; }
.badge-limit { background: #fed7d7; color: #822727; }
.badge-none { background: #edf2f7; color: #718096; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; padding: 8px 18px 18px; }
.panel { background: #fff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.panel-wide { grid-column: 1 / span 2; }
"""

# a short mode bar (zoom, pan, reset, image) so it fits beside a panel's title
GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["zoomIn2d", "zoomOut2d", "autoScale2d", "lasso2d",
                                                                  "select2d", "toggleSpikelines", "hoverClosestCartesian",
                                                                  "hoverCompareCartesian"]}

INDEX = """<!DOCTYPE html>
<html>
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}<style>""" + CSS + """</style></head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body>
</html>"""


def build_layout(product: str, source: str, quoter_options: list[dict], quoter: str,
                 speed: float | None, interval_ms: int) -> html.Div:
    """The whole page. ``speed`` None hides the speed control (live feed)."""
    speeds = sorted(set(SPEEDS) | ({float(speed)} if speed is not None else set()), key=lambda s: (s == 0, s))
    speed_ctl = dcc.Dropdown(id="speed", options=[{"label": "max" if s == 0 else f"{s:g}x", "value": s} for s in speeds],
                             value=speed, clearable=False, className="ctl", disabled=speed is None)
    graph = {"config": GRAPH_CONFIG, "style": {"height": "330px"}}
    return html.Div([
        html.Div([html.H1(f"mmjax · {product}"), html.Span("PAPER TRADING: NO REAL ORDERS", className="paper"),
                  html.Span(source, className="sub", id="source")], className="header"),
        html.Div(id="watchdog", className="banner banner-error", style={"display": "none"}),
        html.Div(id="banners"),
        html.Div([
            html.Button("Pause", id="pause", n_clicks=0),
            html.Span("Replay speed"), speed_ctl, html.Span(id="speed-status", className="sub"),
            html.Span("Quoter"),
            dcc.Dropdown(id="quoter", options=quoter_options, value=quoter, clearable=False, className="ctl"),
            html.Span(id="quoter-status", className="sub"),
        ], className="controls"),
        html.Div(id="kpis", className="kpis"),
        html.Div([
            html.Div(dcc.Graph(id="depth", **graph), className="panel"),
            html.Div(dcc.Graph(id="pnl", **graph), className="panel"),
            html.Div(dcc.Graph(id="touch", **graph), className="panel"),
            html.Div(dcc.Graph(id="risk", **graph), className="panel"),
            html.Div(dcc.Graph(id="attribution", config=GRAPH_CONFIG, style={"height": "230px"}),
                     className="panel panel-wide"),
        ], className="grid"),
        dcc.Interval(id="tick", interval=interval_ms, n_intervals=0),
        dcc.Store(id="client", data=None),
    ])
