"""The built-in synthetic BTC market: a calibrated order-book generator that writes a real recording.

The model (details and calibration in docs/synth.md), on the 100 ms grid:

* A slow volatility regime ``m_t`` (log-OU, mean 1) scales both diffusion and trade arrival.
* Taker orders arrive as a Hawkes process (exact branching construction, exponential kernel):
  children inherit their parent's side with probability ``sign_persistence``; sizes are lognormal
  (heavy right tail). Each order's fill at a price level is split into several maker prints.
* A latent fair price ``F`` diffuses with variance proportional to ``m_t`` and takes a permanent
  impact ``impact_ticks_per_sqrt_btc * side * sqrt(size)`` from every taker order.
* The book is quoted around a center that only moves when ``F`` leaves a band of
  ``band_bps`` (the book re-quotes), or when takers exhaust the touch (a sweep: the next row's touch
  is the level where the walk stopped, with the remainder). Touch sizes lean with ``F - center``
  (queue imbalance predicts the move) and deplete with the trades that hit them.
* Every taker order walks the book of the row before it: prints at the touch first, then deeper.

Sequential parts (segment boundaries) loop over price events (about one a second), not over rows;
everything within a segment is vectorised.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from mmjax import schema
from mmjax.data.synth_book import _assemble_book, _run_segments
from mmjax.data.synth_flow import _ar1, _hawkes_orders, _regime, _walk

DEFAULT_START = "2026-01-05T00:00:00"


@dataclass
class SynthConfig:
    """Generate the built-in synthetic market (calibrated to Binance spot BTCUSDT, tick $0.01)."""

    out: str = field(metadata={"help": "output recording directory (book/ and trades/ are written below it)"})
    hours: float = field(default=1.0, metadata={"help": "length of the recording, hours"})
    seed: int = field(default=0, metadata={"help": "random seed; fixes every draw"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side"})
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "book snapshot grid, milliseconds"})
    product: str = field(default="BTC-USD", metadata={"help": "product name written to the partition path"})
    start: str = field(default=DEFAULT_START, metadata={"help": "UTC start time, ISO 8601"})
    tick_size: float = field(default=0.01, metadata={"help": "price tick, USD"})
    start_price_usd: float = field(default=62_000.0, metadata={"help": "initial mid price, USD"})
    sigma_bps_per_sqrt_s: float = field(default=0.8, metadata={"help": "diffusive vol of the fair price, bps per sqrt(second), before impact"})
    regime_std: float = field(default=0.45, metadata={"help": "stationary std of the log volatility/activity regime"})
    regime_halflife_s: float = field(default=300.0, metadata={"help": "half-life of the volatility/activity regime, seconds"})
    regime_shift_at_frac: float = field(default=1.0, metadata={
        "help": "fraction of the recording after which the regime multiplier is scaled by regime_shift_factor (1 = never)"})
    regime_shift_factor: float = field(default=1.0, metadata={
        "help": "persistent regime change: diffusion variance and taker-order rate times this from regime_shift_at_frac on"})
    band_bps: float = field(default=0.6, metadata={"help": "the book re-quotes when the fair price leaves center +- this, bps"})
    orders_per_s: float = field(default=8.0, metadata={"help": "mean taker-order rate (Hawkes, incl. children), 1/s"})
    branching_ratio: float = field(default=0.7, metadata={"help": "Hawkes branching ratio (mean children per order), in [0, 1)"})
    hawkes_decay_s: float = field(default=0.3, metadata={"help": "mean delay of a child order after its parent, seconds"})
    flow_bias_std: float = field(default=1.0, metadata={"help": "std of the slow buy/sell bias of new taker orders (logit scale)"})
    flow_bias_halflife_s: float = field(default=5.0, metadata={"help": "half-life of that bias, seconds"})
    sign_persistence: float = field(default=0.9, metadata={"help": "probability a child order has its parent's side"})
    order_size_median_btc: float = field(default=0.0032, metadata={"help": "median taker-order size, BTC"})
    order_size_log_std: float = field(default=2.5, metadata={"help": "log-std of taker-order size (lognormal tail)"})
    order_size_max_btc: float = field(default=25.0, metadata={"help": "cap on one taker order, BTC"})
    prints_per_level: float = field(default=2.0, metadata={"help": "mean extra maker prints per level an order fills at"})
    impact_ticks_per_sqrt_btc: float = field(default=320.0, metadata={"help": "permanent impact of one order on the fair price, ticks per sqrt(BTC)"})
    impact_delayed_frac: float = field(default=0.8, metadata={"help": "share of an order's impact the fair price absorbs with a delay, in [0, 1]"})
    impact_delay_s: float = field(default=0.3, metadata={"help": "time constant of the delayed impact, seconds"})
    touch_size_median_btc: float = field(default=1.5, metadata={"help": "median touch size when a level becomes the touch, BTC"})
    touch_size_log_std: float = field(default=0.7, metadata={"help": "log-std of the touch size"})
    imbalance_lean: float = field(default=0.8, metadata={"help": "touch sizes scale by exp(+-lean * (F - center) / band)"})
    depth_size_median_btc: float = field(default=0.05, metadata={"help": "median size of levels 1.., BTC"})
    depth_size_log_std: float = field(default=1.5, metadata={"help": "log-std of the sizes of levels 1.."})
    gap_one_tick_prob: float = field(default=0.3, metadata={"help": "probability that a deeper level sits 1 tick from the previous one"})
    gap_median_ticks: float = field(default=25.0, metadata={"help": "median gap between adjacent levels when not 1 tick, ticks"})
    gap_log_std: float = field(default=1.2, metadata={"help": "log-std of that gap"})
    wide_prob: float = field(default=0.03, metadata={"help": "probability that a price event leaves the spread wide for a while"})
    wide_mean_rows: float = field(default=3.0, metadata={"help": "mean duration of a wide-spread episode, rows"})
    wide_mean_ticks: float = field(default=15.0, metadata={"help": "mean extra spread in an episode, ticks"})
    report: bool = field(default=False, metadata={"help": "print the stylized-facts table of the written recording"})


@dataclass
class SynthMarket:
    """Generated arrays: ``T`` rows, ``L`` levels, ``N`` trade prints (prices in USD)."""

    ts_recv_ns: np.ndarray  # [T] int64
    bid_px: np.ndarray  # [T, L] float64
    bid_sz: np.ndarray  # [T, L] float64
    ask_px: np.ndarray  # [T, L]
    ask_sz: np.ndarray  # [T, L]
    trade_ts_recv_ns: np.ndarray  # [N] int64
    trade_px: np.ndarray  # [N] float64
    trade_sz: np.ndarray  # [N] float64
    trade_side: np.ndarray  # [N] int8 taker side


def _validate(cfg: SynthConfig) -> None:
    checks = [
        (cfg.hours > 0, "hours must be > 0"),
        (cfg.levels >= 2, "levels must be >= 2"),
        (cfg.grid_ms > 0, "grid_ms must be > 0"),
        (0 <= cfg.branching_ratio < 1, "branching_ratio must be in [0, 1)"),
        (0 <= cfg.sign_persistence <= 1, "sign_persistence must be in [0, 1]"),
        (cfg.tick_size > 0 and cfg.start_price_usd > 100 * cfg.tick_size, "tick_size/start_price_usd out of range"),
        (cfg.band_bps > 0 and cfg.orders_per_s >= 0, "band_bps must be > 0 and orders_per_s >= 0"),
        (0 <= cfg.wide_prob <= 1 and 0 <= cfg.gap_one_tick_prob <= 1, "probabilities must be in [0, 1]"),
        (0 <= cfg.regime_shift_at_frac <= 1 and cfg.regime_shift_factor > 0,
         "regime_shift_at_frac must be in [0, 1] and regime_shift_factor > 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(f"SynthConfig: {msg}")

def generate(cfg: SynthConfig) -> SynthMarket:
    """Generate the synthetic market as arrays (deterministic given ``cfg``)."""
    _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    dt_s = cfg.grid_ms / 1000.0
    T = int(round(cfg.hours * 3600 / dt_s))
    if T < 10:
        raise ValueError(f"SynthConfig: {cfg.hours} h gives {T} rows; need at least 10")
    duration_s = T * dt_s
    n_sec = int(np.ceil(duration_s)) + 1
    ticks_per_bp = cfg.start_price_usd / cfg.tick_size * 1e-4
    band_ticks = cfg.band_bps * ticks_per_bp

    # REGIME AND TAKER ORDERS
    m_sec = _regime(rng, n_sec, cfg)  # [n_sec]
    p_buy_sec = 1 / (1 + np.exp(-_ar1(rng, n_sec, cfg.flow_bias_std, cfg.flow_bias_halflife_s)))
    o_t, o_side = _hawkes_orders(rng, duration_s, m_sec, p_buy_sec, cfg)  # [K]
    o_vol = np.minimum(cfg.order_size_median_btc * np.exp(cfg.order_size_log_std * rng.standard_normal(len(o_t))),
                       cfg.order_size_max_btc)
    o_vol = np.maximum(np.round(o_vol, 5), 1e-5)
    grid_ns = cfg.grid_ms * 1_000_000
    o_ns = np.rint(o_t * 1e9).astype(np.int64)
    o_row = (o_ns - 1) // grid_ns  # order lies in (row, row + 1]
    ok = (o_ns > 0) & (o_row < T - 1)
    o_ns, o_side, o_vol, o_row = o_ns[ok], o_side[ok], o_vol[ok], o_row[ok]
    buy_vol = np.bincount(o_row[o_side > 0], weights=o_vol[o_side > 0], minlength=T)  # [T] interval (t, t+1]
    sell_vol = np.bincount(o_row[o_side < 0], weights=o_vol[o_side < 0], minlength=T)

    # FAIR PRICE: diffusion scaled by the regime + permanent impact of every order (felt from t+1).
    # Part of the impact arrives with a delay (a propagator): flow predicts the next moves, and
    # the quotes lean towards the full impact already (F_lean), so queue imbalance predicts too.
    m_row = m_sec[(np.arange(T) * dt_s).astype(np.int64)]
    sigma_row = cfg.sigma_bps_per_sqrt_s * ticks_per_bp * np.sqrt(dt_s * m_row)
    impact = np.bincount(o_row, weights=o_side * np.sqrt(o_vol), minlength=T) * cfg.impact_ticks_per_sqrt_btc
    dF = sigma_row * rng.standard_normal(T)
    dF[0] = 0.0
    dF[1:] += impact[:-1]
    F_lean = np.cumsum(dF) + 0.5  # [T] ticks from the anchor; row 0 centred in a tick
    decay = np.exp(-dt_s / max(cfg.impact_delay_s, 1e-9))
    kernel = decay ** np.arange(max(1, int(np.ceil(8 * cfg.impact_delay_s / dt_s))))  # [J]
    pending = np.zeros(T)
    pending[1:] = np.convolve(impact[:-1], kernel)[: T - 1]  # impact of intervals < t not yet absorbed
    F = F_lean - cfg.impact_delayed_frac * pending  # [T]

    # QUOTES: segments between price events, then [T, L] arrays
    segs = _run_segments(F, F_lean, buy_vol, sell_vol, band_ticks, cfg, rng)
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_vol)])
    cum_sell = np.concatenate([[0.0], np.cumsum(sell_vol)])
    bid_t, bid_sz, ask_t, ask_sz = _assemble_book(segs, F_lean, cum_buy, cum_sell, band_ticks, cfg, T)

    # TRADES: orders walk the book of the row before them
    b_row, b_px, b_sz, b_ord = _walk(rng, o_row, o_side, o_vol, ask_t, ask_sz, 1, cfg)
    s_row, s_px, s_sz, s_ord = _walk(rng, o_row, o_side, o_vol, bid_t, bid_sz, -1, cfg)
    p_ord = np.concatenate([b_ord, s_ord])
    p_px = np.concatenate([b_px, s_px])
    p_sz = np.concatenate([b_sz, s_sz])
    p_side = np.concatenate([np.ones(len(b_px), np.int8), -np.ones(len(s_px), np.int8)])
    order = np.lexsort((np.arange(len(p_ord)), p_ord))  # by order, prints in walk order
    p_ord, p_px, p_sz, p_side = p_ord[order], p_px[order], p_sz[order], p_side[order]

    anchor_ticks = np.rint(cfg.start_price_usd / cfg.tick_size)
    to_usd = lambda t: np.round((t + anchor_ticks) * cfg.tick_size, 2)  # noqa: E731
    start_ns = int(_dt.datetime.fromisoformat(cfg.start).replace(tzinfo=_dt.UTC).timestamp() * 1e9)
    if to_usd(np.nanmin(bid_t[:, -1])) <= 0:
        raise ValueError("SynthConfig: the price path went below zero; raise start_price_usd or lower the vol")
    return SynthMarket(
        ts_recv_ns=start_ns + np.arange(T, dtype=np.int64) * grid_ns,
        bid_px=to_usd(bid_t), bid_sz=bid_sz, ask_px=to_usd(ask_t), ask_sz=ask_sz,
        trade_ts_recv_ns=start_ns + o_ns[p_ord], trade_px=to_usd(p_px), trade_sz=p_sz, trade_side=p_side,
    )


def to_tables(mk: SynthMarket, seed: int) -> tuple[pa.Table, pa.Table]:
    """Arrays -> (book table, trades table) in the recording schema."""
    rng = np.random.default_rng([seed, 1])
    T = len(mk.ts_recv_ns)
    # the exchange stamps the last message before the snapshot: 0-100 ms before it, minus ~20 ms latency
    ts_ex = mk.ts_recv_ns - 20_000_000 - rng.integers(0, 80_000_000, T)
    after_gap = np.zeros(T, bool)
    after_gap[0] = True
    book = schema.book_table_from_arrays(ts_ex, mk.ts_recv_ns, after_gap, mk.bid_px, mk.bid_sz, mk.ask_px, mk.ask_sz)
    n = len(mk.trade_px)
    t_ex = mk.trade_ts_recv_ns - 20_000_000 - rng.integers(0, 5_000_000, n)
    trades = pa.table({
        "ts_exchange_ns": pa.array(np.maximum.accumulate(t_ex) if n else t_ex, pa.int64()),
        "ts_recv_ns": pa.array(mk.trade_ts_recv_ns, pa.int64()),
        "trade_id": pa.array(np.char.mod("%d", np.arange(1, n + 1)).astype(object) if n else [], pa.string()),
        "price": pa.array(mk.trade_px, pa.float64()),
        "size": pa.array(mk.trade_sz, pa.float64()),
        "taker_side": pa.array(mk.trade_side, pa.int8()),
    }).cast(schema.TRADES_SCHEMA)
    return book, trades


def meta_for(cfg: SynthConfig) -> schema.RecordingMeta:
    """Recording metadata of a synthetic market."""
    return schema.RecordingMeta(product=cfg.product, tick_size=cfg.tick_size, size_unit="BTC",
                                grid_ms=cfg.grid_ms, levels=cfg.levels, source=f"mmjax.synth seed={cfg.seed}")


def run(cfg: SynthConfig) -> int:
    """Generate, write the recording under ``cfg.out`` and print a summary."""
    t0 = time.perf_counter()
    mk = generate(cfg)
    t_gen = time.perf_counter() - t0
    book, trades = to_tables(mk, cfg.seed)
    meta = meta_for(cfg)
    part = f"synth-{cfg.seed}"
    paths = schema.write_dataset(book, cfg.out, schema.BOOK_DIR, meta, part)
    paths += schema.write_dataset(trades, cfg.out, schema.TRADES_DIR, meta, part)
    spread = np.rint((mk.ask_px[:, 0] - mk.bid_px[:, 0]) / cfg.tick_size)
    mid = (mk.ask_px[:, 0] + mk.bid_px[:, 0]) / 2
    print(f"synth: {len(mk.ts_recv_ns):,} book rows x {cfg.levels} levels, {len(mk.trade_px):,} trades, "
          f"{cfg.hours:g} h, seed {cfg.seed}")
    print(f"  mid ${mid[0]:,.2f} -> ${mid[-1]:,.2f} (range ${mid.min():,.2f}..${mid.max():,.2f}); "
          f"spread 1 tick {np.mean(spread == 1):.1%} of rows")
    print(f"  generated in {t_gen:.1f} s, written in {time.perf_counter() - t0 - t_gen:.1f} s: "
          f"{len(paths)} files under {Path(cfg.out)}")
    if cfg.report:
        from mmjax.data import loader, stylized

        facts = stylized.compute(loader.read_recording(cfg.out, cfg.product))
        print(stylized.format_table({"synth": facts}))
    return 0
