"""run_training: chunked progress, metrics.jsonl, PNG, checkpoints, bit-exact resume, NaN guard."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import PPOConfig
from mmjax.ppo.checkpoint import load_checkpoint, save_checkpoint
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.runner import run_training

CFG = PPOConfig(total_timesteps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                hidden_sizes="16,16", updates_per_chunk=2)
ENV, EP = ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3)


class Interrupt(Exception):
    pass


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


# slow: tests/test_ppo_seeds.py checks that a resumed run continues exactly, in the fast suite
@pytest.mark.slow
def test_resumed_run_ends_bit_identical_to_uninterrupted(tmp_path):
    lines = []
    full = run_training(CFG, ENV, EP, tmp_path / "a", progress=lines.append)
    assert any(line.startswith("update 2/4") and "SPS" in line and "clipfrac" in line for line in lines)

    def stop_after_first_chunk(line):
        if line.startswith("update 2/4"):
            raise Interrupt
    with pytest.raises(Interrupt):
        run_training(CFG, ENV, EP, tmp_path / "b", progress=stop_after_first_chunk)
    resumed = run_training(CFG, ENV, EP, tmp_path / "b", resume=True, progress=lines.append)
    assert any(line.startswith("resumed from") for line in lines)
    for x, y in zip(_leaves(full["state"]), _leaves(resumed["state"]), strict=True):
        np.testing.assert_array_equal(x, y)
    # the reward-normalization statistics came back from the checkpoint, not from a fresh start
    norm = resumed["state"].reward_norm
    assert float(norm.stats.count) == CFG.num_updates * CFG.batch_size
    np.testing.assert_array_equal(norm.stats.var, full["state"].reward_norm.stats.var)
    np.testing.assert_array_equal(norm.disc_return, full["state"].reward_norm.disc_return)

    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    assert {"charts/SPS", "charts/episodic_return", "losses/approx_kl", "losses/clipfrac",
            "losses/explained_variance"} <= set(rows[0])
    assert (tmp_path / "b" / "learning_curve.png").stat().st_size > 1000

    with pytest.raises(ValueError, match="different config"):
        run_training(dataclasses.replace(CFG, lr=1e-2), ENV, EP, tmp_path / "b", resume=True)


def test_nan_guard_names_the_metric(tmp_path):
    class NanEnv(ProbeEnv):
        def step_env(self, key, state, action, params):
            obs, st, r, term, info = super().step_env(key, state, action, params)
            return obs, st, r * jnp.nan, term, info

    with pytest.raises(FloatingPointError, match="NaN guard: metric '.*' .* at update 1"):
        run_training(CFG, NanEnv("constant"), EP, tmp_path, progress=lambda _: None)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_checkpoint_roundtrip_and_mismatch_errors(tmp_path):
    tree = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "k": np.array([1, 2], np.uint32)}
    p = save_checkpoint(tmp_path / "c.npz", tree, {"note": "hi"})
    back, meta = load_checkpoint(p, tree)
    np.testing.assert_array_equal(back["w"], tree["w"])
    assert meta["note"] == "hi"
    with pytest.raises(ValueError, match=r"tree\['w'\] has shape"):
        load_checkpoint(p, {"w": np.zeros((3, 3), np.float32), "k": tree["k"]})
    with pytest.raises(ValueError, match="missing"):
        load_checkpoint(p, {"w": tree["w"], "other": tree["k"]})
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_checkpoint(tmp_path / "bad.npz", tree)


def test_progress_line_has_a_bar_eta_and_the_cleanrl_metrics():
    from mmjax.ppo.runner import _progress_line

    row = {"update": 5, "global_step": 5000, "charts/episodic_return": -1.5, "losses/approx_kl": 0.01,
           "losses/clipfrac": 0.1, "losses/explained_variance": 0.5, "mm/pnl": 0.25}
    line = _progress_line(row, sps=1000.0, total_updates=20, batch_size=1000, extra=("mm/pnl",))
    assert line.startswith("update 5/20 [#####...............]  25%")
    assert "SPS 1,000" in line and "ETA 0m15s" in line  # 15 updates x 1000 steps at 1000 steps/s
    for part in ("return -1.500", "kl 0.0100", "clipfrac 0.100", "ev 0.500", "pnl 0.2500"):
        assert part in line
