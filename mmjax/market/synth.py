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

from mmjax import outputs, schema
from mmjax.market import params as sp
from mmjax.market.book import _assemble_book, _run_segments
from mmjax.market.flow import _ar1, _hawkes_orders, _regime, _walk
from mmjax.market.params import SynthParams
from mmjax.outputs import UserError

DEFAULT_START = "2026-01-05T00:00:00"


@dataclass(frozen=True)
class SynthConfig:
    """Generate the built-in synthetic market (default: calibrated to Binance spot BTCUSDT, tick $0.01).

    The generator's parameters are `SynthParams` (their flags below). ``--preset NAME`` or ``--params FILE``
    replaces the defaults with a stored set; a parameter flag given as well (a value other than its
    default) applies on top. ``--calibrate-from DIR`` fits the parameters to a recording first
    (mmjax/market/calibrate.py) and writes ``OUT/calibration.json`` next to the synthetic recording.
    """

    out: str = field(metadata={"help": "output recording directory (book/ and trades/ are written below it)"})
    hours: float = field(default=1.0, metadata={"help": "length of the recording, hours"})
    seed: int = field(default=0, metadata={"help": "random seed; fixes every draw"})
    levels: int = field(default=schema.DEFAULT_LEVELS, metadata={"help": "book levels per side"})
    grid_ms: int = field(default=schema.DEFAULT_GRID_MS, metadata={"help": "book snapshot grid, milliseconds"})
    product: str = field(default="", metadata={
        "help": "product name written to the partition path (empty: the preset's \"_product\", else BTC-USD)"})
    start: str = field(default=DEFAULT_START, metadata={"help": "UTC start time, ISO 8601"})
    model: SynthParams = field(default_factory=SynthParams)
    preset: str = field(default="", metadata={"help": "named parameter preset (mmjax/market/presets/NAME.json); empty: the built-in defaults"})
    params: str = field(default="", metadata={"help": "parameter file to reuse: a params JSON or a calibration.json (its \"params\")"})
    calibrate_from: str = field(default="", metadata={
        "help": "fit the parameters to this recording (or Tardis CSV directory) first, with its number of levels; "
                "writes OUT/calibration.json and OUT/calibration.png (`mmjax synth` only)"})
    check_hours: float = field(default=1.0, metadata={
        "help": "--calibrate-from: hours of synthetic market the facts are compared on (at most --hours)"})
    report: bool = field(default=False, metadata={"help": "print the stylized-facts table of the written recording"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace an existing recording in --out (only once the new one is complete); else an error"})


def resolved_params(cfg: SynthConfig) -> SynthParams:
    """The parameters this config generates with: preset or params file, then explicit flags on top."""
    if cfg.preset and cfg.params:
        raise UserError("synth: give --preset or --params, not both")
    if cfg.preset:
        return sp.overrides(sp.load_preset(cfg.preset), cfg.model)
    if cfg.params:
        return sp.overrides(sp.load_params(cfg.params), cfg.model)
    return cfg.model


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


def _validate(cfg: SynthConfig, p: SynthParams) -> None:
    checks = [
        (0 < cfg.hours <= 24 * 366, f"--hours (SynthConfig.hours) must be in (0, 8784], got {cfg.hours!r}"),
        (2 <= cfg.levels <= 1000, f"--levels (SynthConfig.levels) must be in [2, 1000], got {cfg.levels!r}"),
        (0 < cfg.grid_ms <= 3_600_000, f"--grid-ms (SynthConfig.grid_ms) must be in [1, 3600000], got {cfg.grid_ms!r}"),
        (0 <= cfg.seed < 2**32, f"--seed (SynthConfig.seed) must be in [0, 2^32), got {cfg.seed!r}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)
    sp.validate(p)


def _in_lots(x: np.ndarray, lot: float) -> np.ndarray:
    """Sizes rounded to whole lots, at least one."""
    return np.maximum(np.round(x / lot), 1.0) * lot


def generate(cfg: SynthConfig) -> SynthMarket:
    """Generate the synthetic market as arrays (deterministic given ``cfg``)."""
    p = resolved_params(cfg)
    _validate(cfg, p)
    rng = np.random.default_rng(cfg.seed)
    dt_s = cfg.grid_ms / 1000.0
    T = int(round(cfg.hours * 3600 / dt_s))
    if T < 10:
        raise UserError(f"SynthConfig: {cfg.hours} h gives {T} rows; need at least 10")
    duration_s = T * dt_s
    n_sec = int(np.ceil(duration_s)) + 1
    ticks_per_bp = p.start_price_usd / p.tick_size * 1e-4
    band_ticks = p.band_bps * ticks_per_bp

    # REGIME AND TAKER ORDERS
    m_sec = _regime(rng, n_sec, p)  # [n_sec]
    p_buy_sec = 1 / (1 + np.exp(-_ar1(rng, n_sec, p.flow_bias_std, p.flow_bias_halflife_s)))
    o_t, o_side = _hawkes_orders(rng, duration_s, m_sec, p_buy_sec, p)  # [K]
    o_vol = np.minimum(p.order_size_median_btc * np.exp(p.order_size_log_std * rng.standard_normal(len(o_t))),
                       p.order_size_max_btc)
    o_vol = np.maximum(np.round(o_vol, 5), 1e-5) if p.size_lot <= 0 else _in_lots(o_vol, p.size_lot)
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
    sigma_row = p.sigma_bps_per_sqrt_s * ticks_per_bp * np.sqrt(dt_s * m_row)
    impact = np.bincount(o_row, weights=o_side * np.sqrt(o_vol), minlength=T) * p.impact_ticks_per_sqrt_btc
    dF = sigma_row * rng.standard_normal(T)
    dF[0] = 0.0
    dF[1:] += impact[:-1]
    F_lean = np.cumsum(dF) + 0.5  # [T] ticks from the anchor; row 0 centred in a tick
    decay = np.exp(-dt_s / max(p.impact_delay_s, 1e-9))
    kernel = decay ** np.arange(max(1, int(np.ceil(8 * p.impact_delay_s / dt_s))))  # [J]
    pending = np.zeros(T)
    pending[1:] = np.convolve(impact[:-1], kernel)[: T - 1]  # impact of intervals < t not yet absorbed
    F = F_lean - p.impact_delayed_frac * pending  # [T]

    # QUOTES: segments between price events, then [T, L] arrays
    segs = _run_segments(F, F_lean, buy_vol, sell_vol, band_ticks, p, cfg.levels, dt_s, rng)
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_vol)])
    cum_sell = np.concatenate([[0.0], np.cumsum(sell_vol)])
    bid_t, bid_sz, ask_t, ask_sz = _assemble_book(segs, F_lean, cum_buy, cum_sell, band_ticks, p, dt_s, T)
    if p.size_lot > 0:
        bid_sz, ask_sz = _in_lots(bid_sz, p.size_lot), _in_lots(ask_sz, p.size_lot)

    # TRADES: orders walk the book of the row before them; with late_walk_frac, a later row's book
    # (the book moved inside the interval: a real feed's snapshots lag its trades)
    walk_row = o_row
    if p.late_walk_frac > 0:
        u = (o_ns - 1 - o_row * grid_ns) / grid_ns  # [K] position in the interval, [0, 1)
        walk_row = np.minimum(o_row + np.floor(u + p.late_walk_frac).astype(np.int64), T - 1)
    b_row, b_px, b_sz, b_ord = _walk(rng, walk_row, o_side, o_vol, ask_t, ask_sz, 1, p)
    s_row, s_px, s_sz, s_ord = _walk(rng, walk_row, o_side, o_vol, bid_t, bid_sz, -1, p)
    p_ord = np.concatenate([b_ord, s_ord])
    p_px = np.concatenate([b_px, s_px])
    p_sz = np.concatenate([b_sz, s_sz])
    p_side = np.concatenate([np.ones(len(b_px), np.int8), -np.ones(len(s_px), np.int8)])
    order = np.lexsort((np.arange(len(p_ord)), p_ord))  # by order, prints in walk order
    p_ord, p_px, p_sz, p_side = p_ord[order], p_px[order], p_sz[order], p_side[order]
    if p.size_lot > 0:  # prints in whole lots; a split smaller than half a lot is no print
        p_sz = np.round(p_sz / p.size_lot) * p.size_lot
        keep = p_sz > 0
        p_ord, p_px, p_sz, p_side = p_ord[keep], p_px[keep], p_sz[keep], p_side[keep]

    anchor_ticks = np.rint(p.start_price_usd / p.tick_size)
    decimals = max(2, int(np.ceil(-np.log10(p.tick_size) - 1e-9)))  # 2 for cents: the built-in market as it was
    to_usd = lambda t: np.round((t + anchor_ticks) * p.tick_size, decimals)  # noqa: E731
    start_ns = int(_dt.datetime.fromisoformat(cfg.start).replace(tzinfo=_dt.UTC).timestamp() * 1e9)
    if to_usd(np.nanmin(bid_t[:, -1])) <= 0:
        raise UserError("SynthConfig: the price path went below zero; raise start_price_usd or lower the vol")
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


def product_of(cfg: SynthConfig) -> str:
    """The product the recording is written under: ``--product``, else the preset's own name for it, else BTC-USD."""
    return cfg.product or (sp.preset_product(cfg.preset) if cfg.preset else None) or "BTC-USD"


def meta_for(cfg: SynthConfig) -> schema.RecordingMeta:
    """Recording metadata of a synthetic market."""
    p = resolved_params(cfg)
    return schema.RecordingMeta(product=product_of(cfg), tick_size=p.tick_size, size_unit=p.size_unit,
                                grid_ms=cfg.grid_ms, levels=cfg.levels, source=f"mmjax.synth seed={cfg.seed}",
                                lot_size=p.size_lot if p.size_lot > 0 else None)  # sizes in whole lots: say so


def run(cfg: SynthConfig) -> int:
    """Generate, write the recording under ``cfg.out`` and print a summary."""
    t0 = time.perf_counter()
    outputs.refuse_existing(cfg.out, cfg.overwrite, "a recording")  # before the work; checked again under the lock
    mk = generate(cfg)
    t_gen = time.perf_counter() - t0
    book, trades = to_tables(mk, cfg.seed)
    meta = meta_for(cfg)
    part = f"synth-{cfg.seed}"
    with outputs.staged_dir(cfg.out, cfg.overwrite, "a recording") as stage:  # all of it, or nothing
        paths = schema.write_dataset(book, stage, schema.BOOK_DIR, meta, part)
        paths += schema.write_dataset(trades, stage, schema.TRADES_DIR, meta, part)
    spread = np.rint((mk.ask_px[:, 0] - mk.bid_px[:, 0]) / meta.tick_size)
    mid = (mk.ask_px[:, 0] + mk.bid_px[:, 0]) / 2
    print(f"synth: {len(mk.ts_recv_ns):,} book rows x {cfg.levels} levels, {len(mk.trade_px):,} trades, "
          f"{cfg.hours:g} h, seed {cfg.seed}")
    print(f"  mid ${mid[0]:,.2f} -> ${mid[-1]:,.2f} (range ${mid.min():,.2f}..${mid.max():,.2f}); "
          f"spread 1 tick {np.mean(spread == 1):.1%} of rows")
    print(f"  generated in {t_gen:.1f} s, written in {time.perf_counter() - t0 - t_gen:.1f} s: "
          f"{len(paths)} files under {Path(cfg.out)}")
    if cfg.report:
        from mmjax.data import loader
        from mmjax.market import stylized

        facts = stylized.compute(loader.read_recording(cfg.out, product_of(cfg)))
        print(stylized.format_table({"synth": facts}))
    return 0
