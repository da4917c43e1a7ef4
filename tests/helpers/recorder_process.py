"""The recorder as a subprocess: start it, wait on a condition, list what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository


def spawn_recorder(out: Path, url: str, flush_s: float, status_file: Path | None = None) -> subprocess.Popen:
    env = _env()
    cmd = [sys.executable, "-m", "recorder", str(out), "--url", url, "--products", "BTC-USD,ETH-USD",
           "--tick-size", "0.01", "--lot-size", "0.00000001", "--grid-ms", "50", "--flush-s", str(flush_s),
           "--send-interval-s", "0.01", "--status-s", "0.5", "--status-file", str(status_file or out.parent / "status.json")]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parquet_files(out: Path) -> list[Path]:
    return sorted(out.rglob("*.parquet"))


def wait_for(pred, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("COINBASE_API_KEY_NAME", None)
    env.pop("COINBASE_API_PRIVATE_KEY", None)
    return env
