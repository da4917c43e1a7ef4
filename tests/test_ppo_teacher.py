"""`PPOConfig.bc_coef`: behaviour cloning toward a teacher at the start of training, then plain PPO."""

import dataclasses

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.outputs import UserError
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.train import HParams, deterministic_action, make_ppo, make_train

SMALL = dict(total_timesteps=16 * 32 * 12, num_envs=16, num_steps=32, num_minibatches=4, hidden_sizes="32,32")


def _train(teacher=None, **kw):
    env, ep = gymnax.make("Pendulum-v1")
    cfg = PPOConfig(**SMALL, **kw)
    train = make_train(cfg, env, ep, teacher)
    out = jax.jit(train)(jax.random.PRNGKey(0))
    return train.ppo, out


def _actions(ppo, out) -> np.ndarray:
    obs = jax.random.normal(jax.random.PRNGKey(3), (64, ppo.obs_dim))
    return np.asarray(deterministic_action(ppo.actor, out["params"], obs))


def test_cloning_pulls_the_deterministic_action_to_the_teachers():
    teacher = lambda state, params: jnp.array([0.6], jnp.float32)  # noqa: E731 - a constant teacher
    ppo, cloned = _train(teacher, bc_coef=20.0, bc_anneal_frac=1.0, lr=3e-3)
    _, plain = _train(None, lr=3e-3)
    # 12 updates: the cloned policy sits near the teacher's 0.6; plain PPO has no reason to
    assert np.abs(_actions(ppo, cloned) - 0.6).mean() < 0.1
    assert np.abs(_actions(ppo, plain) - 0.6).mean() > 0.3
    bc = np.asarray(cloned["metrics"]["losses/bc"])
    assert bc[0] > 0.2 and bc[-1] < 0.05 * bc[0]  # its logged distance falls


def test_the_teacher_sees_the_state_the_agent_acts_on():
    # a teacher that reads Pendulum's state (its angular velocity): cloned, the policy follows it state by state
    teacher = lambda state, params: jnp.clip(0.3 * state.theta_dot[None], -0.9, 0.9)  # noqa: E731
    ppo, out = _train(teacher, bc_coef=20.0, bc_anneal_frac=1.0, lr=3e-3)
    state = out["state"]  # the envs' states at the end, and the observations the agent would act on
    target = np.asarray(jax.vmap(teacher, in_axes=(0, None))(state.env_state.env_state, None))[:, 0]
    acted = np.asarray(deterministic_action(ppo.actor, out["params"], state.obs))[:, 0]
    assert np.corrcoef(acted, target)[0, 1] > 0.9


def test_the_weight_decays_linearly_to_zero_at_the_anneal_fraction():
    env, ep = gymnax.make("Pendulum-v1")
    cfg = PPOConfig(**SMALL, bc_coef=2.0, bc_anneal_frac=0.5)  # 12 updates: zero from update 6 on
    ppo = make_ppo(cfg, env, ep, lambda s, p: jnp.zeros(1))
    hp = HParams.from_config(cfg)
    w = [float(ppo.bc_weight(hp, jnp.int32(u))) for u in range(12)]
    assert w[0] == 2.0 and w[3] == pytest.approx(1.0) and w[6:] == [0.0] * 6
    assert all(a >= b for a, b in zip(w[:-1], w[1:], strict=True))


def test_without_a_weight_the_teacher_changes_nothing():
    teacher = lambda state, params: jnp.array([0.6], jnp.float32)  # noqa: E731
    _, with_teacher = _train(teacher)  # bc_coef = 0: the teacher is not even called
    _, without = _train(None)
    for a, b in zip(jax.tree.leaves(with_teacher["params"]), jax.tree.leaves(without["params"]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_weight_without_a_teacher_is_refused_for_training_not_for_evaluating(tmp_path):
    from mmjax.ppo.seeds import run_seeds

    env, ep = gymnax.make("Pendulum-v1")
    cfg = PPOConfig(**SMALL, bc_coef=1.0)
    with pytest.raises(UserError, match="--bc-coef"):
        make_train(cfg, env, ep)
    with pytest.raises(UserError, match="--bc-coef"):
        run_seeds(cfg, env, ep, [tmp_path / "run"])
    assert make_ppo(cfg, env, ep).teacher is None  # the actor of a trained run is rebuilt without its teacher


@pytest.mark.parametrize("field,bad", [("bc_coef", -1.0), ("bc_anneal_frac", 0.0), ("bc_anneal_frac", 1.5)])
def test_out_of_range_knobs_are_refused(field, bad):
    with pytest.raises(UserError, match=field):
        PPOConfig(**{field: bad})


def test_the_teacher_is_tuned_on_the_training_split_alone(tmp_path):
    """A demo's teacher (`mmjax.evaluation.teacher`): the rows after the training split perturbed, the tuned
    value and the teacher's actions on training states are unchanged."""
    from mmjax.data.layout import NO_PRICE
    from mmjax.env import build
    from mmjax.evaluation.teacher import teacher_for
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run

    synth_run(SynthConfig(out=str(tmp_path / "m"), hours=0.25, seed=3))
    market = build.load(build.DataConfig(data=str(tmp_path / "m"), split_gap_steps=100), build.EnvKnobs(episode_steps=100))
    stop = market.splits["train"].stop
    later = dict(bid_sz=3.0, ask_sz=3.0, buy_vol=3.0, sell_vol=3.0, buy_px_vol=3.0, sell_px_vol=3.0, n_trades=2)
    md = market.md
    perturbed = md.replace(**{k: np.concatenate([np.asarray(getattr(md, k))[:stop], np.asarray(getattr(md, k))[stop:] * f])
                              for k, f in later.items()})
    # takers reach 3 ticks deeper after the split: what a fill-intensity fit over those rows would see
    for k, sign in (("buy_px", 1), ("sell_px", -1)):
        px = np.asarray(getattr(md, k)).copy()
        real = np.abs(px[stop:]) != NO_PRICE
        px[stop:] = np.where(real, px[stop:] + sign * 3, px[stop:])
        perturbed = perturbed.replace(**{k: px})
    if md.book_lots is not None:
        lots = np.asarray(md.book_lots)
        perturbed = perturbed.replace(book_lots=np.concatenate([lots[:stop], lots[stop:] * 3]))
    other = dataclasses.replace(market, md=perturbed)

    def run(m):
        said = []
        teacher = teacher_for("glft")(m, said.append)
        params = m.env_params(m.splits["train"])
        env = build.make_env()
        states = [env.reset_state_at(jnp.int32(t), params) for t in (0, stop // 3, stop // 2)]
        return said, [np.asarray(teacher(s, params)) for s in states]

    said, acts = run(market)
    said2, acts2 = run(other)
    assert said == said2 and "value" in said[0]
    for a, b in zip(acts, acts2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(md.bid_sz)[stop:], np.asarray(perturbed.bid_sz)[stop:])  # it was perturbed
