"""Stylized facts of the synthetic market next to real recordings: table, JSON and a multi-panel PNG.

    python benchmarks/stylized_facts.py --synth DIR --real DIR [--real DIR2] --out DIR

Each DIR is an mmjax recording, or a directory holding Tardis CSVs (``incremental_book_L2.csv[.gz]``
and ``trades.csv[.gz]``), which is imported with `mmjax.data.tardis` into a temporary recording.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from mmjax.data import loader
from mmjax.market import command as synth_command
from mmjax.market import facts, stylized


def _label(path: str, used: set[str]) -> str:
    name = Path(path).name or path
    while name in used:
        name += "'"
    used.add(name)
    return name


def plot(named: dict[str, dict], path: Path, sizes: dict[str, np.ndarray]) -> None:
    """Six panels: spread, depth by level, trade-size CCDF, sign ACF, flow/imbalance response, vol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    names = list(named)
    width = 0.8 / len(names)
    for i, (name, f) in enumerate(named.items()):
        b = f["spread"]["buckets"]
        ax[0, 0].bar(np.arange(len(b)) + i * width, list(b.values()), width, label=name)
        ax[0, 0].set_xticks(np.arange(len(b)) + 0.4 - width / 2, list(b.keys()))
        size = np.asarray(f["depth"]["mean_size"])
        ax[0, 1].semilogy(np.arange(len(size)), size / max(size[0], 1e-12), "o-", label=name)
        s = np.sort(sizes[name])
        if len(s):
            ax[0, 2].loglog(s / np.median(s), 1 - np.arange(len(s)) / len(s), label=name)
        lags = [int(k) for k in f["sign_acf"]]
        ax[1, 0].semilogx(lags, list(f["sign_acf"].values()), "o-", label=name)
        fr = f["flow_response"]
        hs = [int(k) for k in fr["flow_predicts"]]
        line = ax[1, 1].semilogx(hs, list(fr["flow_predicts"].values()), "o-", label=f"{name} flow")[0]
        ax[1, 1].semilogx(hs, list(fr["imbalance_predicts"].values()), "s--", color=line.get_color(), label=f"{name} imbalance")
        v = f["volatility"]
        ax[1, 2].bar(np.arange(2) + i * width, [v["ret_std_bps_1s"], v["ret_std_bps_10s"]], width, label=name)
    ax[0, 0].set(title="spread distribution", xlabel="spread, ticks", ylabel="fraction of rows", yscale="log")
    ax[0, 1].set(title="mean depth by level (relative to the touch)", xlabel="level", ylabel="size / touch size")
    ax[0, 2].set(title="trade size CCDF", xlabel="size / median size", ylabel="P(size > x)")
    ax[1, 0].set(title="trade-sign autocorrelation", xlabel="lag, trades", ylabel="ACF")
    ax[1, 1].set(title="corr(signal at t, mid(t+h) - mid(t))", xlabel="h, rows", ylabel="correlation")
    ax[1, 2].set(title="mid return volatility", ylabel="std, bps")
    ax[1, 2].set_xticks(np.arange(2) + 0.4 - width / 2, ["1 s", "10 s"])
    for a in ax.ravel():
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle("stylized facts: " + " vs ".join(names))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clean(x):
    """JSON cannot hold NaN: write null."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--synth", required=True, help="synthetic recording directory (mmjax synth --out)")
    p.add_argument("--real", action="append", required=True, help="real recording or Tardis CSV directory; repeatable")
    p.add_argument("--out", required=True, help="output directory for stylized_facts.json and stylized_facts.png")
    p.add_argument("--fills", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure the fixed quoter's fills per hour at 0, 1, 3 ticks and 1 bp behind the touch (4 backtests per recording)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    named: dict[str, dict] = {}
    sizes: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in [args.synth, *args.real]:
            name = "synth" if path == args.synth else _label(path, used | {"synth"})
            try:
                raw, rec_dir = synth_command.load_any(path, Path(tmp))
            except (FileNotFoundError, loader.RecordingError) as e:
                raise SystemExit(str(e)) from None
            named[name] = stylized.compute(raw)
            # the facts that decide a maker's PnL (markouts, queue, mid-move tails, fills per hour by backtest)
            named[name]["pnl_facts"] = synth_command.all_facts(raw, rec_dir) if args.fills else facts.recording_facts(raw)
            named[name]["source"] = raw.meta.source
            sizes[name] = raw.trade_sz
    print(stylized.format_table(named))
    (out / "stylized_facts.json").write_text(json.dumps(_clean(named), indent=1))
    plot(named, out / "stylized_facts.png", sizes)
    print(f"wrote {out / 'stylized_facts.json'} and {out / 'stylized_facts.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
