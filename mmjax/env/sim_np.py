"""The market-making simulator in NumPy/plain Python: the one NumPy home of its rules (docs/env.md).

The rules exist twice, on purpose: here, and in JAX (`mmjax.env.fills`, `mmjax.env.market_env`);
tests/test_reference.py pins the two together. This twin is written per side in plain code, with
float64 money and the float32 arithmetic of the quote mapping reproduced exactly, so that agreement
is evidence that both implement the rules. Two callers drive it: `mmjax.env.reference` (a gymnasium
env over a replay) and the live paper trader (`mmjax.live.trader`), one grid row at a time.

Each rule is one function, named as in docs/env.md:

    quote_prices        Action -> quotes (float32, like the device env)
    gate_quotes         Inventory limit: a side at the limit does not quote
    join_queue          Orders and the queue: a decision goes live
    trade_volumes       Fills: taker volume at and through the order's price
    is_crossed          Fills: the opposite touch moved through the order
    fill_size           Fills: size filled, capped by the inventory room
    queue_after         Fills: queue ahead after the interval, with cancellations
    fill_fee            Fees
    book_fills          Cash, entry price and inventory after the fills
    mark                PnL marked to the mid
    agent_features      Observation: inventory_frac, time_left_frac, unrealized_pnl_scaled
    reward              Reward: dPnL - risk - dampening

and the step functions compose them over an immutable `SimState`:

    state = reset(mid0, params)                       # no orders, L empty decisions in flight
    state = decide(state, action, book_t, params)     # the decision at row t (inventory at t)
    state, s = settle(state, book_s, book_s1, trades_s, params)   # the interval (s, s+1]
    state = cancel_all(state, params)                 # a gap: orders and decisions in flight dropped

The pipeline is first in, first out: `settle` puts the oldest decision live, `decide` appends, so a
decision waits exactly ``latency_steps`` settles whichever of the two a step calls first.

Prices are ticks from the recording's anchor (ints, or integral floats); sizes are venue size
units; money is $. NumPy and stdlib only: the live path imports this module.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mmjax.env.knobs import EnvKnobs

BID, ASK = "bid", "ask"


@dataclass(frozen=True)
class SimParams:
    """What the rules need besides the state: the knobs and the market's units."""

    knobs: EnvKnobs
    tick_size: float  # $ per tick
    anchor_ticks: int  # absolute price of tick 0, ticks
    dt_s: float  # seconds per grid step (grid_ms / 1000)


class Book(NamedTuple):
    """One book row in ticks from the anchor, levels best first; an empty level has size 0."""

    bid_px: Sequence[float]  # [L] ticks, descending
    bid_sz: Sequence[float]  # [L] venue size units
    ask_px: Sequence[float]  # [L] ticks, ascending
    ask_sz: Sequence[float]  # [L]

    @property
    def mid(self) -> float:
        """Mid price, ticks from the anchor (a half-integer)."""
        return (self.bid_px[0] + self.ask_px[0]) / 2.0


class Trades(NamedTuple):
    """Taker trades of one interval (s, s+1] by side: prices (ticks) and their volumes, any order or padding."""

    sell_px: Sequence[float]  # taker sells: they hit bids
    sell_vol: Sequence[float]
    buy_px: Sequence[float]  # taker buys: they lift asks
    buy_vol: Sequence[float]


NO_TRADES = Trades((), (), (), ())


class Order(NamedTuple):
    """A live resting order."""

    price: int  # ticks from the anchor
    remaining: float  # venue size units still to fill
    queue_ahead: float  # displayed size ahead of us at price


class Fill(NamedTuple):
    """What one side filled over an interval (size 0: nothing; price 0 when the side had no order)."""

    size: float
    price: int  # the order's own price, ticks
    crossed: bool  # filled because the opposite touch moved through it


NO_FILL = Fill(0.0, 0, False)
Quotes = tuple[int | None, int | None]  # (bid, ask) ticks of one decision; None = that side does not quote


class Account(NamedTuple):
    """Money since ``mid0`` (the env's episode start, the live session's first row), in $."""

    mid0: float  # ticks from anchor: cash is relative to holding the traded size at mid0
    inventory: float = 0.0  # venue size units, + long
    cash: float = 0.0  # $
    entry: float = 0.0  # average entry price of the inventory, ticks from mid0
    pnl: float = 0.0  # $ marked to the mid: cash + inventory * (mid - mid0) * tick


