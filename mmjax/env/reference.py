"""NumPy twin of the market-making environment: one env, gymnasium API, no jax.

Written independently of `mmjax.env.fills` / `market_env` from the rules in docs/env.md (plain
per-side code, float64 state, the spec's literal order of events) so that agreement between the
two is evidence that both implement the rules. `FillSimulator` holds the per-step fill logic and
is what a live paper-trading engine drives, one grid step at a time.

Prices are integer ticks (any anchor); sizes are venue size units; money is $.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mmjax.data.layout import (
    DEFAULT_LOT_SIZE,
    FILL_CROSSED,
    FILL_QUEUE,
    FILL_THROUGH,
    LOT_CAP,
    NO_FILL,
    sim_lot,
)

N_AGENT_FEATURES = 3  # inventory_frac, time_left_frac, unrealized_pnl_scaled (mmjax.features.spec.AGENT_FEATURES)


# ---------------------------------------------------------------------------------------------
# QUOTING


def quote_prices(action, mid_ticks: float, best_bid: int, best_ask: int, max_offset_bps: float,
                 anchor_ticks: int) -> tuple[int, int]:
    """Action (bid, ask) in [-1, 1] -> integer (bid, ask) ticks, computed in float32 like the device env."""
    f = np.float32
    a = np.clip(np.asarray(action, f), f(-1), f(1))
    mid = f(mid_ticks)
    ticks_per_bps = (mid + f(anchor_ticks)) * f(1e-4)
    off_bid = (a[0] + f(1)) * f(0.5) * f(max_offset_bps) * ticks_per_bps
    off_ask = (a[1] + f(1)) * f(0.5) * f(max_offset_bps) * ticks_per_bps
    bid = int(np.floor(f(mid - off_bid)))
    ask = int(np.ceil(f(mid + off_ask)))
    bid = min(bid, math.ceil(float(mid)) - 1, best_ask - 1)  # strictly below mid, never a taker
    ask = max(ask, math.floor(float(mid)) + 1, best_bid + 1)
    return bid, ask


# ---------------------------------------------------------------------------------------------
# FILL SIMULATOR (reusable by the live engine)


@dataclass
class BookRow:
    """One book snapshot in ticks: every stored level, best first; empty levels have size 0."""

    bid_px: np.ndarray  # [L] int
    bid_sz: np.ndarray  # [L] float
    ask_px: np.ndarray  # [L] int
    ask_sz: np.ndarray  # [L] float

    def size_at(self, side: str, px: int) -> float | None:
        """Displayed size at px on one side, or None when px is not one of the row's levels."""
        lv_px, lv_sz = (self.bid_px, self.bid_sz) if side == "bid" else (self.ask_px, self.ask_sz)
        hit = lv_px == px
        return float(lv_sz[hit].sum()) if hit.any() else None

    def within(self, side: str, px: int) -> bool:
        """Whether the book at px is known: px is not beyond the deepest level of a row whose levels are all full."""
        lv_px, lv_sz = (self.bid_px, self.bid_sz) if side == "bid" else (self.ask_px, self.ask_sz)
        if lv_sz[-1] <= 0:
            return True  # fewer levels than stored: the whole book is shown
        return px >= lv_px[-1] if side == "bid" else px <= lv_px[-1]


@dataclass
class TradeFlow:
    """Taker trades of one interval (s, s+1], any number of prices per side (ticks, sizes)."""

    sell_px: np.ndarray  # taker sells: they hit bids
    sell_vol: np.ndarray
    buy_px: np.ndarray  # taker buys: they lift asks
    buy_vol: np.ndarray

    @staticmethod
    def from_trades(px_ticks, size, taker_side) -> TradeFlow:
        """Group raw trades of one interval (taker_side +1 buy, -1 sell) by side."""
        px, sz, side = np.asarray(px_ticks), np.asarray(size, np.float64), np.asarray(taker_side)
        return TradeFlow(px[side < 0], sz[side < 0], px[side > 0], sz[side > 0])


@dataclass
class RestingOrder:
    price: int  # ticks
    remaining: int  # whole lots
    queue_ahead: int  # lots displayed ahead of us at price (LOT_CAP: unknown, beyond the stored depth)
    beyond: bool = False  # joined beyond the stored depth and not seen within it since


@dataclass
class SideFill:
    size: float = 0.0  # venue size units: lots * lot
    lots: int = 0
    price: int = 0
    kind: int = NO_FILL  # FILL_QUEUE, FILL_THROUGH or FILL_CROSSED (mmjax.data.layout)
    beyond: bool = False  # the order was live over the interval with an unknown queue (beyond the depth)
    rejected: bool = False  # the decision arriving at the end of the interval was rejected (post-only)

    @property
    def crossed(self) -> bool:
        return self.kind == FILL_CROSSED


