"""The built-in synthetic market: format, determinism, and the facts a market maker depends on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from mmjax import cli, schema
from mmjax.data import loader
from mmjax.market import synth
from mmjax.market.params import SynthParams

HOURS = 0.2  # 7,200 rows: enough for the statistics below, well under a second to generate


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 0.2 h recording written by `synth.run` and read back by the loader."""
    out = tmp_path_factory.mktemp("synth")
    cfg = synth.SynthConfig(out=str(out), hours=HOURS, seed=7)
    assert synth.run(cfg) == 0
    return cfg, loader.read_recording(out)


def _tables(cfg):
    return synth.to_tables(synth.generate(cfg), cfg.seed)


def test_same_seed_same_tables_other_seed_differs(tmp_path):
    cfg = synth.SynthConfig(out=str(tmp_path), hours=0.02, seed=3)
    book1, trades1 = _tables(cfg)
    book2, trades2 = _tables(cfg)
    assert book1.equals(book2) and trades1.equals(trades2)
    book3, _ = _tables(dataclasses.replace(cfg, seed=4))
    assert not book1.equals(book3)


def test_same_seed_same_files(tmp_path):
    for name in ("a", "b"):
        synth.run(synth.SynthConfig(out=str(tmp_path / name), hours=0.02, seed=5))
    for ds in (schema.BOOK_DIR, schema.TRADES_DIR):
        fa = sorted((tmp_path / "a" / ds).rglob("*.parquet"))
        fb = sorted((tmp_path / "b" / ds).rglob("*.parquet"))
        assert [f.relative_to(tmp_path / "a") for f in fa] == [f.relative_to(tmp_path / "b") for f in fb]
        for x, y in zip(fa, fb, strict=True):
            assert pq.read_table(x).equals(pq.read_table(y))


def test_round_trip_through_loader(recording):
    cfg, raw = recording
    assert raw.meta.tick_size == 0.01 and raw.meta.levels == 20 and raw.meta.grid_ms == 100
    assert raw.num_steps == int(HOURS * 36_000)
    assert raw.report.crossed_rows_dropped == 0 and raw.report.gaps == 0 and raw.report.empty_levels == 0
    assert np.all(np.diff(raw.ts_recv_ns) == 100_000_000)
    for a in (raw.bid_px, raw.ask_px, raw.bid_sz, raw.ask_sz):
        assert np.isfinite(a).all()
    assert (raw.bid_sz > 0).all() and (raw.ask_sz > 0).all()
    # prices on the tick grid, levels strictly ordered away from the touch, never crossed
    for px in (raw.bid_px, raw.ask_px):
        assert np.allclose(np.rint(px / 0.01) * 0.01, px, atol=1e-6, rtol=0)
    assert (np.diff(raw.bid_px, axis=1) < 0).all() and (np.diff(raw.ask_px, axis=1) > 0).all()
    assert (raw.bid_px[:, 0] < raw.ask_px[:, 0]).all()
    assert 30_000 < raw.bid_px.min() and raw.ask_px.max() < 150_000
    md, _ = loader.load_market(cfg.out)
    assert md.num_steps == raw.num_steps and md.levels == 20
    assert int(md.n_trades.sum()) + raw.report.trades_outside_grid == len(raw.trade_px) > 1000


def test_spread_mostly_one_tick_sometimes_wider(recording):
    _, raw = recording
    spread = np.rint((raw.ask_px[:, 0] - raw.bid_px[:, 0]) / 0.01)
    assert np.mean(spread == 1) > 0.95
    assert (spread >= 3).sum() >= 5


def test_touch_is_deeper_than_a_level_and_sizes_heavy_tailed(recording):
    _, raw = recording
    touch = np.median(np.r_[raw.bid_sz[:, 0], raw.ask_sz[:, 0]])
    deeper = np.median(np.r_[raw.bid_sz[:, 1:].ravel(), raw.ask_sz[:, 1:].ravel()])
    assert touch > 5 * deeper
    sz = raw.trade_sz
    assert np.quantile(sz, 0.99) > 50 * np.median(sz)


