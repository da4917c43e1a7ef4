"""The grid engine behind `mmjax backtest --grid`: many quoter configurations over a whole recording in one program.

Every configuration runs over every gap-free segment exactly as `mmjax backtest` runs one
(`mmjax.evaluation.backtest`: one episode per segment, started flat at its first row, inventory marked at its last
mid, the policy's clock restarting every ``episode_steps``): the same env step, the same totals
(`backtest.step_sums`), vmapped over configurations. Configurations whose static knobs differ
(``latency_steps``, which sizes the order pipeline, and the fill rules' lot, which divides
``quote_size``) run as separate programs; everything else is traced. The grid is cut into chunks of
``chunk_configs`` configurations, each stepped through the recording in jitted chunks of
``chunk_steps`` steps, so memory stays bounded and progress (with an ETA) shows after each.

Besides the backtest's totals each configuration gets its maximum drawdown (of the PnL carried over
the segments, marked at the mid every step) and its size-weighted markouts 1 s and 10 s after each
fill, in bps of the mid at the fill (later mids past the recording's end read its last row, as the
evaluation's `harness.to_traces` does).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.layout import sim_lot
from mmjax.data.loader import RecordingError, load_market
from mmjax.env import attribution
from mmjax.env.fill_kinds import FILL_KINDS
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import EnvParams, MarketMakingEnv, make_params
from mmjax.evaluation.backtest import SUMS, segments, step_sums, zero_sums
from mmjax.evaluation.grid_quoters import QUOTERS, Columns, Quoter, tuning_inputs  # noqa: F401 (tuning_inputs: harness)
from mmjax.features.batch import market_sigma
from mmjax.features.spec import MARKET_FEATURES
from mmjax.outputs import UserError

# env knobs a grid may sweep for any quoter: traced ones, then the static latency
TRACED_AXES = ("quote_size", "max_inventory", "maker_fee_bps", "max_offset_bps", "requote_margin")
ENV_AXES = (*TRACED_AXES, "latency_steps")
# XLA's CPU backend at optimisation level 1, not its default 2: the grid's program compiles no slower and
# runs about 1.8x faster (1,024 fixed quoters over the Binance spot capture: 1.1 s of CPU against 2.0 s).
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
EXTRA = ("base", "peak", "max_drawdown")  # what a lane carries besides its totals: PnL carried in, its peak, drawdown
MIN_LANES = 64  # fewer lanes per chunk than this are not worth a thread of their own


def _workers() -> int:
    """Threads that step chunks of lanes at once: the CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclasses.dataclass
class Recording:
    """A loaded recording and what every program of a grid shares."""

    market: object  # MarketData
    raw: object  # the loader's raw recording (meta)
    features: np.ndarray  # [T, F_M] zeros: closed-form quoters observe no features (as `mmjax backtest`)
    sigma: np.ndarray  # [T]
    segs: list[tuple[int, int]]


def load(data: str, product: str | None = None) -> Recording:
    """Load ``data`` once for the whole grid; a recording with no steppable segment is an error naming it."""
    md, raw = load_market(data, product)
    segs = segments(np.asarray(md.after_gap))
    if not segs:
        raise RecordingError(f"{data}: no gap-free segment of two or more rows: nothing to backtest")
    features = np.zeros((md.num_steps, len(MARKET_FEATURES)), np.float32)
    return Recording(md, raw, features, np.asarray(market_sigma(md)), segs)


def _params(rec: Recording, knobs: EnvKnobs) -> EnvParams:
    """EnvParams of one static group, as `backtest.backtest` builds them (the episode: the longest segment)."""
    L = knobs.latency_steps
    longest = max(b - a for a, b in rec.segs)
    if longest <= L + 2:
        raise RecordingError(f"the longest gap-free segment has {longest} rows; need more than {L + 2}")
    E = max(1, min(knobs.episode_steps, longest - L - 2))
    return make_params(rec.market, rec.features, rec.sigma, None, dataclasses.replace(knobs, episode_steps=E))


