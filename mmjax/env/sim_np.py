"""The market-making simulator in NumPy/plain Python: the one NumPy home of its rules (docs/env.md).

The rules exist twice, on purpose: here, and in JAX (`mmjax.env.fills`, `mmjax.env.market_env`);
tests/test_reference.py pins the two together. This twin is written per side in plain code, with
float64 money and the float32 arithmetic of the quote mapping reproduced exactly, so that agreement
is evidence that both implement the rules. Two callers drive it: `mmjax.env.reference` (a gymnasium
env over a replay) and the live paper trader (`mmjax.live.trader`), one grid row at a time.

Each rule is one function, named as in docs/env.md:

    quote_prices        The action mapping: ticks behind each touch, or a pulled side (float32, like the device env)
    ticks_behind        The action mapping: one side's action -> ticks behind its touch
    gate_quotes         Inventory limit: a side at the limit does not quote (whole lots)
    order_messages      The order lifecycle: a decision -> messages against the known orders
    arrive              Orders and the queue: a message reaches the venue (post-only, stored depth)
    within_depth        Orders and the queue: is the book at a price known
    trade_reach         Fills: is there flow beyond the order's price, and how much traded at it
    is_crossed          Fills: the opposite touch moved through the order
    fill_lots           Fills: lots filled, capped by the inventory room; fill_kind says how
    queue_after         Fills: queue ahead after the interval's trades; bound_queue: by the book
    known_after         The order lifecycle: what the agent knows at its next decision
    fill_fee            Fees
    book_fills          Cash, entry price and inventory after the fills
    mark                PnL marked to the mid
    agent_features      Observation: inventory_frac, time_left_frac, unrealized_pnl_scaled
    reward              Reward: dPnL - risk - dampening

and the step functions compose them over an immutable `SimState` (the values, `SimParams`, `Book`,
`Trades`, `Order`, `Fill`, `Account`, `SimState`, `Settlement`, live in `mmjax.env.sim_types` and are
re-exported here):

    state = reset(mid0, params)                       # no orders, L - 1 empty slots in flight
    state = decide(state, action, book_t, params)     # the decision at row t -> order messages
    state, s = settle(state, book_s, book_s1, trades_s, params)   # the interval (s, s+1], then arrivals at s+1
    state = cancel_all(state, params)                 # a gap: orders and messages in flight dropped

The pipeline is first in, first out: `decide` appends, `settle` pops the message arriving at s+1
after the interval (nothing when empty), so a message arrives exactly ``latency_steps`` steps
after its decision whichever of the two a step calls first.

Prices are ticks from the recording's anchor (ints, or integral floats); sizes are venue size
units; money is $. On an inverse contract (`SimParams.contract_type`) sizes are contracts and the
account's cash and fees are coin, its PnL $ (docs/env.md, "Inverse contracts"). NumPy and stdlib
only: the live path imports this module.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from functools import lru_cache

from mmjax.data.layout import (  # noqa: F401 - DEFAULT_LOT_SIZE re-exported for the live trader
    DEFAULT_LOT_SIZE,
    FILL_CROSSED,
    FILL_QUEUE,
    FILL_THROUGH,
    LOT_CAP,
)
from mmjax.env.knobs import ACTION_NEAR_TICKS, ACTION_PULL_ABOVE
from mmjax.env.sim_types import (  # noqa: F401 - the simulator's values, re-exported
    ASK,
    BID,
    NO_FILL,
    NO_KIND,
    NO_TRADES,
    Account,
    Book,
    Fill,
    Inverse,
    Order,
    Quotes,
    Settlement,
    SimParams,
    SimState,
    Trades,
)

# ---------------------------------------------------------------------------------------------
# QUOTING

_F32_PACK, _F32_UNPACK = struct.Struct("f").pack, struct.Struct("f").unpack


def f32(x: float) -> float:
    """``x`` rounded to float32 (an exact float32 operation is the float64 one rounded: 53 >= 2*24 + 2)."""
    return _F32_UNPACK(_F32_PACK(x))[0]


# the mapping's constants rounded to float32 once (the device env's literals)
_F32_PULL_ABOVE = f32(ACTION_PULL_ABOVE)
_F32_U_SCALE = f32(1.0 / (1.0 + ACTION_PULL_ABOVE))
_F32_NEAR_BANDS = f32(2 * (ACTION_NEAR_TICKS + 1))


def quote_prices(action: Sequence[float], best_bid: int, best_ask: int, mid_ticks: float, anchor_ticks: int,
                 max_offset_bps: float) -> Quotes:
    """The action mapping (`mmjax.env.actions`), its float32 operations one by one: (bid, ask) ticks, None = pulled."""
    k = _k_max(max_offset_bps, mid_ticks, anchor_ticks)
    a_bid, a_ask = f32(action[0]), f32(action[1])
    d_bid, d_ask = ticks_behind(a_bid, k), ticks_behind(a_ask, k)
    best_bid, best_ask = int(best_bid), int(best_ask)
    # improving by one tick needs a spread of two ticks or more: else it joins (a maker never crosses)
    bid = min(best_bid - d_bid, max(best_ask - 1, best_bid))
    ask = max(best_ask + d_ask, min(best_bid + 1, best_ask))
    bid_on, ask_on = a_bid <= _F32_PULL_ABOVE, a_ask <= _F32_PULL_ABOVE
    if bid_on:
        ask = max(ask, bid + 1)  # both improving into a two-tick spread: the bid takes the free tick
    return (bid if bid_on else None), (ask if ask_on else None)


@lru_cache(maxsize=1024)  # the mid repeats from row to row, and the live trader maps an action every row
def _k_max(max_offset_bps: float, mid_ticks: float, anchor_ticks: int) -> int:
    """The action range: the most ticks behind the touch, max_offset_bps of the mid (float32), >= 1."""
    return max(math.floor(f32(f32(f32(max_offset_bps) * f32(f32(mid_ticks) + f32(anchor_ticks))) * f32(1e-4))), 1)


def ticks_behind(action: float, k_max: int) -> int:
    """Ticks behind the touch for one side's action in [-1, 1] (-1 improves), ignoring the pull; <= k_max."""
    a = min(max(f32(action), -1.0), 1.0)
    # near the touch, float64 gives the float32 chain's answer unless a band edge is within 1e-5 (the chain's
    # u * bands lies within 2e-6 of it); near an edge and on the far half the chain decides (test_sim_np)
    v = (a + 1.0) * _F32_U_SCALE
    if v < 0.5 - 1e-6:
        y = v * _F32_NEAR_BANDS
        f = math.floor(y)
        if 1e-5 < y - f < 1.0 - 1e-5:
            return min(f - 1, k_max)
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


