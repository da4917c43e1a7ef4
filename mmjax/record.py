"""`mmjax record`: Coinbase Advanced Trade WebSocket -> hive-partitioned Parquet (jax-free)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecordConfig:
    """Record full-depth L2 books (top-L on a grid) and trades from Coinbase. Ctrl-C flushes and exits 0.

    Public market data needs no credentials. With COINBASE_API_KEY_NAME and COINBASE_API_PRIVATE_KEY
    set in the environment, every subscribe message carries an ES256 JWT (needs `cryptography`).
    """

    out: str = field(metadata={"help": "output recording directory (book/, trades/, raw/)", "positional": True})
    products: str = field(default="BTC-USD", metadata={"help": "comma-separated product ids"})
    url: str = field(default="wss://advanced-trade-ws.coinbase.com", metadata={"help": "WebSocket endpoint"})
    levels: int = field(default=20, metadata={"help": "book levels per side written per row"})
    grid_ms: int = field(default=100, metadata={"help": "book sampling interval on the receive clock, ms"})
    tick_size: str = field(default="0.01", metadata={
        "help": "price tick stored in file metadata: one number, or PRODUCT=TICK,... per product"})
    flush_s: float = field(default=5.0, metadata={"help": "seconds between flushes; each flush writes new part files"})
    raw: bool = field(default=False, metadata={"help": "also archive every frame as gzip JSONL under raw/"})
    ticker: bool = field(default=False, metadata={"help": "subscribe to ticker too and cross-check the book's top"})
    watchdog_s: float = field(default=10.0, metadata={"help": "reconnect when no frame (heartbeats included) for this long, s"})
    resync_timeout_s: float = field(default=10.0, metadata={"help": "reconnect when a requested snapshot has not come within this, s"})
    crossed_max_ms: float = field(default=1000.0, metadata={"help": "resync a book crossed for longer than this, ms"})
    crossed_max_msgs: int = field(default=50, metadata={"help": "resync a book crossed for more than this many of its messages"})
    backoff_base_s: float = field(default=1.0, metadata={"help": "first reconnect delay, s (doubles per failed attempt, with jitter)"})
    backoff_max_s: float = field(default=60.0, metadata={"help": "longest reconnect delay, s"})
    send_interval_s: float = field(default=0.2, metadata={
        "help": "min seconds between our messages (Coinbase allows 8 unauthenticated messages/s per IP)"})
    max_frame_mb: float = field(default=64.0, metadata={"help": "largest accepted frame, MB (the BTC-USD snapshot is ~5 MB)"})
    status_s: float = field(default=10.0, metadata={"help": "seconds between status lines on stderr (0: none)"})
    status_file: str | None = field(default=None, metadata={"help": "also write counters as JSON to this file"})
    duration_s: float = field(default=0.0, metadata={"help": "stop after this many seconds (0: run until SIGINT/SIGTERM)"})
    seed: int | None = field(default=None, metadata={"help": "seed for backoff jitter (None: from the OS)"})

    def product_list(self) -> list[str]:
        """Product ids, validated (e.g. BTC-USD)."""
        products = [p.strip() for p in self.products.split(",") if p.strip()]
        if not products:
            raise ValueError("--products is empty")
        for p in products:
            if "-" not in p or "/" in p or "=" in p:
                raise ValueError(f"--products: {p!r} is not a product id like BTC-USD")
        return products

    def tick_sizes(self) -> dict[str, float]:
        """Tick size per product from ``tick_size`` ("0.01" or "BTC-USD=0.01,ETH-USD=0.01")."""
        products = self.product_list()
        spec = self.tick_size.strip()
        if "=" not in spec:
            return {p: _positive(spec, "--tick-size") for p in products}
        ticks = {}
        for item in spec.split(","):
            name, _, val = item.partition("=")
            ticks[name.strip()] = _positive(val, f"--tick-size {name.strip()}")
        missing = [p for p in products if p not in ticks]
        if missing:
            raise ValueError(f"--tick-size has no tick for {missing}")
        return {p: ticks[p] for p in products}


def _positive(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not v > 0:
        raise ValueError(f"{what}: must be positive, got {v}")
    return v


def run(config: RecordConfig) -> int:
    """Record until stopped; 0 on a clean stop (SIGINT/SIGTERM/duration)."""
    from recorder.client import main

    return main(config)
