"""make_train: determinism, vmap over seeds and traced hyperparameters, Welford stats, Box rescaling, Pendulum."""

import dataclasses

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import HParams, PPOConfig, make_train
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.networks import ObsNorm
from mmjax.ppo.wrappers import RescaleAction

TINY = PPOConfig(total_timesteps=8 * 16 * 3, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                 hidden_sizes="16,16")


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_same_seed_gives_bit_identical_params_and_other_seed_differs():
    env, ep = gymnax.make("Pendulum-v1")
    train = jax.jit(make_train(TINY, env, ep))
    a, b, c = (train(jax.random.PRNGKey(s))["params"] for s in (7, 7, 8))
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(c), strict=True))


def test_jit_vmap_over_seeds_and_nested_vmap_over_lr():
    env, ep = gymnax.make("Pendulum-v1")
    train = make_train(TINY, env, ep)
    seeds = jax.random.split(jax.random.PRNGKey(0), 3)
    out = jax.jit(jax.vmap(train))(seeds)
    chex.assert_shape(out["metrics"]["losses/value_loss"], (3, TINY.num_updates))
    chex.assert_shape(out["params"]["actor"]["params"]["log_std"], (3, 1))

    hp = HParams.from_config(TINY)
    hps = hp.replace(lr=jnp.array([1e-3, TINY.lr]))
    over_lr = jax.vmap(lambda h: jax.vmap(lambda k: train(k, h))(seeds), in_axes=(HParams(0, *[None] * (len(HParams.__dataclass_fields__) - 1)),))
    out2 = jax.jit(over_lr)(hps)
    chex.assert_shape(out2["metrics"]["charts/learning_rate"], (2, 3, TINY.num_updates))
    steps_per_update = TINY.update_epochs * TINY.num_minibatches
    np.testing.assert_allclose(out2["metrics"]["charts/learning_rate"][:, 0, 0],
                               np.array([1e-3, TINY.lr]) * (1 - steps_per_update / (TINY.num_updates * steps_per_update)),
                               rtol=1e-5)
    # the lr lane equal to the config's lr reproduces the plain seed-vmapped run; the other lane differs
    lane = jax.tree.map(lambda t: t[1], out2["params"])
    for x, y in zip(_leaves(out["params"]), _leaves(lane), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert not np.allclose(out2["params"]["actor"]["params"]["log_std"][0], lane["actor"]["params"]["log_std"])


def test_vmap_over_env_params():
    train = make_train(TINY, ProbeEnv("action"), ProbeParams())
    eps = ProbeParams(max_steps_in_episode=1, target=jnp.array([-0.5, 0.5]), terminate=False)
    out = jax.jit(jax.vmap(lambda e: train(jax.random.PRNGKey(0), None, e),
                           in_axes=(ProbeParams(None, 0, None),)))(eps)
    chex.assert_shape(out["metrics"]["charts/mean_reward"], (2, TINY.num_updates))


def test_obs_norm_welford_merge_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(300, 4)).astype(np.float32)
    s = ObsNorm.create(4)
    for chunk in np.split(data, [10, 110, 250]):
        s = s.update(jnp.asarray(chunk))
    np.testing.assert_allclose(s.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(s.var, data.var(0), rtol=1e-3)
    np.testing.assert_allclose(float(s.count), 300.0, rtol=1e-6)


def test_rescale_action_maps_unit_box_to_bounds():
    env, ep = gymnax.make("Pendulum-v1")  # torque in [-2, 2]
    w = RescaleAction(env)
    obs, st = w.reset(jax.random.PRNGKey(0), ep)
    for a, torque in ((-1.0, -2.0), (0.0, 0.0), (1.0, 2.0)):
        _, st2, *_ = w.step(jax.random.PRNGKey(1), st, jnp.array([a]), ep)
        np.testing.assert_allclose(st2.last_u, torque, atol=1e-6)


def test_continuous_mountain_car_trains_one_update():
    env, ep = gymnax.make("MountainCarContinuous-v0")
    out = jax.jit(make_train(dataclasses.replace(TINY, total_timesteps=8 * 16), env, ep))(jax.random.PRNGKey(0))
    assert np.all(np.isfinite(out["metrics"]["losses/value_loss"]))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="num_minibatches"):
        PPOConfig(num_steps=10, num_minibatches=4).validate()
    with pytest.raises(ValueError, match="hidden_sizes"):
        PPOConfig(hidden_sizes="64,x").validate()


# slow: the probes (tests/test_ppo_probes.py) check learning in the fast suite
@pytest.mark.slow
def test_default_config_learns_pendulum():
    # PPOConfig defaults, only the number of steps set: Pendulum goes from about -1200 (random) to better
    # than -500 within 250k steps (docs/ppo.md, "Defaults study"); ~15 s with compilation on 2 idle cores.
    env, ep = gymnax.make("Pendulum-v1")
    cfg = PPOConfig(total_timesteps=250_000)
    m = jax.jit(make_train(cfg, env, ep))(jax.random.PRNGKey(0))["metrics"]
    ret = np.asarray(m["charts/episodic_return"])[np.asarray(m["charts/episodes"]) > 0]  # updates where episodes ended
    assert ret[:3].mean() < -900
    assert ret[-3:].mean() > -500
