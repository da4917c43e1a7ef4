"""Stylized facts of a recording (NumPy only, no jax): what a market maker's simulator must get right.

`compute(raw)` returns a nested dict of plain floats/lists (JSON-ready); `format_table` prints
several recordings side by side. Used by ``benchmarks/stylized_facts.py`` and ``mmjax synth --report``.

Conventions: row ``t`` is the book at grid time ``t``; the trades of interval ``(t, t+1]`` are the
flow *after* row ``t``. Returns never span a gap (``after_gap``). Prices in bps of the mid or ticks.
"""

from __future__ import annotations

import numpy as np

from mmjax.data.loader import RawRecording

SIGN_ACF_LAGS = (1, 2, 5, 10, 20, 50, 100)
RESPONSE_HORIZONS_ROWS = (1, 2, 5, 10, 50)
SPREAD_BUCKETS = ((1, 1), (2, 2), (3, 5), (6, 10), (11, 10**9))
SIZE_QUANTILES = (0.1, 0.5, 0.9, 0.99, 0.999)


def _acf(x: np.ndarray, lags) -> list[float]:
    """Sample autocorrelation of ``x`` at ``lags`` (NaN where too short or constant)."""
    x = np.asarray(x, np.float64)
    out = []
    for k in lags:
        if len(x) <= k + 2 or x[:-k].std() == 0 or x[k:].std() == 0:
            out.append(float("nan"))
        else:
            out.append(float(np.corrcoef(x[:-k], x[k:])[0, 1]))
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _no_gap_within(after_gap: np.ndarray, h: int) -> np.ndarray:
    """[T-h] bool: rows t such that (t, t+h] contains no segment start (no gap inside the step)."""
    c = np.cumsum(after_gap)
    return c[h:] == c[:-h]


def _hill_tail_index(x: np.ndarray, top_frac: float = 0.05) -> float:
    """Hill estimator of the power-law tail index from the largest ``top_frac`` of ``x``."""
    x = np.sort(x[x > 0])[::-1]
    k = int(len(x) * top_frac)
    if k < 10:
        return float("nan")
    return float(1.0 / np.mean(np.log(x[:k] / x[k])))


