"""`MarketMakingEnv`: a gymnax environment that replays a recording with a causal, queue-aware fill simulator.

Step ``t`` (book row t observed, action a_t chosen) simulates the interval (t, t+1]: the orders
decided ``latency_steps`` steps ago rest there and fill against aggregate trade row t; PnL is
marked at the mid of book row t+1; the next observation is built from row t+1. The decision a_t
goes live at t+L. Every rule, unit and default is documented in docs/env.md.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from mmjax.data.market import MarketData
from mmjax.env import fills
from mmjax.features.spec import AGENT_FEATURES

SIGN = jnp.array(fills.SIDE_SIGN, jnp.int32)  # [2] bid +1, ask -1


@struct.dataclass
class EnvState(environment.EnvState):
    """One episode in progress. ``time`` counts steps taken; ``t`` is the current book row."""

    t: jax.Array  # [] int32 book row of the current observation
    mid0: jax.Array  # [] float32 mid at the episode start, ticks from anchor (money is marked from here)
    inventory: jax.Array  # [] float32 venue size units (BTC); + long
    cash: jax.Array  # [] float32 $ relative to holding the traded size at mid0 (see docs/env.md)
    entry_ticks: jax.Array  # [] float32 average entry price of the inventory, ticks from mid0
    pnl: jax.Array  # [] float32 $ mark-to-market since the episode start: cash + inventory * (mid - mid0)
    best: jax.Array  # [2] int32 oriented touch of row t: (best bid, -best ask)
    sigma_t: jax.Array  # [] float32 sigma of row t, ticks per sqrt(s)
    orders: fills.Orders  # live orders for (t, t+1], oriented
    pipe_px: jax.Array  # [L-1, 2] int32 decisions not yet live (oldest first), oriented
    pipe_on: jax.Array  # [L-1, 2] bool
    n_crossed: jax.Array  # [] int32 crossed fills this episode


@struct.dataclass
class EnvParams:
    """Market data plus reward/quoting knobs. Array and float fields are traced (vmappable)."""

    market: MarketData
    features: jax.Array  # [T, F_M] float32 normalized market features (row t uses data up to t)
    sigma: jax.Array  # [T] float32 realized volatility of mid, ticks per sqrt(second), causal
    # derived by make_params: everything the agent learns at row r packed in one int32 row (floats
    # stored as their bits), so that a step is one gather (see `pack_rows` for the layout)
    rows: jax.Array  # [T, F_M + 2 + 4L + 4M] int32
    valid_starts: jax.Array  # [K] int32 rows an episode may start at (gap-free for the whole episode)
    valid_before: jax.Array  # [T+1] int32 number of valid starts < t
    gamma: jax.Array  # [] risk aversion, 1/$
    maker_fee_bps: jax.Array  # [] fee on fill notional, bps (negative = rebate)
    quote_size: jax.Array  # [] venue size units per quote
    max_inventory: jax.Array  # [] venue size units
    max_offset_bps: jax.Array  # [] offset from mid at action +1, bps of mid
    eta: jax.Array  # [] dampening coefficient on positive inventory PnL, unitless
    reward_scale: jax.Array  # [] multiplier on the reward
    start_lo: jax.Array  # [] int32 first row of the split (inclusive)
    start_hi: jax.Array  # [] int32 end row of the split (exclusive); episodes end before it
    episode_steps: int = struct.field(pytree_node=False, default=3000)
    latency_steps: int = struct.field(pytree_node=False, default=1)

    @property
    def max_steps_in_episode(self) -> int:
        return self.episode_steps


DEFAULTS = dict(
    gamma=0.01,
    maker_fee_bps=0.0,
    quote_size=0.01,
    max_inventory=0.1,
    max_offset_bps=10.0,
    eta=0.0,
    reward_scale=1.0,
)


def make_params(
    market: MarketData,
    features: jax.Array | np.ndarray,
    sigma: jax.Array | np.ndarray,
    split=None,
    **overrides,
) -> EnvParams:
    """Build EnvParams: validate inputs, pack rows, list valid episode starts in ``split`` (rows [start, stop))."""
    T = market.num_steps
    unknown = set(overrides) - set(DEFAULTS) - {"episode_steps", "latency_steps"}
    if unknown:
        raise ValueError(f"make_params: unknown override(s) {sorted(unknown)}")
    E = int(overrides.get("episode_steps", 3000))
    L = int(overrides.get("latency_steps", 1))
    if E < 1 or L < 1:
        raise ValueError(f"make_params: episode_steps and latency_steps must be >= 1, got {E}, {L}")
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
    vals = {k: overrides.get(k, v) for k, v in DEFAULTS.items()}
    if float(vals["quote_size"]) <= 0 or float(vals["max_inventory"]) <= 0 or float(vals["max_offset_bps"]) < 0:
        raise ValueError(f"make_params: need quote_size > 0, max_inventory > 0, max_offset_bps >= 0, got {vals}")

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

    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return EnvParams(
        market=market,
        features=jnp.asarray(features),
        sigma=jnp.asarray(sigma),
        **pack_rows(market, jnp.asarray(features), jnp.asarray(sigma)),
        valid_starts=jnp.asarray(valid_starts),
        valid_before=jnp.asarray(valid_before),
        **{k: f32(v) for k, v in vals.items()},
        start_lo=jnp.asarray(lo, jnp.int32),
        start_hi=jnp.asarray(hi, jnp.int32),
        episode_steps=E,
        latency_steps=L,
    )


class MarketMakingEnv(environment.Environment[EnvState, EnvParams]):
    """Two-sided quoting on a replayed order book. Action [2] in [-1, 1]: (bid, ask) offsets."""

    @property
    def default_params(self) -> EnvParams:
        raise ValueError("MarketMakingEnv has no default params: build them with make_params(market, features, sigma)")

    @property
    def name(self) -> str:
        return "MarketMaking-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        """(bid, ask) in [-1, 1]; -1 quotes at the mid (inside the touch when the spread allows), +1 at max_offset_bps."""
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
        # `_reset_key_bits` yields the same bits with one fused, unrolled hash per value.
        if params is None:
            params = self.default_params
        # step_env draws nothing, so it needs no key_step (the base would pass split(key)[0])
        obs_st, state_st, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = jnp.logical_or(terminated, truncated)
        obs_re, state_re = self._reset_from_bits(_reset_key_bits(key), params)
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
            cash=zero,
            entry_ticks=zero,
            pnl=zero,
            best=best,
            sigma_t=row_f[-1],
            orders=fills.no_orders(),
            pipe_px=jnp.full((L - 1, 2), fills.NO_ORDER_PX, jnp.int32),
            pipe_on=jnp.zeros((L - 1, 2), bool),
            n_crossed=jnp.zeros((), jnp.int32),
        )
        agent = jnp.array([0.0, 1.0, 0.0], jnp.float32)
        return jnp.concatenate([row_f[:-1], agent]), state

    def step_env(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        """Simulate (t, t+1]: fill the live orders, mark PnL at mid t+1, queue a_t for t+L."""
        mkt = params.market
        tick = jnp.float32(mkt.tick_size)
        t = state.t
        # GATHER: packed row t+1 = book row t+1 and trades of (t, t+1]; row t's touch and sigma
        # travel in the state
        Lv, M = mkt.levels, mkt.buy_px.shape[1]
        F = params.features.shape[1]
        row = params.rows[t + 1]
        row_f = jax.lax.bitcast_convert_type(row[: F + 1], jnp.float32)  # features, sigma
        px0 = F + 2  # layout of `pack_rows`
        nxt_px = row[px0: px0 + 2 * Lv].reshape(2, Lv)
        tr_px = row[px0 + 2 * Lv: px0 + 2 * Lv + 2 * M].reshape(2, M)
        sz = jax.lax.bitcast_convert_type(row[px0 + 2 * Lv + 2 * M:], jnp.float32)
        nxt_sz = sz[: 2 * Lv].reshape(2, Lv)
        tr_vol = sz[2 * Lv:].reshape(2, M)
        best1 = nxt_px[:, 0]  # [2] oriented
        mid_t = (state.best[0] - state.best[1]).astype(jnp.float32) * 0.5
        mid_1 = (best1[0] - best1[1]).astype(jnp.float32) * 0.5
        q = state.inventory

        # FILL THE LIVE ORDERS OVER (t, t+1]
        room = params.max_inventory - SIGN.astype(jnp.float32) * q  # [2] bid: max - q, ask: max + q
        orders, fill, crossed = fills.settle(
            state.orders, tr_px, tr_vol, -state.best[::-1], -best1[::-1], room, nxt_px, nxt_sz)
        fill_px = SIGN * state.orders.px  # [2] int32 absolute-from-anchor ticks
        signed = SIGN.astype(jnp.float32) * fill  # [2] + bought, - sold
        rel_px = fill_px.astype(jnp.float32) - state.mid0  # [2] ticks from mid0
        notional = fill * (fill_px + mkt.px_anchor_ticks).astype(jnp.float32)  # [2] size * ticks
        fee = params.maker_fee_bps * 1e-4 * tick * (notional[0] + notional[1])
        flow = signed * rel_px  # [2]; sums of two written out: a reduce is its own kernel on XLA:CPU
        cash = state.cash - tick * (flow[0] + flow[1]) - fee
        inv = q + signed[0] + signed[1]
        entry = _update_entry(_update_entry(state.entry_ticks, q, signed[0], rel_px[0]), q + signed[0], signed[1], rel_px[1])
        pnl = cash + inv * (mid_1 - state.mid0) * tick

        # REWARD
        sigma_px = state.sigma_t * tick  # $ per sqrt(s) per unit size
        risk = params.gamma * q * q * sigma_px * sigma_px * jnp.float32(mkt.dt_s)
        damp = params.eta * jnp.maximum(0.0, q * (mid_1 - mid_t) * tick)
        dpnl = pnl - state.pnl
        reward = params.reward_scale * (dpnl - risk - damp)

        # DECIDE AT t (book row t, inventory at t) AND PUT THE OLDEST PENDING DECISION LIVE AT t+1
        bid_q, ask_q = fills.quote_prices(action, mid_t, state.best[0], -state.best[1],
                                          params.max_offset_bps, mkt.px_anchor_ticks)
        new_px = jnp.stack([bid_q, -ask_q])
        new_on = jnp.stack([q < params.max_inventory, q > -params.max_inventory])
        pipe_px = jnp.concatenate([state.pipe_px, new_px[None]], axis=0)  # [L, 2]
        pipe_on = jnp.concatenate([state.pipe_on, new_on[None]], axis=0)
        live = fills.join(orders, pipe_px[0], pipe_on[0], params.quote_size, nxt_px, nxt_sz)

        time = state.time + 1
        new_state = EnvState(
            time=time, t=t + 1, mid0=state.mid0, inventory=inv, cash=cash, entry_ticks=entry, pnl=pnl,
            best=best1, sigma_t=row_f[-1], orders=live, pipe_px=pipe_px[1:], pipe_on=pipe_on[1:],
            n_crossed=state.n_crossed + crossed[0].astype(jnp.int32) + crossed[1].astype(jnp.int32))
        upnl = inv * (mid_1 - state.mid0 - entry) * tick
        obs = jnp.concatenate([row_f[:F], self._agent_features(
            inv, time, upnl, mid_1, params)])
        info = {
            "bid_fill": fill[0], "ask_fill": fill[1],
            "bid_fill_px": fill_px[0], "ask_fill_px": fill_px[1],  # ticks from anchor (valid where fill > 0)
            "bid_crossed": crossed[0], "ask_crossed": crossed[1],
            "bid_quote": fill_px[0], "ask_quote": fill_px[1],  # live prices over (t, t+1]
            "bid_live": state.orders.remaining[0] > 0, "ask_live": state.orders.remaining[1] > 0,
            "fee": fee, "pnl": pnl, "dpnl": dpnl, "risk_penalty": risk, "damp_penalty": damp,
            "inventory": inv, "cash": cash, "mid": mid_1, "t": t,
        }
        return obs, new_state, reward, self.is_terminated(new_state, params), info

    @staticmethod
    def _agent_features(inv, time, upnl, mid_ticks, params: EnvParams) -> jax.Array:
        """[3] inventory_frac, time_left_frac, unrealized_pnl_scaled (see docs/env.md)."""
        mid_usd = (mid_ticks + jnp.float32(params.market.px_anchor_ticks)) * jnp.float32(params.market.tick_size)
        # 1.0 = a full inventory carrying a gain of max_offset_bps
        unit = params.max_inventory * mid_usd * 1e-4 * jnp.maximum(params.max_offset_bps, 1e-6)
        return jnp.stack([
            inv / params.max_inventory,
            (params.episode_steps - time).astype(jnp.float32) / params.episode_steps,
            upnl / unit,
        ]).astype(jnp.float32)


def _threefry2x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), jax.random's default hash, as unrolled uint32 ops."""
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r)))
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _reset_key_bits(key: jax.Array) -> jax.Array:
    """``jax.random.bits(jax.random.split(key)[1], (), uint32)``: the base step's reset draw (uint32 [])."""
    fast = (not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.dtype == jnp.uint32
            and key.shape == (2,) and jax.config.jax_threefry_partitionable
            and jax.config.jax_default_prng_impl == "threefry2x32")
    if not fast:  # typed keys or another PRNG setup: let jax.random do it
        return jax.random.bits(jax.random.split(key)[1], (), jnp.uint32)
    zero = jnp.zeros((), jnp.uint32)
    # partitionable split: key i = hash(key, (0, i)); random_bits of shape (): hash(key, (0, 0)), xored
    r0, r1 = _threefry2x32(key[0], key[1], zero, jnp.ones((), jnp.uint32))
    b0, b1 = _threefry2x32(r0, r1, zero, zero)
    return b0 ^ b1


