"""The live tests' recording, quoters and replays, shared by the live test files."""

from __future__ import annotations

import dataclasses

import numpy as np

from mmjax.data.loader import read_recording
from mmjax.env.knobs import EnvKnobs
from mmjax.live import (
    BookEvent,
    PaperTrader,
    ReplayFeed,
)
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

ACTION = np.array([-0.6, -0.3])


def perturbed_after(raw, t_ns: int):
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


def replay_events(raw):
    return list(ReplayFeed(raw, speed=0).events())


def write_policy(path, norm, mapping, seed=0, hidden=16, weight_sd=0.5, bias=-0.5):
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
