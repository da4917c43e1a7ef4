"""The market-making simulator in NumPy/plain Python: the one NumPy home of its rules (docs/env.md).

The rules exist twice, on purpose: here, and in JAX (`mmjax.env.fills`, `steps`, `account`, `observe`);
tests/test_reference.py pins the two together. This twin is written per side in plain code, with
float64 money and the float32 arithmetic of the quote mapping reproduced exactly, so that agreement
is evidence that both implement the rules. Two callers drive it: `mmjax.env.reference` (a gymnasium
env over a replay) and the live paper trader (`mmjax.live.trader`), one grid row at a time.

Each rule is one function, named as in docs/env.md (the quoting rules, the first four, live in
`mmjax.env.sim_quotes` with `decide`, which composes them, and are re-exported here):

    quote_prices        The action mapping: ticks behind each touch, or a pulled side (float32, like the device env)
    ticks_behind        The action mapping: one side's action -> ticks behind its touch
    gate_quotes         Inventory limit: a side at the limit does not quote (whole lots)
    order_messages      The order lifecycle: a decision -> messages against the known orders
    arrive              Orders and the queue: a message reaches the venue (post-only, stored depth)
    within_depth        Orders and the queue: is the book at a price known
    trade_reach         Fills: is there flow beyond the order's price, and how much traded at it
    is_crossed          Fills: the opposite touch moved through the order
    fill_lots           Fills: lots filled (the venue's, whatever the inventory); fill_kind says how
    queue_after         Fills: queue ahead after the interval's trades; bound_queue: by the book
    known_after         The order lifecycle: what the agent knows at its next decision
    fill_fee            Fees
    book_fills          Cash, entry price and inventory after the fills
    mark                PnL marked to the mid
    agent_features      Observation: the account's features (account_features), then the own orders' (order_features)
    order_age           Observation: how long a venue order has rested
    reward              Reward: dPnL - risk - dampening

and the step functions compose them over an immutable `SimState` (the values, `SimParams`, `Book`,
`Trades`, `Order`, `Fill`, `Account`, `SimState`, `Settlement`, live in `mmjax.env.sim_types` and are
re-exported here):

    state = reset(mid0, params)                       # no orders, L - 1 empty slots in flight
    state = decide(state, action, book_t, params)     # the decision at row t -> order messages
    state, s = settle(state, book_s, book_s1, trades_s, params)   # the interval (s, s+1], then arrivals at s+1
    state = cancel_all(state, params)                 # a gap: orders and messages in flight dropped

The pipeline is first in, first out: `decide` appends, `settle` pops the message arriving at s+1 after the
interval (nothing when empty), so a message arrives exactly ``latency_steps`` steps after its decision.

Prices are ticks from the recording's anchor (ints, or integral floats); sizes are venue size units; money is
$. On an inverse contract (`SimParams.contract_type`) sizes are contracts and the account's cash and fees are
coin, its PnL $ (docs/env.md, "Inverse contracts"). NumPy and stdlib only: the live path imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mmjax.data.layout import DEFAULT_LOT_SIZE, LOT_CAP  # noqa: F401 - DEFAULT_LOT_SIZE re-exported for the live trader
from mmjax.env.fill_kinds import FILL_CROSSED, FILL_QUEUE, FILL_THROUGH
from mmjax.env.sim_quotes import (  # noqa: F401 - re-exported
    decide,
    f32,
    gate_quotes,
    order_messages,
    quote_prices,
    ticks_behind,
)
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
from mmjax.features.spec import COUNT_CAP_STEPS, ORDER_DIST_SCALE_TICKS, QUEUE_SCALE_QUOTES

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
    prices, vols = (trades.sell_px, trades.sell_vol) if side == BID else (trades.buy_px, trades.buy_vol)
    if not prices:
        return False, 0  # no taker flow on this side (most intervals)
    at, beyond = 0.0, False
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


def fill_lots(remaining: int, queue_ahead: int, at_lots: int, through: bool, crossed: bool) -> int:
    """Flow beyond px (its level had to empty first) or a crossing fills the order; lots at px eat the
    queue ahead first. The inventory limit gates new orders only (`gate_quotes`): the venue fills what rests."""
    # min(remaining, max(0, at_lots - queue_ahead)), in conditionals (every live row)
    if crossed or through:
        return remaining
    past = at_lots - queue_ahead  # lots at px beyond the queue ahead
    past = past if past > 0 else 0
    return past if past < remaining else remaining


def fill_kind(n: int, through: bool, crossed: bool) -> int:
    """How a fill of ``n`` lots happened (mmjax.env.fill_kinds codes; NO_KIND without a fill)."""
    if n == 0:
        return NO_KIND
    return FILL_CROSSED if crossed else FILL_THROUGH if through else FILL_QUEUE


def queue_after(queue_ahead: int, at_lots: int, through: bool) -> int:
    """Queue ahead after the interval's trades: flow beyond px cleared it, lots at px ate it."""
    return 0 if through or queue_ahead <= at_lots else queue_ahead - at_lots


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
                 p: SimParams) -> tuple[Order | None, Fill]:
    """One side over (s, s+1]: the order after the interval (its queue bounded by row s+1) and its fill."""
    if order is None or order.remaining <= 0:
        return order, NO_FILL
    px = order.price
    through, at_lots = trade_reach(side, px, trades, p)
    crossed = is_crossed(side, px, book_s, book_s1)
    n = fill_lots(order.remaining, order.queue_ahead, at_lots, through, crossed)
    kind = fill_kind(n, through, crossed)
    queue = queue_after(order.queue_ahead, at_lots, through)
    # nothing filled and the queue unchanged (most intervals): the same order, without building its equal
    after = order if n == 0 and queue == order.queue_ahead else Order(px, order.remaining - n, queue, order.beyond)
    return bound_queue(side, after, book_s1, p), Fill(n * p.lot, px, kind == FILL_CROSSED, kind, n, order.beyond)


