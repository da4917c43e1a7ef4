"""Specification of the paper trader (mmjax/live/trader.py): causality, gaps, KPIs, consistency with the envs.

Feeds and state: tests/test_live_feeds.py; runner, engine and command: tests/test_live_runner.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmjax.data.layout import DEFAULT_LOT_SIZE
from mmjax.data.loader import read_recording
from mmjax.env.knobs import EnvKnobs, knobs_from_mapping
from mmjax.live import (
    BaselineParams,
    BaselineQuoter,
    BookEvent,
    PaperTrader,
    ReplayFeed,
    TradeEvent,
)
from mmjax.live.state import SIDE_AT_LIMIT, SIDE_PULLED, SIDE_QUOTED
from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run

PARAMS = EnvKnobs(quote_size=0.01, max_inventory=0.05, max_offset_bps=2.0, maker_fee_bps=-0.5,
                  latency_steps=1, episode_steps=500)


def synth_recording(tmp_path_factory):
    """The test recording: 600 rows of 100 ms of the built-in market, seed 3."""
    out = tmp_path_factory.mktemp("synth")
    synth_run(SynthConfig(out=str(out), hours=600 / 36_000, seed=3))
    return read_recording(out)


SWEEP_PRICES = 12  # distinct prices of each injected sweep (the old loader kept 8 per interval)
SWEEP_STEP_TICKS = 25  # between them: the 8th price is 175 ticks from the touch, the 12th 275


def with_sweeps(raw, every: int = 40, first: int = 20):
    """The recording plus, every ``every`` rows, a taker sweep through SWEEP_PRICES prices of one side of row t.

    Each sweep trades in (t, t+1] on both clocks (exchange stamps after every row up to t), so both
    paths put it in the same interval. The quotes of ACTION rest ~250 ticks from the touch: only
    prices past the 8th reach them (an 8-slot fold would miss these fills).
    """
    tick = raw.meta.tick_size
    shown = np.maximum.accumulate(raw.ts_exchange_ns)
    recv, ex, px, sz, side = [], [], [], [], []
    for n, t in enumerate(range(first, raw.num_steps - 2, every)):
        taker = 1 if n % 2 else -1  # alternately lift the asks and hit the bids
        touch = raw.ask_px[t, 0] if taker == 1 else raw.bid_px[t, 0]
        for k in range(SWEEP_PRICES):
            recv.append(raw.ts_recv_ns[t] + 1 + k)
            ex.append(shown[t] + 1 + k)
            px.append(touch + taker * k * SWEEP_STEP_TICKS * tick)
            sz.append(0.003)
            side.append(taker)
    cat = lambda a, b, dt: np.concatenate([a, np.asarray(b, dt)])  # noqa: E731
    t_recv = cat(raw.trade_ts_recv_ns, recv, np.int64)
    order = np.argsort(t_recv, kind="stable")
    return dataclasses.replace(
        raw, trade_ts_recv_ns=t_recv[order], trade_ts_exchange_ns=cat(raw.trade_ts_exchange_ns, ex, np.int64)[order],
        trade_px=cat(raw.trade_px, px, np.float64)[order], trade_sz=cat(raw.trade_sz, sz, np.float64)[order],
        trade_side=cat(raw.trade_side, side, np.int8)[order])


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """The synthetic recording with deep sweeps: every consistency test below covers them."""
    return with_sweeps(synth_recording(tmp_path_factory))


class ConstQuoter:
    """A stand-in policy: the same action every step (tests only)."""

    mode, name = "model", "model: const"

    def __init__(self, action):
        self.action = np.asarray(action, np.float64)

    def act(self, obs, ctx):
        return self.action


def replay(raw, quoter, params=PARAMS, record=True, **kw) -> PaperTrader:
    tr = PaperTrader(raw.meta, quoter, params, record_steps=record, **kw)
    for ev in ReplayFeed(raw, speed=0).events():
        (tr.on_book if isinstance(ev, BookEvent) else tr.on_trade)(ev)
    return tr


def test_replay_matches_the_reference_env_fill_for_fill(raw):
    """The live engine and ReferenceMarketEnv, same window and policy: same fills, fees and PnL."""
    from mmjax.env.reference import ReferenceMarketEnv, ReplayData

    jax = pytest.importorskip("jax")  # MarketData is built with jax; the live engine itself is jax-free
    from mmjax.data.loader import to_market_data

    action = np.array([-0.6, -0.3])
    tr = replay(raw, ConstQuoter(action))
    md = to_market_data(raw)
    T = raw.num_steps
    E = T - PARAMS.latency_steps - 2
    env = ReferenceMarketEnv(ReplayData.from_market(md), np.zeros((T, 1)), np.zeros(T),
                             dataclasses.replace(PARAMS, episode_steps=E))
    env.reset(options={"start": 0})
    env_fills, env_pnl = [], []
    for _ in range(E):
        _, _, _, _, info = env.step(action)
        env_fills.append((info["bid_fill"], info["ask_fill"]))
        env_pnl.append(info["pnl"])
    live_fills = [(r.bid_fill, r.ask_fill) for r in tr.records[1:E + 1]]
    live_pnl = [r.pnl for r in tr.records[1:E + 1]]
    assert sum(b + a for b, a in live_fills) > 0.05, "the window must exercise fills"
    # one simulator (sim_np) fed the same ticks and trade slots: equal to the last bit
    np.testing.assert_array_equal(live_fills, env_fills)
    np.testing.assert_array_equal(live_pnl, env_pnl)
    assert tr.stats.by_kind["fills_traded_through"] > 0 and tr.stats.by_kind["fills_crossed"] > 0, "fills through a sweep and by crossing"
    del jax


# $: the device env keeps cash and PnL in float32 (PnL here stays below ~$2, float32 spacing <= 1.2e-7;
# measured max difference 6.2e-7); a half-tick marking error on one quote's position (0.01 BTC) is 5e-5 $
DEVICE_PNL_ATOL = 1e-5


ACTION = np.array([-0.6, -0.3])


@pytest.fixture(scope="module")
def device_run(raw):
    """The gymnax env over the whole replay with ACTION every step: (fills bid, fills ask, pnl) [E] each."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from mmjax.data.loader import to_market_data
    from mmjax.env.market_env import MarketMakingEnv, make_params

    md = to_market_data(raw)
    T = raw.num_steps
    E, L = T - PARAMS.latency_steps - 2, PARAMS.latency_steps
    params = make_params(md, np.zeros((T, 1), np.float32), np.zeros(T, np.float32), split=range(0, E + L + 1),
                         knobs=dataclasses.replace(PARAMS, episode_steps=E))
    env = MarketMakingEnv()
    key = jax.random.PRNGKey(0)
    _, state = env.reset_env(key, params)
    assert int(state.t) == 0

    def body(state, _):
        _, state, _, _, info = env.step_env(key, state, jnp.asarray(ACTION, jnp.float32), params)
        return state, (info["bid_fill"], info["ask_fill"], info["pnl"])

    _, out = jax.lax.scan(body, state, None, length=E)
    return tuple(np.asarray(x, np.float64) for x in out)


