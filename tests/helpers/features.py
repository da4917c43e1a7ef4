"""Recordings for the feature tests: a toy one in memory, the built-in market, the real captures (fixtures)."""

from __future__ import annotations

import numpy as np
import pytest

from mmjax import schema
from mmjax.data.loader import LoadReport, RawRecording
from mmjax.features.spec import FeatureConfig

REAL = ("binance-spot-btcusdt-2024-08-08", "binance-coinm-btcusd-perp-2024-08-08")


# small windows so short test recordings exercise full windows, resets and warm-up alike
SMALL = FeatureConfig(ofi_short_steps=3, ofi_long_steps=9, trade_short_steps=5, trade_long_steps=17,
                      intensity_steps=6, kyle_steps=20, vol_short_steps=7, vol_long_steps=40,
                      spread_steps=11, touch_steps=13, momentum_steps=4, vol_mid_steps=15)


def toy_recording(seed: int = 0, num_steps: int = 2000, levels: int = 8, tick: float = 0.01,
                  gap_rows: tuple[int, ...] = (700, 701, 1500), quiet: tuple[int, int] = (300, 650),
                  thin: bool = True) -> RawRecording:
    """A random-walk book with trades, gaps, a long trade-free stretch and thin or empty levels."""
    rng = np.random.default_rng(seed)
    T, L = num_steps, levels
    ts = 1_700_000_000_000_000_000 + np.arange(T, dtype=np.int64) * 100_000_000
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    after_gap[list(gap_rows)] = True
    ts[after_gap.cumsum() > 1] += 10_000_000_000  # gaps are holes in the clock
    base = 6_000_000 + np.cumsum(rng.choice([-2, -1, 0, 0, 0, 1, 2], size=T))  # best bid, ticks
    spread = rng.choice([1, 1, 1, 1, 2, 3, 7], size=T)
    bid_t = base[:, None] - np.cumsum(rng.choice([1, 1, 2, 5], size=(T, L)), axis=1) + 1
    ask_t = (base + spread)[:, None] + np.cumsum(rng.choice([1, 1, 2, 5], size=(T, L)), axis=1) - 1
    bid_sz = rng.lognormal(-1.0, 1.2, size=(T, L))
    ask_sz = rng.lognormal(-1.0, 1.2, size=(T, L))
    bid_px, ask_px = bid_t * tick, ask_t * tick
    if thin:
        bid_sz[rng.random((T, L)) < 0.1] = 0.0  # zero-size levels, the touch included
        ask_sz[rng.random((T, L)) < 0.1] = 0.0
        ask_sz[200:260, :] = 0.0  # one side with no size at all for a while
        empty = rng.random(T) < 0.2  # deep levels missing (NaN, size 0)
        bid_px[empty, L // 2:] = np.nan
        bid_sz[empty, L // 2:] = 0.0
        ask_px[empty, L - 2:] = np.nan
        ask_sz[empty, L - 2:] = 0.0
    n_per = rng.poisson(1.2, size=T - 1)
    n_per[quiet[0]:quiet[1]] = 0
    step = np.repeat(np.arange(T - 1), n_per)
    N = len(step)
    t_ts = ts[step] + rng.integers(1, 100_000_001, size=N)  # in (t, t + 100 ms]
    t_ts = np.minimum(t_ts, ts[step + 1])
    side = rng.choice(np.array([1, -1], np.int8), size=N)
    t_px = np.where(side > 0, ask_t[step, 0], bid_t[step, 0]) * tick
    t_sz = rng.lognormal(-3.0, 1.5, size=N)
    meta = schema.RecordingMeta(product="TOY-USD", tick_size=tick, levels=L, source="test")
    return RawRecording(meta, ts.copy(), ts, after_gap, bid_px, bid_sz, ask_px, ask_sz, t_ts, t_ts.copy(),
                        t_px, t_sz, side, LoadReport())


@pytest.fixture(scope="session")


def synth_dir(tmp_path_factory):
    """Half an hour of the built-in synthetic market, written as a recording."""
    from mmjax.market import synth

    out = tmp_path_factory.mktemp("synth")
    synth.run(synth.SynthConfig(out=str(out), hours=0.5, seed=3))
    return out


@pytest.fixture(scope="session")


def real_dirs(shared_data, tmp_path_factory):
    """The two Tardis captures converted once per session: {name: recording dir}."""
    from mmjax.data import tardis

    out = {}
    for name in REAL:
        src = shared_data / name
        if not src.is_dir():
            pytest.skip(f"{src} absent")
        dst = tmp_path_factory.mktemp(name)
        tardis.import_tardis(tardis.TardisImportConfig(
            book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"), out=str(dst), quiet=True))
        out[name] = dst
    return out
