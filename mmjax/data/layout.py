"""Host-side array layout shared by the loader (NumPy, no jax) and the `MarketData` device pytree."""

from __future__ import annotations

import math

import numpy as np

# Fill price levels kept per step and side; deeper distinct prices are folded into the last slot.
DEFAULT_TRADE_SLOTS = 8
# Padding price for empty trade slots: far from any book so no quote ever matches it.
NO_PRICE = np.int32(2**30)
# Size lot (venue size units) of a market built without one: Coinbase's BTC increment, the finest in use.
DEFAULT_LOT_SIZE = 1e-8
# Largest size in lots on the device (int32): two of them still add without overflow. A level or a
# price's traded volume beyond it (10.7 BTC at a 1e-8 lot) is counted as this much (LoadReport.sizes_capped).
LOT_CAP = 2**30 - 1


def to_lots(sizes, lot_size: float) -> np.ndarray:
    """Sizes (venue units) -> int32 whole lots, nearest lot, capped at LOT_CAP."""
    return np.clip(np.rint(np.asarray(sizes, np.float64) / lot_size), 0, LOT_CAP).astype(np.int32)


def steps_to_gap(after_gap: np.ndarray) -> np.ndarray:
    """[T] bool segment starts -> [T] int32 rows from t (inclusive) to the end of its segment."""
    n = len(after_gap)
    starts = np.flatnonzero(after_gap)
    nxt = np.append(starts, n)  # start of the next segment for each segment
    seg_end = np.full(n, n, np.int64)
    seg_id = np.cumsum(after_gap) - 1
    seg_end = nxt[seg_id + 1] if len(starts) else seg_end
    return (seg_end - np.arange(n)).astype(np.int32)


def sim_lot(market_lot: float, quote_size: float) -> tuple[float, int]:
    """(lot of the fill rules, of them per market lot): the market's lot, or a divisor of it that divides quote_size.

    Sizes are compared in units of 1e-12 (exact for any decimal lot); every market size is then a
    whole number of the returned lot, so fills, queues and the inventory stay whole numbers of lots.
    """
    unit = 1e12
    a, b = round(market_lot * unit), round(quote_size * unit)
    if a <= 0 or b <= 0 or abs(a - market_lot * unit) > 1e-3 * a or abs(b - quote_size * unit) > 1e-3 * b:
        raise ValueError(f"lot_size {market_lot} and quote_size {quote_size} must be positive multiples of 1e-12")
    g = math.gcd(a, b)
    return g / unit, a // g
