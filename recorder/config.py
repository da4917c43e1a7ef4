"""The recorder's knobs (`RecordConfig`, one definition; it is also the CLI) and their validation.

recorder/ imports nothing from mmjax but the recording format (mmjax.schema), so the flags are
built here too (`parse_args`) for ``python -m recorder``; ``mmjax record`` builds them from the
same dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field

from mmjax.schema import positive_number
from recorder.protocol import WS_URL

PRODUCTS_URL = "https://api.coinbase.com/api/v3/brokerage/market/products"


@dataclass
class RecordConfig:
    """Record full-depth L2 books (top-L on a grid) and trades from Coinbase. Ctrl-C flushes and exits 0.

    Exit status: 0 every product recorded until a clean stop (SIGINT/SIGTERM/--duration-s); 3 stopped
    cleanly but the venue refused some products (named in the log and the status file); 1 failed
    (disk, lasting venue errors, no product left, bad configuration).
    Public market data needs no credentials. With COINBASE_API_KEY_NAME and COINBASE_API_PRIVATE_KEY
    set in the environment, every subscribe message carries an ES256 JWT (needs `cryptography`).
    """

    out: str = field(metadata={"help": "output recording directory (book/, trades/, raw/)"})
    products: str = field(default="BTC-USD", metadata={"help": "comma-separated product ids"})
    url: str = field(default=WS_URL, metadata={"help": "WebSocket endpoint"})
    products_url: str = field(default=PRODUCTS_URL, metadata={
        "help": "Coinbase public products endpoint; at start GET URL/PRODUCT gives the tick "
                "(price_increment, else quote_increment) and the lot (base_increment)"})
    products_timeout_s: float = field(default=10.0, metadata={"help": "timeout of each products request, s"})
    levels: int = field(default=20, metadata={"help": "book levels per side written per row"})
    grid_ms: int = field(default=100, metadata={"help": "book sampling interval on the receive clock, ms"})
    tick_size: str = field(default="", metadata={
        "help": "price tick override: one number, or PRODUCT=TICK,...; empty: from --products-url"})
    lot_size: str = field(default="", metadata={
        "help": "size increment override, same form as --tick-size; empty: from --products-url "
                "(stored as unknown when that cannot be read)"})
    flush_s: float = field(default=5.0, metadata={"help": "seconds between flushes; each flush writes new part files"})
    raw: bool = field(default=False, metadata={"help": "also archive every frame as gzip JSONL under raw/"})
    ticker: bool = field(default=False, metadata={"help": "subscribe to ticker too and cross-check the book's top"})
    watchdog_s: float = field(default=10.0, metadata={"help": "reconnect when no frame (heartbeats included) for this long, s"})
    subscribe_timeout_s: float = field(default=5.0, metadata={
        "help": "a (channel, product) not confirmed by a subscriptions message within this is asked for "
                "again alone; refused twice alone, the product is dropped and the others go on, s"})
    resync_timeout_s: float = field(default=10.0, metadata={
        "help": "ask again for a level2 snapshot that has not come within this, s"})
    snapshot_attempts: int = field(default=3, metadata={
        "help": "level2 requests without a snapshot before a product is given up (the others go on)"})
    product_silence_s: float = field(default=5.0, metadata={
        "help": "a product with no level2 message for this long is resubscribed; its rows wait for a "
                "message or a matching snapshot that proves the book was not stale, s"})
    clock_step_ms: float = field(default=100.0, metadata={
        "help": "a wall-clock step larger than this against the monotonic clock re-anchors the "
                "receive clock and is recorded as a gap, ms"})
    error_limit: int = field(default=10, metadata={
        "help": "venue error frames tolerated per minute on a connection (outside subscribing); "
                "more: reconnect with backoff"})
    error_reconnects_max: int = field(default=5, metadata={
        "help": "reconnects in a row forced by venue errors before giving up (exit 1)"})
    crossed_max_ms: float = field(default=1000.0, metadata={"help": "resync a book crossed for longer than this, ms"})
    crossed_max_msgs: int = field(default=50, metadata={"help": "resync a book crossed for more than this many of its messages"})
    backoff_base_s: float = field(default=1.0, metadata={"help": "first reconnect delay, s (doubles per failed attempt, with jitter)"})
    backoff_max_s: float = field(default=60.0, metadata={"help": "longest reconnect delay, s"})
    send_interval_s: float = field(default=0.2, metadata={
        "help": "min seconds between our messages (Coinbase allows 8 unauthenticated messages/s per IP)"})
    max_frame_mb: float = field(default=64.0, metadata={"help": "largest accepted frame, MB (the BTC-USD snapshot is ~5 MB)"})
    status_s: float = field(default=10.0, metadata={"help": "seconds between status lines on stderr (0: none)"})
    status_file: str | None = field(default=None, metadata={
        "help": "also write counters and product states as JSON to this file (failures are logged and retried)"})
    duration_s: float = field(default=0.0, metadata={"help": "stop after this many seconds (0: run until SIGINT/SIGTERM)"})
    seed: int | None = field(default=None, metadata={"help": "seed for backoff jitter (None: from the OS)"})

    def product_list(self) -> list[str]:
        """Product ids, validated (e.g. BTC-USD); a -USDC id and its -USD twin are the same market."""
        products = [p.strip() for p in self.products.split(",") if p.strip()]
        if not products:
            raise ValueError("--products is empty")
        for p in products:
            if "-" not in p or "/" in p or "=" in p:
                raise ValueError(f"--products: {p!r} is not a product id like BTC-USD")
        twins = [p for p in products if p.endswith("-USDC") and p[:-1] in products]
        if twins:
            raise ValueError(f"--products: {twins[0]} returns the same data as {twins[0][:-1]}; ask for one of them")
        if len(set(products)) != len(products):
            raise ValueError(f"--products names a product twice: {self.products!r}")
        return products

    def tick_overrides(self) -> dict[str, float]:
        """Ticks given with --tick-size, per product (empty when the venue is to be asked)."""
        return _per_product(self.tick_size, self.product_list(), "--tick-size")

    def lot_overrides(self) -> dict[str, float]:
        """Lot sizes given with --lot-size, per product."""
        return _per_product(self.lot_size, self.product_list(), "--lot-size")


def _per_product(spec: str, products: list[str], flag: str) -> dict[str, float]:
    spec = spec.strip()
    if not spec:
        return {}
    if "=" not in spec:
        return dict.fromkeys(products, positive_number(spec.strip(), flag))
    values = {}
    for item in spec.split(","):
        name, _, val = item.partition("=")
        values[name.strip()] = positive_number(val.strip(), f"{flag} {name.strip()}")
    unknown = sorted(set(values) - set(products))
    if unknown:
        raise ValueError(f"{flag} names {unknown}, which --products does not")
    return values


def parse_args(argv: list[str] | None, prog: str = "python -m recorder") -> RecordConfig:
    """``[OUT] --flag value ...`` -> RecordConfig; OUT may also be given as ``--out OUT``."""
    ap = argparse.ArgumentParser(prog=prog, description=RecordConfig.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_positional", nargs="?", metavar="OUT", help="output directory (the same as --out)")
    hints = typing.get_type_hints(RecordConfig)
    for f in dataclasses.fields(RecordConfig):
        kind = hints[f.name]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)  # X | None -> X
        default = None if f.default is dataclasses.MISSING else f.default
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata['help']} (default: {default})"
        if kind is bool:
            ap.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            ap.add_argument(flag, dest=f.name, type=kind, default=default, help=text)
    ns = ap.parse_args(argv)
    if ns.out is None and ns.out_positional is None:
        ap.error("the output directory is required: --out DIR (or OUT)")
    if ns.out is not None and ns.out_positional is not None and ns.out != ns.out_positional:
        ap.error(f"two output directories: {ns.out_positional!r} and --out {ns.out!r}")
    ns.out = ns.out if ns.out is not None else ns.out_positional
    return RecordConfig(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(RecordConfig)})
