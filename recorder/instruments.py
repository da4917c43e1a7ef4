"""Tick and lot sizes from Coinbase's public products endpoint, with the command line's overrides.

``GET {products_url}/{product_id}`` (Advanced Trade "Get Public Product", no credentials) answers a
JSON object with decimal strings: ``price_increment`` (the tick; older answers only have
``quote_increment``, equal to it on Coinbase's spot books) and ``base_increment`` (the lot, in the
base currency). A tick is required for every product; a lot that cannot be read is stored as unknown.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from mmjax.schema import positive_number
from recorder.config import RecordConfig

log = logging.getLogger("recorder")


class InstrumentError(ValueError):
    """A tick or lot size could not be had for a product (named in the message)."""


@dataclass(frozen=True)
class Instrument:
    tick_size: float  # price increment, quote currency
    lot_size: float | None  # size increment, base currency; None: unknown


def fetch_increments(products_url: str, product: str, timeout_s: float) -> tuple[float, float]:
    """(tick, lot) of ``product`` from the public products endpoint; `InstrumentError` naming URL and field."""
    url = f"{products_url.rstrip('/')}/{urllib.parse.quote(product)}"
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "mmjax-recorder"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        hint = " (no such product)" if exc.code == 404 else ""
        raise InstrumentError(f"{product}: GET {url} answered HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InstrumentError(f"{product}: cannot read {url}: {exc}") from None
    if not isinstance(body, dict):
        raise InstrumentError(f"{product}: {url} did not answer a JSON object")
    tick_field = "price_increment" if body.get("price_increment") else "quote_increment"
    return _increment(body, tick_field, url, product), _increment(body, "base_increment", url, product)


def _increment(body: dict, name: str, url: str, product: str) -> float:
    try:
        return positive_number(body.get(name), f"{product}: {url}: field {name!r}")
    except ValueError as exc:
        raise InstrumentError(str(exc)) from None


Fetch = Callable[[str, str, float], tuple[float, float]]


def resolve_instruments(cfg: RecordConfig, fetch: Fetch = fetch_increments) -> dict[str, Instrument]:
    """Tick and lot per product: the overrides, else the venue; raises when a tick is to be had from neither."""
    ticks, lots = cfg.tick_overrides(), cfg.lot_overrides()
    out, missing = {}, []
    for p in cfg.product_list():
        tick, lot = ticks.get(p), lots.get(p)
        if tick is None or lot is None:
            try:
                venue_tick, venue_lot = fetch(cfg.products_url, p, cfg.products_timeout_s)
            except InstrumentError as exc:
                if tick is None:
                    missing.append(str(exc))
                    continue
                log.warning("%s; lot size stored as unknown (give --lot-size to set it)", exc)
                venue_tick = venue_lot = None
            tick = tick if tick is not None else venue_tick
            lot = lot if lot is not None else venue_lot
        out[p] = Instrument(tick, lot)
    if missing:
        raise InstrumentError("no tick size: " + "; ".join(missing) + ". Check the product ids, or give "
                              "--tick-size (e.g. --tick-size 0.01 or BTC-USD=0.01,ETH-USD=0.01)")
    return out
