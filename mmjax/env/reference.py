"""`ReferenceMarketEnv`: the NumPy simulator (`mmjax.env.sim_np`) as a gymnasium env over a replay, no jax.

A thin adapter: the rules (quoting, fills, account, gating, agent features, reward) are all in
`sim_np`; this module holds the replay arrays, the episode bookkeeping and the gymnasium API.
tests/test_reference.py checks it against the device env (`mmjax.env.market_env`) step by step.

Prices are integer ticks from the recording's anchor; sizes are venue size units; money is $ (an
inverse contract's cash is coin: `sim_np`).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mmjax.data.layout import DEFAULT_LOT_SIZE
from mmjax.env import sim_np
from mmjax.env.knobs import EnvKnobs, episode_span
from mmjax.features.spec import AGENT_FEATURES


@dataclass
class ReplayData:
    """What the rules read from a `MarketData`, on the host (ticks from anchor), without jax."""

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
    contract_type: str = "linear"  # or "inverse" (MarketData.contract_type)
    contract_value: float = 0.0  # inverse: $ per contract

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
            float(market.lot_size), market.contract_type, float(market.contract_value))

    @property
    def num_steps(self) -> int:
        return len(self.steps_to_gap)

    def book(self, t: int) -> sim_np.Book:
        """Book row t: every stored level."""
        return sim_np.Book(self.bid_px[t].tolist(), self.bid_sz[t].tolist(), self.ask_px[t].tolist(),
                           self.ask_sz[t].tolist())

    def trades(self, t: int) -> sim_np.Trades:
        """The flow of (t, t+1] as far as the rules need it: per side the furthest price and the size there."""
        return sim_np.Trades([int(self.sell_reach_px[t])], [float(self.sell_reach_vol[t])],
                             [int(self.buy_reach_px[t])], [float(self.buy_reach_vol[t])])


class ReferenceMarketEnv(gym.Env):
    """Single replay env with the device env's rules; reset(seed, options={"start": row}) picks the start."""

    metadata = {"render_modes": []}

    def __init__(self, data: ReplayData, features: np.ndarray, sigma: np.ndarray, knobs: EnvKnobs | None = None,
                 *, start_lo: int = 0, start_hi: int | None = None):
        T = data.num_steps
        self.data = data
        self.knobs = knobs = knobs or EnvKnobs()
        self.features = np.asarray(features, np.float64)
        self.sigma = np.asarray(sigma, np.float64)
        if self.features.shape[0] != T or self.sigma.shape != (T,):
            raise ValueError(f"features must be [T={T}, F] and sigma [T], got {self.features.shape}, {self.sigma.shape}")
        self.params = sim_np.SimParams(knobs, data.tick_size, data.px_anchor_ticks, data.grid_ms / 1000.0,
                                       data.lot_size, data.contract_type, data.contract_value)
        self.start_lo, self.start_hi = int(start_lo), T if start_hi is None else int(start_hi)
        need = episode_span(knobs.episode_steps, knobs.latency_steps)
        ok = np.flatnonzero(np.asarray(data.steps_to_gap) > need)
        self.starts = ok[(ok >= self.start_lo) & (ok + need <= self.start_hi)]
        if len(self.starts) == 0:
            raise ValueError(f"no gap-free episode of {need} rows fits in rows [{self.start_lo}, {self.start_hi})")
        self._start_set = frozenset(self.starts.tolist())
        n_obs = self.features.shape[1] + len(AGENT_FEATURES)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at options["start"] if given (must be a valid start), else a uniform valid start."""
        super().reset(seed=seed)
        if options and "start" in options:
            t0 = int(options["start"])
            if t0 not in self._start_set:
                raise ValueError(f"start row {t0} is not a valid episode start (gap or split boundary)")
        else:
            t0 = int(self.np_random.choice(self.starts))
        self.t, self.time = t0, 0
        self._book = self.data.book(t0)
        self.state = sim_np.reset(self._book.mid, self.params)
        self.n_crossed = 0
        return self._obs(), {"t": t0}

    def step(self, action):
        """Interval (t, t+1] with the venue orders, then the messages arriving at t+1; a_t is decided first.

        Returns the gymnasium 5-tuple.
        """
        t, p = self.t, self.params
        book_t, book_1 = self._book, self.data.book(t + 1)
        q = self.state.account.inventory  # held over the interval; also the decision's inventory gate
        state = sim_np.decide(self.state, action, book_t, p)
        self.state, s = sim_np.settle(state, book_t, book_1, self.data.trades(t), p)
        acct = self.state.account
        reward, risk, damp = sim_np.reward(s.dpnl, q, self.sigma[t], book_t.mid, book_1.mid, p)
        b, a = s.bid, s.ask
        self.n_crossed += int(b.crossed) + int(a.crossed)
        self.t, self.time, self._book = t + 1, self.time + 1, book_1
        info = {"bid_fill": b.size, "ask_fill": a.size, "bid_fill_px": b.price, "ask_fill_px": a.price,
                "bid_crossed": b.crossed, "ask_crossed": a.crossed, "bid_fill_kind": b.kind, "ask_fill_kind": a.kind,
                "bid_beyond": b.beyond, "ask_beyond": a.beyond, "bid_rejected": s.bid_rejected,
                "ask_rejected": s.ask_rejected, "fee": s.fee, "pnl": acct.pnl, "dpnl": s.dpnl,
                "risk_penalty": risk, "damp_penalty": damp, "inventory": acct.inventory, "cash": acct.cash,
                "mid": book_1.mid, "t": t}
        # the time limit is a termination, as in the device env (docs/env.md, "Episodes, reset, truncation"):
        # time_left_frac is in the observation, so nothing follows the last step
        terminated = self.time >= self.knobs.episode_steps
        return self._obs(), float(reward), terminated, False, info

    def _obs(self) -> np.ndarray:
        agent = sim_np.agent_features(self.state, self._book, self.time, self.params)
        return np.concatenate([self.features[self.t], agent]).astype(np.float32)
