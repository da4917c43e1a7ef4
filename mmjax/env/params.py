"""`make_params`: a market's rows, features and sigma, checked and packed into the env's `EnvParams`.

Its own module so that the loader (`mmjax.env.market_load`) builds params without importing the env class,
and the env's `default_params` reaches the loader one way.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data.layout import sim_lot
from mmjax.data.market import MarketData
from mmjax.env.knobs import EnvKnobs, episode_span
from mmjax.env.rows import pack_rows
from mmjax.env.state import EnvParams


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
    span = episode_span(E, L)
    ok = stg > span
    valid_before = np.concatenate([[0], np.cumsum(ok)]).astype(np.int32)
    valid_starts = np.flatnonzero(ok).astype(np.int32)
    in_split = valid_starts[(valid_starts >= lo) & (valid_starts + span <= hi)]
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
