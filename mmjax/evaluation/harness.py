"""Run policies on fixed, non-overlapping episodes of the environment and collect traces (JAX).

A policy here is a pure function ``policy(obs [D], state, params) -> action [2]`` so that the
trained agent and the closed-form baselines run through the same vmapped rollout, on the same
episodes, with the same fees and latency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env import actions, attribution, depth, kpis
from mmjax.env.episodes import non_overlapping_starts, pin_start  # noqa: F401 (part of the harness API)
from mmjax.env.knobs import ACTION_PULL
from mmjax.env.market_env import EnvParams, EnvState, MarketMakingEnv
from mmjax.env.rows import read_row
from mmjax.evaluation.metrics import Traces
from mmjax.policy import baselines as bl

Policy = Callable[[jax.Array, EnvState, EnvParams], jax.Array]
# the queue-aware quoter's threshold grid (mmjax.policy.baselines.queue_aware_action: its score lies in [0, 2])
QUEUE_THRESHOLDS = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 2.0], np.float32)


def rollout(env: MarketMakingEnv, params: EnvParams, starts: jax.Array, policy: Policy) -> dict[str, jax.Array]:
    """Run ``policy`` for one episode from each start; returns step infos [E, S] plus quote offsets."""
    S = params.episode_steps
    mkt = params.market

    def one(start):
        p = pin_start(params, start)
        key = jax.random.PRNGKey(0)  # the env is deterministic given the start
        obs, state = env.reset(key, p)

        def body(carry, _):
            obs, state = carry
            action = policy(obs, state, p)
            t = state.t
            obs2, state2, _, _, _, info = env.step(key, state, action, p)
            mid_t = mkt.mid[t]
            mid_abs = mid_t + jnp.float32(mkt.px_anchor_ticks)
            out = {k: info[k] for k in ("pnl", "inventory", "bid_fill", "ask_fill", "bid_fill_px", "ask_fill_px",
                                        "bid_live", "ask_live", "bid_rejected", "ask_rejected", "bid_fill_kind",
                                        "ask_fill_kind", "bid_beyond", "ask_beyond", "fee", "t")}
            # quotes decided now, in bps from mid (what the policy chose, before latency)
            bid_q, ask_q = _decided_quotes(action, state, p)
            out["bid_offset_bps"] = (mid_t - bid_q) / mid_abs * 1e4
            out["ask_offset_bps"] = (ask_q - mid_t) / mid_abs * 1e4
            out["action"] = action
            return (obs2, state2), out

        _, trace = jax.lax.scan(body, (obs, state), None, length=S)
        return trace

    return jax.vmap(one)(starts)


def ppo_policy(run: Path, env: MarketMakingEnv, params: EnvParams) -> Policy:
    """A `mmjax train` run's deterministic policy, loaded from its checkpoint."""
    from mmjax.ppo import HParams, deterministic_action, make_ppo
    from mmjax.ppo.checkpoint import load_checkpoint
    from mmjax.runs import run_dir

    pcfg = run_dir.load_train_config(run).core.ppo
    ppo = make_ppo(pcfg, env, params)
    template = jax.eval_shape(ppo.init, jax.random.PRNGKey(0), HParams.from_config(pcfg), params)
    state, _ = load_checkpoint(run / run_dir.CHECKPOINT, template)
    net = ppo.params_out(state)

    def policy(obs, env_state, p):
        return deterministic_action(ppo.actor, net, obs, pcfg.obs_clip)

    return policy


def _decided_quotes(action, state: EnvState, params: EnvParams):
    """The prices the decision at t asks for, float32 ticks (NaN on a pulled side)."""
    bid, ask, quoting = actions.quote_prices(action, state.best[0], -state.best[1], params.market.mid[state.t],
                                             params.market.px_anchor_ticks, params.max_offset_bps,
                                             state.known_px, params.requote_margin)
    return (jnp.where(quoting[0], bid.astype(jnp.float32), jnp.nan),
            jnp.where(quoting[1], ask.astype(jnp.float32), jnp.nan))