class FillSimulator:
    """Order messages with latency + one resting order per side + the queue/fill rules of docs/env.md.

    Per grid step: ``decide`` the quotes of step s (translated into order messages against the
    orders known at s; they reach the venue at s + latency_steps), then ``step`` settles the
    interval (s, s+1], applies the messages arriving at s+1 against book_s1, and records which
    orders the agent will know to be gone at the next decision.
    """

    def __init__(self, quote_size: float, max_inventory: float, latency_steps: int = 1,
                 lot_size: float = DEFAULT_LOT_SIZE):
        if latency_steps < 1:
            raise ValueError(f"latency_steps must be >= 1, got {latency_steps}")
        self.quote_size = float(quote_size)
        self.max_inventory = float(max_inventory)
        self.latency_steps = int(latency_steps)
        self.lot = sim_lot(lot_size, quote_size)[0]  # sizes are whole numbers of this
        self.quote_lots = round(self.quote_size / self.lot)
        self.max_lots = math.floor(self.max_inventory / self.lot + 1e-3)
        self.reset()

    def lots(self, size: float) -> int:
        """Venue size units -> whole lots (capped like the device's int32 lot counts)."""
        return min(round(float(size) / self.lot), LOT_CAP)

    def reset(self) -> None:
        """No orders, nothing known, and L - 1 empty slots in flight (the next ``decide`` arrives L steps later)."""
        empty = deque([(None, None)] * (self.latency_steps - 1))
        self.pending: deque[tuple[int | None, int | None]] = empty  # quotes of the decisions in flight
        self.pending_msg: deque[tuple[bool, bool]] = deque([(False, False)] * (self.latency_steps - 1))
        self.orders: dict[str, RestingOrder | None] = {"bid": None, "ask": None}
        self.known: dict[str, int | None] = {"bid": None, "ask": None}  # the order price the agent knows it has

    def decide(self, bid_px: int | None, ask_px: int | None) -> None:
        """Submit the decision of this step (None = no quote on that side).

        Quoting the known order's price sends no message; anything else sends a cancel/replace
        (a cancel for None) that reaches the venue latency_steps later.
        """
        msg = (bid_px != self.known["bid"], ask_px != self.known["ask"])
        self.known = {"bid": bid_px, "ask": ask_px}
        self.pending.append((bid_px, ask_px))
        self.pending_msg.append(msg)

    def step(self, book_s: BookRow, book_s1: BookRow, trades: TradeFlow, inventory: float) -> dict[str, SideFill]:
        """Interval (s, s+1]: the live orders fill, then the messages arriving at s+1 act against book_s1."""
        q = round(inventory / self.lot)
        fills = {
            "bid": self._settle("bid", book_s, book_s1, trades, self.max_lots - q),
            "ask": self._settle("ask", book_s, book_s1, trades, self.max_lots + q),
        }
        quotes, msgs = self.pending.popleft(), self.pending_msg.popleft()
        for i, side in enumerate(("bid", "ask")):
            if msgs[i]:
                fills[side].rejected = self._replace(side, quotes[i], book_s1)
            o = self.orders[side]
            in_flight = any(m[i] for m in self.pending_msg)
            if (o is None or o.remaining <= 0) and not in_flight:
                self.known[side] = None  # the agent sees the fill or rejection before its next decision
        return fills

    def _replace(self, side: str, px: int | None, book: BookRow) -> bool:
        """Cancel/replace at the venue (row of ``book``); returns True when post-only rejects the new order."""
        self.orders[side] = None
        if px is None:
            return False
        if (book.ask_px[0] <= px) if side == "bid" else (book.bid_px[0] >= px):
            return True  # post-only: it would take liquidity, the venue rejects it
        if book.within(side, px):
            shown = book.size_at(side, px)  # None when px improves the touch or falls between levels
            self.orders[side] = RestingOrder(px, self.quote_lots, 0 if shown is None else self.lots(shown))
        else:  # beyond the stored depth: an unknown queue, never its front
            self.orders[side] = RestingOrder(px, self.quote_lots, LOT_CAP, beyond=True)
        return False

    def _settle(self, side: str, book_s: BookRow, book_s1: BookRow, trades: TradeFlow, room: int) -> SideFill:
        o = self.orders[side]
        if o is None or o.remaining <= 0:
            return SideFill()
        p = o.price
        if side == "bid":  # taker sells hit bids; "beyond p" is a lower price
            px, vol = trades.sell_px[trades.sell_vol > 0], trades.sell_vol[trades.sell_vol > 0]
            through = bool((px < p).any())
            crossed = book_s.ask_px[0] <= p or book_s1.ask_px[0] <= p
        else:
            px, vol = trades.buy_px[trades.buy_vol > 0], trades.buy_vol[trades.buy_vol > 0]
            through = bool((px > p).any())
            crossed = book_s.bid_px[0] >= p or book_s1.bid_px[0] >= p
        v_at = self.lots(vol[px == p].sum())
        if crossed or through:  # the book reached us, or the level was emptied before a worse print
            n = o.remaining
        else:
            n = min(o.remaining, max(0, v_at - o.queue_ahead))
        n = min(n, max(room, 0))
        kind = NO_FILL if n == 0 else FILL_CROSSED if crossed else FILL_THROUGH if through else FILL_QUEUE
        beyond = o.beyond
        o.remaining -= n
        o.queue_ahead = 0 if through else max(0, o.queue_ahead - v_at)
        if book_s1.within(side, p):  # the displayed book bounds the queue; an emptied level empties it
            shown = book_s1.size_at(side, p)
            o.queue_ahead = min(o.queue_ahead, 0 if shown is None else self.lots(shown))
            o.beyond = False
        return SideFill(n * self.lot, n, p, kind, beyond)