def known_after(known: int | None, order: Order | None, in_flight: bool) -> int | None:
    """What the agent knows at its next decision: an order it saw end (filled, rejected) is gone,
    unless a newer message is in flight (then the known order is that message's)."""
    if in_flight or (order is not None and order.remaining > 0):
        return known
    return None


def order_age(age: int, order: Order | None, arrived: bool) -> int:
    """Steps the side's venue order has rested after an interval: a message that arrived starts it at 0."""
    if arrived or order is None or order.remaining <= 0:
        return 0
    return age + 1 if age < COUNT_CAP_STEPS else COUNT_CAP_STEPS  # min(age + 1, COUNT_CAP_STEPS)


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


def agent_features(state: SimState, book: Book, time: int, p: SimParams) -> tuple[float, ...]:
    """`spec.AGENT_FEATURES` at ``book``'s row: the account's three (``time`` = steps into the episode), then
    `order_features`."""
    return (*account_features(state.account, book.mid, time, p), *order_features(state, book, p))


def account_features(acct: Account, mid: float, time: int, p: SimParams) -> tuple[float, float, float]:
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


_LOG_DIST, _LOG_QUEUE, _LOG_COUNT = (math.log1p(ORDER_DIST_SCALE_TICKS), math.log1p(QUEUE_SCALE_QUOTES),
                                     math.log1p(COUNT_CAP_STEPS))
# log1p(n) / log1p(COUNT_CAP_STEPS) for the capped step counts n = 0..COUNT_CAP_STEPS (ages, steps since a fill):
# the same float64 operations, done once (four a row otherwise)
_LOG_COUNT_SCALED = tuple(math.log1p(n) / _LOG_COUNT for n in range(COUNT_CAP_STEPS + 1))