# state fields every lane shares when all lanes step the same rows (a backtest's segments): the row, the
# policy's clock and what the row alone decides. Unbatched, each step reads its packed row once, not once per lane.
SHARED_FIELDS = ("t", "time", "mid0", "best", "sigma_t")


def _state_axes(shared: bool):
    """vmap axes of an EnvState: 0 everywhere, None on SHARED_FIELDS when ``shared``."""
    from mmjax.env.state import EnvState

    axes = {f.name: 0 for f in dataclasses.fields(EnvState)}
    if shared:
        axes.update(dict.fromkeys(SHARED_FIELDS))
    return EnvState(**axes)


@functools.lru_cache(maxsize=32)
def _programs(quoter: Quoter, chunk_steps: int, mid_later_steps: tuple[int, int], shared: bool):
    """Jitted (reset, run) over a batch of configurations: ``vals`` holds each one's knobs and quoter inputs.

    ``shared``: every lane starts at the same row (t0 a scalar), so the rows are read once per step for all.
    The policies read the state and the params, never the observation (closed forms, fixed, queue-aware),
    so no observation is built. Cached, so that a second grid in the same process (tune_baseline's, a
    benchmark's repeat) reuses the compiled programs.
    """
    env = MarketMakingEnv()
    s_axes = _state_axes(shared)

    def with_knobs(params: EnvParams, vals) -> EnvParams:
        return params.replace(**{k: vals[k] for k in TRACED_AXES})

    def reset_one(t0, params, vals):
        return env.reset_state_at(t0, with_knobs(params, vals))

    def run_one(state, extra, n_valid, params, vals, masked: bool):
        p = with_knobs(params, vals)
        policy = quoter.policy(vals)
        E = p.episode_steps
        mkt = p.market
        T = mkt.mid.shape[0]

        def body(carry, i):
            state, acc, extra = carry
            state_c = state.replace(time=jnp.where(state.time >= E, 0, state.time))  # the policy's clock restarts
            action = policy(None, state_c, p)
            state2, _, _, info = env.step_state(state_c, action, p)  # no observation: the policies read the state
            ok = i < n_valid if masked else True
            add = step_sums(info)
            # drawdown of the PnL carried over segments; markouts of the fills (bps of the mid at t)
            equity = extra["base"] + info["pnl"]
            peak = jnp.maximum(extra["peak"], equity)
            mid_t = mkt.mid[info["t"]]
            mid_abs = mid_t + jnp.float32(mkt.px_anchor_ticks)
            for name, h in zip(("markout_1s", "markout_10s"), mid_later_steps, strict=True):
                later = mkt.mid[jnp.minimum(info["t"] + 1 + h, T - 1)]
                m_bid = jnp.where(info["bid_fill"] > 0, info["bid_fill"] * (later - info["bid_fill_px"]), 0.0)
                m_ask = jnp.where(info["ask_fill"] > 0, info["ask_fill"] * (info["ask_fill_px"] - later), 0.0)
                add[name] = (m_bid + m_ask) / mid_abs * 1e4
            new_extra = {"base": extra["base"], "peak": peak,
                         "max_drawdown": jnp.maximum(extra["max_drawdown"], peak - equity)}
            if not masked:  # every step of the chunk is valid: no select over the state
                return (state2, {k: acc[k] + add[k] for k in acc}, new_extra), None
            acc = {k: acc[k] + jnp.where(ok, add[k], 0) for k in acc}
            pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
            return (pick(state2, state), acc, pick(new_extra, extra)), None

        acc0 = {**zero_sums(), "markout_1s": jnp.zeros((), jnp.float32), "markout_10s": jnp.zeros((), jnp.float32)}
        (state, acc, extra), _ = jax.lax.scan(body, (state, acc0, extra), jnp.arange(chunk_steps))
        return state, acc, extra

    reset = jax.jit(jax.vmap(reset_one, in_axes=(None if shared else 0, None, 0), out_axes=s_axes))
    # two programs, each compiled on its first call: a chunk that ends inside a segment runs masked
    run_masked, run_full = (jax.jit(jax.vmap(functools.partial(run_one, masked=m), in_axes=(s_axes, 0, None, None, 0),
                                             out_axes=(s_axes, 0, 0)), compiler_options=COMPILER_OPTIONS)
                            for m in (True, False))

    def run(state, extra, n_valid, params, vals):
        return (run_full if int(n_valid) == chunk_steps else run_masked)(state, extra, n_valid, params, vals)

    def warm(params, vals, t0, lengths) -> None:
        """Compile reset and the run programs ``lengths`` (steps per pass) need, before threads race to.

        The compiles run side by side (XLA releases the GIL while it compiles; tracing one overlaps compiling another).
        """
        state = jax.eval_shape(reset, t0, params, vals)
        extra = {k: jax.ShapeDtypeStruct(vals["max_inventory"].shape, jnp.float32) for k in EXTRA}
        jobs = [lambda: reset.lower(t0, params, vals).compile()]
        for prog, needed in ((run_full, any(k >= chunk_steps for k in lengths)),
                             (run_masked, any(k % chunk_steps for k in lengths))):
            if needed:
                jobs.append(lambda prog=prog: prog.lower(state, extra, jnp.int32(0), params, vals).compile())
        with ThreadPoolExecutor(min(len(jobs), _workers())) as pool:
            list(pool.map(lambda job: job(), jobs))

    return reset, run, warm


