"""The action mapping (JAX): per side, an action in [-1, 1] -> a price in ticks from that side's touch, or no quote.

Per side (bid and ask alike), with ``u = (a + 1) / (1 + PULL_ABOVE)`` for ``a <= PULL_ABOVE``:

- ``a > PULL_ABOVE``: no quote on this side (pulled);
- ``u < 1/2`` (near the touch, tick precision): ``d = floor(u * 2 * (NEAR_TICKS + 1)) - 1`` ticks behind
  the touch, so ``d = -1`` improves the touch by one tick (where the spread allows; else it joins),
  ``d = 0`` joins it (our own bid and ask never meet: at a two-tick spread the bid takes the free tick), ``d = 1 .. NEAR_TICKS`` steps back one tick at a time; each is a band of width
  ``(1 + PULL_ABOVE) / (2 (NEAR_TICKS + 1))`` = 0.106 of the action, so a deterministic policy joins the
  touch at tanh(mean) in [-0.894, -0.789] without saturating;
- ``u >= 1/2`` (far): ``d = NEAR_TICKS + floor((u - 1/2) * 2 * (K - NEAR_TICKS + 1))``, linear up to ``K``
  ticks, ``K`` = the max offset in whole ticks at the current mid (``EnvKnobs.max_offset_bps``, at
  least 1; `mmjax.env.knobs.action_range_ticks`, its one home), so the far half still reaches quotes bps away.

``d`` never exceeds ``K`` (so with a small range the near steps stop at ``K``). Every operation is a
float32 multiply, add or floor, which the NumPy twin (`mmjax.env.sim_np`) reproduces exactly.
A constant action therefore re-quotes the same price while the touch stays, which keeps the queue place.

**Keeping the resting price** (``EnvKnobs.requote_margin``, ``m`` in action units; 0 = off): a side whose order the
agent knows of (resting or in flight) at ``d_k`` ticks behind today's touch keeps that price, and so sends nothing
and keeps its queue place, while some action within ``m`` of ``a`` maps to ``d_k``, that is while
``d(a - m) <= d_k <= d(a + m)`` (``d`` is monotone) and ``d_k >= 0``. A price change then needs the action to
leave the resting price's band by more than ``m``: small policy errors and exploration noise no longer cost the
queue place. An order ahead of the touch (``d_k < 0``: the level it improved emptied, or it improved the spread)
has no queue place to keep, and is priced by the mapping alone: keeping it would leave it alone at the front
when the level behind it has just gone, the adversely selected spot.
``m = 0`` keeps exactly the prices the mapping gives (the known order's price is then kept only when ``d = d_k``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmjax.env.fills import NO_ORDER_PX
from mmjax.env.knobs import ACTION_NEAR_TICKS as NEAR_TICKS
from mmjax.env.knobs import ACTION_PULL as PULL_ACTION  # noqa: F401 - part of this module's vocabulary
from mmjax.env.knobs import ACTION_PULL_ABOVE as PULL_ABOVE
from mmjax.env.knobs import action_range_ticks


def max_ticks(mid_ticks: jax.Array, anchor_ticks: float, max_offset_bps: jax.Array) -> jax.Array:
    """K: the farthest distance behind the touch, in whole ticks (>= 1), for a range of max_offset_bps at this mid."""
    return action_range_ticks(mid_ticks, anchor_ticks, max_offset_bps, xp=jnp)


def ticks_behind(action: jax.Array, k_max: jax.Array) -> jax.Array:
    """[..., 2] actions -> [..., 2] float32 ticks behind each side's touch (-1 improves), ignoring the pull."""
    a = jnp.clip(action.astype(jnp.float32), -1.0, 1.0)
    u = (a + jnp.float32(1.0)) * jnp.float32(1.0 / (1.0 + PULL_ABOVE))
    near = jnp.floor(u * jnp.float32(2 * (NEAR_TICKS + 1))) - jnp.float32(1.0)
    k = k_max[..., None]
    span = jnp.maximum(k - jnp.float32(NEAR_TICKS), 0.0) + jnp.float32(1.0)
    far = jnp.float32(NEAR_TICKS) + jnp.floor((u - jnp.float32(0.5)) * jnp.float32(2.0) * span)
    d = jnp.where(u < jnp.float32(0.5), near, jnp.maximum(far, jnp.float32(NEAR_TICKS)))
    return jnp.minimum(d, k)


def kept_ticks_behind(action: jax.Array, k_max: jax.Array, known_behind: jax.Array, known_live: jax.Array,
                      requote_margin: jax.Array) -> jax.Array:
    """[..., 2] int32 ticks behind each touch: the mapping's, or the known order's ``known_behind`` where
    ``known_live`` and some action within ``requote_margin`` of ``action`` maps to it (the module docstring)."""
    a = action.astype(jnp.float32)
    m = jnp.asarray(requote_margin, jnp.float32)[..., None]
    d = ticks_behind(a, k_max).astype(jnp.int32)
    lo = ticks_behind(a - m, k_max).astype(jnp.int32)
    hi = ticks_behind(a + m, k_max).astype(jnp.int32)
    # only a place in a displayed queue is worth keeping: an order ahead of the touch (d_k < 0) is alone at its price
    keep = known_live & (known_behind >= 0) & (lo <= known_behind) & (known_behind <= hi)
    return jnp.where(keep, known_behind, d)


def quote_prices(
    action: jax.Array,  # [..., 2] in [-1, 1]: bid, ask
    best_bid: jax.Array,  # [...] int32 ticks of the decision's book row
    best_ask: jax.Array,  # [...] int32
    mid_ticks: jax.Array,  # [...] float32
    anchor_ticks: float,
    max_offset_bps: jax.Array,
    known_px: jax.Array | None = None,  # [..., 2] int32 oriented (bid, -ask) of the known orders; NO_ORDER_PX: none
    requote_margin: jax.Array | float = 0.0,  # [...] EnvKnobs.requote_margin, action units
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(bid, ask) int32 ticks and quoting [..., 2] bool (False = pulled) for a decision at this book row,
    keeping a known order's price within ``requote_margin`` (the module docstring; ``known_px=None``: none known)."""
    k_max = max_ticks(mid_ticks, anchor_ticks, max_offset_bps)
    if known_px is None:
        d = ticks_behind(action, k_max).astype(jnp.int32)
    else:
        best = jnp.stack([best_bid, -best_ask], axis=-1)  # oriented: ticks behind = best - known
        live = known_px != NO_ORDER_PX
        d = kept_ticks_behind(action, k_max, jnp.where(live, best - known_px, 0), live, requote_margin)
    bid = best_bid - d[..., 0]
    ask = best_ask + d[..., 1]
    # improving by one tick needs a spread of two ticks or more: else it joins (a maker never crosses)
    bid = jnp.minimum(bid, jnp.maximum(best_ask - 1, best_bid))
    ask = jnp.maximum(ask, jnp.minimum(best_bid + 1, best_ask))
    quoting = action <= jnp.float32(PULL_ABOVE)
    # both improving into a two-tick spread would meet at one price: the bid takes it, the ask joins
    ask = jnp.where(quoting[..., 0], jnp.maximum(ask, bid + 1), ask)
    return bid, ask, quoting