def _assert_live_matches_device(raw, device_run) -> None:
    bid_fill, ask_fill, pnl = device_run
    live = replay(raw, ConstQuoter(ACTION)).records[1:len(pnl) + 1]
    np.testing.assert_allclose([r.bid_fill for r in live], bid_fill, atol=1e-6)
    np.testing.assert_allclose([r.ask_fill for r in live], ask_fill, atol=1e-6)
    assert max(abs(r.inventory) for r in live) >= PARAMS.quote_size, "positions are held (marking matters)"
    np.testing.assert_allclose([r.pnl for r in live], pnl, rtol=0, atol=DEVICE_PNL_ATOL)


def test_replay_matches_the_device_env(raw, device_run):
    """Same check against the gymnax environment itself (float32 on the device): fills and PnL to 1e-5 $."""
    _assert_live_matches_device(raw, device_run)


def test_a_half_tick_marking_error_fails_the_device_comparison(raw, device_run, monkeypatch):
    """The tolerance above has teeth: marking to mid + half a tick (one rule, in sim_np) breaks the match."""
    from mmjax.env import sim_np

    mark = sim_np.mark
    monkeypatch.setattr(sim_np, "mark", lambda acct, mid, tick, inverse=None: mark(acct, mid + 0.5, tick, inverse))
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        _assert_live_matches_device(raw, device_run)