def _knobs_of(cols: Columns, i: int, base: EnvKnobs) -> EnvKnobs:
    """Configuration ``i``'s env knobs (validated: a bad value is a ValueError naming the field)."""
    given = {k: cols[k][i] for k in ENV_AXES if k in cols and np.isfinite(cols[k][i])}
    if "latency_steps" in given:
        given["latency_steps"] = int(given["latency_steps"])
    return dataclasses.replace(base, **given)


def run_quoter(rec: Recording, quoter: Quoter, cols: Columns, *, chunk_configs: int = 1024, chunk_steps: int = 20_000,
               knobs: EnvKnobs | None = None, progress: Callable[[str], None] | None = print,
               clock: dict | None = None) -> list[dict]:
    """Run ``quoter`` at every configuration of ``cols`` ([N] per axis); one result row per configuration, in order."""
    if chunk_configs < 1 or chunk_steps < 1:
        raise UserError(f"grid: chunk_configs and chunk_steps must be >= 1, got {chunk_configs}, {chunk_steps}")
    unknown = set(cols) - set(quoter.axes) - set(ENV_AXES)
    if unknown:
        raise UserError(f"grid: {quoter.name} has no axis {sorted(unknown)}; its axes: {[*quoter.axes, *ENV_AXES]}")
    n = len(next(iter(cols.values())))
    base = knobs or EnvKnobs()
    all_knobs = [_knobs_of(cols, i, base) for i in range(n)]
    if quoter.name == "fixed" and "ticks" not in cols:  # the backtest widens the range to the half-spread
        hs = np.where(np.isfinite(h := cols.get("half_spread_bps", np.full(n, np.nan))), h, 1.0)
        all_knobs = [k if k.max_offset_bps >= s else dataclasses.replace(k, max_offset_bps=float(s))
                     for k, s in zip(all_knobs, hs, strict=True)]
    # static groups: the order pipeline's length and the fill rules' lot
    groups: dict[tuple[int, float], list[int]] = {}
    for i, k in enumerate(all_knobs):
        groups.setdefault((k.latency_steps, sim_lot(rec.market.lot_size, k.quote_size)[0]), []).append(i)
    clock = clock or new_clock(sum(b - a - 1 for a, b in rec.segs) * n)
    rows: list[dict | None] = [None] * n
    for idx in groups.values():
        params = _params(rec, all_knobs[idx[0]])
        sub = {k: np.asarray(v)[idx] for k, v in cols.items()}
        inputs = quoter.inputs(params, sub)
        for k in TRACED_AXES:
            inputs[k] = np.asarray([getattr(all_knobs[i], k) for i in idx], np.float32)
        passes = [(np.full(len(idx), a, np.int32), b - a - 1) for a, b in rec.segs]  # every segment, in turn
        out = run_lanes(params, quoter, inputs, passes, chunk_configs=chunk_configs, chunk_steps=chunk_steps,
                        clock=clock, progress=progress)
        for j, i in enumerate(idx):
            rows[i] = {"quoter": quoter.name, **{k: float(getattr(all_knobs[i], k)) for k in TRACED_AXES},
                       "latency_steps": all_knobs[i].latency_steps, **_axes_row(quoter, inputs, sub, j),
                       **{k: v[j] for k, v in out.items()}}
    return rows


