"""The backtest tests' recording (a fixture): 400 rows, a gap at row 250."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.loader import GRID_NS, T0_NS, book_arrays, trades_arrays, write


@pytest.fixture(scope="module")


def recording(tmp_path_factory):
    """400 rows with a gap at row 250; the book random-walks and takers sell and buy at the touch and below it."""
    rng = np.random.default_rng(0)
    T = 400
    book = book_arrays(T, L=5)
    walk = np.cumsum(rng.integers(-1, 2, T)) * 0.01
    for side in ("bid_px", "ask_px"):
        book[side] = np.round(book[side] + walk[:, None], 2)
    book["after_gap"][250] = True
    ts = np.sort(T0_NS + rng.integers(1, (T - 1) * GRID_NS, 1500))
    row = (ts - T0_NS) // GRID_NS
    side = rng.choice([-1, 1], 1500)
    depth = rng.integers(0, 3, 1500) * 0.01
    px = np.where(side < 0, book["bid_px"][row, 0] - depth, book["ask_px"][row, 0] + depth)
    out = tmp_path_factory.mktemp("bt")
    write(out, book, trades_arrays(ts, np.round(px, 2), np.round(rng.uniform(0.001, 0.05, 1500), 5), side))
    return out
