"""Specification of `mmjax train` -> `mmjax evaluate` wiring (mmjax/training.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmjax.data.synth import SynthConfig
from mmjax.data.synth import run as synth_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from mmjax.training import TrainConfig, train

    root = tmp_path_factory.mktemp("train")
    synth_run(SynthConfig(out=str(root / "market"), hours=0.25, seed=5))
    cfg = TrainConfig(data=str(root / "market"), out=str(root / "run"), episode_steps=100, split_gap_steps=100,
                      total_timesteps=2 * 8 * 16, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=1,
                      updates_per_chunk=1, seed=1)
    train(cfg, progress=lambda *_: None)
    return root


def test_train_writes_checkpoint_metrics_curve_norm_and_a_loadable_policy(run_dir):
    from mmjax.features import spec
    from mmjax.policy_np import NumpyPolicy

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


def test_evaluate_compares_the_trained_policy_on_the_same_episodes(run_dir, tmp_path):
    from mmjax.evaluate import EvaluateConfig, evaluate

    payload = evaluate(EvaluateConfig(data=str(run_dir / "market"), policy=str(run_dir / "run"), out=str(tmp_path),
                                      episodes=6, tune_episodes=4), progress=lambda *_: None)
    assert set(payload["policies"]) == {"ppo", "fixed", "avellaneda_stoikov", "glft"}
    assert set(payload["paired"]) == {"ppo_vs_fixed", "ppo_vs_avellaneda_stoikov", "ppo_vs_glft"}
    for p in payload["paired"].values():
        lo, hi = p["ci95"]
        assert lo <= p["mean_diff"] <= hi
    assert payload["episode_steps"] == 100  # as in training