def run_lanes(params: EnvParams, quoter: Quoter, inputs: dict[str, np.ndarray], passes: list[tuple[np.ndarray, int]], *,
              chunk_configs: int = 1024, chunk_steps: int = 20_000, clock: dict | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, list]:
    """The engine: N lanes, lane i quoting with ``inputs[k][i]`` (the quoter's inputs and ``TRACED_AXES``).

    Each pass ``(start rows [N], steps)`` resets every lane at its own start row (flat, no orders) and
    steps it ``steps`` times; passes run in turn and their totals add up (the PnL too: a segment's PnL
    is marked at its last mid). A backtest's passes are its segments (every lane the same rows);
    `tuning.tune_baseline`'s single pass starts each lane at its own training episode. Returns the
    totals per lane ([N] lists: the columns of grid.parquet).
    """
    n = len(passes[0][0])
    horizons = attribution.markout_steps(params.market.grid_ms)
    # no longer than the longest pass: a scan past its end steps masked lanes for nothing
    chunk_steps = min(chunk_steps, max(k for _, k in passes))
    clock = clock or new_clock(sum(k for _, k in passes) * n)
    shared = all(np.all(np.asarray(t0) == np.asarray(t0).flat[0]) for t0, _ in passes)
    reset, run, warm = _programs(quoter, chunk_steps, (horizons["1s"], horizons["10s"]), shared)
    # lanes split over the CPU cores: each chunk runs on its own thread (XLA releases the GIL), one shape, one compile
    C = min(n, chunk_configs, max(MIN_LANES, -(-n // _workers())))
    chunks = [np.arange(lo, min(lo + C, n)) for lo in range(0, n, C)]

    def lanes(take: np.ndarray):
        pad = np.concatenate([take, np.full(C - len(take), take[-1])])  # one shape: one compile
        vals = {k: jnp.asarray(np.asarray(v)[pad]) for k, v in inputs.items()}
        return vals, [(np.int32(np.asarray(t0).flat[0]) if shared else np.asarray(t0)[pad], k) for t0, k in passes]

    def one(take: np.ndarray) -> dict[str, list]:
        vals, starts = lanes(take)
        out = _run_chunk(reset, run, params, vals, starts, chunk_steps, clock, progress)
        return {k: v[: len(take)] for k, v in out.items()}

    if len(chunks) > 1 and _workers() > 1:
        vals, starts = lanes(chunks[0])
        warm(params, vals, jnp.asarray(starts[0][0], jnp.int32), [k for _, k in passes])  # compile once, then race
        with ThreadPoolExecutor(_workers()) as pool:
            outs = list(pool.map(one, chunks))
    else:
        outs = [one(c) for c in chunks]
    cols: dict[str, list] = {}
    for out in outs:
        for k, v in out.items():
            cols.setdefault(k, []).extend(v)
    return cols


def _axes_row(quoter: Quoter, inputs: dict[str, np.ndarray], sub: Columns, i: int) -> dict:
    """The quoter's own axis values of configuration ``i``: as given, else the resolved default (NaN: not used)."""
    row = {}
    for a in quoter.axes:
        given = float(sub[a][i]) if a in sub else np.nan
        row[a] = given if np.isfinite(given) else float(inputs[a][i]) if a in inputs else np.nan
    return row


def _run_chunk(reset, run, params, vals, passes, chunk_steps, clock, progress) -> dict[str, list]:
    """One chunk of lanes through every pass; totals per lane, [C] lists."""
    C = next(iter(vals.values())).shape[0]
    totals = {k: np.zeros(C) for k in (*SUMS, "markout_1s", "markout_10s")}
    pnl = np.zeros(C)
    extra = {k: jnp.zeros(C, jnp.float32) for k in EXTRA}
    for t0, left in passes:
        state = reset(jnp.asarray(t0, jnp.int32), params, vals)
        extra = {**extra, "base": jnp.asarray(pnl, jnp.float32)}
        while left > 0:
            k = min(left, chunk_steps)
            state, acc, extra = run(state, extra, jnp.int32(k), params, vals)
            for name, v in acc.items():
                totals[name] += np.asarray(v, np.float64)
            left -= k
            _tick(clock, k * C, progress)
        pnl = pnl + np.asarray(state.pnl, np.float64)  # float64 sum of float32 segment PnLs, as the backtest
    steps = max(sum(k for _, k in passes), 1)
    w = np.where(totals["filled_size"] > 0, totals["filled_size"], np.nan)
    out = {
        "pnl": pnl, "mean_abs_position": totals["abs_position"] / steps, "max_drawdown": np.asarray(extra["max_drawdown"], np.float64),
        "fills": totals["fills"].astype(np.int64), "bid_fills": totals["bid_fills"].astype(np.int64),
        "ask_fills": totals["ask_fills"].astype(np.int64), "filled_size": totals["filled_size"],
        **{f"fills_{n}": totals[f"fills_{n}"].astype(np.int64) for n in FILL_KINDS.values()},
        "markout_1s_bps": totals["markout_1s"] / w, "markout_10s_bps": totals["markout_10s"] / w,
        "rejected_post_only": totals["rejected_post_only"].astype(np.int64), "fees": totals["fees"],
        "quote_steps": totals["quote_steps"].astype(np.int64), "beyond_depth_steps": totals["beyond_depth_steps"].astype(np.int64),
        "steps": np.full(C, steps, np.int64), "segments": np.full(C, len(passes), np.int64),
    }
    return {k: [v.item() for v in np.asarray(arr)] for k, arr in out.items()}


def new_clock(total: int) -> dict:
    """Progress of ``total`` configuration-steps, shared by every program of a grid (one ETA for the whole run)."""
    return {"done": 0, "total": max(int(total), 1), "t0": time.perf_counter(), "last": 0.0}


def _tick(clock: dict, n: int, progress) -> None:
    """Count ``n`` configuration-steps; print progress with an ETA at most every 2 s (and at the end)."""
    clock["done"] += n
    now = time.perf_counter()
    if progress and (now - clock["last"] > 2.0 or clock["done"] >= clock["total"]):
        rate = clock["done"] / max(now - clock["t0"], 1e-9)
        left = (clock["total"] - clock["done"]) / max(rate, 1e-9)
        progress(f"grid: {clock['done']:,}/{clock['total']:,} configuration-steps "
                 f"({100 * clock['done'] / clock['total']:.0f} %), {rate:,.0f}/s, ETA {left:.0f} s")
        clock["last"] = now


def run_plan(rec: Recording, plan: dict[str, Columns], **kw) -> list[dict]:
    """Every quoter of ``plan`` (name -> its columns); rows in plan order."""
    unknown = sorted(set(plan) - set(QUOTERS))
    if unknown:
        raise UserError(f"grid: unknown quoter(s) {unknown}; choose from {sorted(QUOTERS)}")
    steps = sum(b - a - 1 for a, b in rec.segs)
    clock = new_clock(steps * sum(len(next(iter(c.values()))) for c in plan.values()))
    rows = []
    for name, cols in plan.items():
        rows += run_quoter(rec, QUOTERS[name], cols, clock=clock, **kw)
    return rows
