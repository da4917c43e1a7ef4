"""What `mmjax backtest --grid` writes: OUT/grid.parquet, a heatmap per pair of swept axes, the best configurations.

The best configurations of a quoter rank by PnL among those that trade (at least one fill; a quoter
that never fills "wins" with PnL 0 and says nothing), and flag each swept axis whose best value sits
at the edge of its grid: the optimum may lie beyond it, so the grid should widen there.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mmjax.evaluation.grid import ENV_AXES
from mmjax.evaluation.grid_quoters import QUOTERS
from mmjax.outputs import write_json

TOP = 5  # best configurations kept per quoter


def swept_axes(rows: list[dict], quoter: str) -> list[str]:
    """The axes of ``quoter`` that take more than one value in ``rows``."""
    own = [r for r in rows if r["quoter"] == quoter]
    axes = [*QUOTERS[quoter].axes, *ENV_AXES]
    return [a for a in axes if len({r.get(a) for r in own if r.get(a) == r.get(a)}) > 1]  # NaN != NaN: unused


def best_configs(rows: list[dict], top: int = TOP) -> dict[str, list[dict]]:
    """quoter -> its ``top`` configurations by PnL (then lower mean |position|), each with ``at_grid_edge`` axes."""
    out = {}
    for q in dict.fromkeys(r["quoter"] for r in rows):
        own = [r for r in rows if r["quoter"] == q]
        trading = [r for r in own if r["fills"] >= 1] or own
        ranked = sorted(trading, key=lambda r: (-r["pnl"], r["mean_abs_position"]))[:top]
        axes = swept_axes(rows, q)
        span = {a: (min(r[a] for r in own), max(r[a] for r in own)) for a in axes}
        out[q] = [{**r, "at_grid_edge": [a for a in axes if r[a] in span[a]]} for r in ranked]
    return out


def write_parquet(rows: list[dict], path: Path) -> None:
    """One row per configuration; an axis a quoter does not have is null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(dict.fromkeys(k for r in rows for k in r))
    data = {c: [None if (v := r.get(c)) is None or (isinstance(v, float) and v != v) else v for r in rows] for c in cols}
    pq.write_table(pa.table(data), path)


def plot_heatmaps(rows: list[dict], out: Path) -> list[Path]:
    """OUT/heatmap_<quoter>.png: per pair of swept axes, mean PnL and mean |position| over the other axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for q in dict.fromkeys(r["quoter"] for r in rows):
        own = [r for r in rows if r["quoter"] == q]
        axes = swept_axes(rows, q)
        pairs = list(itertools.combinations(axes, 2)) or [(a, None) for a in axes]
        if not pairs:
            continue
        fig, grid = plt.subplots(len(pairs), 2, figsize=(10, 3.6 * len(pairs)), squeeze=False)
        for (x, y), ax_row in zip(pairs, grid, strict=True):
            xs = sorted({r[x] for r in own})
            ys = sorted({r[y] for r in own}) if y else [None]
            for metric, ax in zip(("pnl", "mean_abs_position"), ax_row, strict=True):
                m = np.full((len(ys), len(xs)), np.nan)
                for i, yv in enumerate(ys):
                    for j, xv in enumerate(xs):
                        v = [r[metric] for r in own if r[x] == xv and (y is None or r[y] == yv)]
                        m[i, j] = np.mean(v) if v else np.nan
                if y is None:
                    ax.plot(xs, m[0], marker="o")
                    ax.set_ylabel(metric)
                else:
                    im = ax.imshow(m, origin="lower", aspect="auto", cmap="RdYlGn" if metric == "pnl" else "viridis")
                    ax.set_yticks(range(len(ys)), [f"{v:.4g}" for v in ys], fontsize=7)
                    ax.set_xticks(range(len(xs)), [f"{v:.4g}" for v in xs], fontsize=7, rotation=90)
                    ax.set_ylabel(y)
                    fig.colorbar(im, ax=ax)
                ax.set_xlabel(x)
                ax.set_title(f"{q}: {'PnL' if metric == 'pnl' else 'MAP (mean |position|)'}"
                             + (" (mean over other axes)" if len(axes) > 2 else ""), fontsize=9)
        fig.tight_layout()
        path = out / f"heatmap_{q}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def summary(best: dict[str, list[dict]]) -> str:
    """The best configuration of each quoter, one line each."""
    lines = []
    for q, top in best.items():
        if not top:
            continue
        r = top[0]
        axes = ", ".join(f"{a} {r[a]:.6g}" for a in (*QUOTERS[q].axes, *ENV_AXES) if r.get(a) == r.get(a))
        edge = f"  AT GRID EDGE: {', '.join(r['at_grid_edge'])}" if r["at_grid_edge"] else ""
        lines.append(f"best {q}: pnl {r['pnl']:.6g}  MAP {r['mean_abs_position']:.6g}  fills {r['fills']}  "
                     f"max drawdown {r['max_drawdown']:.6g}  ({axes}){edge}")
    return "\n".join(lines)


def write_all(rows: list[dict], out: Path, meta: dict) -> dict[str, Path]:
    """grid.parquet, best.json (with ``meta``) and the heatmaps under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(rows, out / "grid.parquet")
    best = best_configs(rows)
    write_json(out / "best.json", {**meta, "best": best})  # strict: an axis a quoter lacks is null, not NaN
    return {"parquet": out / "grid.parquet", "best": out / "best.json",
            **{p.stem: p for p in plot_heatmaps(rows, out)}}
