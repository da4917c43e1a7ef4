"""The large-tick market: its queue facts (by hand), the queue-depletion mid process, and the `large-tick` preset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmjax import schema
from mmjax.evaluation import queue_fill_facts as QF
from mmjax.market import calibrate, synth
from mmjax.market import params as sp
from mmjax.market import queue_facts as Q
from mmjax.market.params import SynthParams


def _raw(bid_px, bid_sz, ask_px, ask_sz, trades):
    """A one-level recording from per-row touches; ``trades`` = [(row t of (t, t+1], price, size, taker side)]."""
    T = len(bid_px)
    ts = 1_000_000_000 + np.arange(T, dtype=np.int64) * 100_000_000
    col = lambda v: np.column_stack([v, np.asarray(v) + 0.0]).astype(np.float64)  # noqa: E731 (level 1 = touch, unused)
    tr = np.array(trades, np.float64).reshape(-1, 4)
    mk = synth.SynthMarket(
        ts_recv_ns=ts, bid_px=col(bid_px) - [0, 0.01], bid_sz=col(bid_sz), ask_px=col(ask_px) + [0, 0.01],
        ask_sz=col(ask_sz), trade_ts_recv_ns=ts[tr[:, 0].astype(int)] + 50_000_000, trade_px=tr[:, 1],
        trade_sz=tr[:, 2], trade_side=tr[:, 3].astype(np.int8))
    meta = schema.RecordingMeta(product="T", tick_size=0.01, size_unit="shares", grid_ms=100, levels=2, source="test")
    return calibrate.market_to_raw(mk, meta)


def test_queue_facts_by_hand():
    # the ask at 9.11 is traded down (400, then its last 600) and departs to 9.12: a used-up departure;
    # the bid improves to 9.11 (no departure), then its full 5000 leaves without a trade: a departure that is not
    bid_px = [9.10] * 5 + [9.11] + [9.10] * 2
    bid_sz = [1000] * 5 + [5000] + [1000] * 2
    ask_px = [9.11] * 4 + [9.12] * 4
    ask_sz = [1000, 600, 600, 600, 2000, 2000, 2000, 2000]
    raw = _raw(bid_px, bid_sz, ask_px, ask_sz, [(0, 9.11, 400, 1), (3, 9.11, 600, 1)])
    f = Q.queue_facts(raw)
    assert f["mid_change_interval_s"] == pytest.approx(0.7 / 3)  # three mid changes in 7 steps of 100 ms
    assert f["departure_depleted_frac"] == pytest.approx(0.5)
    # outflow: 400 + 600 (ask) + 1000 + 5000 (the bid's levels leaving the touch); traded 400 + 600
    assert f["touch_outflow_trade_share"] == pytest.approx(1000 / 7000)
    assert f["trade_to_touch_median"] == pytest.approx(np.median([400 / 1000, 600 / 600]))


def _market(p: SynthParams, hours: float = 0.1, seed: int = 0):
    cfg = synth.SynthConfig(out="-", hours=hours, seed=seed, model=p)
    return calibrate.market_to_raw(synth.generate(cfg), synth.meta_for(cfg))


def test_large_tick_knobs_are_inert_when_the_mode_is_off():
    """The built-in market stays bit-identical: the large-tick knobs draw and change nothing while the mode is off."""
    a = synth.generate(synth.SynthConfig(out="-", hours=0.02, seed=3))
    off = SynthParams(new_touch_frac=0.3, queue_growth_s=2.0, touch_join_per_s=0.2)
    b = synth.generate(synth.SynthConfig(out="-", hours=0.02, seed=3, model=off))
    for f in dataclasses.fields(a):
        assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name


def test_large_tick_preset_is_a_queue_driven_one_tick_book():
    p = sp.load_preset("large-tick")
    assert p.queue_depletion_mid and p.size_lot == 1.0
    raw = _market(p, hours=0.25)
    mid = (raw.bid_px[:, 0] + raw.ask_px[:, 0]) / 2
    spread = np.rint((raw.ask_px[:, 0] - raw.bid_px[:, 0]) / p.tick_size)
    assert np.mean(spread == 1) > 0.85  # 600961: 94.5 %
    assert 8 < 1e4 * p.tick_size / np.median(mid) < 14  # the tick is ~11 bps, as 600961's
    for sz in (raw.bid_sz, raw.ask_sz, raw.trade_sz):
        assert np.array_equal(sz, np.rint(sz)) and sz.min() >= 1, "sizes are whole shares"
    assert Q.queue_facts(raw)["departure_depleted_frac"] > 0.85  # 600961: 0.999


def test_queue_depletion_mode_moves_the_mid_on_used_up_queues():
    """With a fair price that moves the book, the mode empties the approached queue first; a re-quote moves full ones."""
    p = dataclasses.replace(sp.load_preset("large-tick"), sigma_bps_per_sqrt_s=3.0, band_bps=8.0, imbalance_lean=1.0)
    on = Q.queue_facts(_market(p, hours=0.25))["departure_depleted_frac"]
    off = Q.queue_facts(_market(dataclasses.replace(p, queue_depletion_mid=False), hours=0.25))["departure_depleted_frac"]
    assert on > off + 0.1


def test_join_steps_find_each_orders_arrival():
    px = np.array([[5, -7], [5, -7], [6, -7], [6, -7], [6, -7]])
    rem = np.array([[1, 1], [1, 1], [1, 0], [1, 1], [1, 1]])
    join = QF._join_steps(px, rem)
    assert join[:, 0].tolist() == [0, 0, 2, 2, 2]  # the bid moved at step 2
    assert join[:, 1].tolist() == [0, 0, 2, 3, 3]  # the ask emptied at step 2 and a new order arrived at step 3


def test_summary_splits_front_and_back_at_the_median_queue():
    # (wait s, queue joined behind, markout 1 s, markout 10 s): short queues fill fast and well, deep ones late and badly
    front = [(1.0, 10.0, 1.0, 2.0)] * 6
    back = [(5.0, 1000.0, -2.0, -3.0)] * 6
    out = QF._summarize(np.array(front + back), hours=2.0)
    assert out["backq_fills_per_hour"] == 6.0
    assert out["backq_wait_s_front"] == 1.0 and out["backq_wait_s_back"] == 5.0
    assert out["backq_markout_bps_1s_front"] == 1.0 and out["backq_markout_bps_10s_back"] == -3.0
    assert out["backq_markout_bps_1s"] == pytest.approx(-0.5)


def test_back_of_touch_fills_on_the_large_tick_market(tmp_path):
    synth.run(synth.SynthConfig(out=str(tmp_path / "m"), hours=0.25, seed=0, preset="large-tick"))
    out = QF.back_of_touch_fills(str(tmp_path / "m"))
    assert set(out) == set(QF.BACKQ_FACTS)
    assert out["backq_fills_per_hour"] > 50
    # the queue mechanics: a fill that joined behind a deep queue waits longer than one near the front
    assert out["backq_wait_s_back"] > out["backq_wait_s_front"]


@pytest.fixture(scope="module")
def real_600961(shared_data, tmp_path_factory):
    """The real large-tick day, imported as its README says (the lunch break one gap)."""
    from mmjax.data import tardis

    d, out = shared_data / "sse-600961-2023-07-11", tmp_path_factory.mktemp("sse") / "r"
    tardis.import_tardis(tardis.TardisImportConfig(
        book=str(d / "incremental_book_L2.csv.gz"), trades=str(d / "trades.csv.gz"), out=str(out),
        tick_size=0.01, size_unit="shares", max_silence_s=60.0, quiet=True))
    return out


def test_real_600961_queue_facts(real_600961):
    from mmjax.data import loader

    f = Q.queue_facts(loader.read_recording(real_600961))
    assert f["departure_depleted_frac"] > 0.95  # a real touch departs only once its queue is gone
    assert 4 < f["mid_change_interval_s"] < 9


@pytest.mark.slow  # ~30 s: the env over 4 h of 100 ms rows; the fast suite pins the same rule on the preset above
def test_real_600961_back_of_a_deep_queue_fills_later_and_worse(real_600961):
    out = QF.back_of_touch_fills(str(real_600961))
    assert out["backq_wait_s_back"] > out["backq_wait_s_front"]
    assert out["backq_markout_bps_10s_back"] < out["backq_markout_bps_10s_front"]


def test_calibration_recognises_a_large_tick_book():
    lt = calibrate.initial_params(_market(sp.load_preset("large-tick"), hours=0.25))
    assert lt.queue_depletion_mid and lt.size_lot == 1.0
    assert lt.new_touch_frac == calibrate.LARGE_TICK_START["new_touch_frac"]
    btc = calibrate.initial_params(_market(SynthParams(), hours=0.02))
    assert not btc.queue_depletion_mid and btc.size_lot == 0.0