def order_features(state: SimState, book: Book, p: SimParams) -> tuple[float, ...]:
    """The agent's own orders at ``book``'s row, bid's 7 then ask's (`spec.ORDER_FEATURE_KINDS`, docs/env.md).

    From what it knows at its decision: its venue orders after the last `settle` (fills and arrivals
    are reported at the next decision), the fill model's queue estimate, and its messages in flight.
    """
    out: list[float] = []
    for i, side in enumerate((BID, ASK)):
        order = state.bid if i == 0 else state.ask
        flight = 1.0 if state.messages and any(m[i] for m in state.messages) else 0.0
        since = _LOG_COUNT_SCALED[state.since_fill[i]]
        if order is None or order.remaining <= 0:
            out += (0.0, 0.0, 0.0, 0.0, 0.0, flight, since)
            continue
        d = book.bid_px[0] - order.price if side == BID else order.price - book.ask_px[0]
        dist = math.copysign(math.log1p(abs(d)), d) / _LOG_DIST
        dist = -1.0 if dist < -1.0 else 1.0 if dist > 1.0 else dist  # min(max(dist, -1), 1) without the builtins
        # an unknown queue (LOT_CAP: joined beyond the stored depth) is the back of the level, whatever the lot
        if order.queue_ahead >= LOT_CAP:
            queue = 1.0
        else:  # min(log1p(queue / quote lots) / log1p(scale), 1.0)
            queue = math.log1p(order.queue_ahead / p.quote_lots) / _LOG_QUEUE
            queue = 1.0 if 1.0 < queue else queue
        if within_depth(side, order.price, book):
            level_px, level_sz = (book.bid_px, book.bid_sz) if side == BID else (book.ask_px, book.ask_sz)
            shown = displayed_size(level_px, level_sz, order.price)
            shown_lots = 0 if shown is None else p.lots(shown)
            frac = order.queue_ahead / (1 if shown_lots < 1 else shown_lots)  # min(queue / max(shown, 1), 1.0)
            frac = 1.0 if 1.0 < frac else frac
        else:
            frac = 1.0  # the level is beyond what the row shows: assume the back of its queue
        out += (1.0, dist, queue, frac, _LOG_COUNT_SCALED[state.age[i]], flight, since)
    return tuple(out)


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


def settle(state: SimState, book_s: Book, book_s1: Book, trades: Trades, p: SimParams) -> tuple[SimState, Settlement]:
    """The interval (s, s+1]: the venue orders fill, the account marks at s+1, then the messages
    arriving at s+1 act against row s+1, and the agent learns which known orders ended."""
    tick, lot = p.tick_size, p.lot
    bid, bid_fill = settle_order(BID, state.bid, book_s, book_s1, trades, p)
    ask, ask_fill = settle_order(ASK, state.ask, book_s, book_s1, trades, p)
    fee = fill_fee(bid_fill, ask_fill, p)
    acct, inv = state.account, p.inverse
    if bid_fill.size or ask_fill.size:  # no fill leaves cash, entry and inventory exactly as they are
        acct = book_fills(acct, bid_fill, ask_fill, fee, tick, lot, inv)
    acct = mark(acct, book_s1.mid, tick, inv)
    if inv is not None:
        fee *= inv.usd(book_s1.mid, tick)  # coin -> $ at the mark
    pipeline, messages = state.pipeline, state.messages
    bid_msg = ask_msg = bid_rejected = ask_rejected = False  # the messages arriving at s+1 (none: nothing in flight)
    if pipeline:
        (bid_px, ask_px), (bid_msg, ask_msg) = pipeline[0], messages[0]
        pipeline, messages = pipeline[1:], messages[1:]
        if bid_msg:
            bid, bid_rejected = arrive(BID, bid, bid_px, book_s1, p)
        if ask_msg:
            ask, ask_rejected = arrive(ASK, ask, ask_px, book_s1, p)
    known = (known_after(state.known[0], bid, bool(messages) and any(m[0] for m in messages)),
             known_after(state.known[1], ask, bool(messages) and any(m[1] for m in messages)))
    age = (order_age(state.age[0], bid, bid_msg), order_age(state.age[1], ask, ask_msg))
    since_bid, since_ask = state.since_fill  # min(since + 1, COUNT_CAP_STEPS), 0 after a fill
    since = (0 if bid_fill.lots else since_bid + 1 if since_bid < COUNT_CAP_STEPS else COUNT_CAP_STEPS,
             0 if ask_fill.lots else since_ask + 1 if since_ask < COUNT_CAP_STEPS else COUNT_CAP_STEPS)
    return (SimState(bid, ask, pipeline, acct, messages, known, age, since),
            Settlement(bid_fill, ask_fill, fee, acct.pnl - state.account.pnl, bid_rejected, ask_rejected))
