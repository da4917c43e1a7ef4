"""Build the Dash app around a running paper-trading engine, and serve it on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dash

from mmjax.dashboard import callbacks, figures, layout
from mmjax.live import PAPER_NOTICE, EngineConfig, build_runner
from mmjax.outputs import UserError, check_range

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_app(runtime, interval_ms: int = 500, source: str = "",
              params: callbacks.RefreshParams = callbacks.DEFAULT_REFRESH) -> dash.Dash:
    """A Dash app showing ``runtime.state`` (a `LiveState`) with controls acting on ``runtime``.

    ``source`` is the header's line about the market (see `market_label`); ``params`` how refreshes draw.
    """
    app = dash.Dash(__name__, title="mmjax paper trading", update_title=None, serve_locally=True)
    app.index_string = layout.INDEX
    app.layout = layout.build_layout(
        product=runtime.product, source=source, quoter_options=runtime.quoter_options(),
        quoter=runtime.quoter_name, speed=runtime.speed if runtime.can_set_speed else None,
        interval_ms=interval_ms)
    callbacks.register(app, runtime, params)
    return app


def market_label(cfg: EngineConfig, runtime) -> str:
    """The header's line about the market: product and recording name, never a filesystem path.

    A path (often a temporary or cache directory) tells a viewer nothing and leaks the machine's layout.
    """
    meta = runtime.feed.meta
    if cfg.live:
        return f"live Coinbase feed {meta.product} (public market data)"
    what = f"recording {Path(cfg.replay).resolve().name}" if cfg.replay else "the built-in market"
    rows = getattr(getattr(runtime.feed, "raw", None), "num_steps", None)
    size = f", {rows:,} rows of {meta.grid_ms} ms" if rows is not None else ""
    return f"replay of {what} ({meta.source}): {meta.product}{size}{', looped' if cfg.loop else ''}"


def check_host(host: str, allow_remote: bool = False) -> None:
    """Refuse to bind beyond loopback unless explicitly allowed (the page has controls, no auth)."""
    if host not in LOCAL_HOSTS and not allow_remote:
        raise UserError(f"--host {host!r} would expose the dashboard beyond this machine; "
                         "it has no authentication. Use 127.0.0.1 (or pass --allow-remote knowingly).")


class Server:
    """Werkzeug server in a background thread (``port=0`` picks a free port); used by tests and `run`."""

    def __init__(self, app: dash.Dash, host: str = "127.0.0.1", port: int = 8050, allow_remote: bool = False):
        from werkzeug.serving import make_server

        check_host(host, allow_remote)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines
        self._srv = make_server(host, port, app.server, threaded=True)
        self.host, self.port = host, self._srv.server_port
        self._thread = threading.Thread(target=self._srv.serve_forever, name="dash-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> Server:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._srv.serve_forever()

    def shutdown(self) -> None:
        self._srv.shutdown()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


@dataclass
class DashboardConfig(EngineConfig):
    """Plotly Dash dashboard of the paper trader (binds 127.0.0.1). PAPER TRADING ONLY: no order is ever sent.

    With no arguments it generates (once, into a cache) a small built-in market and replays it in a
    loop with the baseline quoter, fully offline.
    """

    loop: bool = field(default=True, metadata={"help": "replay again from the start at the end (each pass starts a new segment)"})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind; anything but loopback needs --allow-remote"})
    port: int = field(default=8050, metadata={"help": "TCP port (0 = any free port)"})
    allow_remote: bool = field(default=False, metadata={"help": "allow a non-loopback --host (the page has controls and no login)"})
    interval_ms: int = field(default=500, metadata={"help": "browser refresh period, ms"})
    full_points: int = field(default=figures.FULL_POINTS, metadata={
        "help": "points per trace when a history figure is redrawn in full (min/max decimated), >= 10"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("DashboardConfig", "port", self.port, 0, 65535)
        check_range("DashboardConfig", "interval_ms", self.interval_ms, 50, 3_600_000)
        check_range("DashboardConfig", "full_points", self.full_points, 10, 10_000_000)


def run(cfg: DashboardConfig) -> int:
    """`mmjax dashboard`: start the paper trader in a thread and serve the page until Ctrl-C."""
    check_host(cfg.host, cfg.allow_remote)
    print(PAPER_NOTICE, flush=True)
    runner, source = build_runner(cfg)
    app = build_app(runner, cfg.interval_ms, market_label(cfg, runner), callbacks.RefreshParams(cfg.full_points))
    try:
        server = Server(app, cfg.host, cfg.port, cfg.allow_remote)
    except OSError as e:  # e.g. the port is taken: the OS names neither host nor port
        raise UserError(f"--host {cfg.host} --port {cfg.port}: cannot listen ({e.strerror or e})") from None
    snap = runner.state.snapshot(since=1 << 62)
    print(f"source: {source}", flush=True)
    if snap.mode == "baseline":
        print(f"*** NO MODEL: quoting with the BASELINE {snap.quoter!r} (pass --policy policy.npz for a model) ***",
              flush=True)
    print(f"dashboard: {server.url}  (Ctrl-C to stop)", flush=True)
    runner.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        runner.stop()
    return 0
