"""Fakes for the recorder's tests: a clock that can be stepped, a disk that fills up, a REST endpoint.

- `FaultClock`: the recorder's time source (``wall_ns``, ``mono_ns``) with a wall clock that a test
  steps forwards or backwards, as NTP or an operator would; the monotonic clock is the real one.
- `FaultDisk`: a byte budget for everything the writer puts on disk. Once spent, the write in
  progress stops half-way with ENOSPC, as a full disk does, leaving a partial temporary file.
- `ProductsEndpoint`: Coinbase's public products endpoint (``GET .../products/{product_id}``) on
  127.0.0.1, serving a dict of product -> JSON body; unknown products get 404.
"""

from __future__ import annotations

import errno
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FaultClock:
    """Time source whose wall clock can be stepped (``step(ns)``); logs (receive stamp, real ns) pairs."""

    def __init__(self):
        self.offset_ns = 0
        self.steps: list[tuple[int, int]] = []  # (real monotonic ns when stepped, step ns)

    def wall_ns(self) -> int:
        return time.time_ns() + self.offset_ns

    def mono_ns(self) -> int:
        return time.monotonic_ns()

    def step(self, ns: int) -> None:
        self.offset_ns += int(ns)
        self.steps.append((time.monotonic_ns(), int(ns)))


class FaultDisk:
    """Writes succeed until ``budget_bytes`` are spent; then every write fails with ENOSPC half-way."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, budget_bytes: int):
        import pyarrow.parquet as pq

        import recorder.writer

        self.budget = budget_bytes
        self.failures = 0
        real_write_table = pq.write_table

        def write_table(table, where, **kw):
            buf = io.BytesIO()
            real_write_table(table, buf, **kw)
            self._write(where, buf.getvalue())

        def open_file(path, mode="r", *args, **kw):
            fh = open(path, mode, *args, **kw)
            return _BudgetFile(fh, self) if "w" in mode else fh

        monkeypatch.setattr(pq, "write_table", write_table)
        monkeypatch.setattr(recorder.writer, "open", open_file, raising=False)

    def _write(self, fh, data: bytes) -> None:
        if len(data) > self.budget:
            fh.write(data[: max(1, len(data) // 2)])  # a partial file, as a full disk leaves it
            fh.flush()
            self.failures += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        fh.write(data)


class _BudgetFile:
    def __init__(self, fh, disk: FaultDisk):
        self._fh, self._disk = fh, disk

    def write(self, data: bytes) -> int:
        self._disk._write(self._fh, data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


class ProductsEndpoint:
    """``GET /products/{id}`` -> ``bodies[id]`` as JSON, 404 otherwise; binds 127.0.0.1 on a free port."""

    def __init__(self, bodies: dict[str, dict]):
        self.bodies = bodies
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.requests.append(self.path)
                product = self.path.rsplit("/", 1)[-1]
                body = outer.bodies.get(product)
                code = 200 if body is not None else 404
                data = json.dumps(body if body is not None else {"error": "NOT_FOUND"}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v3/brokerage/market/products"

    def __enter__(self) -> ProductsEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def coinbase_product(product: str, tick: str = "0.01", lot: str = "0.00000001") -> dict:
    """A body shaped like Coinbase's public product (fields the recorder reads, and a few it does not)."""
    base, quote = product.split("-")
    return {"product_id": product, "price": "65000.00", "base_increment": lot, "quote_increment": tick,
            "price_increment": tick, "base_currency_id": base, "quote_currency_id": quote,
            "status": "online", "trading_disabled": False}
