"""`mmjax load`: load a recording with the loader, print what it cleaned and what the data look like."""

from __future__ import annotations

import numpy as np

from mmjax import schema
from mmjax.data.load_config import LoadConfig
from mmjax.data.loader import RawRecording, load_market
from mmjax.data.market import MarketData, identity


def summarize(md: MarketData, raw: RawRecording) -> dict[str, float | int | str]:
    """Summary statistics of a loaded recording (units in the key names)."""
    bid0 = np.asarray(md.bid_px[:, 0], np.int64)  # [T] ticks from anchor
    ask0 = np.asarray(md.ask_px[:, 0], np.int64)  # [T]
    after_gap = np.asarray(md.after_gap)
    seg_starts = np.flatnonzero(after_gap)
    seg_len = np.diff(np.append(seg_starts, len(after_gap)))
    buy = raw.trade_side == schema.TAKER_BUY
    return {
        "product": raw.meta.product,
        "source": raw.meta.source,
        "rows": md.num_steps,
        "levels": md.levels,
        "grid_ms": md.grid_ms,
        "start_utc": _utc(int(raw.ts_recv_ns[0])),
        "end_utc": _utc(int(raw.ts_recv_ns[-1])),
        "duration_s": float((raw.ts_recv_ns[-1] - raw.ts_recv_ns[0]) / 1e9),
        "segments": len(seg_starts),
        "gaps": len(seg_starts) - 1,
        "longest_segment_rows": int(seg_len.max()),
        **trades_per_segment(np.asarray(md.n_trades), seg_starts),
        **{k: v for k, v in identity(md, raw.meta).items() if k != "product"},
        "best_bid_min": float(md.to_price(bid0.min())),
        "best_ask_max": float(md.to_price(ask0.max())),
        "mid_first": float(md.to_price(float(md.mid[0]))),
        "mid_last": float(md.to_price(float(md.mid[-1]))),
        "mean_spread_ticks": float(np.mean(ask0 - bid0)),
        "median_spread_ticks": float(np.median(ask0 - bid0)),
        "trades_in_file": len(raw.trade_side),
        "trades_on_grid": int(np.asarray(md.n_trades).sum()),
        "buy_volume_in_file": float(raw.trade_sz[buy].sum()),
        "sell_volume_in_file": float(raw.trade_sz[~buy].sum()),
        "buy_volume_on_grid": float(np.asarray(md.buy_vol, np.float64).sum()),
        "sell_volume_on_grid": float(np.asarray(md.sell_vol, np.float64).sum()),
    }


def trades_per_segment(n_trades: np.ndarray, seg_starts: np.ndarray) -> dict[str, int]:
    """Trades on the grid counted per gap-free segment: the fewest, the most, and how many segments have none."""
    per = np.add.reduceat(n_trades.astype(np.int64), seg_starts) if len(seg_starts) else np.zeros(1, np.int64)
    return {"trades_per_segment_min": int(per.min()), "trades_per_segment_max": int(per.max()),
            "segments_without_trades": int((per == 0).sum())}


def _utc(ts_ns: int) -> str:
    return np.datetime_as_string(np.datetime64(ts_ns, "ns"), unit="ms") + "Z"


def run(cfg: LoadConfig) -> int:
    """CLI entry point: load, print the load report, then the summary."""
    md, raw = load_market(cfg.data, cfg.product, cfg.start_date, cfg.end_date, cfg.on_crossed)  # errors: mmjax.cli
    print("load report")
    print("\n".join(raw.report.lines()))
    print("summary")
    for k, v in summarize(md, raw).items():
        print(f"{k:>22}: {v:,.4f}" if isinstance(v, float) else f"{k:>22}: {v}")
    return 0