def _perturbed_after(raw, t_ns: int):
    """A copy of the recording whose book and trades after ``t_ns`` are scrambled."""
    rng = np.random.default_rng(0)
    r = dataclasses.replace(raw, bid_sz=raw.bid_sz.copy(), ask_sz=raw.ask_sz.copy(), trade_sz=raw.trade_sz.copy(),
                            trade_px=raw.trade_px.copy(), bid_px=raw.bid_px.copy(), ask_px=raw.ask_px.copy())
    later = raw.ts_recv_ns > t_ns
    r.bid_sz[later] *= rng.uniform(0.1, 3.0, r.bid_sz[later].shape)
    shift = np.round(rng.normal(0, 20, later.sum()))[:, None] * raw.meta.tick_size
    r.bid_px[later] += shift
    r.ask_px[later] += shift
    lt = raw.trade_ts_recv_ns > t_ns
    r.trade_sz[lt] *= rng.uniform(0.1, 5.0, lt.sum())
    r.trade_px[lt] += np.round(rng.normal(0, 10, lt.sum())) * raw.meta.tick_size
    return r


def test_decisions_and_fills_never_use_the_future(raw):
    """Scrambling everything after row k leaves every decision up to k and every fill up to k unchanged."""
    k = 300
    quoter = BaselineQuoter("avellaneda_stoikov", BaselineParams(as_gamma_per_tick_lot=1e-5, as_k_per_tick=0.3, as_horizon_s=1.0))
    a = replay(raw, quoter)
    b = replay(_perturbed_after(raw, int(raw.ts_recv_ns[k])), quoter)
    for ra, rb in zip(a.records[:k + 1], b.records[:k + 1], strict=True):
        assert dataclasses.astuple(ra)[:-1] == dataclasses.astuple(rb)[:-1]
        np.testing.assert_array_equal(ra.action, rb.action)
    # ... while the scrambled future does change what follows (the test can fail)
    assert any(not np.array_equal(ra.action, rb.action) for ra, rb in zip(a.records[k + 1:], b.records[k + 1:], strict=True))
    assert a.stats.n_fills > 0


def test_replay_is_deterministic(raw):
    quoter = BaselineQuoter("avellaneda_stoikov", BaselineParams())
    a, b = replay(raw, quoter), replay(raw, quoter)
    assert [dataclasses.astuple(r)[:-1] for r in a.records] == [dataclasses.astuple(r)[:-1] for r in b.records]


def test_kpis_match_the_evaluation_metrics(raw):
    from mmjax.evaluation.metrics import Traces, policy_metrics

    tr = replay(raw, ConstQuoter([-0.8, -0.8]))
    recs = tr.records[1:]
    assert tr.stats.n_fills > 5
    arr = lambda f: np.array([[f(r) for r in recs]])  # noqa: E731
    tick, anchor = raw.meta.tick_size, tr.anchor
    mids = np.array([(r_b + r_a) / 2 for r_b, r_a in zip(raw.bid_px[:, 0], raw.ask_px[:, 0], strict=True)])
    # quoted sides: recompute independently from the trader's own count is circular, so check fills only here
    traces = Traces(
        pnl=arr(lambda r: r.pnl), inventory=arr(lambda r: r.inventory), bid_fill=arr(lambda r: r.bid_fill),
        ask_fill=arr(lambda r: r.ask_fill), bid_fill_px=arr(lambda r: (r.bid_fill_px + anchor) * tick),
        ask_fill_px=arr(lambda r: (r.ask_fill_px + anchor) * tick), bid_quoted=np.ones((1, len(recs)), bool),
        ask_quoted=np.ones((1, len(recs)), bool), fees=arr(lambda r: r.fee), mid_at_fill=mids[None, :-1],
        mid_after_1s=mids[None, 1:], mid_after_10s=mids[None, 1:])
    m = policy_metrics(traces)
    k = tr.kpis()
    assert k["n_fills"] == m["fills"]
    assert k["pnl"] == pytest.approx(float(traces.pnl[0, -1]))
    assert k["max_drawdown"] == pytest.approx(m["max_drawdown"])
    assert k["spread_captured_bps"] == pytest.approx(m["spread_captured_bps"], rel=1e-6)
    assert k["fees"] == pytest.approx(m["fees"]) and k["fees"] < 0  # a maker rebate
    assert 0 < k["fill_rate"] <= 1
    # fills by kind (sim_np's Fill.kind): every fill has exactly one
    assert k["fills_behind_queue"] + k["fills_traded_through"] + k["fills_crossed"] == k["n_fills"] and k["fills_traded_through"] > 0
    assert 0 <= k["n_beyond_fills"] <= k["n_fills"] and 0 <= k["beyond_depth_rate"] <= 1 and k["n_rejected"] >= 0


