"""Specification of `mmjax train` -> `mmjax evaluate` wiring (mmjax/runs/train_command.py, mmjax/evaluation/evaluate_command.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from mmjax.env.build import DataConfig
    from mmjax.env.knobs import EnvKnobs
    from mmjax.ppo.config import PPOConfig
    from mmjax.runs.run_dir import TrainCore
    from mmjax.runs.train_command import TrainConfig, train

    root = tmp_path_factory.mktemp("train")
    synth_run(SynthConfig(out=str(root / "market"), hours=0.25, seed=5))
    core = TrainCore(data=DataConfig(data=str(root / "market"), split_gap_steps=100), env=EnvKnobs(episode_steps=100),
                     ppo=PPOConfig(total_timesteps=2 * 8 * 16, num_envs=8, num_steps=16, num_minibatches=2,
                                   update_epochs=1, updates_per_chunk=1, seed=1))
    cfg = TrainConfig(core=core, out=str(root / "run"))
    train(cfg, progress=lambda *_: None)
    return root


def test_train_clones_a_named_teacher_records_it_and_refuses_half_of_the_pair(run_dir, tmp_path):
    """`mmjax train --teacher glft --bc-coef W`: the baseline is tuned on the training split and cloned; the name
    goes in train_config.json (a --resume with another teacher is refused); a name or a weight alone is refused."""
    import dataclasses

    from mmjax.outputs import UserError
    from mmjax.runs.run_dir import load_train_config
    from mmjax.runs.train_command import TrainConfig, config_diff, train

    base = load_train_config(run_dir / "run")
    ppo = dataclasses.replace(base.core.ppo, bc_coef=5.0)
    cfg = dataclasses.replace(base, core=dataclasses.replace(base.core, ppo=ppo), teacher="glft", out=str(tmp_path / "t"))
    said = []
    train(cfg, progress=said.append)
    assert any(line.startswith("teacher glft: tuned on") for line in said)
    kept = load_train_config(tmp_path / "t")
    assert kept.teacher == "glft" and kept.core.ppo.bc_coef == 5.0
    assert any("teacher" in d for d in config_diff(kept, dataclasses.replace(kept, teacher="fixed")))
    with pytest.raises(UserError, match="--teacher 'glft' and --bc-coef 0"):
        TrainConfig(core=base.core, teacher="glft")
    with pytest.raises(UserError, match="--bc-coef 5 go together"):  # a weight, nothing named: before any work
        train(dataclasses.replace(cfg, teacher="", out=str(tmp_path / "w")), progress=lambda *_: None)
    assert not (tmp_path / "w").exists()


def test_train_writes_checkpoint_metrics_curve_norm_and_a_loadable_policy(run_dir):
    from mmjax.features import spec
    from mmjax.policy.numpy_policy import NumpyPolicy

    run = run_dir / "run"
    for name in ("checkpoint.npz", "metrics.jsonl", "train_config.json", "feature_norm.json", "policy.npz"):
        assert any(p.name.startswith(name.split(".")[0]) for p in run.iterdir()), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2]
    assert "mm/pnl" in rows[0]  # the episode PnL, through the EpisodeStats wrapper (null: no episode ended yet)
    norm = json.loads((run / "feature_norm.json").read_text())
    assert len(norm["mean"]) == spec.NUM_MARKET_FEATURES and min(norm["std"]) > 0
    policy = NumpyPolicy.load(run / "policy.npz", expected_spec_hash=spec.spec_hash())
    action = policy.act(np.zeros(spec.NUM_FEATURES, np.float32))
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)


# slow: tests/test_evaluation_command.py covers the evaluate command in the fast suite
@pytest.mark.slow
def test_evaluate_compares_the_trained_policy_on_the_same_episodes(run_dir, tmp_path):
    from mmjax.evaluation.evaluate_command import EvaluateConfig, evaluate

    payload = evaluate(EvaluateConfig(data=str(run_dir / "market"), policy=str(run_dir / "run"), out=str(tmp_path),
                                      episodes=6, tune_episodes=4), progress=lambda *_: None)
    from mmjax.policy.baselines import BASELINES

    assert set(payload["policies"]) == {"ppo", *BASELINES} and "signal_aware" in BASELINES
    assert set(payload["paired"]) == {f"ppo_vs_{b}" for b in BASELINES}
    assert payload["n_seeds"] == 1 and all(p["n_seeds"] == 1 and p["mde80"] >= 0 for p in payload["paired"].values())
    for p in payload["paired"].values():
        lo, hi = p["ci95"]
        assert lo <= p["mean_diff"] <= hi
    assert payload["episode_steps"] == 100  # as in training