def _prints_with_rows(raw):
    step = raw.trade_step()
    ok = (step >= 0) & (step < raw.num_steps - 1)
    return step[ok], raw.trade_px[ok], raw.trade_side[ok], raw.trade_sz[ok]


def test_trades_walk_the_book_of_the_row_before(recording):
    _, raw = recording
    step, px, side, _ = _prints_with_rows(raw)
    buy, sell = side > 0, side < 0
    assert (px[buy] >= raw.ask_px[step[buy], 0] - 1e-9).all()
    assert (px[sell] <= raw.bid_px[step[sell], 0] + 1e-9).all()
    # every print is at a price level of that row's book: its level index on its side
    lvl = np.full(len(px), -1)
    for k in range(raw.bid_px.shape[1]):
        lvl[buy & np.isclose(px, raw.ask_px[step, k], atol=1e-6, rtol=0)] = k
        lvl[sell & np.isclose(px, raw.bid_px[step, k], atol=1e-6, rtol=0)] = k
    assert (lvl >= 0).all()
    assert (lvl >= 1).sum() >= 20, "large orders must print beyond the touch"
    # the book after a walk reflects it: levels taken in full are gone from the next row
    for s, book_px, sign in ((buy, raw.ask_px, 1), (sell, raw.bid_px, -1)):
        deep = s & (lvl >= 1)
        rows = step[deep]
        taken = book_px[rows, lvl[deep]]  # deepest level printed in that interval, at least
        nxt = book_px[rows + 1, 0]
        assert (sign * (nxt - taken) >= -1e-9).all()


def test_signed_flow_and_imbalance_predict_the_next_mid_moves(recording):
    _, raw = recording
    step, _, side, sz = _prints_with_rows(raw)
    T = raw.num_steps
    flow = np.bincount(step, weights=side * sz, minlength=T)  # [T] signed flow in (t, t+1]
    mid = (raw.bid_px[:, 0] + raw.ask_px[:, 0]) / 2
    h = 5
    fwd = mid[1 + h:] - mid[1:-h]  # mid(t+h) - mid(t) for t >= 1
    past = flow[: T - h - 1]  # flow in (t-1, t], known at t
    assert np.corrcoef(past, fwd)[0, 1] > 0.03
    imb = (raw.bid_sz[:, 0] - raw.ask_sz[:, 0]) / (raw.bid_sz[:, 0] + raw.ask_sz[:, 0])
    assert np.corrcoef(imb[:-h], mid[h:] - mid[:-h])[0, 1] > 0.1


def test_trades_cluster_and_signs_persist(recording):
    _, raw = recording
    step, _, side, _ = _prints_with_rows(raw)
    counts = np.bincount(step, minlength=raw.num_steps).astype(float)
    assert np.corrcoef(counts[:-1], counts[1:])[0, 1] > 0.05
    s = side.astype(float)
    assert np.corrcoef(s[:-10], s[10:])[0, 1] > 0.1


def test_volatility_clusters():
    mk = synth.generate(synth.SynthConfig(out="-", hours=1.0, seed=11))
    mid = (mk.bid_px[:, 0] + mk.ask_px[:, 0]) / 2
    r = np.abs(np.diff(np.log(mid[::100])))  # |10 s returns|
    assert np.corrcoef(r[:-1], r[1:])[0, 1] > 0.05


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="branching_ratio"):
        synth.generate(synth.SynthConfig(out="-", model=SynthParams(branching_ratio=1.2)))
    with pytest.raises(ValueError, match="hours"):
        synth.generate(synth.SynthConfig(out="-", hours=0))


def test_cli_subcommand(tmp_path, capsys):
    rc = cli.main(["synth", "--out", str(tmp_path), "--hours", "0.01", "--seed", "2", "--report"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "360 book rows" in text and "spread.buckets.1" in text
    assert loader.read_recording(tmp_path).num_steps == 360