def test_inventory_limit_stops_the_side_that_would_exceed_it(raw):
    tr = replay(raw, ConstQuoter([-1.0, 1.0]))  # bid at the mid, ask far: accumulates a long position
    inv = np.array([r.inventory for r in tr.records])
    assert inv.max() == pytest.approx(PARAMS.max_inventory) and inv.max() <= PARAMS.max_inventory + 1e-12


def _events(raw):
    return list(ReplayFeed(raw, speed=0).events())


def test_late_trades_and_gaps(raw):
    evs = _events(raw)[:400]
    books = [i for i, e in enumerate(evs) if isinstance(e, BookEvent)]
    # a trade stamped before the last row but delivered after it: too late to fill anything
    late = TradeEvent(evs[books[5]].ts_recv_ns - 1, 62_000.0, 1.0, 1)
    tr = PaperTrader(raw.meta, ConstQuoter([-1, -1]), PARAMS)
    for e in evs[:books[5] + 1]:
        (tr.on_book if isinstance(e, BookEvent) else tr.on_trade)(e)
    tr.on_trade(late)
    assert tr.counts["trades_late"] == 1
    # a gap: the next row starts a segment, resting orders are cancelled, trades of the gap interval dropped
    gap_row = dataclasses.replace(evs[books[6]], after_gap=True)
    tr.on_trade(TradeEvent(gap_row.ts_recv_ns - 5, 1.0, 10.0, -1))
    tr.on_book(gap_row)
    assert tr.counts["gaps"] == 1 and tr.counts["trades_in_gaps"] == 1 and tr.time == 0


def test_crossed_row_is_dropped_and_starts_a_segment(raw):
    evs = [e for e in _events(raw) if isinstance(e, BookEvent)][:5]
    tr = PaperTrader(raw.meta, ConstQuoter([0, 0]), PARAMS)
    tr.on_book(evs[0])
    crossed = dataclasses.replace(evs[1], bid_px=evs[1].ask_px + 1.0)
    assert tr.on_book(crossed) is None and tr.counts["crossed_rows_dropped"] == 1
    tr.on_book(evs[2])
    assert tr.counts["gaps"] == 1


def test_bad_trade_is_refused(raw):
    tr = PaperTrader(raw.meta, ConstQuoter([0, 0]), PARAMS)
    with pytest.raises(ValueError, match="taker_side"):
        tr.on_trade(TradeEvent(1, 100.0, 1.0, 0))


def _write_policy(path, norm, mapping, seed=0, hidden=16, weight_sd=0.5, bias=-0.5):
    """A small random actor exported with the real exporter (weights random, format real)."""
    from types import SimpleNamespace

    from mmjax.features import spec
    from mmjax.policy.export import export_policy

    rng = np.random.default_rng(seed)
    D = spec.NUM_FEATURES
    torso = {"dense_0": {"kernel": rng.normal(0, 0.5, (D, hidden)), "bias": np.zeros(hidden)},
             "ln_0": {"scale": np.ones(hidden), "bias": np.zeros(hidden)}}
    params = {"actor": {"params": {"torso": torso,
                                   "mean_head": {"kernel": rng.normal(0, weight_sd, (hidden, 2)), "bias": np.full(2, bias)},
                                   "log_std": np.zeros(2)}},
              "obs_norm": SimpleNamespace(mean=np.zeros(D), var=np.ones(D), count=np.asarray(1.0))}
    extra = {"feature_mean": np.asarray(norm.mean), "feature_std": np.asarray(norm.std), "action_mapping": mapping}
    return export_policy(params, path, extra)


