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
from gymnax.environments import environment, spaces

from mmjax.env import fills
from mmjax.env.account import reward
from mmjax.env.knobs import episode_span
from mmjax.env.observe import get_obs
from mmjax.env.params import make_params  # noqa: F401 - re-exported
from mmjax.env.reset_bits import reset_key_bits
from mmjax.env.rows import read_head, read_row
from mmjax.env.state import SIGN, EnvParams, EnvState, Settlement, mid_ticks  # noqa: F401 - re-exported
from mmjax.env.steps import decide, settle
from mmjax.features.spec import AGENT_FEATURES, COUNT_CAP_STEPS


class MarketMakingEnv(environment.Environment[EnvState, EnvParams]):
    """Two-sided quoting on a replayed order book. Action [2] in [-1, 1]: (bid, ask), each a distance
    behind its touch in ticks or a pulled side (`mmjax.env.actions`)."""

    @property
    def default_params(self) -> EnvParams:
        """Working params over a small built-in market (generated once per process; gymnax tools call this)."""
        from mmjax.env.market_load import builtin_params

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
        T = params.valid_before.shape[0] - 1
        last = params.start_hi - episode_span(params.episode_steps, params.latency_steps)  # latest start, inclusive
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
        features, state = self._reset_state_at(t0, params)
        return get_obs(features, state, params), state

    def reset_state_at(self, t0: jax.Array, params: EnvParams) -> EnvState:
        """`reset_at`'s state, no observation built (the grid's policies never read one: less to trace and compile)."""
        return self._reset_state_at(t0, params)[1]

    def _reset_state_at(self, t0: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """(row t0's market features, the fresh state) of `reset_at`."""
        L = params.latency_steps
        # only the head of row t0 (the base step resets on every step)
        features, sigma, best = read_head(params.rows, t0, params.features.shape[1])
        zero = jnp.zeros((), jnp.float32)
        state = EnvState(
            time=jnp.zeros((), jnp.int32),
            t=t0,
            mid0=mid_ticks(best),
            inventory=zero,
            inventory_lots=jnp.zeros((), jnp.int32),
            cash=zero,
            entry_ticks=zero,
            pnl=zero,
            best=best,
            sigma_t=sigma,
            orders=fills.no_orders(),
            known_px=jnp.full((2,), fills.NO_ORDER_PX, jnp.int32),
            pipe_px=jnp.full((L - 1, 2), fills.NO_ORDER_PX, jnp.int32),
            pipe_msg=jnp.zeros((L - 1, 2), bool),
            n_crossed=jnp.zeros((), jnp.int32),
            n_rejected=jnp.zeros((), jnp.int32),
            order_age=jnp.zeros((2,), jnp.int32),
            since_fill=jnp.full((2,), COUNT_CAP_STEPS, jnp.int32),
            shown_lots=jnp.zeros((2,), jnp.int32),
        )
        return features, state

    def step_env(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        """Simulate (t, t+1]: decide at t, settle the interval (fills, account, mark, arrivals at t+1), reward, observe.

        The composition of `sim_np`'s step (`ReferenceMarketEnv.step`) with the JAX twins of its rules.
        """
        row, new_state, r, info = self._step(state, action, params)
        return get_obs(row.features, new_state, params), new_state, r, self.is_terminated(new_state, params), info

    def step_state(self, state: EnvState, action: jax.Array, params: EnvParams):
        """`step_env` without the observation: (state, reward, terminated, info), the same simulation.

        For programs that never read an observation (`mmjax.evaluation.grid`'s quoters read the state):
        nothing of it is traced, lowered or compiled.
        """
        _, new_state, r, info = self._step(state, action, params)
        return new_state, r, self.is_terminated(new_state, params), info

    def _step(self, state: EnvState, action: jax.Array, params: EnvParams):
        """(packed row t+1, new state, reward, info) of `step_env`."""
        # GATHER: packed row t+1 = book row t+1's fences and trades of (t, t+1]; row t's touch and
        # sigma travel in the state
        row = read_row(params.rows, state.t + 1, params.features.shape[1], params.book_blocks.shape[2])
        decided, quoting = decide(state, action, params)
        settled, s = settle(decided, row, params)
        r, risk, damp = reward(s.dpnl, state.inventory, state.sigma_t, mid_ticks(state.best), mid_ticks(row.best),
                               params)
        new_state = settled.replace(time=state.time + 1, t=state.t + 1, best=row.best, sigma_t=row.sigma)
        info = self._info(state, new_state, s, quoting, risk, damp)
        return row, new_state, r, info

    @staticmethod
    def _info(state: EnvState, new_state: EnvState, s: Settlement, quoting: jax.Array, risk: jax.Array,
              damp: jax.Array) -> dict[str, jax.Array]:
        """The per-step info dict of the interval (t, t+1] (docs/env.md, "info")."""
        f = s.fill
        return {
            "bid_fill": f.size[0], "ask_fill": f.size[1],
            "bid_fill_px": f.price[0], "ask_fill_px": f.price[1],  # ticks from anchor (valid where fill > 0)
            "bid_crossed": f.crossed[0], "ask_crossed": f.crossed[1],
            "bid_fill_kind": f.kind[0], "ask_fill_kind": f.kind[1],  # fills.FILL_QUEUE / FILL_THROUGH / FILL_CROSSED
            # the live order joined beyond the stored depth: its queue is unknown (never the front)
            "bid_beyond": f.beyond[0], "ask_beyond": f.beyond[1],
            # post-only: the order arriving at t+1 was at or through row t+1's opposite touch
            "bid_rejected": s.rejected[0], "ask_rejected": s.rejected[1],
            "bid_quote": f.price[0], "ask_quote": f.price[1],  # live prices over (t, t+1]
            "bid_live": f.live[0], "ask_live": f.live[1],
            "bid_pulled": ~quoting[0], "ask_pulled": ~quoting[1],  # the decision at t pulled the side
            "fee": s.fee, "pnl": new_state.pnl, "dpnl": s.dpnl, "risk_penalty": risk, "damp_penalty": damp,
            "inventory": new_state.inventory, "cash": new_state.cash, "mid": mid_ticks(new_state.best), "t": state.t,
        }