class SimState(NamedTuple):
    """Orders, decisions in flight and the account."""

    bid: Order | None  # live orders (after the last settle)
    ask: Order | None
    pipeline: tuple[Quotes, ...]  # decisions not yet live, oldest first
    account: Account


class Settlement(NamedTuple):
    """The result of one interval."""

    bid: Fill
    ask: Fill
    fee: float  # $, negative = rebate
    dpnl: float  # $ change of the marked PnL over the interval


# ---------------------------------------------------------------------------------------------
# QUOTING

_F32_PACK, _F32_UNPACK = struct.Struct("f").pack, struct.Struct("f").unpack


def f32(x: float) -> float:
    """``x`` rounded to float32 (an exact float32 operation is the float64 one rounded: 53 >= 2*24 + 2)."""
    return _F32_UNPACK(_F32_PACK(x))[0]


def quote_prices(action: Sequence[float], mid_ticks: float, best_bid: int, best_ask: int, max_offset_bps: float,
                 anchor_ticks: int) -> tuple[int, int]:
    """Action (bid, ask) in [-1, 1] -> integer (bid, ask) ticks, the device env's float32 mapping exactly.

    offset = (a + 1) / 2 * max_offset_bps * (mid + anchor) * 1e-4 ticks; bid = floor(mid - offset_bid),
    ask = ceil(mid + offset_ask); then strictly on our side of the mid and never through the touch.

    Computed in float64, checked against float32: the float32 chain (``_round_quotes_f32``) rounds
    ~10 times, each by <= 2^-24 relative, so its prices lie within ~1.3e-6 * (scale + |mid|) of
    the float64 ones (scale = the offset at a = 0, ticks). Where the float64 price is farther than
    ``tol`` (3x that) from an integer both round alike; nearer, the float32 chain decides (a few %
    of quotes; tests/test_sim_np.py compares the two on adversarial inputs).
    """
    mid = f32(mid_ticks)
    a_bid = -1.0 if action[0] < -1.0 else (1.0 if action[0] > 1.0 else action[0])
    a_ask = -1.0 if action[1] < -1.0 else (1.0 if action[1] > 1.0 else action[1])
    scale = 0.5 * max_offset_bps * (mid + anchor_ticks) * 1e-4
    x_bid = mid - (a_bid + 1.0) * scale
    x_ask = mid + (a_ask + 1.0) * scale
    tol = 4e-6 * (abs(scale) + abs(mid) + 1.0)
    bid, ask = math.floor(x_bid - tol), math.ceil(x_ask + tol)
    if bid != math.floor(x_bid + tol) or ask != math.ceil(x_ask - tol):
        bid, ask = _round_quotes_f32(action, mid, max_offset_bps, anchor_ticks)
    bid = min(bid, math.ceil(mid) - 1, int(best_ask) - 1)  # strictly below mid, never a taker
    ask = max(ask, math.floor(mid) + 1, int(best_bid) + 1)
    return bid, ask


def _round_quotes_f32(action: Sequence[float], mid: float, max_offset_bps: float, anchor_ticks: int) -> tuple[int, int]:
    """The device env's float32 arithmetic, operation by operation (`mmjax.env.fills.quote_prices`)."""
    ticks_per_bps = f32(f32(mid + f32(anchor_ticks)) * f32(1e-4))
    max_off = f32(max_offset_bps)
    a_bid = min(max(f32(action[0]), -1.0), 1.0)
    a_ask = min(max(f32(action[1]), -1.0), 1.0)
    off_bid = f32(f32(f32(f32(a_bid + 1.0) * 0.5) * max_off) * ticks_per_bps)
    off_ask = f32(f32(f32(f32(a_ask + 1.0) * 0.5) * max_off) * ticks_per_bps)
    return math.floor(f32(mid - off_bid)), math.ceil(f32(mid + off_ask))


def gate_quotes(bid: int, ask: int, inventory: float, max_inventory: float) -> Quotes:
    """The inventory limit at decision time: no bid at q >= max_inventory, no ask at q <= -max_inventory."""
    return (bid if inventory < max_inventory else None, ask if inventory > -max_inventory else None)


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