def to_traces(trace: dict[str, jax.Array], params: EnvParams) -> Traces:
    """Device step infos -> NumPy `Traces` in $ and absolute prices, with 1 s / 10 s later mids for markouts."""
    mkt = params.market
    tr = {k: np.asarray(v) for k, v in trace.items()}
    mid = np.asarray(mkt.mid, np.float64)
    T = len(mid)
    to_usd = lambda ticks: (np.asarray(ticks, np.float64) + mkt.px_anchor_ticks) * mkt.tick_size  # noqa: E731
    t = tr["t"].astype(np.int64)
    horizon = attribution.markout_steps(mkt.grid_ms)  # markout horizons in grid steps

    def mid_later(steps):
        return to_usd(mid[np.minimum(t + 1 + steps, T - 1)])

    base = {}
    if mkt.inverse:  # contracts -> their coin equivalent at the fill price, for the $ attribution
        for side in ("bid", "ask"):
            px = to_usd(tr[f"{side}_fill_px"])
            base[f"{side}_fill_base"] = np.where(tr[f"{side}_fill"] > 0, tr[f"{side}_fill"] * mkt.contract_value
                                                 / np.where(px > 0, px, 1.0), 0.0)
    return Traces(
        **base,
        pnl=tr["pnl"].astype(np.float64), inventory=tr["inventory"].astype(np.float64),
        bid_fill=tr["bid_fill"].astype(np.float64), ask_fill=tr["ask_fill"].astype(np.float64),
        bid_fill_px=to_usd(tr["bid_fill_px"]), ask_fill_px=to_usd(tr["ask_fill_px"]),
        bid_quoted=tr["bid_live"].astype(bool), ask_quoted=tr["ask_live"].astype(bool),
        fees=tr["fee"].astype(np.float64), mid_at_fill=to_usd(mid[t]),
        mid_after_1s=mid_later(horizon["1s"]), mid_after_10s=mid_later(horizon["10s"]),
        bid_offset_bps=tr["bid_offset_bps"].astype(np.float64), ask_offset_bps=tr["ask_offset_bps"].astype(np.float64),
        rejected=(tr["bid_rejected"].astype(np.int64) + tr["ask_rejected"].astype(np.int64)),
        bid_fill_kind=tr["bid_fill_kind"].astype(np.int8), ask_fill_kind=tr["ask_fill_kind"].astype(np.int8),
        beyond=(tr["bid_beyond"].astype(np.int64) + tr["ask_beyond"].astype(np.int64)),
    )


def markout_curve(tr: Traces, trace: dict, params: EnvParams, horizons_s=(0.1, 0.5, 1, 2, 5, 10, 30)) -> tuple[list, list]:
    """Size-weighted markout in bps at several horizons after the fill."""
    mkt = params.market
    mid = np.asarray(mkt.mid, np.float64)
    t = np.asarray(trace["t"]).astype(np.int64)
    to_usd = lambda ticks: (ticks + mkt.px_anchor_ticks) * mkt.tick_size  # noqa: E731
    out = []
    for h in horizons_s:
        later = to_usd(mid[np.minimum(t + 1 + max(1, round(h * 1000 / mkt.grid_ms)), len(mid) - 1)])
        out.append(kpis.markout_bps(tr.bid_fill, tr.ask_fill, tr.bid_fill_px, tr.ask_fill_px, tr.mid_at_fill, later))
    return list(horizons_s), out


# ---------------------------------------------------------------- baseline policies


@dataclass(frozen=True)
class BaselineCalibration:
    """Inputs of the closed-form quoters, calibrated on the calibration window only."""

    A_per_s: float
    k_per_tick: float
    r2: float
    forecast_weights: tuple[float, ...] = ()  # [F_M] signal-aware ridge weights, ticks per feature unit
    forecast_bias: float = 0.0  # ticks
    forecast_r2: float = 0.0  # in-sample R^2 of the forecast on the calibration window


def queue_view(state: EnvState, params: EnvParams) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(touch lots [2], queue_frac [2], at_touch [2]) at the decision on row ``state.t``: what the queue-aware
    quoter reads. The lots shown at each best price of row t, the own order's queue ahead as a fraction of
    the lots shown at its price (the observation's ``queue_frac``; the order is at the touch wherever it is
    used), and whether a live order rests at its side's best price."""
    row = read_row(params.rows, state.t, params.features.shape[1], params.book_blocks.shape[2])
    touch, _ = depth.lookup(params.book_blocks, state.t, row.fences, row.limit, state.best)  # [2] lots
    o = state.orders
    at_touch = (o.remaining > 0) & (o.px == state.best)
    frac = jnp.minimum(o.queue_ahead.astype(jnp.float32) / jnp.maximum(touch, 1).astype(jnp.float32), 1.0)
    return touch, jnp.where(at_touch, frac, 0.0), at_touch


