"""`pack_rows`: what the agent learns at each book row, packed into one int32 row for a one-gather step.

`make_params` calls it once per recording; `read_row` and `read_head` read it back (a step, a reset): the
layout lives in this file only.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.layout import LOT_CAP, NO_PRICE
from mmjax.data.market import MarketData
from mmjax.env import depth


def pack_rows(market: MarketData, features: np.ndarray, sigma: np.ndarray, lot_scale: int = 1) -> dict[str, jax.Array]:
    """Pack what the agent learns at row r (book r, trades of (r-1, r], features r, sigma r) into one int32 row.

    Columns: features [F_M] and sigma (float32 bits), the oriented best ask again, the book's
    fences [2 NF] (bid side then ask side, `mmjax.env.depth`: the best bid is column F_M + 2),
    the stored-depth limit [2], then the trade reach of (r-1, r] [2] and its lots [2]. A reset
    reads the first F_M + 3 columns, a step the whole row (one gather) and one block per side of
    ``book_blocks``. Lots are market lots times ``lot_scale`` (the fill rules' lot), capped.
    """
    T = market.num_steps
    scale = functools.partial(_scale_lots, lot_scale=lot_scale)
    book_px, book_lots = market.depth()
    packed = depth.pack_depth(book_px, scale(book_lots))
    reach_px, reach_lots = market.trade_reach()
    # trade row r-1 describes (r-1, r]: shift down by one; nothing traded "before" row 0
    reach_px = np.concatenate([np.full((1, 2), NO_PRICE, np.int32), reach_px[:-1]])
    reach_lots = np.concatenate([np.zeros((1, 2), np.int32), scale(reach_lots)[:-1]])
    bits = lambda x: np.asarray(x, np.float32).view(np.int32).reshape(T, -1)  # noqa: E731
    fences = packed["fences"]  # [T, 2, NF]
    rows = np.concatenate([bits(features), bits(sigma), fences[:, 1, :1], fences.reshape(T, -1), packed["limit"],
                           reach_px, reach_lots], axis=1)
    return {"rows": jnp.asarray(rows), "book_blocks": jnp.asarray(packed["blocks"])}


def _scale_lots(lots: np.ndarray, lot_scale: int) -> np.ndarray:
    """Market lots [...] (>= 0) in the fill rules' lot: times ``lot_scale``, capped at LOT_CAP; int32, no int64 copy."""
    lots = np.asarray(lots, np.int32)
    if lot_scale == 1:
        return lots if lots.max(initial=0) <= LOT_CAP else np.minimum(lots, LOT_CAP)
    # lots > LOT_CAP // lot_scale overflow the cap (their int32 product may wrap: np.where discards it)
    with np.errstate(over="ignore"):
        return np.where(lots > LOT_CAP // lot_scale, np.int32(LOT_CAP), lots * np.int32(lot_scale))


class Row(NamedTuple):
    """One packed row read back (`read_row`): what the agent learns at book row r."""

    features: jax.Array  # [F_M] float32 normalized market features of row r
    sigma: jax.Array  # [] float32 ticks per sqrt(s)
    best: jax.Array  # [2] int32 oriented touch: (best bid, -best ask)
    fences: jax.Array  # [2, NF] int32 oriented block fences (`mmjax.env.depth`); fences[:, 0] = best
    limit: jax.Array  # [2] int32 the stored depth's limit
    reach_px: jax.Array  # [2] int32 oriented furthest trade price of (r-1, r] against each side
    reach_lots: jax.Array  # [2] int32 lots traded exactly there


def read_row(rows: jax.Array, r: jax.Array, num_features: int, num_fences: int) -> Row:
    """Row ``r`` of the packed ``rows`` [T, F_M + 8 + 2 NF] (one gather), unpacked by the layout of `pack_rows`."""
    F, NF = num_features, num_fences
    row = rows[r]
    row_f = jax.lax.bitcast_convert_type(row[: F + 1], jnp.float32)  # features, sigma
    o = F + 2 + 2 * NF
    fences = row[F + 2: o].reshape(2, NF)
    return Row(row_f[:F], row_f[F], fences[:, 0], fences, row[o: o + 2], row[o + 2: o + 4], row[o + 4: o + 6])


def read_head(rows: jax.Array, r: jax.Array, num_features: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(features [F_M], sigma [], oriented touch [2]) of row ``r``: its first F_M + 3 columns only (a reset)."""
    F = num_features
    head = jax.lax.dynamic_slice(rows, (r, 0), (1, F + 3))[0]  # the row is 6x these bytes
    row_f = jax.lax.bitcast_convert_type(head[: F + 1], jnp.float32)
    return row_f[:F], row_f[F], jnp.stack([head[F + 2], head[F + 1]])