# ---------------------------------------------------------------------------------------------
# REPLAY DATA AND THE GYMNASIUM ENV


@dataclass
class ReplayData:
    """What the fill rules read from a `MarketData`, on the host (ticks from anchor), without jax."""

    bid_px: np.ndarray  # [T, K] int every stored level
    bid_sz: np.ndarray  # [T, K] whole lots times lot_size
    ask_px: np.ndarray
    ask_sz: np.ndarray
    sell_reach_px: np.ndarray  # [T] lowest taker-sell price of (t, t+1] (NO_PRICE: none)
    sell_reach_vol: np.ndarray  # [T] size traded at it
    buy_reach_px: np.ndarray  # [T] highest taker-buy price (-NO_PRICE: none)
    buy_reach_vol: np.ndarray
    steps_to_gap: np.ndarray  # [T]
    tick_size: float
    px_anchor_ticks: int
    grid_ms: int
    lot_size: float = DEFAULT_LOT_SIZE  # sizes above are whole numbers of it

    @staticmethod
    def from_market(market) -> ReplayData:
        """Copy a `MarketData` (device arrays) to host NumPy arrays; sizes are its whole lots times its lot."""
        px, lots = market.depth()  # [T, 2, K] oriented
        reach, reach_lots = market.trade_reach()  # [T, 2] oriented
        sz = lambda a: a.astype(np.float64) * market.lot_size  # noqa: E731
        return ReplayData(
            px[:, 0].astype(np.int64), sz(lots[:, 0]), -px[:, 1].astype(np.int64), sz(lots[:, 1]),
            reach[:, 0].astype(np.int64), sz(reach_lots[:, 0]), -reach[:, 1].astype(np.int64), sz(reach_lots[:, 1]),
            np.asarray(market.steps_to_gap), float(market.tick_size), int(market.px_anchor_ticks), int(market.grid_ms),
            float(market.lot_size))

    @property
    def num_steps(self) -> int:
        return len(self.steps_to_gap)

    def book(self, t: int) -> BookRow:
        return BookRow(self.bid_px[t], self.bid_sz[t], self.ask_px[t], self.ask_sz[t])

    def trades(self, t: int) -> TradeFlow:
        """The interval's flow as far as the fill rules need it: the furthest price per side and its size."""
        return TradeFlow(self.sell_reach_px[t:t + 1], self.sell_reach_vol[t:t + 1],
                         self.buy_reach_px[t:t + 1], self.buy_reach_vol[t:t + 1])

    def mid(self, t: int) -> float:
        return (float(self.bid_px[t, 0]) + float(self.ask_px[t, 0])) / 2.0