# ---------------------------------------------------------------------------------------------
# ORDERS, THE QUEUE AND FILLS


def displayed_size(level_px: Sequence[float], level_sz: Sequence[float], px: int) -> float | None:
    """Size shown at ``px`` on one side of a book row, or None when px is not one of its levels."""
    n = level_px.count(px)
    if n == 0:
        return None
    if n == 1:
        return level_sz[level_px.index(px)]
    return sum(s for p, s in zip(level_px, level_sz, strict=True) if p == px)


def within_depth(side: str, px: int, book: Book) -> bool:
    """Whether the book at ``px`` is known: a row showing fewer levels than stored shows the whole
    book; a full row is known down to its deepest stored level."""
    level_px, level_sz = (book.bid_px, book.bid_sz) if side == BID else (book.ask_px, book.ask_sz)
    if level_sz[-1] <= 0:
        return True
    return px >= level_px[-1] if side == BID else px <= level_px[-1]


def arrive(side: str, order: Order | None, px: int | None, book: Book, p: SimParams) -> tuple[Order | None, bool]:
    """A message reaches the venue at ``book``'s row: (the side's order, rejected by post-only).

    It replaces the side's order (``px`` None: a cancel) by a fresh one of quote_size, unless that
    is at or through the opposite touch: post-only rejects it. The fresh order queues behind the
    lots displayed at its price (0 when it improves the touch or falls between levels), or behind an
    unknown queue (LOT_CAP, flagged beyond) when the price is beyond the stored depth.
    """
    if px is None:
        return None, False
    if (book.ask_px[0] <= px) if side == BID else (book.bid_px[0] >= px):
        return None, True
    if not within_depth(side, px, book):
        return Order(px, p.quote_lots, LOT_CAP, True), False
    level_px, level_sz = (book.bid_px, book.bid_sz) if side == BID else (book.ask_px, book.ask_sz)
    shown = displayed_size(level_px, level_sz, px)
    return Order(px, p.quote_lots, 0 if shown is None else p.lots(shown)), False


