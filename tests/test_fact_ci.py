"""The block bootstrap of a recording's facts and the one-line reasons of a fact outside the tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from mmjax.market import calibrate, fact_ci, synth
from mmjax.market import facts as F
from mmjax.market.params import SynthParams


@pytest.fixture(scope="module")
def raw():
    cfg = synth.SynthConfig(out="-", hours=0.1, seed=5, model=SynthParams(late_walk_frac=0.5, touch_cancel_per_s=0.3))
    return calibrate.market_to_raw(synth.generate(cfg), synth.meta_for(cfg))


def test_identity_resample_keeps_rows_and_trades(raw):
    block = 600
    n = raw.num_steps // block
    r = fact_ci.resample_blocks(raw, block, np.arange(n))
    assert r.num_steps == n * block and np.array_equal(r.bid_px, raw.bid_px[: n * block])
    assert r.after_gap[::block].all() and r.after_gap.sum() == n  # a seam at every block start, nowhere else
    # every trade of (t, t+1] inside a block keeps its row and order; only those after a block's last row drop out
    step, new_step = raw.trade_step(), r.trade_step()
    kept = (step < n * block) & (step % block != block - 1)
    assert np.array_equal(new_step, step[kept]) and np.array_equal(r.trade_sz, raw.trade_sz[kept])
    a, b = F.recording_facts(raw), F.recording_facts(r)
    for k in ("touch_size_median", "trade_size_median", "ret_std_bps_1s", "sign_acf_1"):
        assert abs(b[k] - a[k]) <= 0.1 * abs(a[k]) + 0.02, (k, a[k], b[k])


def test_resampled_block_moves_with_its_trades(raw):
    block = 600
    r = fact_ci.resample_blocks(raw, block, np.array([2, 0]))
    assert np.array_equal(r.ask_px[:block], raw.ask_px[2 * block: 3 * block])
    step = raw.trade_step()
    first = (step >= 2 * block) & (step < 3 * block - 1)
    assert np.array_equal(r.trade_px[: first.sum()], raw.trade_px[first])
    assert np.array_equal(r.trade_step()[: first.sum()], step[first] - 2 * block)


def test_bootstrap_cis_bracket_the_recordings_own_facts(raw):
    cis = fact_ci.bootstrap_cis(raw, block_s=30.0, n_boot=40, seed=0)
    real = F.recording_facts(raw)
    inside = [k for k, (lo, hi) in cis.items() if np.isfinite(lo) and lo <= real[k] <= hi]
    assert len(inside) >= 0.75 * len(cis), sorted(set(cis) - set(inside))
    lo, hi = cis["trades_per_s"]
    assert lo < hi  # a real spread, not a point


def test_explain_names_the_ci_or_the_kurtosis_jumps(raw):
    assert "inside" in fact_ci.explain("trades_per_s", 10.0, 13.0, (8.0, 14.0), raw)
    assert fact_ci.in_ci((8.0, 14.0), 13.0) and not fact_ci.in_ci((8.0, 14.0), 15.0) and not fact_ci.in_ci(None, 1.0)
    why = fact_ci.explain("mid_move_kurtosis_100ms", 100.0, 20.0, (40.0, 150.0), raw)
    assert "3 largest" in why and "excludes synth" in why
    assert "cannot define" in fact_ci.explain("sign_acf_100", None, 0.1, None, raw)
    assert "late_walk_frac" in fact_ci.explain("frac_beyond_touch", 0.5, 0.2, (0.45, 0.55), raw)