def test_model_replay_matches_the_env_evaluating_the_same_policy(raw, tmp_path):
    """An exported policy quoting live (streaming features) and in the env (batch features): same fills and PnL."""
    pytest.importorskip("jax")
    from mmjax.data.loader import to_market_data
    from mmjax.env.reference import ReferenceMarketEnv, ReplayData
    from mmjax.features.batch import compute_market_features, fit_norm, normalize
    from mmjax.live import ModelQuoter

    # the live trader's lot (the recording's, else the default), so that both count queues in the same lots:
    # the agent's queue-ahead features see sizes the loader would otherwise cap at LOT_CAP of a finer lot
    md = to_market_data(raw, lot_size=raw.meta.lot_size or DEFAULT_LOT_SIZE)
    T = raw.num_steps
    feats = compute_market_features(md)
    norm = fit_norm(feats.values, 0, T)
    E = T - PARAMS.latency_steps - 2
    mapping = {"max_offset_bps": 3.0, "quote_size": 0.01, "max_inventory": 0.05, "latency_steps": 1.0,
               "episode_steps": float(E)}
    # actions 2-7 ticks behind the touch, where each tick is an action band 0.1 wide: float32 feature
    # rounding (live streaming vs batch) then never moves a quote by a tick (far from the touch a band is
    # ~1e-3 wide, and at the touch a print the book showed first fills a batch interval earlier, which a
    # live trader cannot do: docs/live.md, the exchange clock)
    path = _write_policy(tmp_path / "policy.npz", norm, mapping, weight_sd=0.15, bias=-0.5)
    quoter = ModelQuoter(str(path))
    tp, notes = knobs_from_mapping(quoter.mapping, PARAMS)
    assert tp.max_offset_bps == 3.0 and tp.episode_steps == E and any("max_offset_bps" in n for n in notes)
    live = replay(raw, quoter, params=tp, norm=quoter.norm)

    env = ReferenceMarketEnv(ReplayData.from_market(md), np.asarray(normalize(feats.values, norm)),
                             np.asarray(feats.sigma), tp)
    obs, _ = env.reset(options={"start": 0})
    actions, fills, pnl = [], [], []
    for _ in range(E):
        a = quoter.policy.act(obs)
        actions.append(a)
        obs, _, _, _, info = env.step(a)
        fills.append((info["bid_fill"], info["ask_fill"]))
        pnl.append(info["pnl"])
    recs = live.records
    np.testing.assert_allclose([r.action for r in recs[:E]], actions, atol=1e-3)
    assert np.std([r.action for r in recs[:E]], axis=0).min() > 0.01, "the policy must react to its observation"
    assert sum(b + a for b, a in fills) > 0.02, "the window must exercise fills"
    # the actions differ by float32 feature rounding only, which moves no quote by a tick here: same fills, same PnL
    np.testing.assert_array_equal([(r.bid_fill, r.ask_fill) for r in recs[1:E + 1]], fills)
    np.testing.assert_array_equal([r.pnl for r in recs[1:E + 1]], pnl)


def test_policy_file_without_feature_normalization_is_refused(raw, tmp_path):
    from mmjax.features.spec import FeatureNorm
    from mmjax.live import ModelQuoter
    from mmjax.policy.numpy_policy import PolicyFileError

    path = _write_policy(tmp_path / "p.npz", FeatureNorm(np.zeros(0), np.zeros(0)), {"max_offset_bps": 10.0})
    with pytest.raises(PolicyFileError, match="norm_mean"):
        ModelQuoter(str(path))


