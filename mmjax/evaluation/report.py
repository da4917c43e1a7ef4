"""Evaluation outputs: report.md tables, metrics.json and PNG plots (no jax)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmjax import outputs
from mmjax.evaluation.metrics import Traces

LABELS = {"ppo": "PPO", "fixed": "Fixed (TWAP)", "avellaneda_stoikov": "Avellaneda-Stoikov", "glft": "GLFT",
          "signal_aware": "Signal-aware A-S", "queue_aware": "Queue-aware", "abstain": "Abstain"}

COLUMNS = [
    ("mean_pnl", "mean PnL $", "{:.2f}"),
    ("pnl_ci95", "95% CI", "[{:.2f}, {:.2f}]"),
    ("median_pnl", "median $", "{:.2f}"),
    ("std_pnl", "std $", "{:.2f}"),
    ("sharpe", "Sharpe/ep", "{:.3f}"),
    ("map", "MAP", "{:.4f}"),
    ("pnl_to_map", "PnL/MAP", "{:.1f}"),
    ("fill_rate", "fill rate", "{:.4f}"),
    ("fills", "fills", "{:d}"),
    ("rejected_post_only", "post-only rejected", "{:d}"),
    ("fills_behind_queue", "fills: queue", "{:d}"),
    ("fills_traded_through", "fills: through", "{:d}"),
    ("fills_crossed", "fills: crossed", "{:d}"),
    ("quotes_beyond_depth", "beyond depth", "{:.1%}"),
    ("spread_captured_bps", "captured bps", "{:.3f}"),
    ("markout_1s", "markout 1s bps", "{:.3f}"),
    ("markout_10s", "markout 10s bps", "{:.3f}"),
    ("max_drawdown", "max DD $", "{:.2f}"),
    ("fees", "fees $", "{:.2f}"),
]


def _fmt(fmt: str, v) -> str:
    if isinstance(v, list):
        return fmt.format(*v)
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def policy_table(policies: dict[str, dict]) -> str:
    """Markdown table, one row per policy."""
    head = "| policy | " + " | ".join(c[1] for c in COLUMNS) + " |"
    sep = "|---|" + "---:|" * len(COLUMNS)
    rows = [f"| {LABELS.get(n, n)} | " + " | ".join(_fmt(f, m[k]) for k, _, f in COLUMNS) + " |" for n, m in policies.items()]
    return "\n".join([head, sep, *rows])


def paired_table(paired: dict[str, dict]) -> str:
    lines = ["| comparison | mean diff $ | paired 95% CI | CI excludes 0 | smallest detectable $ | seeds x episodes |",
             "|---|---:|---:|:---:|---:|---:|"]
    for name, p in paired.items():
        lines.append(f"| {name} | {p['mean_diff']:.2f} | [{p['ci95'][0]:.2f}, {p['ci95'][1]:.2f}] | "
                     f"{'yes' if p['excludes_zero'] else 'no'} | {p.get('mde80', float('nan')):.2f} | "
                     f"{p.get('n_seeds', 1)} x {p.get('n_episodes', '?')} |")
    return "\n".join(lines)


ATTRIBUTION = [("spread_usd", "spread captured"), ("adverse_1s_usd", "adverse 1 s"), ("adverse_10s_usd", "adverse 10 s"),
               ("carry_usd", "inventory carry"), ("fees_usd", "fees paid"), ("pnl_usd", "PnL")]


def attribution_table(policies: dict[str, dict]) -> str:
    """PnL attribution per policy, $ per episode: spread + adverse 10 s + carry - fees = PnL."""
    lines = ["| policy | " + " | ".join(label for _, label in ATTRIBUTION) + " |", "|---|" + "---:|" * len(ATTRIBUTION)]
    for n, m in policies.items():
        a = m["attribution"]
        lines.append(f"| {LABELS.get(n, n)} | " + " | ".join(f"{a[k]:.3f}" for k, _ in ATTRIBUTION) + " |")
    return "\n".join(lines)


def console_table(policies: dict[str, dict]) -> str:
    """Compact fixed-width table for the terminal."""
    cols = [("mean_pnl", "mean$", "{:>9.2f}"), ("pnl_ci95", "95% CI", "[{:>8.2f},{:>8.2f}]"), ("sharpe", "sharpe", "{:>7.3f}"),
            ("map", "MAP", "{:>8.4f}"), ("pnl_to_map", "PnL/MAP", "{:>9.1f}"), ("fill_rate", "fillrate", "{:>8.4f}"),
            ("markout_1s", "mko1s", "{:>7.3f}"), ("fees", "fees$", "{:>8.2f}")]
    out = [f"{'policy':<20}" + " ".join(f"{c[1]:>9}" for c in cols)]
    for n, m in policies.items():
        out.append(f"{LABELS.get(n, n):<20}" + " ".join(_fmt(f, m[k]) for k, _, f in cols))
    return "\n".join(out)


def write_json(path: Path, payload: dict) -> None:
    """metrics.json: strict JSON (null for a NaN), written atomically."""
    outputs.write_json(path, payload)


def plot_all(out_dir: Path, traces: dict[str, Traces], markout_curves: dict[str, tuple[list, list]] | None = None) -> list[Path]:
    """PnL distributions, sample equity curves, inventory distributions, quote skew, markout curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    names = list(traces)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    finals = [traces[n].pnl[:, -1] for n in names]
    ax.boxplot(finals, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), [LABELS.get(n, n) for n in names])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("episode PnL ($)")
    ax.set_title("Episode PnL by policy (same out-of-sample episodes)")
    paths.append(_save(fig, out_dir / "pnl_distribution.png"))

    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), sharey=True, squeeze=False)
    for ax, n in zip(axes[0], names, strict=True):
        for e in range(min(8, traces[n].pnl.shape[0])):
            ax.plot(traces[n].pnl[e], lw=0.8)
        ax.set_title(LABELS.get(n, n))
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("PnL ($)")
    fig.suptitle("Equity curves of sample episodes")
    paths.append(_save(fig, out_dir / "equity_curves.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n in names:
        ax.hist(traces[n].inventory.ravel(), bins=60, histtype="step", density=True, label=LABELS.get(n, n))
    ax.set_xlabel("inventory")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title("Inventory distribution")
    paths.append(_save(fig, out_dir / "inventory_distribution.png"))

    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), sharey=True, squeeze=False)
    for ax, n in zip(axes[0], names, strict=True):
        tr = traces[n]
        if tr.bid_offset_bps is None:
            continue
        q = tr.inventory[:, :-1].ravel()
        for offs, label in ((tr.bid_offset_bps[:, 1:], "bid"), (tr.ask_offset_bps[:, 1:], "ask")):
            o = offs.ravel()
            ok = np.isfinite(o)
            lo, hi = (q[ok].min(), q[ok].max()) if ok.any() else (0.0, 1.0)
            bins = np.linspace(lo, hi, 12) if hi > lo else np.array([lo - 1e-9, hi + 1e-9])
            idx = np.clip(np.digitize(q[ok], bins) - 1, 0, len(bins) - 2)
            # median offset per inventory bin; bins with few samples are left out
            med = [np.median(o[ok][idx == i]) if (idx == i).sum() >= 20 else np.nan for i in range(len(bins) - 1)]
            ax.plot((bins[1:] + bins[:-1]) / 2, med, marker="o", ms=3, label=label)
        ax.set_title(LABELS.get(n, n))
        ax.set_xlabel("inventory")
        ax.legend()
    axes[0, 0].set_ylabel("quote offset from mid (bps)")
    fig.suptitle("Quote offsets against inventory (skew like an A-S reservation price?)")
    paths.append(_save(fig, out_dir / "quote_skew.png"))

    from mmjax.evaluation.metrics import pnl_attribution

    parts = [("spread_usd", 1.0, "spread captured"), ("adverse_10s_usd", 1.0, "adverse selection (10 s)"),
             ("carry_usd", 1.0, "inventory carry"), ("fees_usd", -1.0, "fees (- paid, + rebate)")]
    attr = {n: pnl_attribution(traces[n]) for n in names}
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(names)), 4.5))
    width = 0.8 / len(parts)
    for i, (key, sign, label) in enumerate(parts):
        ax.bar(np.arange(len(names)) + (i - (len(parts) - 1) / 2) * width, [sign * attr[n][key] for n in names],
               width, label=label)
    ax.scatter(np.arange(len(names)), [attr[n]["pnl_usd"] for n in names], color="black", marker="D", zorder=3,
               label="mean PnL (= sum of the bars)")
    ax.set_xticks(range(len(names)), [LABELS.get(n, n) for n in names])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("$ per episode")
    ax.set_title("Where the PnL comes from", pad=28)
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    paths.append(_save(fig, out_dir / "pnl_attribution.png"))

    if markout_curves:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for n, (h, v) in markout_curves.items():
            ax.plot(h, v, marker="o", label=LABELS.get(n, n))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlabel("horizon after fill (s)")
        ax.set_ylabel("markout (bps, size-weighted)")
        ax.legend()
        ax.set_title("Markout curves (adverse selection)")
        paths.append(_save(fig, out_dir / "markouts.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