def join_queue(order: Order | None, px: int | None, level_px: Sequence[float], level_sz: Sequence[float],
               quote_size: float) -> Order | None:
    """A decision goes live at row s: same price and remaining > 0 keeps the order and its queue, else a fresh one.

    A fresh order queues behind what row s displays at its price; 0 when the price improves the
    touch or is no displayed level. ``px`` None cancels the side.
    """
    if px is None:
        return None
    if order is not None and order.price == px and order.remaining > 0:
        return order
    shown = displayed_size(level_px, level_sz, px)
    return Order(px, quote_size, 0.0 if shown is None else shown)


def trade_volumes(side: str, px: int, trades: Trades) -> tuple[float, float]:
    """Taker volume against an order at ``px`` over one interval: (exactly at px, strictly through px)."""
    at = through = 0.0
    if side == BID:  # taker sells at px or lower
        for p, v in zip(trades.sell_px, trades.sell_vol, strict=True):
            if p == px:
                at += v
            elif p < px:
                through += v
    else:  # taker buys at px or higher
        for p, v in zip(trades.buy_px, trades.buy_vol, strict=True):
            if p == px:
                at += v
            elif p > px:
                through += v
    return at, through


def is_crossed(side: str, px: int, book_s: Book, book_s1: Book) -> bool:
    """The opposite touch of row s or s+1 reached the order's price: the whole remainder fills at px."""
    if side == BID:
        return book_s.ask_px[0] <= px or book_s1.ask_px[0] <= px
    return book_s.bid_px[0] >= px or book_s1.bid_px[0] >= px


def fill_size(remaining: float, queue_ahead: float, v_at: float, v_through: float, crossed: bool,
              room: float) -> float:
    """Volume at px first eats the queue ahead, volume through px fills us; capped by the inventory room."""
    # min(a, b) and max(a, b) written out as conditionals: same values, 3x faster (every row, live)
    excess = v_at - queue_ahead
    traded = (excess if excess > 0.0 else 0.0) + v_through
    size = remaining if crossed or traded >= remaining else traded
    cap = room if room > 0.0 else 0.0
    return cap if cap < size else size


def queue_after(queue_ahead: float, v_at: float, v_through: float, shown_s1: float | None) -> float:
    """Queue ahead after the interval: trades through px clear it, trades at px eat it; cancellations
    cap it at what row s+1 still shows at px (``shown_s1`` None: px is no level of row s+1)."""
    left = queue_ahead - v_at
    queue = 0.0 if v_through > 0 else (left if left > 0.0 else 0.0)
    return shown_s1 if shown_s1 is not None and shown_s1 < queue else queue


def settle_order(side: str, order: Order | None, book_s: Book, book_s1: Book, trades: Trades,
                 room: float) -> tuple[Order | None, Fill]:
    """One side over (s, s+1]: the order after the interval and its fill."""
    if order is None or order.remaining <= 0:
        return order, NO_FILL
    px = order.price
    v_at, v_through = trade_volumes(side, px, trades)
    crossed = is_crossed(side, px, book_s, book_s1)
    size = fill_size(order.remaining, order.queue_ahead, v_at, v_through, crossed, room)
    level_px, level_sz = (book_s1.bid_px, book_s1.bid_sz) if side == BID else (book_s1.ask_px, book_s1.ask_sz)
    queue = queue_after(order.queue_ahead, v_at, v_through, displayed_size(level_px, level_sz, px))
    if size == 0 and queue == order.queue_ahead:
        return order, Fill(0.0, px, False)  # unchanged (the common case: no new objects)
    return Order(px, order.remaining - size, queue), Fill(size, px, crossed and size > 0)


# ---------------------------------------------------------------------------------------------
# THE ACCOUNT


def fill_fee(bid: Fill, ask: Fill, p: SimParams) -> float:
    """Maker fee on the fills' notional, $ (negative = rebate)."""
    anchor = p.anchor_ticks
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


def book_fills(acct: Account, bid: Fill, ask: Fill, fee: float, tick: float) -> Account:
    """Cash, entry price and inventory after one interval's fills (the bid's applied first); pnl unchanged."""
    q, mid0 = acct.inventory, acct.mid0
    cash = acct.cash + (-bid.size * (bid.price - mid0) * tick + ask.size * (ask.price - mid0) * tick - fee)
    entry = update_entry(acct.entry, q, bid.size, bid.price - mid0)
    entry = update_entry(entry, q + bid.size, -ask.size, ask.price - mid0)
    return Account(mid0, q + bid.size - ask.size, cash, entry, acct.pnl)


