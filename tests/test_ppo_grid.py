"""Hyperparameter grids: one jitted program whose lanes are the single runs; validation of each policy."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import PPOConfig, deterministic_action, make_train
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.grid import cartesian, make_grid_program

CFG = PPOConfig(total_timesteps=8 * 16 * 3, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                hidden_sizes="16,16")


def test_cartesian_varies_the_first_axis_slowest():
    pts = cartesian({"lr": [1e-3, 3e-4], "ent_coef": [0.0, 0.1, 0.2]})
    np.testing.assert_allclose(pts["lr"], [1e-3] * 3 + [3e-4] * 3)
    np.testing.assert_allclose(pts["ent_coef"], [0.0, 0.1, 0.2] * 2)


# slow: tests/test_ppo_sweep.py runs a grid program end to end in the fast suite
@pytest.mark.slow
def test_grid_lanes_are_the_single_runs_and_validation_scores_each_policy():
    env, ep = ProbeEnv("action"), ProbeParams(max_steps_in_episode=2, target=0.5)
    # lr and the env's action target as axes: the target is an env-params field, traced like an HParams one
    program, ppo = make_grid_program(CFG, env, ep, ["lr"], {"target_axis": "target"}, val_envs=4, val_steps=4)
    points = {k: jnp.asarray(v) for k, v in cartesian({"lr": [1e-3, 1e-2], "target_axis": [0.5, -0.5]}).items()}
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    out = jax.jit(program)(points, keys, ep, ep)
    assert out["metrics"]["losses/value_loss"].shape == (4, 2, CFG.num_updates)
    assert out["val"]["charts/episodic_return"].shape == (4, 2)
    np.testing.assert_allclose(out["val"]["episodes"], 4 * 4 / 2)  # 4 envs x 4 steps, episodes of 2

    # lane (lr=1e-2, target=-0.5, seed 1) equals that single run
    single = make_train(dataclasses.replace(CFG, lr=1e-2), env, ep.replace(target=-0.5))
    m = jax.jit(single)(keys[1])["metrics"]
    np.testing.assert_allclose(out["metrics"]["losses/value_loss"][3, 1], m["losses/value_loss"], rtol=1e-4)
    # validation return = 2 steps of -(a - target)^2 at each trained policy's deterministic action
    for g, target in enumerate(np.asarray(points["target_axis"])):
        for s in range(2):
            p = jax.tree.map(lambda x, g=g, s=s: x[g, s], out["params"])
            a = float(deterministic_action(ppo.actor, p, jnp.zeros((1, 2)))[0, 0])
            # atol: near a perfect policy (a - target ~ 1e-4) float32 rounding of a dominates the relative error
            np.testing.assert_allclose(out["val"]["charts/episodic_return"][g, s], -2 * (a - target) ** 2, rtol=1e-4,
                                       atol=1e-8)


def test_static_fields_are_refused_as_axes():
    with pytest.raises(ValueError, match="not traced"):
        make_grid_program(CFG, ProbeEnv("action"), ProbeParams(), ["num_envs"])