def trade_reach(side: str, px: int, trades: Trades, p: SimParams) -> tuple[bool, int]:
    """(flow traded beyond px, lots traded exactly at px) over one interval, against an order at ``px``."""
    at, beyond = 0.0, False
    prices, vols = (trades.sell_px, trades.sell_vol) if side == BID else (trades.buy_px, trades.buy_vol)
    for q, v in zip(prices, vols, strict=True):
        if v <= 0:
            continue  # padding
        if q == px:
            at += v
        elif (q < px) if side == BID else (q > px):
            beyond = True
    return beyond, p.lots(at)


def is_crossed(side: str, px: int, book_s: Book, book_s1: Book) -> bool:
    """The opposite touch of row s or s+1 reached the order's price: the whole remainder fills at px."""
    if side == BID:
        return book_s.ask_px[0] <= px or book_s1.ask_px[0] <= px
    return book_s.bid_px[0] >= px or book_s1.bid_px[0] >= px


def fill_lots(remaining: int, queue_ahead: int, at_lots: int, through: bool, crossed: bool, room: int) -> int:
    """Flow beyond px (its level had to empty first) or a crossing fills the order; lots at px eat the
    queue ahead first; capped by the inventory room (lots)."""
    n = remaining if crossed or through else min(remaining, max(0, at_lots - queue_ahead))
    return min(n, max(room, 0))


def fill_kind(n: int, through: bool, crossed: bool) -> int:
    """How a fill of ``n`` lots happened (mmjax.data.layout codes; NO_KIND without a fill)."""
    if n == 0:
        return NO_KIND
    return FILL_CROSSED if crossed else FILL_THROUGH if through else FILL_QUEUE


def queue_after(queue_ahead: int, at_lots: int, through: bool) -> int:
    """Queue ahead after the interval's trades: flow beyond px cleared it, lots at px ate it."""
    return 0 if through else max(0, queue_ahead - at_lots)


def bound_queue(side: str, order: Order, book: Book, p: SimParams) -> Order:
    """A resting order's queue cannot exceed what ``book`` displays at its price within the stored
    depth: cancellations ahead shrink it, an emptied level makes it 0 (risk-averse queue)."""
    if not within_depth(side, order.price, book):
        return order
    level_px, level_sz = (book.bid_px, book.bid_sz) if side == BID else (book.ask_px, book.ask_sz)
    shown = displayed_size(level_px, level_sz, order.price)
    cap = 0 if shown is None else p.lots(shown)
    if order.queue_ahead <= cap and not order.beyond:
        return order
    return Order(order.price, order.remaining, min(order.queue_ahead, cap), False)


def settle_order(side: str, order: Order | None, book_s: Book, book_s1: Book, trades: Trades,
                 room: int, p: SimParams) -> tuple[Order | None, Fill]:
    """One side over (s, s+1]: the order after the interval (its queue bounded by row s+1) and its fill."""
    if order is None or order.remaining <= 0:
        return order, NO_FILL
    px = order.price
    through, at_lots = trade_reach(side, px, trades, p)
    crossed = is_crossed(side, px, book_s, book_s1)
    n = fill_lots(order.remaining, order.queue_ahead, at_lots, through, crossed, room)
    kind = fill_kind(n, through, crossed)
    after = Order(px, order.remaining - n, queue_after(order.queue_ahead, at_lots, through), order.beyond)
    return bound_queue(side, after, book_s1, p), Fill(n * p.lot, px, kind == FILL_CROSSED, kind, n, order.beyond)


def known_after(known: int | None, order: Order | None, in_flight: bool) -> int | None:
    """What the agent knows at its next decision: an order it saw end (filled, rejected) is gone,
    unless a newer message is in flight (then the known order is that message's)."""
    if in_flight or (order is not None and order.remaining > 0):
        return known
    return None


# ---------------------------------------------------------------------------------------------
# THE ACCOUNT