def compute(raw: RawRecording) -> dict:
    """Stylized facts of one recording as a JSON-ready nested dict."""
    tick = raw.meta.tick_size
    T = raw.num_steps
    dt_s = raw.meta.grid_ms / 1000.0
    bid0, ask0 = raw.bid_px[:, 0], raw.ask_px[:, 0]
    mid = (bid0 + ask0) / 2  # [T] USD
    duration_s = T * dt_s
    facts: dict = {"rows": int(T), "hours": duration_s / 3600, "trades": int(len(raw.trade_px)),
                   "tick_size": tick, "mean_price_usd": float(mid.mean())}

    # SPREAD
    spread_ticks = np.rint((ask0 - bid0) / tick)
    facts["spread"] = {
        "mean_ticks": float(spread_ticks.mean()),
        "buckets": {f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f">{lo - 1}"):
                    float(np.mean((spread_ticks >= lo) & (spread_ticks <= hi))) for lo, hi in SPREAD_BUCKETS},
    }

    # DEPTH BY LEVEL (both sides pooled; distance in ticks from the same side's touch)
    sz = np.concatenate([raw.bid_sz, raw.ask_sz])  # [2T, L]
    dist = np.concatenate([(bid0[:, None] - raw.bid_px), (raw.ask_px - ask0[:, None])]) / tick
    facts["depth"] = {
        "mean_size": np.round(sz.mean(0), 6).tolist(),
        "median_size": np.round(np.median(sz, 0), 6).tolist(),
        "mean_distance_ticks": np.round(np.nanmean(dist, 0), 2).tolist(),
        "median_gap_ticks": np.round(np.nanmedian(np.diff(dist, axis=1), 0), 2).tolist(),
    }

    # TRADES: rate and size distribution
    size = raw.trade_sz
    step = raw.trade_step()
    inside = (step >= 0) & (step < T - 1)
    n_per_row = np.bincount(step[inside], minlength=T)[: T - 1]  # [T-1] prints in (t, t+1]
    facts["trades_stats"] = {
        "per_s": len(size) / duration_s,
        "volume_per_s": float(size.sum() / duration_s),
        "frac_intervals_with_trade": float(np.mean(n_per_row > 0)),
        "size_mean": float(size.mean()) if len(size) else float("nan"),
        "size_quantiles": {str(q): float(np.quantile(size, q)) if len(size) else float("nan") for q in SIZE_QUANTILES},
        "size_tail_index": _hill_tail_index(size),
        "count_acf": dict(zip(("1", "10"), _acf(n_per_row, (1, 10)), strict=True)),
    }

    # RETURNS AND VOLATILITY (log mid, bps; never across a gap)
    lm = np.log(mid)
    vol = {}
    for name, h in (("1s", int(round(1 / dt_s))), ("10s", int(round(10 / dt_s)))):
        ok = _no_gap_within(raw.after_gap, h)
        r = (lm[h:] - lm[:-h])[ok] * 1e4
        vol[f"ret_std_bps_{name}"] = float(r.std()) if len(r) > 2 else float("nan")
    h1 = int(round(1 / dt_s))
    r1 = (lm[h1::h1] - lm[:-h1:h1]) * 1e4  # non-overlapping 1 s returns
    ok1 = _no_gap_within(raw.after_gap, h1)[::h1][: len(r1)]
    r1 = np.where(ok1, r1, 0.0)
    v1, v10 = vol["ret_std_bps_1s"], vol["ret_std_bps_10s"]
    vol["variance_ratio_10s_1s"] = (v10 / v1) ** 2 / 10 if v1 > 0 else float("nan")  # > 1: trending
    vol["ret_acf_1s_lag1"] = _acf(r1, (1,))[0]
    vol["abs_ret_acf_1s"] = dict(zip(("1", "5", "20"), _acf(np.abs(r1), (1, 5, 20)), strict=True))
    vol["frac_rows_mid_moves"] = float(np.mean(np.diff(mid) != 0))
    facts["volatility"] = vol

    # ORDER FLOW: sign memory, flow -> mid response, queue imbalance -> mid response
    facts["sign_acf"] = dict(zip(map(str, SIGN_ACF_LAGS), _acf(raw.trade_side, SIGN_ACF_LAGS), strict=True))
    signed = (raw.trade_sz * raw.trade_side)[inside]
    flow = np.bincount(step[inside], weights=signed, minlength=T)[:T]  # [T] signed BTC in (t, t+1]
    imb = (raw.bid_sz[:, 0] - raw.ask_sz[:, 0]) / np.maximum(raw.bid_sz[:, 0] + raw.ask_sz[:, 0], 1e-12)
    mid_ticks = mid / tick
    resp: dict = {"same_interval_corr": float("nan"), "flow_predicts": {}, "imbalance_predicts": {}}
    ok = _no_gap_within(raw.after_gap, 1)
    dm = np.diff(mid_ticks)  # [T-1] mid(t+1) - mid(t)
    resp["same_interval_corr"] = _corr(flow[:-1][ok], dm[ok])
    for h in RESPONSE_HORIZONS_ROWS:
        # flow in (t-1, t] is known at row t: does it predict mid(t+h) - mid(t)?
        if T <= h + 2:
            continue
        okh = _no_gap_within(raw.after_gap, h + 1)  # (t-1, t+h] gap-free, index t-1
        fwd = (mid_ticks[h:] - mid_ticks[:-h])[1:]  # [T-h-1] mid(t+h) - mid(t), t = 1..T-h-1
        past_flow = flow[: T - h - 1]  # interval (t-1, t]
        resp["flow_predicts"][str(h)] = _corr(past_flow[okh], fwd[okh])
        okh2 = _no_gap_within(raw.after_gap, h)
        resp["imbalance_predicts"][str(h)] = _corr(imb[:-h][okh2], (mid_ticks[h:] - mid_ticks[:-h])[okh2])
    # mean mid move after a buy-dominated vs sell-dominated interval (ticks, 10 rows ahead)
    h = min(10, T - 2)
    okh = _no_gap_within(raw.after_gap, h + 1)
    fwd = (mid_ticks[1 + h:] - mid_ticks[1:-h])[okh]
    pf = flow[: T - h - 1][okh]
    resp["mid_move_after_net_buy_ticks_10rows"] = float(fwd[pf > 0].mean()) if (pf > 0).any() else float("nan")
    resp["mid_move_after_net_sell_ticks_10rows"] = float(fwd[pf < 0].mean()) if (pf < 0).any() else float("nan")
    facts["flow_response"] = resp

    # TRADES THROUGH THE TOUCH: how deep prints are relative to the row before
    s_ok = step[inside]
    px = raw.trade_px[inside]
    side = raw.trade_side[inside]
    through = np.where(side > 0, px - ask0[s_ok], bid0[s_ok] - px) / tick  # ticks beyond the touch
    facts["trade_depth"] = {
        "frac_beyond_touch": float(np.mean(through > 0)) if len(through) else float("nan"),
        "frac_inside_touch": float(np.mean(through < 0)) if len(through) else float("nan"),
        "through_ticks_quantiles": {str(q): float(np.quantile(through, q)) if len(through) else float("nan")
                                    for q in (0.5, 0.9, 0.99)},
    }
    return facts


def flatten(facts: dict, prefix: str = "") -> dict[str, object]:
    """Nested facts -> ``{"a.b.c": value}``; lists stay lists."""
    out: dict[str, object] = {}
    for k, v in facts.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _fmt(v) -> str:
    if isinstance(v, list):
        shown = ", ".join(_fmt(x) for x in v[:4])
        return f"[{shown}{', ...' if len(v) > 4 else ''}]"
    if isinstance(v, float):
        if np.isnan(v):
            return "nan"
        a = abs(v)
        return f"{v:.3g}" if (a >= 1e4 or (a < 1e-3 and a > 0)) else f"{v:.4f}".rstrip("0").rstrip(".")
    return str(v)


def format_table(named: dict[str, dict]) -> str:
    """Side-by-side text table of several recordings' facts (``{"synth": facts, "real": facts}``)."""
    flat = {name: flatten(f) for name, f in named.items()}
    keys = list(dict.fromkeys(k for f in flat.values() for k in f))
    width = max(len(k) for k in keys) + 2
    col = max(14, *(len(n) + 2 for n in named))
    lines = [f"{'fact':<{width}}" + "".join(f"{n:>{col}}" for n in named)]
    for k in keys:
        cells = [_fmt(flat[n].get(k, "")) for n in named]
        if any(len(c) > col - 1 for c in cells):
            lines.append(f"{k:<{width}}")
            lines += [f"{'':<4}{n}: {c}" for n, c in zip(named, cells, strict=True)]
        else:
            lines.append(f"{k:<{width}}" + "".join(f"{c:>{col}}" for c in cells))
    return "\n".join(lines)