def mark(acct: Account, mid: float, tick: float) -> Account:
    """PnL marked to ``mid`` (ticks from anchor)."""
    return Account(acct.mid0, acct.inventory, acct.cash, acct.entry, acct.cash + acct.inventory * (mid - acct.mid0) * tick)


# ---------------------------------------------------------------------------------------------
# OBSERVATION AND REWARD


def agent_features(acct: Account, mid: float, time: int, p: SimParams) -> tuple[float, float, float]:
    """inventory_frac, time_left_frac (``time`` = steps into the episode), unrealized_pnl_scaled."""
    k = p.knobs
    upnl = acct.inventory * (mid - acct.mid0 - acct.entry) * p.tick_size
    # 1.0 = a full inventory carrying a gain of max_offset_bps
    notional_bp = k.max_inventory * (mid + p.anchor_ticks) * p.tick_size * 1e-4
    E = k.episode_steps
    return (acct.inventory / k.max_inventory, (E - time) / E, upnl / (notional_bp * max(k.max_offset_bps, 1e-6)))


def reward(dpnl: float, q: float, sigma_ticks: float, mid_t: float, mid_t1: float,
           p: SimParams) -> tuple[float, float, float]:
    """(reward, risk penalty, dampening penalty) of one step, $; q is the inventory held over the interval."""
    k, tick = p.knobs, p.tick_size
    sigma_px = sigma_ticks * tick  # $ per sqrt(s) per unit size
    risk = k.risk_aversion * q * q * sigma_px**2 * p.dt_s
    damp = k.eta * max(0.0, q * (mid_t1 - mid_t) * tick)
    return dpnl - risk - damp, risk, damp


# ---------------------------------------------------------------------------------------------
# STEPS


def reset(mid0: float, p: SimParams) -> SimState:
    """No orders, ``latency_steps`` empty decisions in flight, a flat account at ``mid0``."""
    return SimState(None, None, ((None, None),) * p.knobs.latency_steps, Account(mid0))


def cancel_all(state: SimState, p: SimParams) -> SimState:
    """A gap: live orders and decisions in flight are dropped; the account (a real position) is kept."""
    return SimState(None, None, ((None, None),) * p.knobs.latency_steps, state.account)


def decide(state: SimState, action: Sequence[float], book: Book, p: SimParams) -> SimState:
    """The decision at row t from ``book`` (row t) and the inventory at t; it goes live latency_steps settles later."""
    k = p.knobs
    bid, ask = quote_prices(action, book.mid, book.bid_px[0], book.ask_px[0], k.max_offset_bps, p.anchor_ticks)
    quotes = gate_quotes(bid, ask, state.account.inventory, k.max_inventory)
    return SimState(state.bid, state.ask, (*state.pipeline, quotes), state.account)


def settle(state: SimState, book_s: Book, book_s1: Book, trades: Trades, p: SimParams) -> tuple[SimState, Settlement]:
    """The interval (s, s+1]: the oldest decision goes live at s (row s's queue), fills, the account marks at s+1."""
    (bid_px, ask_px), pipeline = state.pipeline[0], state.pipeline[1:]
    k, tick = p.knobs, p.tick_size
    bid = join_queue(state.bid, bid_px, book_s.bid_px, book_s.bid_sz, k.quote_size)
    ask = join_queue(state.ask, ask_px, book_s.ask_px, book_s.ask_sz, k.quote_size)
    q = state.account.inventory
    bid, bid_fill = settle_order(BID, bid, book_s, book_s1, trades, k.max_inventory - q)
    ask, ask_fill = settle_order(ASK, ask, book_s, book_s1, trades, k.max_inventory + q)
    fee = fill_fee(bid_fill, ask_fill, p)
    acct = state.account
    if bid_fill.size or ask_fill.size:  # no fill leaves cash, entry and inventory exactly as they are
        acct = book_fills(acct, bid_fill, ask_fill, fee, tick)
    acct = mark(acct, book_s1.mid, tick)
    return SimState(bid, ask, pipeline, acct), Settlement(bid_fill, ask_fill, fee, acct.pnl - state.account.pnl)
