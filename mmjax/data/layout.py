"""Host-side array layout shared by the loader (NumPy, no jax) and the `MarketData` device pytree."""

from __future__ import annotations

import numpy as np

# Fill price levels kept per step and side; deeper distinct prices are folded into the last slot.
DEFAULT_TRADE_SLOTS = 8
# Padding price for empty trade slots: far from any book so no quote ever matches it.
NO_PRICE = np.int32(2**30)


def steps_to_gap(after_gap: np.ndarray) -> np.ndarray:
    """[T] bool segment starts -> [T] int32 rows from t (inclusive) to the end of its segment."""
    n = len(after_gap)
    starts = np.flatnonzero(after_gap)
    nxt = np.append(starts, n)  # start of the next segment for each segment
    seg_end = np.full(n, n, np.int64)
    seg_id = np.cumsum(after_gap) - 1
    seg_end = nxt[seg_id + 1] if len(starts) else seg_end
    return (seg_end - np.arange(n)).astype(np.int32)