def baseline_policy(name: str, value: jax.Array, calib: BaselineCalibration | None) -> Policy:
    """A baseline as a policy through the env's action mapping. ``value`` is its tuned free parameter:
    ticks behind the touch (fixed), gamma (the closed forms), the run-over threshold (queue_aware);
    abstain has none."""

    def policy(obs, state: EnvState, params: EnvParams):
        mkt = params.market
        t = state.t
        mid_t = mkt.mid[t]
        if name == "abstain":
            return jnp.full((2,), ACTION_PULL, jnp.float32)
        if name == "fixed":
            k_max = actions.max_ticks(mid_t, mkt.px_anchor_ticks, params.max_offset_bps)
            return bl.ticks_to_action(jnp.stack([value, value]), k_max, xp=jnp)
        if name == "queue_aware":
            k_max = actions.max_ticks(mid_t, mkt.px_anchor_ticks, params.max_offset_bps)
            touch, frac, at_touch = queue_view(state, params)
            return bl.queue_aware_action(touch, frac, at_touch, state.inventory / params.max_inventory, value, k_max,
                                         xp=jnp)
        mid_abs = mid_t + jnp.float32(mkt.px_anchor_ticks)
        q_lots = state.inventory / params.quote_size
        time_left_s = (params.episode_steps - state.time).astype(jnp.float32) * jnp.float32(mkt.dt_s)
        if name == "avellaneda_stoikov":
            b, a = bl.avellaneda_stoikov_offsets(q_lots, params.sigma[t], time_left_s, mid_abs, value,
                                                 calib.k_per_tick, xp=jnp)
        elif name == "glft":
            b, a = bl.glft_offsets(q_lots, params.sigma[t], mid_abs, value, calib.k_per_tick, calib.A_per_s, xp=jnp)
        elif name == "signal_aware":
            # the forecast reads row t's features only (what the agent observes at t)
            f = params.features[t] @ jnp.asarray(calib.forecast_weights, jnp.float32) + jnp.float32(calib.forecast_bias)
            b, a, pull = bl.signal_aware_offsets(q_lots, params.sigma[t], time_left_s, mid_abs, value,
                                                 calib.k_per_tick, f, xp=jnp)
        else:
            raise ValueError(f"unknown baseline {name!r}; choose from {bl.BASELINES}")
        act = bl.quotes_to_action(b, a, mid_t, state.best[0], -state.best[1], mkt.px_anchor_ticks,
                                  params.max_offset_bps, xp=jnp)
        if name == "signal_aware":
            act = jnp.where(pull, jnp.float32(ACTION_PULL), act)
        return act

    return policy


def offset_policy(offset_bps: jax.Array) -> Policy:
    """Quote at least ``offset_bps`` from the mid on both sides (the nearest ticks at or beyond it)."""

    def policy(obs, state: EnvState, params: EnvParams):
        mkt = params.market
        return bl.quotes_to_action(offset_bps, offset_bps, mkt.mid[state.t], state.best[0], -state.best[1],
                                   mkt.px_anchor_ticks, params.max_offset_bps, xp=jnp)

    return policy


def calibrate(params: EnvParams, lo: int, hi: int, horizon_steps: int = bl.FORECAST_HORIZON_STEPS) -> BaselineCalibration:
    """Fit the fill intensity A exp(-k delta), and the mid forecast over ``horizon_steps`` rows, on rows [lo, hi)."""
    m = params.market
    fit = bl.calibrate_fill_intensity(np.asarray(m.mid), np.asarray(m.buy_px), np.asarray(m.buy_px_vol),
                                      np.asarray(m.sell_px), np.asarray(m.sell_px_vol), m.dt_s, lo, hi)
    fc = bl.fit_mid_forecast(np.asarray(params.features), np.asarray(m.mid), np.asarray(m.steps_to_gap), lo, hi,
                             horizon_steps)
    return BaselineCalibration(fit.A_per_s, fit.k_per_tick, fit.r2, tuple(float(w) for w in fc.weights), fc.bias,
                               fc.r2_train)


def default_grid(name: str, params: EnvParams, calib: BaselineCalibration) -> np.ndarray:
    """Candidate values of each baseline's free parameter (empty: nothing to tune)."""
    if name == "abstain":
        return np.zeros(0, np.float32)
    # The grid engine runs every value in one program (tune_baseline), so these grids are about twice as
    # fine as the per-value loop's were, at no cost in time (docs/env.md, "mmjax backtest --grid").
    if name == "fixed":  # ticks behind the touch: one inside (where the spread allows), each of the first ten,
        # then every half bp up to the range
        mkt = params.market
        ticks_per_bp = (float(np.median(np.asarray(mkt.mid))) + mkt.px_anchor_ticks) * 1e-4
        bps = np.arange(1, 2 * int(float(params.max_offset_bps)) + 1) * 0.5 * ticks_per_bp
        return np.unique(np.concatenate([np.arange(-1, 9), np.floor(bps)])).astype(np.float32)
    if name == "queue_aware":  # run-over threshold: 0.1 joins only a touch 9x the opposite one, 2 never pulls
        return QUEUE_THRESHOLDS.copy()
    # gamma per tick per lot: from "risk neutral" (gamma << k) to strongly inventory-averse, four values a
    # decade, wide enough that the tuned value is interior (tune_baseline flags an edge); the middle value,
    # k / sqrt(10), is `mmjax backtest`'s default
    return (calib.k_per_tick * np.logspace(-4, 3, 29)).astype(np.float32)
