"""`MarketMakingEnv`: a gymnax environment that replays a recording with a causal, queue-aware fill simulator.

Step ``t`` (book row t observed, action a_t chosen) simulates the interval (t, t+1]: the orders
decided ``latency_steps`` steps ago rest there and fill against aggregate trade row t; PnL is
marked at the mid of book row t+1; the next observation is built from row t+1. The decision a_t
goes live at t+L. Every rule, unit and default is documented in docs/env.md.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from mmjax.data.layout import sim_lot
from mmjax.data.market import MarketData
from mmjax.env import actions, depth, fills, inverse
from mmjax.env.knobs import EnvKnobs
from mmjax.env.reset_bits import reset_key_bits
from mmjax.env.rows import pack_rows
from mmjax.features.spec import AGENT_FEATURES

SIGN = jnp.array(fills.SIDE_SIGN, jnp.int32)  # [2] bid +1, ask -1


@struct.dataclass
class EnvState(environment.EnvState):
    """One episode in progress. ``time`` counts steps taken; ``t`` is the current book row."""

    t: jax.Array  # [] int32 book row of the current observation
    mid0: jax.Array  # [] float32 mid at the episode start, ticks from anchor (money is marked from here)
    inventory: jax.Array  # [] float32 venue size units (BTC); + long; = inventory_lots * lot_size exactly
    inventory_lots: jax.Array  # [] int32 whole lots (the exact inventory: fills are whole lots)
    cash: jax.Array  # [] float32 $ relative to holding the traded size at mid0 (see docs/env.md); coin if inverse
    entry_ticks: jax.Array  # [] float32 average entry price of the inventory, ticks from mid0
    pnl: jax.Array  # [] float32 $ mark-to-market since the episode start: cash + inventory * (mid - mid0) (linear)
    best: jax.Array  # [2] int32 oriented touch of row t: (best bid, -best ask)
    sigma_t: jax.Array  # [] float32 sigma of row t, ticks per sqrt(s)
    orders: fills.Orders  # venue orders live over (t, t+1], oriented
    known_px: jax.Array  # [2] int32 oriented price of the order the agent knows it has (NO_ORDER_PX: none)
    pipe_px: jax.Array  # [L-1, 2] int32 order messages in flight (oldest first), oriented; NO_ORDER_PX: cancel
    pipe_msg: jax.Array  # [L-1, 2] bool: a message was sent in that slot
    n_crossed: jax.Array  # [] int32 crossed fills this episode
    n_rejected: jax.Array  # [] int32 post-only rejections this episode


@struct.dataclass
class EnvParams:
    """Market data plus reward/quoting knobs. Array and float fields are traced (vmappable)."""

    market: MarketData
    features: jax.Array  # [T, F_M] float32 normalized market features (row t uses data up to t)
    sigma: jax.Array  # [T] float32 realized volatility of mid, ticks per sqrt(second), causal
    # derived by make_params: everything the agent learns at row r packed in one int32 row (floats
    # stored as their bits), so that a step is one gather (see `pack_rows` for the layout)
    rows: jax.Array  # [T, F_M + 8 + 2 NF] int32 (sizes in whole lots of lot_size)
    book_blocks: jax.Array  # [T, 2, NF, 2B] int32 every stored level in blocks (`mmjax.env.depth`)
    valid_starts: jax.Array  # [K] int32 rows an episode may start at (gap-free for the whole episode)
    valid_before: jax.Array  # [T+1] int32 number of valid starts < t
    # the traced knobs of `EnvKnobs` (meaning, unit and default there), as float32 scalars
    quote_size: jax.Array  # []
    max_inventory: jax.Array  # []
    maker_fee_bps: jax.Array  # []
    risk_aversion: jax.Array  # []
    eta: jax.Array  # []
    max_offset_bps: jax.Array  # []
    start_lo: jax.Array  # [] int32 first row of the split (inclusive)
    start_hi: jax.Array  # [] int32 end row of the split (exclusive); episodes end before it
    episode_steps: int = struct.field(pytree_node=False)  # EnvKnobs.episode_steps (static: shapes)
    latency_steps: int = struct.field(pytree_node=False)  # EnvKnobs.latency_steps
    # size lot of the fill rules, venue units: the market's lot, refined to divide quote_size (make_params)
    lot_size: float = struct.field(pytree_node=False, default=1e-8)

    @property
    def max_steps_in_episode(self) -> int:
        return self.episode_steps


def make_params(
    market: MarketData,
    features: jax.Array | np.ndarray,
    sigma: jax.Array | np.ndarray,
    split=None,
    knobs: EnvKnobs | None = None,
    **overrides,
) -> EnvParams:
    """Build EnvParams: validate inputs, pack rows, list valid episode starts in ``split`` (rows [start, stop)).

    The knobs are ``knobs`` (default `EnvKnobs()`) with any ``overrides`` (EnvKnobs field names) applied.
    """
    T = market.num_steps
    knobs = knobs or EnvKnobs()
    unknown = set(overrides) - {f.name for f in dataclasses.fields(EnvKnobs)}
    if unknown:
        raise ValueError(f"make_params: unknown knob(s) {sorted(unknown)}; the knobs are the fields of EnvKnobs")
    knobs = dataclasses.replace(knobs, **overrides)  # validates (ValueError naming the field)
    E, L = int(knobs.episode_steps), int(knobs.latency_steps)
    features = np.asarray(features, np.float32)
    sigma = np.asarray(sigma, np.float32)
    if features.ndim != 2 or features.shape[0] != T:
        raise ValueError(f"make_params: features must be [T={T}, F_M], got {features.shape}")
    if sigma.shape != (T,):
        raise ValueError(f"make_params: sigma must be [T={T}] ticks/sqrt(s), got {sigma.shape}")
    for name, arr in (("features", features), ("sigma", sigma)):
        bad = np.flatnonzero(~np.isfinite(arr).reshape(T, -1).all(axis=1))
        if len(bad):
            raise ValueError(f"make_params: {name} row {bad[0]} is not finite")
    if (sigma < 0).any():
        raise ValueError(f"make_params: sigma row {int(np.flatnonzero(sigma < 0)[0])} is negative")
    lo, hi = (0, T) if split is None else (int(split.start), int(split.stop))
    if not 0 <= lo < hi <= T:
        raise ValueError(f"make_params: split rows [{lo}, {hi}) outside the recording's [0, {T})")

    stg = np.asarray(market.steps_to_gap)
    ok = stg > E + L + 1
    valid_before = np.concatenate([[0], np.cumsum(ok)]).astype(np.int32)
    valid_starts = np.flatnonzero(ok).astype(np.int32)
    in_split = valid_starts[(valid_starts >= lo) & (valid_starts + E + L + 1 <= hi)]
    if len(in_split) == 0:
        raise ValueError(
            f"make_params: no episode of {E}+{L}+1 gap-free rows fits in rows [{lo}, {hi}) "
            f"(longest gap-free run there: {int(stg[lo:hi].max(initial=0))} rows)")
    if len(valid_starts) == 0:
        valid_starts = np.zeros(1, np.int32)

    lot, scale = sim_lot(market.lot_size, knobs.quote_size)
    if knobs.max_inventory / lot >= 2**30:
        raise ValueError(f"make_params: max_inventory {knobs.max_inventory} is {knobs.max_inventory / lot:.3g} lots of "
                         f"{lot:g}, more than int32 lot counts hold (2^30); load the market with a coarser lot_size")
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return EnvParams(
        # the stored depth moves into book_blocks (one copy on the device)
        market=market.replace(book_px=None, book_lots=None),
        features=jnp.asarray(features),
        sigma=jnp.asarray(sigma),
        **pack_rows(market, features, sigma, scale),
        valid_starts=jnp.asarray(valid_starts),
        valid_before=jnp.asarray(valid_before),
        **{k: f32(v) for k, v in knobs.traced().items()},
        start_lo=jnp.asarray(lo, jnp.int32),
        start_hi=jnp.asarray(hi, jnp.int32),
        episode_steps=E,
        latency_steps=L,
        lot_size=lot,
    )


class MarketMakingEnv(environment.Environment[EnvState, EnvParams]):
    """Two-sided quoting on a replayed order book. Action [2] in [-1, 1]: (bid, ask), each a distance
    behind its touch in ticks or a pulled side (`mmjax.env.actions`)."""

    @property
    def default_params(self) -> EnvParams:
        """Working params over a small built-in market (generated once per process; gymnax tools call this)."""
        from mmjax.env.build import builtin_params

        return builtin_params()

    @property
    def name(self) -> str:
        return "MarketMaking-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        """(bid, ask) in [-1, 1] per side: ticks behind that side's touch, or above 0.9 no quote (`mmjax.env.actions`)."""
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """Market features then AGENT_FEATURES."""
        n = params.features.shape[1] + len(AGENT_FEATURES)
        return spaces.Box(-jnp.inf, jnp.inf, (n,), jnp.float32)

    def is_truncated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """Never: the time limit is a termination (see is_terminated)."""
        return jnp.zeros((), bool)

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """The time limit. time_left_frac is in the observation, so the step at the limit is a true terminal
        (Pardo et al. 2018, "Time Limits in Reinforcement Learning"): no reward follows it and PPO must not
        bootstrap there; bootstrapping is for limits the agent cannot see (docs/ppo.md)."""
        return state.time >= params.episode_steps

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams | None = None):
        """gymnax 1.0.1's auto-resetting step, bit for bit, with the reset draw computed cheaply."""
        # Same contract as environment.Environment.step: (obs, state, reward, terminated, truncated,
        # info + terminated/truncated/final_observation). The base splits ``key`` and runs XLA:CPU's
        # rolled threefry loop twice per env and step (split + reset draw), a third of the step cost;
        # `reset_bits.reset_key_bits` yields the same bits with one fused, unrolled hash per value.
        if params is None:
            params = self.default_params
        # step_env draws nothing, so it needs no key_step (the base would pass split(key)[0])
        obs_st, state_st, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = jnp.logical_or(terminated, truncated)
        obs_re, state_re = self._reset_from_bits(reset_key_bits(key), params)
        state = jax.tree.map(lambda x, y: jax.lax.select(done, x, y), state_re, state_st)
        obs = jax.lax.select(done, obs_re, obs_st)
        info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st}
        return obs, state, reward, terminated, truncated, info

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Start uniformly among gap-free rows t with start_lo <= t and t + episode + latency + 1 <= start_hi."""
        # one draw of 32 random bits (randint costs two)
        return self._reset_from_bits(jax.random.bits(key, (), jnp.uint32), params)

    def _reset_from_bits(self, bits: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """`reset_env` given its 32 random bits (uint32 []): the start row is a uniform valid start."""
        E, L = params.episode_steps, params.latency_steps
        T = params.valid_before.shape[0] - 1
        last = params.start_hi - (E + L + 1)  # latest allowed start, inclusive
        i_lo = params.valid_before[jnp.clip(params.start_lo, 0, T)]
        i_hi = params.valid_before[jnp.clip(last + 1, 0, T)]
        # modulo bias <= count / 2^32, negligible
        count = jnp.maximum(i_hi - i_lo, 1).astype(jnp.uint32)
        i = i_lo + (bits % count).astype(jnp.int32)
        t0 = params.valid_starts[jnp.clip(i, 0, params.valid_starts.shape[0] - 1)]
        return self.reset_at(t0, params)

    def reset_at(self, t0: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """An episode starting at book row ``t0`` (int32 []): flat, no orders, nothing in flight.

        `reset_env` draws t0 among the valid starts; a backtest starts every gap-free segment here.
        """
        L = params.latency_steps
        # only the touch, features and sigma of row t0 (the base step resets on every step)
        F = params.features.shape[1]
        # the head of row t0 only: features, sigma, oriented best ask, best bid (the row is 6x the bytes)
        head = jax.lax.dynamic_slice(params.rows, (t0, 0), (1, F + 3))[0]
        best = jnp.stack([head[F + 2], head[F + 1]])  # [2] oriented touch
        row_f = jax.lax.bitcast_convert_type(head[: F + 1], jnp.float32)  # features, sigma
        mid0 = (best[0] - best[1]).astype(jnp.float32) * 0.5
        zero = jnp.zeros((), jnp.float32)
        state = EnvState(
            time=jnp.zeros((), jnp.int32),
            t=t0,
            mid0=mid0,
            inventory=zero,
            inventory_lots=jnp.zeros((), jnp.int32),
            cash=zero,
            entry_ticks=zero,
            pnl=zero,
            best=best,
            sigma_t=row_f[-1],
            orders=fills.no_orders(),
            known_px=jnp.full((2,), fills.NO_ORDER_PX, jnp.int32),
            pipe_px=jnp.full((L - 1, 2), fills.NO_ORDER_PX, jnp.int32),
            pipe_msg=jnp.zeros((L - 1, 2), bool),
            n_crossed=jnp.zeros((), jnp.int32),
            n_rejected=jnp.zeros((), jnp.int32),
        )
        agent = jnp.array([0.0, 1.0, 0.0], jnp.float32)
        return jnp.concatenate([row_f[:-1], agent]), state

    def step_env(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        """Simulate (t, t+1]: fill the live orders, mark PnL at mid t+1, queue a_t for t+L."""
        mkt = params.market
        tick = jnp.float32(mkt.tick_size)
        t = state.t
        # GATHER: packed row t+1 = book row t+1's fences and trades of (t, t+1]; row t's touch and
        # sigma travel in the state
        F, NF = params.features.shape[1], params.book_blocks.shape[2]
        row = params.rows[t + 1]
        row_f = jax.lax.bitcast_convert_type(row[: F + 1], jnp.float32)  # features, sigma
        o = F + 2 + 2 * NF  # layout of `pack_rows`
        fences = row[F + 2: o].reshape(2, NF)  # [2, NF] oriented, fences[:, 0] = the touch
        limit, reach_px, reach_lots = row[o: o + 2], row[o + 2: o + 4], row[o + 4: o + 6]
        best1 = fences[:, 0]  # [2] oriented
        mid_t = (state.best[0] - state.best[1]).astype(jnp.float32) * 0.5
        mid_1 = (best1[0] - best1[1]).astype(jnp.float32) * 0.5
        q, q_lots = state.inventory, state.inventory_lots
        live_before = state.orders.remaining > 0  # [2] orders live over (t, t+1]
        lot = jnp.float32(params.lot_size)
        # whole lots within the limit; the tolerance absorbs float32 rounding of the quotient
        max_lots = jnp.floor(params.max_inventory / lot + 1e-3).astype(jnp.int32)

        # FILL THE LIVE ORDERS OVER (t, t+1]
        room = max_lots - SIGN * q_lots  # [2] int32 lots: bid max - q, ask max + q
        orders, fill_lots, kind = fills.settle(state.orders, reach_px, reach_lots, -state.best[::-1], -best1[::-1], room)
        crossed = kind == fills.FILL_CROSSED
        fill = fill_lots.astype(jnp.float32) * lot  # [2] venue size units
        fill_px = SIGN * state.orders.px  # [2] int32 absolute-from-anchor ticks
        signed = SIGN.astype(jnp.float32) * fill  # [2] + bought, - sold
        rel_px = fill_px.astype(jnp.float32) - state.mid0  # [2] ticks from mid0
        if mkt.inverse:  # static: cash and fee in coin, pnl in $ (mmjax.env.inverse); the linear program is unchanged
            flow_coin, fee_coin = inverse.fill_cash(signed, fill, fill_px, state.mid0, mkt.px_anchor_ticks, tick,
                                                    mkt.contract_value, params.maker_fee_bps)
            cash = state.cash + flow_coin - fee_coin
        else:
            notional = fill * (fill_px + mkt.px_anchor_ticks).astype(jnp.float32)  # [2] size * ticks
            fee = params.maker_fee_bps * 1e-4 * tick * (notional[0] + notional[1])
            flow = signed * rel_px  # [2]; sums of two written out: a reduce is its own kernel on XLA:CPU
            cash = state.cash - tick * (flow[0] + flow[1]) - fee
        inv_lots = q_lots + fill_lots[0] - fill_lots[1]
        inv = inv_lots.astype(jnp.float32) * lot  # ten fills of 0.01 make exactly float32(0.1)
        entry = _update_entry(_update_entry(state.entry_ticks, q, signed[0], rel_px[0]), q + signed[0], signed[1], rel_px[1])
        if mkt.inverse:
            pnl = inverse.mark(cash, inv, mid_1, state.mid0, mkt.px_anchor_ticks, tick, mkt.contract_value)
            fee = fee_coin * inverse.usd(mid_1, mkt.px_anchor_ticks, tick)  # $ at the mark, for info and reports
            # the risk terms see the coin-equivalent position: its $ PnL over the step is that times the move
            q_risk = inverse.exposure(q, mid_t, mkt.px_anchor_ticks, tick, mkt.contract_value)
        else:
            pnl = cash + inv * (mid_1 - state.mid0) * tick
            q_risk = q

        # REWARD
        sigma_px = state.sigma_t * tick  # $ per sqrt(s) per unit size
        risk = params.risk_aversion * q_risk * q_risk * sigma_px * sigma_px * jnp.float32(mkt.dt_s)
        damp = params.eta * jnp.maximum(0.0, q_risk * (mid_1 - mid_t) * tick)
        dpnl = pnl - state.pnl
        reward = dpnl - risk - damp

        # DECIDE AT t (book row t, inventory at t, the orders known at t) -> MESSAGES, ARRIVING AT t+L
        bid_q, ask_q, quoting = actions.quote_prices(action, state.best[0], -state.best[1], mid_t,
                                                     mkt.px_anchor_ticks, params.max_offset_bps)
        want_on = quoting & jnp.stack([q_lots < max_lots, q_lots > -max_lots])  # pulled, or at the inventory limit
        known, msg = fills.order_messages(state.known_px, jnp.stack([bid_q, -ask_q]), want_on)
        pipe_px = jnp.concatenate([state.pipe_px, known[None]], axis=0)  # [L, 2]
        pipe_msg = jnp.concatenate([state.pipe_msg, msg[None]], axis=0)
        quote_lots = jnp.rint(params.quote_size / lot).astype(jnp.int32)
        # one depth lookup per side in row t+1: the arriving order's price, else the resting order's
        look_px = jnp.where(pipe_msg[0], pipe_px[0], orders.px)
        shown, within = depth.lookup(params.book_blocks, t + 1, fences, limit, look_px)
        live, rejected = fills.arrive(orders, pipe_px[0], pipe_msg[0], quote_lots, shown, within, -best1[::-1])
        # fills of (t, t+1] and rejections at t+1 are known at the next decision
        known = fills.known_after(known, live, jnp.any(pipe_msg[1:], axis=0))

        time = state.time + 1
        new_state = EnvState(
            time=time, t=t + 1, mid0=state.mid0, inventory=inv, inventory_lots=inv_lots, cash=cash, entry_ticks=entry, pnl=pnl,
            best=best1, sigma_t=row_f[-1], orders=live, known_px=known, pipe_px=pipe_px[1:], pipe_msg=pipe_msg[1:],
            n_crossed=state.n_crossed + crossed[0].astype(jnp.int32) + crossed[1].astype(jnp.int32),
            n_rejected=state.n_rejected + rejected[0].astype(jnp.int32) + rejected[1].astype(jnp.int32))
        if mkt.inverse:
            upnl = inverse.unrealized(inv, mid_1, state.mid0, entry, mkt.px_anchor_ticks, mkt.contract_value)
        else:
            upnl = inv * (mid_1 - state.mid0 - entry) * tick
        obs = jnp.concatenate([row_f[:F], self._agent_features(
            inv, time, upnl, mid_1, params)])
        info = {
            "bid_fill": fill[0], "ask_fill": fill[1],
            "bid_fill_px": fill_px[0], "ask_fill_px": fill_px[1],  # ticks from anchor (valid where fill > 0)
            "bid_crossed": crossed[0], "ask_crossed": crossed[1],
            "bid_fill_kind": kind[0], "ask_fill_kind": kind[1],  # fills.FILL_QUEUE / FILL_THROUGH / FILL_CROSSED
            # the live order joined beyond the stored depth: its queue is unknown (never the front)
            "bid_beyond": state.orders.beyond[0] & live_before[0], "ask_beyond": state.orders.beyond[1] & live_before[1],
            # post-only: the order arriving at t+1 was at or through row t+1's opposite touch
            "bid_rejected": rejected[0], "ask_rejected": rejected[1],
            "bid_quote": fill_px[0], "ask_quote": fill_px[1],  # live prices over (t, t+1]
            "bid_live": live_before[0], "ask_live": live_before[1],
            "bid_pulled": ~quoting[0], "ask_pulled": ~quoting[1],  # the decision at t pulled the side
            "fee": fee, "pnl": pnl, "dpnl": dpnl, "risk_penalty": risk, "damp_penalty": damp,
            "inventory": inv, "cash": cash, "mid": mid_1, "t": t,
        }
        return obs, new_state, reward, self.is_terminated(new_state, params), info

    @staticmethod
    def _agent_features(inv, time, upnl, mid_ticks, params: EnvParams) -> jax.Array:
        """[3] inventory_frac, time_left_frac, unrealized_pnl_scaled (see docs/env.md)."""
        mkt = params.market
        if mkt.inverse:  # the notional of max_inventory contracts is max_inventory x contract_value $
            notional = params.max_inventory * jnp.float32(mkt.contract_value)
        else:
            mid_usd = (mid_ticks + jnp.float32(mkt.px_anchor_ticks)) * jnp.float32(mkt.tick_size)
            notional = params.max_inventory * mid_usd
        # 1.0 = a full inventory carrying a gain of max_offset_bps
        unit = notional * 1e-4 * jnp.maximum(params.max_offset_bps, 1e-6)
        return jnp.stack([
            inv / params.max_inventory,
            (params.episode_steps - time).astype(jnp.float32) / params.episode_steps,
            upnl / unit,
        ]).astype(jnp.float32)


def _update_entry(entry: jax.Array, q: jax.Array, dq: jax.Array, px: jax.Array) -> jax.Array:
    """Average entry price after trading ``dq`` at ``px`` from inventory ``q`` (ticks from mid0)."""
    q1 = q + dq
    grows = q * dq > 0
    flips_or_opens = (q1 * q <= 0) & (q1 != 0)  # from flat, or through zero: the rest is new at px
    avg = (jnp.abs(q) * entry + jnp.abs(dq) * px) / jnp.maximum(jnp.abs(q1), 1e-30)
    out = jnp.where(grows, avg, jnp.where(flips_or_opens, px, entry))
    return jnp.where((dq == 0) | (q1 == 0), jnp.where(q1 == 0, 0.0, entry), out)
