"""The stored book on the device: every level of every row, found with one small gather.

A row's K levels per side (oriented ticks, best first, strictly decreasing) are cut into NF blocks
of B levels. The packed step row carries each block's first price (the *fences*); a lookup counts
the fences at or above the price (a compare over NF numbers already in hand), then gathers that
one block of B prices and B lot counts. So a step reads 2B numbers per side instead of the whole
book: 16 at K = 20, 64 at K = 1000 (docs/env.md, "Performance notes", has the measured cost).

Beyond the deepest stored level of a full row the book is unknown: ``limit`` is that level's
price, or NO_LIMIT when the row shows fewer than K levels (then the whole book is displayed).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# A row's limit when it displays the whole book: every price is within the stored depth.
NO_LIMIT = -(2**30)


def block_size(levels: int) -> int:
    """Levels per block: the power of two nearest sqrt(levels) from above, within [8, 64]."""
    return int(min(64, max(8, 2 ** math.ceil(math.log2(max(math.sqrt(levels), 1.0))))))


def pack_depth(book_px: np.ndarray, book_lots: np.ndarray) -> dict[str, np.ndarray]:
    """[T, 2, K] oriented prices and lots -> blocks [T, 2, NF, 2B] (B prices then B lots), fences [T, 2, NF], limit [T, 2].

    K is padded to NF * B with prices one tick deeper each and 0 lots (empty levels, as the loader
    fills a short book), so blocks stay strictly decreasing.
    """
    T, _, K = book_px.shape
    B = block_size(K)
    NF = -(-K // B)
    pad = NF * B - K
    # written once, block by block, into int32 (prices are within 2^24 ticks of the anchor, loader check)
    blocks = np.empty((T, 2, NF, 2 * B), np.int32)
    view = blocks.reshape(T, 2, NF, 2, B)  # [..., 0, :] a block's prices, [..., 1, :] its lots
    full = K // B  # blocks holding B stored levels
    view[:, :, :full, 0] = book_px[..., : full * B].reshape(T, 2, full, B)
    view[:, :, :full, 1] = book_lots[..., : full * B].reshape(T, 2, full, B)
    if pad:
        view[:, :, full, 0, : B - pad] = book_px[..., full * B:]
        view[:, :, full, 0, B - pad:] = book_px[..., -1:] - np.arange(1, pad + 1, dtype=np.int32)
        view[:, :, full, 1, : B - pad] = book_lots[..., full * B:]
        view[:, :, full, 1, B - pad:] = 0
    limit = np.where(book_lots[..., -1] > 0, book_px[..., -1], NO_LIMIT).astype(np.int32)
    return {"blocks": blocks, "fences": np.ascontiguousarray(blocks[..., 0]), "limit": limit}


def lookup(blocks: jax.Array, row: jax.Array, fences: jax.Array, limit: jax.Array,
           px: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lots displayed at ``px`` [2] (oriented) in book ``row``, and whether px is within the stored depth.

    blocks [T, 2, NF, 2B]; fences [2, NF] and limit [2] of that row. A price between levels, or
    above the touch, shows 0 lots.
    """
    NF, B = blocks.shape[2], blocks.shape[3] // 2
    b = jnp.clip(jnp.sum((fences >= px[:, None]).astype(jnp.int32), axis=-1) - 1, 0, NF - 1)  # [2]
    block = blocks[row, jnp.arange(2), b]  # [2, 2B]: one gather of two contiguous blocks
    lots = jnp.sum(jnp.where(block[:, :B] == px[:, None], block[:, B:], 0), axis=-1)
    return lots, px >= limit