def _rows(raw, quoter, params=PARAMS) -> tuple[PaperTrader, list[dict]]:
    """Replay; the dashboard row of every accepted book row."""
    tr = PaperTrader(raw.meta, quoter, params)
    rows = []
    for ev in ReplayFeed(raw, speed=0).events():
        if isinstance(ev, BookEvent):
            row = tr.on_book(ev)
            if row is not None:
                rows.append(row)
        else:
            tr.on_trade(ev)
    return tr, rows


def test_a_side_at_the_inventory_limit_says_so_and_has_no_quote(raw):
    tr, rows = _rows(raw, ConstQuoter([-1.0, 0.9]))  # buys up to the limit, then the bid stops (0.9: the farthest ask)
    at_limit = [r for r in rows if r["bid_state"] == SIDE_AT_LIMIT]
    assert len(at_limit) > 50 and all(np.isnan(r["bid_quote"]) for r in at_limit)
    assert all(r["ask_state"] == SIDE_QUOTED and np.isfinite(r["ask_quote"]) for r in rows)
    # the decision at row t sees the inventory after (t-1, t]: at the limit exactly there
    assert all((r["inventory"] >= PARAMS.max_inventory - 1e-12) == (r["bid_state"] == SIDE_AT_LIMIT) for r in rows)
    k = tr.kpis()
    assert k["bid_at_limit"] == len(at_limit) and k["ask_at_limit"] == k["bid_pulled"] == k["ask_pulled"] == 0


def test_a_pulled_side_says_so_and_never_rests(raw):
    """A side the quoter pulls (action above ACTION_PULL_ABOVE) has no quote, as at the inventory limit."""
    tr, rows = _rows(raw, ConstQuoter([1.0, -0.8]))
    assert all(r["bid_state"] == SIDE_PULLED and np.isnan(r["bid_quote"]) for r in rows)
    # the ask quotes until the short inventory reaches the limit (the limit names itself before a pull would)
    assert all((r["inventory"] <= -PARAMS.max_inventory + 1e-12) == (r["ask_state"] == SIDE_AT_LIMIT) for r in rows)
    assert all(r["ask_state"] in (SIDE_QUOTED, SIDE_AT_LIMIT) for r in rows)
    k = tr.kpis()
    assert k["bid_pulled"] == len(rows) and k["bid_at_limit"] == k["ask_pulled"] == 0
    assert k["n_fills"] > 0 and tr.account.inventory < 0  # only the ask fills


def test_side_states_follow_the_quotes_through_the_latency_pipeline(raw):
    """With 3 steps of latency the published state is the one of the decision going live, made 2 rows earlier."""
    params = dataclasses.replace(PARAMS, latency_steps=3)
    _, rows = _rows(raw, ConstQuoter([-1.0, 0.9]), params)
    assert all(np.isnan(r["bid_state"]) and np.isnan(r["bid_quote"]) for r in rows[:2])  # nothing decided yet
    for r in rows[2:]:
        assert np.isfinite(r["bid_quote"]) == (r["bid_state"] == SIDE_QUOTED)
        assert r["bid_state"] in (SIDE_QUOTED, SIDE_AT_LIMIT)
    assert sum(r["bid_state"] == SIDE_AT_LIMIT for r in rows) > 50
    # the state is that of the decision 2 rows back: the row after the limit is reached still quotes
    first = next(i for i, r in enumerate(rows) if r["inventory"] >= params.max_inventory - 1e-12)
    assert rows[first]["bid_state"] == SIDE_QUOTED and rows[first + 2]["bid_state"] == SIDE_AT_LIMIT


def test_each_book_row_is_converted_to_ticks_once(raw, monkeypatch):
    """The trader hands its one `Book` to the streaming features: one conversion per accepted row."""
    from mmjax.data.ticks import RowTicks

    calls = []
    convert = RowTicks.book
    monkeypatch.setattr(RowTicks, "book", lambda self, *a: calls.append(1) or convert(self, *a))
    tr = replay(raw, ConstQuoter([0, 0]), record=False)
    assert tr.counts["rows"] > 100 and len(calls) == tr.counts["rows"]
