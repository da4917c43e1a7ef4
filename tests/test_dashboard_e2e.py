"""End to end in real headless Chromium: the dashboard loads, draws, updates, and flags the baseline fallback.

Needs Debian's ``chromium`` and ``chromium-driver`` (/usr/bin/chromium, /usr/bin/chromedriver); skips without them.
Saves a screenshot to tests/artifacts/dashboard.png and docs/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The real dashboard on the built-in market (baseline, no model), served on a free loopback port."""
    from mmjax.dashboard.app import DashboardConfig, Server, build_app
    from mmjax.live import build_runner

    cache = tmp_path_factory.mktemp("cache")
    cfg = DashboardConfig(cache_dir=str(cache), builtin_hours=0.05, speed=5.0, port=0)
    runner, source = build_runner(cfg)
    app = build_app(runner, interval_ms=500, source=source)
    server = Server(app, "127.0.0.1", 0).start()
    runner.start()
    yield server, runner
    runner.stop()
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000"):
        opts.add_argument(arg)
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


def test_page_loads_updates_and_shows_the_baseline_banner(served, browser):
    from selenium.webdriver.common.by import By

    server, runner = served
    assert server.host == "127.0.0.1"
    browser.get(server.url)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#pnl .main-svg"), what="the PnL figure")
    for gid in ("depth", "pnl", "spread", "risk"):
        _wait(lambda gid=gid: browser.find_elements(By.CSS_SELECTOR, f"#{gid} .main-svg"), what=f"figure {gid}")
    # traces drawn: the depth ladder and the PnL line have SVG paths / WebGL canvases
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#depth .scatterlayer .trace"), what="depth traces")
    banner = _wait(lambda: browser.find_element(By.ID, "banners").text, what="banner text")
    assert "BASELINE FALLBACK" in banner
    assert "PAPER TRADING" in browser.find_element(By.CLASS_NAME, "header").text

    def points():  # points in the browser's PnL trace (read in JS: elements are replaced on refresh)
        return browser.execute_script(
            "const g = document.querySelector('#pnl .js-plotly-plot') || document.getElementById('pnl');"
            "return g && g.data ? g.data[0].x.length : -1;")

    def kpi(key):
        return browser.execute_script(f"const e = document.getElementById('kpi-{key}'); return e ? e.textContent : null;")

    first = _wait(lambda: (lambda n: n if n > 0 else 0)(points()), what="PnL points")
    steps_before = runner.state.version[1]
    # at least two more refreshes (500 ms each): the PnL trace grows by appends
    second = _wait(lambda: (lambda n: n if n > first else 0)(points()), timeout_s=20, what="more PnL points")
    third = _wait(lambda: (lambda n: n if n > second else 0)(points()), timeout_s=20, what="still more points")
    assert first < second < third and runner.state.version[1] > steps_before
    assert kpi("pnl") and kpi("mode") == "baseline: fixed"
    assert runner.error is None

    # pause: the engine stops advancing; resume: it goes on
    browser.find_element(By.ID, "pause").click()
    _wait(lambda: browser.find_element(By.ID, "pause").text == "Resume", what="paused label")
    _wait(lambda: runner.paused, what="runner paused")
    browser.find_element(By.ID, "pause").click()
    _wait(lambda: not runner.paused, what="runner resumed")

    out = ROOT / "tests" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    time.sleep(1.0)
    assert browser.save_screenshot(str(out / "dashboard.png"))
    shutil.copyfile(out / "dashboard.png", ROOT / "docs" / "dashboard.png")
    assert (out / "dashboard.png").stat().st_size > 10_000
