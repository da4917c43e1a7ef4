"""End to end in real headless Chromium: the dashboard loads, draws, updates, and flags the baseline fallback;
a max-speed replay runs far past the decimation budget without a failed refresh (issue #21); a failing refresh
and a stopped server each show a red banner.

Needs Debian's ``chromium`` and ``chromium-driver`` (/usr/bin/chromium, /usr/bin/chromedriver); skips without them.
Saves a screenshot to tests/artifacts/dashboard.png. The tests run in file order on one page and one server.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MMJAX_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MMJAX_CHROMEDRIVER", "/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason=f"headless Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver",
)


FULL_POINTS = 300  # decimation budget of a full redraw, lowered so a short max-speed replay passes it many times
MAX_CLIENT_POINTS = 1500  # and a full redraw comes every ~1,500 rows instead of 6,000


class _Errors(logging.Handler):
    """Collects every error the dashboard's loggers see: failed refreshes and Flask's unhandled exceptions."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The real dashboard on the built-in market (baseline, no model), served on a free loopback port."""
    from mmjax.dashboard.app import DashboardConfig, Server, build_app, market_label
    from mmjax.dashboard.callbacks import RefreshParams
    from mmjax.live import build_runner

    cache = tmp_path_factory.mktemp("cache")
    cfg = DashboardConfig(cache_dir=str(cache), builtin_hours=0.05, speed=5.0, port=0, full_points=FULL_POINTS)
    runner, _ = build_runner(cfg)
    params = RefreshParams(full_points=cfg.full_points, max_client_points=MAX_CLIENT_POINTS)
    app = build_app(runner, interval_ms=500, source=market_label(cfg, runner), params=params)
    errors = _Errors()
    logger = logging.getLogger("mmjax.dashboard")  # parent of the callbacks' logger and of the Flask app's
    logger.addHandler(errors)
    server = Server(app, "127.0.0.1", 0).start()
    runner.start()
    yield server, runner, errors
    runner.stop()
    server.shutdown()
    logger.removeHandler(errors)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--disable-sync",
                "--no-first-run", "--window-size=1400,1100"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # read the console in the test
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(fn, timeout_s: float = 30.0, what: str = ""):
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # element not there yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


def _points(browser, gid: str = "pnl") -> int:
    """Points in the browser's first trace of a figure (read in JS: elements are replaced on refresh)."""
    return browser.execute_script(
        f"const g = document.querySelector('#{gid} .js-plotly-plot') || document.getElementById('{gid}');"
        "return g && g.data && g.data.length ? g.data[0].x.length : -1;")