class ReferenceMarketEnv(gym.Env):
    """Single replay env with the device env's rules; reset(seed, options={"start": row}) picks the start."""

    metadata = {"render_modes": []}

    def __init__(self, data: ReplayData, features: np.ndarray, sigma: np.ndarray, *, risk_aversion: float = 0.01,
                 maker_fee_bps: float = 0.0, quote_size: float = 0.01, max_inventory: float = 0.1,
                 max_offset_bps: float = 10.0, eta: float = 0.0,
                 start_lo: int = 0, start_hi: int | None = None, episode_steps: int = 3000, latency_steps: int = 1):
        T = data.num_steps
        self.data = data
        self.features = np.asarray(features, np.float64)
        self.sigma = np.asarray(sigma, np.float64)
        if self.features.shape[0] != T or self.sigma.shape != (T,):
            raise ValueError(f"features must be [T={T}, F] and sigma [T], got {self.features.shape}, {self.sigma.shape}")
        self.risk_aversion, self.maker_fee_bps, self.eta = risk_aversion, maker_fee_bps, eta
        self.quote_size, self.max_inventory, self.max_offset_bps = quote_size, max_inventory, max_offset_bps
        self.episode_steps, self.latency_steps = int(episode_steps), int(latency_steps)
        self.start_lo, self.start_hi = int(start_lo), T if start_hi is None else int(start_hi)
        need = self.episode_steps + self.latency_steps + 1
        ok = np.flatnonzero(np.asarray(data.steps_to_gap) > need)
        self.starts = ok[(ok >= self.start_lo) & (ok + need <= self.start_hi)]
        if len(self.starts) == 0:
            raise ValueError(f"no gap-free episode of {need} rows fits in rows [{self.start_lo}, {self.start_hi})")
        self.sim = FillSimulator(quote_size, max_inventory, latency_steps, data.lot_size)
        n_obs = self.features.shape[1] + N_AGENT_FEATURES
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at options["start"] if given (must be a valid start), else a uniform valid start."""
        super().reset(seed=seed)
        if options and "start" in options:
            t0 = int(options["start"])
            if t0 not in set(self.starts.tolist()):
                raise ValueError(f"start row {t0} is not a valid episode start (gap or split boundary)")
        else:
            t0 = int(self.np_random.choice(self.starts))
        self.t, self.time = t0, 0
        self.mid0 = self.data.mid(t0)
        self.inventory = self.cash = self.entry = self.pnl = 0.0
        self.inventory_lots = 0
        self.n_crossed = 0
        self.sim.reset()
        return self._obs(), {"t": t0}

    def step(self, action):
        """Interval (t, t+1] with the order decided L steps ago; then decide a_t. Returns the gymnasium 5-tuple."""
        d, t, tick = self.data, self.t, self.data.tick_size
        q = self.inventory
        mid_t, mid_1 = d.mid(t), d.mid(t + 1)
        # the decision of step t: quotes from book row t, sides gated by the inventory at t
        bid_q, ask_q = quote_prices(action, mid_t, int(d.bid_px[t, 0]), int(d.ask_px[t, 0]),
                                    self.max_offset_bps, d.px_anchor_ticks)
        q_lots, max_lots = self.inventory_lots, self.sim.max_lots
        self.sim.decide(bid_q if q_lots < max_lots else None, ask_q if q_lots > -max_lots else None)
        fills = self.sim.step(d.book(t), d.book(t + 1), d.trades(t), q)
        b, a = fills["bid"], fills["ask"]
        fee = self.maker_fee_bps * 1e-4 * tick * (b.size * (b.price + d.px_anchor_ticks) + a.size * (a.price + d.px_anchor_ticks))
        self.cash += -b.size * (b.price - self.mid0) * tick + a.size * (a.price - self.mid0) * tick - fee
        self.entry = _avg_entry(self.entry, q, b.size, b.price - self.mid0)
        self.entry = _avg_entry(self.entry, q + b.size, -a.size, a.price - self.mid0)
        self.inventory_lots = q_lots + b.lots - a.lots
        self.inventory = self.inventory_lots * self.sim.lot
        self.n_crossed += int(b.crossed) + int(a.crossed)
        pnl = self.cash + self.inventory * (mid_1 - self.mid0) * tick
        dpnl, self.pnl = pnl - self.pnl, pnl
        risk = self.risk_aversion * q * q * (self.sigma[t] * tick) ** 2 * (d.grid_ms / 1000.0)
        damp = self.eta * max(0.0, q * (mid_1 - mid_t) * tick)
        reward = dpnl - risk - damp
        self.t, self.time = t + 1, self.time + 1
        info = {"bid_fill": b.size, "ask_fill": a.size, "bid_fill_px": b.price, "ask_fill_px": a.price,
                "bid_crossed": b.crossed, "ask_crossed": a.crossed, "bid_fill_kind": b.kind, "ask_fill_kind": a.kind,
                "bid_beyond": b.beyond, "ask_beyond": a.beyond,
                "bid_rejected": b.rejected, "ask_rejected": a.rejected, "fee": fee, "pnl": pnl, "dpnl": dpnl,
                "risk_penalty": risk, "damp_penalty": damp, "inventory": self.inventory, "cash": self.cash,
                "mid": mid_1, "t": t}
        truncated = self.time >= self.episode_steps
        return self._obs(), float(reward), False, truncated, info

    def _obs(self) -> np.ndarray:
        d, t = self.data, self.t
        mid = d.mid(t)
        upnl = self.inventory * (mid - self.mid0 - self.entry) * d.tick_size
        notional_bp = self.max_inventory * (mid + d.px_anchor_ticks) * d.tick_size * 1e-4
        agent = [self.inventory / self.max_inventory, (self.episode_steps - self.time) / self.episode_steps,
                 upnl / (notional_bp * max(self.max_offset_bps, 1e-6))]
        return np.concatenate([self.features[t], agent]).astype(np.float32)


def _avg_entry(entry: float, q: float, dq: float, px: float) -> float:
    """Average entry price after trading dq at px from inventory q."""
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
