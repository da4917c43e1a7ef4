"""`mmjax features`: per-feature statistics of a recording, and how often each sits at its clip.

The normalization is fitted on the training split only (as in training), then applied to every
row; ``frac_at_clip`` is the fraction of rows whose z-score reaches the clip. More than 5 % means
the feature is badly scaled (a bug), and the table marks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmjax.features.spec import (
    MARKET_FEATURES,
    Z_CLIP,
    FeatureConfig,
    fit_mask,
    fit_stats,
    spec_hash,
)
from mmjax.outputs import check_range, refuse_existing, write_output_json

MAX_FRAC_AT_CLIP = 0.05


@dataclass
class FeaturesConfig:
    """Compute the market features of a recording; write per-feature statistics as JSON and print a table."""

    data: str = field(metadata={"help": "recording directory (holds book/ and trades/)"})
    json: str = field(metadata={"help": "output JSON path"})
    product: str | None = field(default=None, metadata={"help": "product partition; required if several"})
    train_frac: float = field(
        default=0.7, metadata={"help": "leading fraction of rows the normalization is fitted on (the training split)"})
    gap_steps: int = field(
        default=3000, metadata={"help": "embargo rows between splits (shrunk to a tenth of the rows on short recordings)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing --json file; else an error"})


def feature_stats(values: np.ndarray, train: tuple[int, int], after_gap: np.ndarray | None = None,
                  clip: float = Z_CLIP) -> list[dict]:
    """[T, F_M] raw features -> per feature {name, mean, std, min, max, frac_at_clip, fit_rows}.

    The norm is fitted on the train rows as training fits it: with ``after_gap`` [T], on the rows where
    the feature's windows have filled (`spec.fit_mask`; fit_rows 0: the fixed scale of its raw clips).
    """
    v = np.asarray(values, np.float64)
    lo, hi = train
    mask = fit_mask(after_gap, lo, hi) if after_gap is not None else np.ones((hi - lo, v.shape[1]), bool)
    norm = fit_stats(v[lo:hi], mask)
    z = np.clip((v - norm.mean) / norm.std, -clip, clip)
    at_clip = (np.abs(z) >= clip).mean(axis=0)
    return [
        {"name": name, "mean": float(v[:, j].mean()), "std": float(v[:, j].std()), "min": float(v[:, j].min()),
         "max": float(v[:, j].max()), "frac_at_clip": float(at_clip[j]), "fit_rows": int(mask[:, j].sum())}
        for j, name in enumerate(MARKET_FEATURES)
    ]


def format_table(stats: list[dict]) -> str:
    """Fixed-width table of `feature_stats` rows; rows over the clip limit are marked."""
    head = f"{'feature':<22}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}{'at clip':>9}{'fit rows':>10}"
    lines = [head, "-" * len(head)]
    for s in stats:
        flag = "  <-- over 5 %" if s["frac_at_clip"] > MAX_FRAC_AT_CLIP else ""
        lines.append(f"{s['name']:<22}{s['mean']:>10.4g}{s['std']:>10.4g}{s['min']:>10.4g}{s['max']:>10.4g}"
                     f"{s['frac_at_clip']:>8.2%}{s['fit_rows']:>10,}{flag}")
    return "\n".join(lines)


def run(cfg: FeaturesConfig) -> int:
    """CLI entry point: load, compute features, fit the norm on the training split, report."""
    from mmjax.data.loader import load_market
    from mmjax.data.splits import chronological_splits
    from mmjax.features.batch import compute_market_features

    check_range("FeaturesConfig", "train_frac", cfg.train_frac, 0, 1, lo_open=True, hi_open=True)
    refuse_existing(cfg.json, cfg.overwrite, "a features report")  # before the work, not after it
    md, raw = load_market(cfg.data, cfg.product)
    feats = compute_market_features(md, FeatureConfig())
    T = md.num_steps
    rest = (1 - cfg.train_frac) / 2
    gap = min(cfg.gap_steps, T // 10)
    try:
        split = chronological_splits(T, (cfg.train_frac, rest, 1 - cfg.train_frac - rest), gap)["train"]
        train = (split.start, split.stop)
    except ValueError:
        train = (0, max(1, int(T * cfg.train_frac)))
    stats = feature_stats(np.asarray(feats.values), train, np.asarray(md.after_gap))
    sigma = np.asarray(feats.sigma, np.float64)
    out = {
        "data": str(cfg.data),
        "product": raw.meta.product,
        "tick_size": raw.meta.tick_size,
        "size_unit": raw.meta.size_unit,
        "rows": T,
        "train_rows": list(train),
        "spec_hash": spec_hash(FeatureConfig()),
        "z_clip": Z_CLIP,
        "sigma_ticks_per_sqrt_s": {"median": float(np.median(sigma)), "p95": float(np.percentile(sigma, 95))},
        "features": stats,
    }
    write_output_json(cfg.json, out, cfg.overwrite, "a features report")
    print(f"{raw.meta.product} (tick {raw.meta.tick_size:g}, sizes in {raw.meta.size_unit}): {T:,} rows; "
          f"norm fitted on rows [{train[0]}, {train[1]}); spec {out['spec_hash'][:12]}")
    print(format_table(stats))
    print(f"sigma (ticks/sqrt s): median {out['sigma_ticks_per_sqrt_s']['median']:.4g}, "
          f"p95 {out['sigma_ticks_per_sqrt_s']['p95']:.4g}")
    print(f"wrote {cfg.json}")
    return 0