def _console_errors(browser) -> list[dict]:
    """SEVERE browser console entries since the last call (a failed callback request logs one)."""
    return [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


OVERLAPS_JS = """
const out = [];
for (const gid of ["depth", "pnl", "touch", "risk", "attribution"]) {
    const root = document.getElementById(gid);
    const title = root && root.querySelector(".gtitle");
    if (!title) { out.push(gid + ": no title"); continue; }
    const t = title.getBoundingClientRect();
    for (const sel of [".legend", ".modebar"]) {
        const el = root.querySelector(sel);
        if (!el) continue;
        const r = el.getBoundingClientRect();
        if (r.width && t.left < r.right && r.left < t.right && t.top < r.bottom && r.top < t.bottom) {
            out.push(gid + ": title overlaps " + sel);
        }
    }
}
return out;
"""


def test_page_loads_updates_and_shows_the_baseline_banner(served, browser):
    from selenium.webdriver.common.by import By

    server, runner, _ = served
    assert server.host == "127.0.0.1"
    browser.get(server.url)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#pnl .main-svg"), what="the PnL figure")
    for gid in ("depth", "pnl", "touch", "risk", "attribution"):
        _wait(lambda gid=gid: browser.find_elements(By.CSS_SELECTOR, f"#{gid} .main-svg"), what=f"figure {gid}")
    # traces drawn: the depth ladder and the PnL line have SVG paths / WebGL canvases
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#depth .scatterlayer .trace"), what="depth traces")
    banner = _wait(lambda: browser.find_element(By.ID, "banners").text, what="banner text")
    assert "BASELINE FALLBACK" in banner
    header = browser.find_element(By.CLASS_NAME, "header").text
    assert "PAPER TRADING" in header and "built-in market" in header and "/" not in header  # no path shown

    def points():
        return _points(browser)

    def kpi(key):
        return browser.execute_script(f"const e = document.getElementById('kpi-{key}'); return e ? e.textContent : null;")

    first = _wait(lambda: (lambda n: n if n > 0 else 0)(points()), what="PnL points")
    steps_before = runner.state.version[1]
    # at least two more refreshes (500 ms each): the PnL trace grows by appends
    second = _wait(lambda: (lambda n: n if n > first else 0)(points()), timeout_s=20, what="more PnL points")
    third = _wait(lambda: (lambda n: n if n > second else 0)(points()), timeout_s=20, what="still more points")
    assert first < second < third and runner.state.version[1] > steps_before
    assert kpi("pnl") and kpi("mode") == "baseline: fixed"
    assert kpi("fee") == "coinbase-top (0 bps)"  # the maker fee in force, with its preset
    badges = _wait(lambda: [browser.find_element(By.ID, f"badge-{side}").text for side in ("bid", "ask")],
                   what="the quote badges")  # re-read whole: a refresh may re-render them
    assert badges == ["bid quoting", "ask quoting"], badges
    _wait(lambda: "PnL attribution" in browser.find_element(By.ID, "attribution").text, what="the attribution panel")
    assert runner.error is None

    # pause: the engine stops advancing; resume: it goes on
    browser.find_element(By.ID, "pause").click()
    _wait(lambda: browser.find_element(By.ID, "pause").text == "Resume", what="paused label")
    _wait(lambda: runner.paused, what="runner paused")
    browser.find_element(By.ID, "pause").click()
    _wait(lambda: not runner.paused, what="runner resumed")

    _wait(lambda: "queue" in browser.find_element(By.ID, "touch").text, what="the queue panel's title")
    assert browser.execute_script(OVERLAPS_JS) == []  # no legend or mode bar over a chart title

    out = ROOT / "tests" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    time.sleep(1.0)
    assert browser.save_screenshot(str(out / "dashboard.png"))
    assert (out / "dashboard.png").stat().st_size > 10_000


def test_max_speed_replay_far_past_the_budget_keeps_drawing(served, browser):
    """Issue #21: once the history outgrew the decimation budget every full redraw raised; now none does."""
    from selenium.webdriver.common.by import By

    _, runner, errors = served
    _console_errors(browser)  # drop what came before
    browser.find_element(By.ID, "speed").click()  # the fastest speed the dropdown offers: "max"
    options = browser.find_elements(By.CSS_SELECTOR, "#speed ~ * .dash-dropdown-option, .dash-dropdown-option")
    fastest = [o for o in options if o.text.strip() == "max"]
    assert fastest, f"no 'max' option among {[o.text for o in options]}"
    fastest[0].click()
    _wait(lambda: runner.speed == 0.0, what="the replay at max speed")
    # a full redraw comes when the client holds > MAX_CLIENT_POINTS: the trace then shrinks to <= the budget
    seen, redraws = _points(browser), 0
    end = time.monotonic() + 20
    while redraws < 2 and time.monotonic() < end:
        n = _points(browser)
        if 0 < n < seen and runner.state.version[1] > 3 * FULL_POINTS:
            redraws += 1
            assert n <= FULL_POINTS + 2
        seen = max(n, 0) if n < seen else max(seen, n)
        time.sleep(0.1)
    assert redraws >= 2, f"no full redraw past the budget seen ({runner.state.version[1]:,} rows)"
    assert runner.state.version[1] > 10 * FULL_POINTS
    assert [r.getMessage() for r in errors.records] == []  # no callback raised on the server
    assert _console_errors(browser) == []  # and no request failed in the browser
    assert browser.find_element(By.ID, "banners").text.count("REFRESH FAILED") == 0
    assert not browser.find_element(By.ID, "watchdog").is_displayed()
    ys = browser.execute_script("return document.querySelector('#pnl .js-plotly-plot').data[0].y;")
    assert len(ys) > 10 and all(y is None or isinstance(y, (int, float)) for y in ys)
    assert runner.error is None


def test_a_failing_refresh_shows_its_message_in_a_red_banner(served, browser, monkeypatch):
    from selenium.webdriver.common.by import By

    from mmjax.dashboard import figures

    _, _, errors = served

    def broken(*_a, **_k):
        raise RuntimeError("depth ladder exploded")

    monkeypatch.setattr(figures, "depth_figure", broken)  # the server thread shares this module
    # read the banner inside the wait: a 500 ms refresh re-renders it, so a held element goes stale
    def error_banner_text():
        banner = browser.find_element(By.CSS_SELECTOR, "#banners .banner-error")
        return banner.text if banner.is_displayed() else ""

    text = _wait(error_banner_text, what="the error banner")
    assert "REFRESH FAILED: RuntimeError: depth ladder exploded" in text
    assert any("refresh failed" in r.getMessage() for r in errors.records)
    time.sleep(3.5)  # the server still answers: the watchdog (3 s) must stay quiet
    assert not browser.find_element(By.ID, "watchdog").is_displayed()
    monkeypatch.undo()
    _wait(lambda: "REFRESH FAILED" not in browser.find_element(By.ID, "banners").text, what="the banner to clear")
    errors.records.clear()


def test_a_stopped_server_shows_the_watchdog_banner(served, browser):
    from selenium.webdriver.common.by import By

    server, _, _ = served
    server.shutdown()  # the page stays open; its refreshes now fail in the browser
    el = _wait(lambda: (lambda e: e if e.is_displayed() else None)(browser.find_element(By.ID, "watchdog")),
               timeout_s=15, what="the watchdog banner")
    assert "REFRESH FAILED: no answer from the dashboard server" in el.text
