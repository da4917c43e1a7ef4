"""The NumPy twin's quoting rules: the action mapping, the inventory gate, the order messages, and `decide`
(the step that composes them: the decision at row t -> the messages it sends).

Part of `mmjax.env.sim_np` (which re-exports every name here; callers use ``sim_np.quote_prices`` and so
on), split off to keep each file one job: a decision -> quotes -> messages. The JAX twins are
`mmjax.env.actions` and `mmjax.env.steps` (docs/env.md's table). NumPy/stdlib only: the live path imports it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from functools import lru_cache

from mmjax.env.knobs import ACTION_NEAR_TICKS, ACTION_PULL_ABOVE, action_range_ticks
from mmjax.env.sim_types import Book, Quotes, SimParams, SimState

_F32_PACK, _F32_UNPACK = struct.Struct("f").pack, struct.Struct("f").unpack


def f32(x: float) -> float:
    """``x`` rounded to float32 (an exact float32 operation is the float64 one rounded: 53 >= 2*24 + 2)."""
    return _F32_UNPACK(_F32_PACK(x))[0]


# the mapping's constants, rounded to float32 once (the device env's literals)
_F32_PULL_ABOVE = f32(ACTION_PULL_ABOVE)
_F32_U_SCALE = f32(1.0 / (1.0 + ACTION_PULL_ABOVE))
_F32_NEAR_BANDS = f32(2 * (ACTION_NEAR_TICKS + 1))


def quote_prices(action: Sequence[float], best_bid: int, best_ask: int, mid_ticks: float, anchor_ticks: int,
                 max_offset_bps: float, known: Quotes = (None, None), requote_margin: float = 0.0) -> Quotes:
    """The action mapping (`mmjax.env.actions`), its float32 operations one by one: (bid, ask) ticks, None = pulled.

    ``known``: the orders the agent knows of (None: none), whose price a side keeps while an action within
    ``requote_margin`` of its own maps to it (`mmjax.env.actions.kept_ticks_behind`).
    """
    k = _k_max(max_offset_bps, mid_ticks, anchor_ticks)
    a_bid, a_ask = f32(action[0]), f32(action[1])
    d_bid, d_ask = _ticks_behind_f32(a_bid, k), _ticks_behind_f32(a_ask, k)
    best_bid, best_ask = int(best_bid), int(best_ask)
    if requote_margin:
        m = f32(requote_margin)
        if known[0] is not None:
            d_bid = _kept(a_bid, d_bid, best_bid - known[0], k, m)
        if known[1] is not None:
            d_ask = _kept(a_ask, d_ask, known[1] - best_ask, k, m)
    # improving by one tick needs a spread of two ticks or more: else it joins (a maker never crosses)
    # bid = min(best_bid - d_bid, max(best_ask - 1, best_bid)), ask = max(best_ask + d_ask, min(best_bid + 1, best_ask))
    # (ints: conditionals instead of the builtins' calls, every live row)
    bid, inner = best_bid - d_bid, best_ask - 1
    inner = inner if inner > best_bid else best_bid
    bid = bid if bid < inner else inner
    ask, inner = best_ask + d_ask, best_bid + 1
    inner = inner if inner < best_ask else best_ask
    ask = ask if ask > inner else inner
    bid_on, ask_on = a_bid <= _F32_PULL_ABOVE, a_ask <= _F32_PULL_ABOVE
    if bid_on and ask <= bid:  # ask = max(ask, bid + 1): both improving into a two-tick spread, the bid takes the free tick
        ask = bid + 1
    return (bid if bid_on else None), (ask if ask_on else None)


def _kept(a: float, d: int, known_behind: int, k_max: int, m: float) -> int:
    """`mmjax.env.actions.kept_ticks_behind` for one side: ``known_behind`` if d(a - m) <= it <= d(a + m) and it is
    >= 0, else d.

    ``a`` and ``m`` are float32 values, so ``f32(a -+ m)`` is the device's float32 subtraction and addition.
    """
    if d == known_behind or known_behind < 0:  # an order ahead of the touch has no queue place to keep
        return d
    lo, hi = _ticks_behind_f32(f32(a - m), k_max), _ticks_behind_f32(f32(a + m), k_max)
    return known_behind if lo <= known_behind <= hi else d


@lru_cache(maxsize=1024)  # the mid repeats from row to row, and the live trader maps an action every row
def _k_max(max_offset_bps: float, mid_ticks: float, anchor_ticks: int) -> int:
    """K (`mmjax.env.knobs.action_range_ticks`, its one home) as an int."""
    return int(action_range_ticks(mid_ticks, anchor_ticks, max_offset_bps))


def ticks_behind(action: float, k_max: int) -> int:
    """Ticks behind the touch for one side's action in [-1, 1] (-1 improves), ignoring the pull; <= k_max."""
    return _ticks_behind_f32(f32(action), k_max)


def _ticks_behind_f32(a: float, k_max: int) -> int:
    """`ticks_behind` of an action already rounded to float32 (`quote_prices` rounds it once for both uses)."""
    a = -1.0 if a < -1.0 else 1.0 if a > 1.0 else a  # min(max(a, -1), 1), NaN kept, without two builtin calls
    # near the touch, float64 gives the float32 chain's answer unless a band edge is within 1e-5 (the chain's
    # u * bands lies within 2e-6 of it); near an edge and on the far half the chain decides (test_sim_np)
    v = (a + 1.0) * _F32_U_SCALE
    if v < 0.5 - 1e-6:
        y = v * _F32_NEAR_BANDS
        f = math.floor(y)
        if 1e-5 < y - f < 1.0 - 1e-5:
            return f - 1 if f - 1 < k_max else k_max
    u = f32(f32(a + 1.0) * _F32_U_SCALE)
    if u < 0.5:  # near the touch: one band per tick
        d = math.floor(f32(u * _F32_NEAR_BANDS)) - 1
    else:  # far: linear up to k_max
        span = f32(max(k_max - ACTION_NEAR_TICKS, 0) + 1)
        d = max(ACTION_NEAR_TICKS + math.floor(f32(f32(f32(u - 0.5) * 2.0) * span)), ACTION_NEAR_TICKS)
    return min(d, k_max)


def gate_quotes(quotes: Quotes, inventory_lots: int, max_lots: int) -> Quotes:
    """The inventory limit at decision time, in whole lots: no bid at q >= max, no ask at q <= -max."""
    return (quotes[0] if inventory_lots < max_lots else None, quotes[1] if inventory_lots > -max_lots else None)


def order_messages(known: Quotes, quotes: Quotes) -> tuple[bool, bool]:
    """Which sides send a message: the known order's price sends nothing, anything else a cancel/replace."""
    return (quotes[0] != known[0], quotes[1] != known[1])


def decide(state: SimState, action: Sequence[float], book: Book, p: SimParams) -> SimState:
    """The decision at row t from ``book`` (row t), the inventory at t and the orders known at t -> messages."""
    k = p.knobs
    quotes = quote_prices(action, book.bid_px[0], book.ask_px[0], book.mid, p.anchor_ticks, k.max_offset_bps,
                          state.known, k.requote_margin)
    quotes = gate_quotes(quotes, state.account.inventory_lots, p.max_lots)
    msg = order_messages(state.known, quotes)
    return SimState(state.bid, state.ask, (*state.pipeline, quotes), state.account, (*state.messages, msg), quotes,
                    state.age, state.since_fill)  # the constructor, every field: _replace is 3x slower (every live row)
