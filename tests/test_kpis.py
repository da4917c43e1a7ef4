"""mmjax/env/kpis.py: one definition of the fill KPIs, the same on scalars (live), NumPy (report) and jax (backtest)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.env import kpis
from mmjax.env.fill_kinds import FILL_CROSSED, FILL_KINDS, FILL_QUEUE, FILL_THROUGH
from mmjax.env.sim_types import NO_KIND


def test_fills_by_kind_counts_each_kind_on_scalars_numpy_and_jax_alike():
    rng = np.random.default_rng(0)
    codes = [NO_KIND, FILL_QUEUE, FILL_THROUGH, FILL_CROSSED]
    bid, ask = rng.choice(codes, 500), rng.choice(codes, 500)
    by_np = {k: int(v.sum()) for k, v in kpis.fills_by_kind(bid, ask).items()}
    by_jax = {k: int(v.sum()) for k, v in kpis.fills_by_kind(jnp.asarray(bid, jnp.int8), jnp.asarray(ask, jnp.int8)).items()}
    by_scalar = dict.fromkeys(by_np, 0)
    for b, a in zip(bid.tolist(), ask.tolist(), strict=True):
        for k, n in kpis.fills_by_kind(b, a).items():
            by_scalar[k] += n
    expected = {f"fills_{name}": int((bid == code).sum() + (ask == code).sum()) for code, name in FILL_KINDS.items()}
    assert by_np == by_jax == by_scalar == expected
    assert sum(expected.values()) == int((bid != NO_KIND).sum() + (ask != NO_KIND).sum())


def test_edges_and_markout_sign_and_weighting():
    assert kpis.bid_edge_bps(99.0, 100.0) == pytest.approx(100.0)  # bought 1 % under the mid: +100 bps
    assert kpis.ask_edge_bps(99.0, 100.0) == pytest.approx(-100.0)  # sold under the mid: lost
    one = np.array([1.0, 0.0]), np.array([0.0, 3.0])  # a 1-lot bid fill, then a 3-lot ask fill
    px = np.array([99.0, 0.0]), np.array([0.0, 101.0])
    mid = np.array([100.0, 100.0])
    # the mid later 102: the bid gained 3 %, the ask lost 1 %; weighted (1 x 300 - 3 x 100) / 4 = 0
    assert kpis.markout_bps(*one, *px, mid, np.full(2, 102.0)) == pytest.approx(0.0)
    assert np.isnan(kpis.markout_bps(np.zeros(2), np.zeros(2), *px, mid, mid))  # no fill: no markout
    assert kpis.per_quote_side(3, 12) == 0.25 and kpis.per_quote_side(0, 0) == 0.0