def fill_fee(bid: Fill, ask: Fill, p: SimParams) -> float:
    """Maker fee on the fills' notional, in the account's currency ($; inverse: coin), negative = rebate."""
    anchor = p.anchor_ticks
    inv = p.inverse
    if inv is not None:  # the notional of s contracts is s V $, i.e. s V / P coin at the fill price P
        coin = sum(f.size * inv.value / inv.usd(f.price, p.tick_size) for f in (bid, ask) if f.size)
        return p.knobs.maker_fee_bps * 1e-4 * coin
    return p.knobs.maker_fee_bps * 1e-4 * p.tick_size * (bid.size * (bid.price + anchor) + ask.size * (ask.price + anchor))


def update_entry(entry: float, q: float, dq: float, px: float) -> float:
    """Average entry price (ticks from mid0) after trading ``dq`` at ``px`` from inventory ``q``."""
    q1 = q + dq
    if dq == 0:
        return 0.0 if q1 == 0 else entry
    if q1 == 0:
        return 0.0
    if q * dq > 0:
        return (abs(q) * entry + abs(dq) * px) / abs(q1)
    if q1 * q <= 0:
        return px  # opened from flat or flipped through zero
    return entry  # reduced


def book_fills(acct: Account, bid: Fill, ask: Fill, fee: float, tick: float, lot: float,
               inverse: Inverse | None = None) -> Account:
    """Cash, entry price and inventory after one interval's fills (the bid's applied first); pnl unchanged.

    ``inverse``: the contract is inverse, cash and ``fee`` are coin (s contracts bought at P add s V (1/P - 1/M0)).
    """
    q, mid0 = acct.inventory, acct.mid0
    if inverse is None:
        cash = acct.cash + (-bid.size * (bid.price - mid0) * tick + ask.size * (ask.price - mid0) * tick - fee)
    else:
        m0 = inverse.usd(mid0, tick)
        coin = [s * inverse.value * (1.0 / inverse.usd(f.price, tick) - 1.0 / m0) if f.size else 0.0
                for f, s in ((bid, bid.size), (ask, -ask.size))]
        cash = acct.cash + (coin[0] + coin[1] - fee)
    entry = update_entry(acct.entry, q, bid.size, bid.price - mid0)
    entry = update_entry(entry, q + bid.size, -ask.size, ask.price - mid0)
    q_lots = acct.inventory_lots + bid.lots - ask.lots
    return Account(mid0, q_lots * lot, cash, entry, acct.pnl, q_lots)


def mark(acct: Account, mid: float, tick: float, inverse: Inverse | None = None) -> Account:
    """PnL marked to ``mid`` (ticks from anchor), $; ``inverse``: the coin PnL (cash - q V (1/M - 1/M0)) times M."""
    if inverse is None:
        return Account(acct.mid0, acct.inventory, acct.cash, acct.entry, acct.cash + acct.inventory * (mid - acct.mid0) * tick,
                       acct.inventory_lots)  # the constructor: _replace is 3x slower (every live row)
    m, m0 = inverse.usd(mid, tick), inverse.usd(acct.mid0, tick)
    return acct._replace(pnl=(acct.cash - acct.inventory * inverse.value * (1.0 / m - 1.0 / m0)) * m)


# ---------------------------------------------------------------------------------------------
# OBSERVATION AND REWARD


def agent_features(acct: Account, mid: float, time: int, p: SimParams) -> tuple[float, float, float]:
    """inventory_frac, time_left_frac (``time`` = steps into the episode), unrealized_pnl_scaled."""
    k, inv = p.knobs, p.inverse
    if inv is None:
        upnl = acct.inventory * (mid - acct.mid0 - acct.entry) * p.tick_size
        notional_bp = k.max_inventory * (mid + p.anchor_ticks) * p.tick_size * 1e-4
    else:  # the open contracts' coin PnL q V (1/P_e - 1/M) at M $; the notional of max_inventory contracts
        m, entry = inv.usd(mid, p.tick_size), inv.usd(acct.mid0 + acct.entry, p.tick_size)
        upnl = acct.inventory * inv.value * (1.0 / entry - 1.0 / m) * m
        notional_bp = k.max_inventory * inv.value * 1e-4
    # 1.0 = a full inventory carrying a gain of max_offset_bps
    E = k.episode_steps
    return (acct.inventory / k.max_inventory, (E - time) / E, upnl / (notional_bp * max(k.max_offset_bps, 1e-6)))


