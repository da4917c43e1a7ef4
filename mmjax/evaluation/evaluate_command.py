"""`mmjax evaluate`: the trained policy against tuned baselines on the same out-of-sample episodes.

Windows: by default episodes come from the test split, which lies after the training split with an
embargo gap between them; the baselines are calibrated (fill intensity) and tuned (grid search of
their free parameter) on the training split. With ``--split all`` (a recording never used for
training) the first ``--calibration-fraction`` of it calibrates and tunes the baselines and the
episodes come from the rest. The report states which rows served which purpose.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax import outputs
from mmjax.data.market import identity
from mmjax.data.splits import Split
from mmjax.env import build
from mmjax.env.state import EnvParams
from mmjax.evaluation import harness as H
from mmjax.evaluation import metrics as M
from mmjax.evaluation import report as R
from mmjax.evaluation.configs import EvaluateConfig
from mmjax.evaluation.tuning import tune_baseline
from mmjax.features.batch import fit_norm
from mmjax.features.spec import FeatureNorm
from mmjax.outputs import UserError
from mmjax.policy import baselines as bl
from mmjax.runs import run_dir

# the name of each baseline's tuned parameter in metrics.json and report.md (the closed forms: gamma)
TUNED_PARAM = {"fixed": "ticks_behind_touch", "queue_aware": "run_over_threshold"}


def _windows(cfg: EvaluateConfig, market: build.Market) -> tuple[Split, Split]:
    if cfg.split == "test":
        return market.splits["train"], market.splits["test"]
    T = market.md.num_steps
    cut = int(T * cfg.calibration_fraction)
    return Split("calibration", 0, cut), Split("evaluation", cut, T)


def evaluate(cfg: EvaluateConfig, progress=print) -> dict:
    """Run the evaluation and write the report; returns the metrics.json payload."""
    if not cfg.data:
        raise UserError("evaluate: --data DIR is required")
    outputs.refuse_existing(cfg.out, cfg.overwrite, "a report")  # before the tuning, not after it
    runs = run_dir.find_runs(cfg.policy) if cfg.policy else []
    for run in runs:  # a truncated checkpoint is named now, not after the baselines are tuned
        outputs.read_npz(run / run_dir.CHECKPOINT, "checkpoint")
    with outputs.staged_dir(cfg.out, cfg.overwrite, "a report") as stage:  # all of the report, or nothing
        return _evaluate(cfg, progress, runs, stage)


def _evaluate(cfg: EvaluateConfig, progress, runs: list[Path], out: Path) -> dict:
    """`evaluate`, writing the report into ``out`` (the staging directory of ``cfg.out``)."""
    t_start = time.perf_counter()
    if runs:
        core = run_dir.load_train_config(runs[0]).core
        dcfg, mcfg = dataclasses.replace(core.data, data=cfg.data), core.env
        norm = build.load_norm(runs[0] / run_dir.FEATURE_NORM)  # the normalization travels with the model
    else:
        dcfg, mcfg, norm = build.DataConfig(data=cfg.data), build.EnvKnobs(), None
    mcfg = cfg.env.over(mcfg)
    market = build.load(dcfg, mcfg, norm=norm)
    if cfg.split == "all" and norm is None:
        # baselines only: the feature normalization comes from the calibration window, as everything else does
        calib = _windows(cfg, market)[0]
        fitted = fit_norm(market.features.values, calib.start, calib.stop, market.md.after_gap)
        market.norm = FeatureNorm(mean=np.asarray(fitted.mean, np.float32), std=np.asarray(fitted.std, np.float32))
    tune_win, eval_win = _windows(cfg, market)
    ident = identity(market.md, market.raw.meta)
    env = build.make_env()
    p_eval = market.env_params(eval_win)
    # baselines may quote wider than the agent's action range; same episodes, fills, fees and latency
    base_offset = max(cfg.baseline_max_offset_bps, mcfg.max_offset_bps)
    p_tune = market.env_params(tune_win, max_offset_bps=base_offset)
    p_eval_base = p_eval.replace(max_offset_bps=jnp.float32(base_offset))
    E, L = mcfg.episode_steps, mcfg.latency_steps
    stg = np.asarray(market.md.steps_to_gap)
    starts = H.non_overlapping_starts(stg, eval_win.start, eval_win.stop, E, L, cfg.episodes)
    tune_starts = H.non_overlapping_starts(stg, tune_win.start, tune_win.stop, E, L, cfg.tune_episodes)
    for what, win, found in (("evaluation", eval_win, starts), ("tuning", tune_win, tune_starts)):
        if len(found) == 0:
            raise UserError(f"evaluate: no gap-free episode of {E}+{L}+1 rows fits in the {what} window, rows "
                             f"[{win.start}, {win.stop}) of {cfg.data}; use --episode-steps to shorten them")
    if len(starts) < cfg.episodes:
        progress(f"warning: only {len(starts)} non-overlapping episodes of {E} steps fit in rows "
                 f"[{eval_win.start}, {eval_win.stop}); use --episode-steps to shorten them")
    progress(f"{describe(ident)}")
    progress(f"evaluation window rows [{eval_win.start}, {eval_win.stop}) ({len(starts)} episodes of {E} steps); "
             f"baselines calibrated and tuned on rows [{tune_win.start}, {tune_win.stop}) ({len(tune_starts)} episodes); "
             f"maker fee {mcfg.maker_fee_bps} bps")

    # CALIBRATE AND TUNE THE BASELINES (tuning window only)
    calib = H.calibrate(p_tune, tune_win.start, tune_win.stop)
    progress(f"fill intensity on the tuning window: A = {calib.A_per_s:.3f} /s, k = {calib.k_per_tick:.5f} /tick (R^2 {calib.r2:.2f})")
    progress(f"signal-aware forecast of the 1 s mid move fitted on the tuning window: in-sample R^2 {calib.forecast_r2:.3f}")
    policies: dict[str, H.Policy] = {}
    params_of: dict[str, EnvParams] = {}  # each policy's env params: the baselines run at their tuned margin
    tuning = {}
    # the baselines choose their own hysteresis (none, or the agent's), so the agent's margin cannot handicap them
    margins = sorted({0.0, float(mcfg.requote_margin)})
    for name in bl.BASELINES:
        policies[name], params_of[name] = H.baseline_policy(name, jnp.float32(0.0), calib), p_eval_base
        if name == "abstain":
            continue  # nothing to tune: the zero line
        best, margin, table = tune_baseline(env, p_tune, tune_starts, name, calib, margins=margins)
        values = sorted({r["value"] for r in table})
        edge = bool(table) and best in (values[0], values[-1])
        tuning[name] = {"param": TUNED_PARAM.get(name, "gamma_per_tick_per_lot"), "value": best,
                        "requote_margin": margin, "at_grid_edge": edge, "grid": table}
        policies[name] = H.baseline_policy(name, jnp.float32(best), calib)
        params_of[name] = p_eval_base.replace(requote_margin=jnp.float32(margin))
        progress(f"tuned {name}: {tuning[name]['param']} = {best:.4g}" + ("  (at the grid's edge)" if edge else "")
                 + (f", requote margin {margin:g}" if len(margins) > 1 else ""))
    ppo_names = []
    for k, run in enumerate(runs):
        name = "ppo" if k == 0 else f"ppo_seed{k}"
        policies[name], params_of[name] = H.ppo_policy(run, env, p_eval), p_eval
        ppo_names.append(name)
    order = ppo_names + list(bl.BASELINES)

    # ROLL OUT EVERY POLICY ON THE SAME EPISODES, AT THE FEE IN FORCE AND AT THE RETAIL FEE
    starts_j = jnp.asarray(starts)
    results, traces, markouts, retail = {}, {}, {}, {}
    for name in order:
        p_run = params_of[name]
        run_fn = jax.jit(lambda p, pol=policies[name]: H.rollout(env, p, starts_j, pol))
        raw = run_fn(p_run)
        tr = H.to_traces(raw, p_run)
        traces[name], results[name] = tr, M.policy_metrics(tr, seed=cfg.seed)
        markouts[name] = H.markout_curve(tr, raw, p_run)
        raw_r = run_fn(p_run.replace(maker_fee_bps=jnp.float32(cfg.retail_fee_bps)))
        retail[name] = M.policy_metrics(H.to_traces(raw_r, p_run), seed=cfg.seed)
        progress(f"evaluated {name}: mean PnL {results[name]['mean_pnl']:.3f} $")

    paired = {}
    if runs:  # every seed against every baseline on the same episodes, pooled over seeds and episodes
        ppo_final = np.stack([traces[n].pnl[:, -1] for n in ppo_names])  # [K, E]
        for name in bl.BASELINES:
            paired[f"ppo_vs_{name}"] = M.pooled_paired_difference(ppo_final, traces[name].pnl[:, -1], seed=cfg.seed)
    seeds = None
    if len(ppo_names) > 1:
        means = np.array([results[n]["mean_pnl"] for n in ppo_names])
        seeds = {"names": ppo_names, "mean_pnl": means.tolist(), "across_seeds_mean": float(means.mean()),
                 "across_seeds_std": float(means.std(ddof=1))}

    payload = {
        "n_episodes": int(len(starts)), "n_seeds": len(ppo_names), "episode_steps": int(E), "latency_steps": int(L),
        "maker_fee_bps": float(mcfg.maker_fee_bps), "market_preset": cfg.market_preset or None,
        "retail_fee_bps": float(cfg.retail_fee_bps), "data": cfg.data, "split": cfg.split, "policy": cfg.policy, "market": ident,
        "windows": {"evaluation_rows": [eval_win.start, eval_win.stop], "tuning_rows": [tune_win.start, tune_win.stop],
                    "tuning_episodes": int(len(tune_starts)), "episode_starts": starts.tolist()},
        "calibration": dataclasses.asdict(calib), "tuning": tuning,
        "policies": results, "paired": paired, "retail_fee_policies": retail, "seeds": seeds,
        "policy_max_offset_bps": float(mcfg.max_offset_bps), "baseline_max_offset_bps": float(base_offset),
        "quote_size": float(mcfg.quote_size), "max_inventory": float(mcfg.max_inventory),
        "risk_aversion": float(mcfg.risk_aversion), "seconds": time.perf_counter() - t_start,
    }
    payload["notes"] = [f"{n} made {results[n]['fills'] / max(len(starts), 1):.2f} fills per episode: a PnL near 0 here "
                        "means it abstained from quoting near the touch, not that it made markets profitably"
                        for n in order if results[n]["fills"] < len(starts)]
    R.write_json(out / "metrics.json", payload)
    pngs = R.plot_all(out, traces, markouts)
    (out / "report.md").write_text(_report_md(payload, pngs))
    progress("")
    progress(f"maker fee {mcfg.maker_fee_bps} bps, {len(starts)} episodes of {E} steps ({E * market.md.dt_s:.0f} s)")
    progress(R.console_table(results))
    if paired:
        progress("")
        for k, v in paired.items():
            progress(f"{k:<28} mean diff {v['mean_diff']:>9.3f} $  paired 95% CI [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
                     f"  detectable >= {v['mde80']:.3f} $ ({v['n_seeds']} seed(s) x {v['n_episodes']} episodes)"
                     f"{'  (excludes 0)' if v['excludes_zero'] else ''}")
    progress("")
    progress(f"at the retail maker fee of {cfg.retail_fee_bps} bps:")
    progress(R.console_table(retail))
    for note in payload["notes"]:
        progress(f"note: {note}")
    final = Path(cfg.out)
    progress(f"\nreport: {final / 'report.md'}  metrics: {final / 'metrics.json'}  plots: {', '.join(p.name for p in pngs)}")
    return payload


def _report_md(p: dict, pngs: list[Path]) -> str:
    w = p["windows"]
    lines = [
        "# mmjax evaluation report", "",
        f"- data: `{p['data']}` ({p['split']}); policy: `{p['policy'] or '(none: baselines only)'}`",
        f"- market: {describe(p['market'])}",
        f"- evaluation rows [{w['evaluation_rows'][0]}, {w['evaluation_rows'][1]}): {p['n_episodes']} non-overlapping "
        f"episodes of {p['episode_steps']} steps, latency {p['latency_steps']} step(s)",
        f"- baselines calibrated and tuned on rows [{w['tuning_rows'][0]}, {w['tuning_rows'][1]}) only "
        f"({w['tuning_episodes']} episodes); "
        f"quote range: policy 0-{p['policy_max_offset_bps']:g} bps, baselines 0-{p['baseline_max_offset_bps']:g} bps",
        f"- quote size {p['quote_size']}, inventory limit {p['max_inventory']} ({p['market']['size_unit']}), "
        f"reward risk aversion {p['risk_aversion']}",
        f"- fill intensity fit: A = {p['calibration']['A_per_s']:.4g} /s, k = {p['calibration']['k_per_tick']:.4g} /tick "
        f"(R^2 {p['calibration']['r2']:.2f})",
        "- tuned baseline parameters (grid search on the tuning window, mean PnL among values that trade): "
        + ", ".join(f"{n} {t['param']} = {t['value']:.4g}{' (at the grid edge)' if t.get('at_grid_edge') else ''}"
                    f" (requote margin {t.get('requote_margin', 0.0):g})"
                    for n, t in p["tuning"].items()), "",
        f"## Results at the maker fee in force: {p['maker_fee_bps']} bps", "",
        R.policy_table(p["policies"]), "",
        "PnL in $ per episode, marked to mid, net of fees. Sharpe = mean / std of episode PnL (per episode, not annualized). "
        "MAP = mean absolute position. Markouts: size-weighted value of fills h seconds later, in bps (negative = adverse selection).", "",
    ]
    lines += [f"> Note: {n}." for n in p["notes"]] + ([""] if p["notes"] else [])
    lines += ["## PnL attribution ($ per episode)", "", R.attribution_table(p["policies"]), "",
              "Spread: fill price against the mid when its interval began. Adverse h: the mid's move over h after "
              "the fill, signed by the fill (negative = adverse selection). Carry: the rest (inventory held longer "
              "than 10 s). Spread + adverse 10 s + carry - fees = PnL.", ""]
    if p["paired"]:
        lines += ["## Paired comparison (same episodes, pooled over training seeds)", "", R.paired_table(p["paired"]), "",
                  "Smallest detectable: the difference this design finds with 80 % power at 5 % (2.8 bootstrap SE).", ""]
    if p["seeds"]:
        s = p["seeds"]
        lines += ["## Training seeds", "", "| seed run | mean PnL $ |", "|---|---:|"]
        lines += [f"| {n} | {v:.3f} |" for n, v in zip(s["names"], s["mean_pnl"], strict=True)]
        lines += ["", f"Across seeds: mean {s['across_seeds_mean']:.3f}, std {s['across_seeds_std']:.3f}. "
                  "`ppo` (the first seed) is the one compared above.", ""]
    lines += [f"## Results at a retail maker fee: {p['retail_fee_bps']} bps", "", R.policy_table(p["retail_fee_policies"]), "",
              "A one-tick BTC spread is about 0.002 bps of the price: at a retail maker fee no quoter can earn it.", "",
              "## Plots", ""]
    lines += [f"![{png.stem}]({png.name})" for png in pngs]
    return "\n".join(lines) + "\n"


def describe(ident: dict) -> str:
    """One line naming the product, tick, lot, size unit and contract (`mmjax.data.market.identity`)."""
    contract = (f"inverse, {ident['contract_value']:g} $ per contract: PnL settles in the base coin, reported in $ at the mid"
                if ident["contract_type"] == "inverse" else "linear")
    return (f"{ident['product']}, tick {ident['tick_size']:g} $, lot {ident['lot_size']:g}, sizes in "
            f"{ident['size_unit']}, contract {contract}")


def run(cfg: EvaluateConfig) -> int:
    from mmjax.ppo.watchdog import watching

    with watching(cfg.out, "evaluate", "evaluation does not resume: rerun the same command") as wd:
        evaluate(cfg, progress=wd.wrap(print))
    return 0