def pack_rows(market: MarketData, features: jax.Array, sigma: jax.Array) -> dict[str, jax.Array]:
    """Pack what the agent learns at row r (book r, trades of (r-1, r], features r, sigma r) into one int32 row.

    Columns: features [F_M] and sigma (float32 bits), the oriented best ask again, the oriented book
    px [2L] (bid levels then ask levels: the best bid is column F_M + 2), the oriented trade px of
    (r-1, r] [2M], then book sz [2L] and trade vol [2M] (float32 bits). A reset reads the first
    F_M + 3 columns, a step the whole row (one gather).
    """
    T, M = market.num_steps, market.buy_px.shape[1]
    book_px = fills.orient(market.bid_px, market.ask_px).reshape(T, -1)  # [T, 2L]
    book_sz = jnp.stack([market.bid_sz, market.ask_sz], axis=-2).reshape(T, -1)
    # aggregate row r-1 describes (r-1, r]: shift down by one; nothing traded "before" row 0
    tr_px = fills.orient(market.sell_px, market.buy_px).reshape(T, -1)  # [T, 2M]
    tr_vol = jnp.stack([market.sell_px_vol, market.buy_px_vol], axis=-2).reshape(T, -1)
    tr_px = jnp.concatenate([jnp.full((1, 2 * M), fills.NO_ORDER_PX, jnp.int32), tr_px[:-1]])
    tr_vol = jnp.concatenate([jnp.zeros((1, 2 * M), jnp.float32), tr_vol[:-1]])
    bits = lambda x: jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)  # noqa: E731
    L = market.levels
    return {"rows": jnp.concatenate([
        bits(features), bits(sigma[:, None]), book_px[:, L: L + 1].astype(jnp.int32), book_px.astype(jnp.int32),
        tr_px.astype(jnp.int32), bits(book_sz), bits(tr_vol)], axis=1)}


def _update_entry(entry: jax.Array, q: jax.Array, dq: jax.Array, px: jax.Array) -> jax.Array:
    """Average entry price after trading ``dq`` at ``px`` from inventory ``q`` (ticks from mid0)."""
    q1 = q + dq
    grows = q * dq > 0
    flips_or_opens = (q1 * q <= 0) & (q1 != 0)  # from flat, or through zero: the rest is new at px
    avg = (jnp.abs(q) * entry + jnp.abs(dq) * px) / jnp.maximum(jnp.abs(q1), 1e-30)
    out = jnp.where(grows, avg, jnp.where(flips_or_opens, px, entry))
    return jnp.where((dq == 0) | (q1 == 0), jnp.where(q1 == 0, 0.0, entry), out)