def reward(dpnl: float, q: float, sigma_ticks: float, mid_t: float, mid_t1: float,
           p: SimParams) -> tuple[float, float, float]:
    """(reward, risk penalty, dampening penalty) of one step, $; q is the inventory held over the interval (venue units)."""
    k, tick = p.knobs, p.tick_size
    if p.inverse is not None:  # contracts -> the coin-equivalent position q V / M, whose $ PnL is that x the move
        q = q * p.inverse.value / p.inverse.usd(mid_t, tick)
    sigma_px = sigma_ticks * tick  # $ per sqrt(s) per unit size
    risk = k.risk_aversion * q * q * sigma_px**2 * p.dt_s
    damp = k.eta * max(0.0, q * (mid_t1 - mid_t) * tick)
    return dpnl - risk - damp, risk, damp


# ---------------------------------------------------------------------------------------------
# STEPS


def reset(mid0: float, p: SimParams) -> SimState:
    """No orders, nothing known, ``latency_steps - 1`` empty slots in flight, a flat account at ``mid0``."""
    n = p.knobs.latency_steps - 1
    return SimState(None, None, ((None, None),) * n, Account(mid0), ((False, False),) * n)


def cancel_all(state: SimState, p: SimParams) -> SimState:
    """A gap: venue orders and messages in flight are dropped; the account (a real position) is kept."""
    return reset(state.account.mid0, p)._replace(account=state.account)


def decide(state: SimState, action: Sequence[float], book: Book, p: SimParams) -> SimState:
    """The decision at row t from ``book`` (row t), the inventory at t and the orders known at t -> messages."""
    k = p.knobs
    quotes = quote_prices(action, book.bid_px[0], book.ask_px[0], book.mid, p.anchor_ticks, k.max_offset_bps)
    quotes = gate_quotes(quotes, state.account.inventory_lots, p.max_lots)
    msg = order_messages(state.known, quotes)
    return SimState(state.bid, state.ask, (*state.pipeline, quotes), state.account, (*state.messages, msg), quotes)


def settle(state: SimState, book_s: Book, book_s1: Book, trades: Trades, p: SimParams) -> tuple[SimState, Settlement]:
    """The interval (s, s+1]: the venue orders fill, the account marks at s+1, then the messages
    arriving at s+1 act against row s+1, and the agent learns which known orders ended."""
    tick, lot = p.tick_size, p.lot
    q = state.account.inventory_lots
    bid, bid_fill = settle_order(BID, state.bid, book_s, book_s1, trades, p.max_lots - q, p)
    ask, ask_fill = settle_order(ASK, state.ask, book_s, book_s1, trades, p.max_lots + q, p)
    fee = fill_fee(bid_fill, ask_fill, p)
    acct, inv = state.account, p.inverse
    if bid_fill.size or ask_fill.size:  # no fill leaves cash, entry and inventory exactly as they are
        acct = book_fills(acct, bid_fill, ask_fill, fee, tick, lot, inv)
    acct = mark(acct, book_s1.mid, tick, inv)
    if inv is not None:
        fee *= inv.usd(book_s1.mid, tick)  # coin -> $ at the mark
    pipeline, messages = state.pipeline, state.messages
    rejected = [False, False]
    if pipeline:
        (bid_px, ask_px), (bid_msg, ask_msg) = pipeline[0], messages[0]
        pipeline, messages = pipeline[1:], messages[1:]
        if bid_msg:
            bid, rejected[0] = arrive(BID, bid, bid_px, book_s1, p)
        if ask_msg:
            ask, rejected[1] = arrive(ASK, ask, ask_px, book_s1, p)
    known = (known_after(state.known[0], bid, any(m[0] for m in messages)),
             known_after(state.known[1], ask, any(m[1] for m in messages)))
    return (SimState(bid, ask, pipeline, acct, messages, known),
            Settlement(bid_fill, ask_fill, fee, acct.pnl - state.account.pnl, rejected[0], rejected[1]))
