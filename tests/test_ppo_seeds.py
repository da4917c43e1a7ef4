"""Several seeds in one vmapped program, and checkpoint selection on validation episodes (mmjax/ppo/seeds.py,
mmjax/ppo/selection.py, `mmjax train --seeds K --select-on-val` in mmjax/runs/train_command.py)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.ppo import PPOConfig
from mmjax.ppo.checkpoint import load_checkpoint
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.seeds import run_seeds, seed_keys
from mmjax.ppo.selection import Validation, make_validator
from mmjax.ppo.train import HParams, make_ppo
from mmjax.ppo.wrappers import EPISODIC_RETURN, EpisodeStats

# PROBE RUNS: fast programs that pin down the selection and bookkeeping logic
PROBE_CFG = PPOConfig(total_timesteps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=1, update_epochs=2,
                      hidden_sizes="16", updates_per_chunk=2, lr=3e-3, seed=3)
PROBE_ENV, PROBE_PARAMS = ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3)
# The probe env draws its observation at random on reset, so each "start" just indexes an episode.
PROBE_VAL = Validation(PROBE_PARAMS, jnp.arange(8), lambda p, start: p, 3, EPISODIC_RETURN, every_updates=1)


class Interrupt(Exception):
    pass


def _files_equal(a, b, name):
    fa, fb = np.load(a / name), np.load(b / name)
    assert sorted(fa.files) == sorted(fb.files)
    for k in fa.files:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=f"{name}:{k}")


def _rows(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    out = run_seeds(PROBE_CFG, PROBE_ENV, PROBE_PARAMS, [root / "a0", root / "a1"], PROBE_VAL, progress=lambda *_: None)
    return root, out


def test_selection_keeps_the_best_validation_update_as_the_checkpoint(probe_run):
    root, out = probe_run
    ppo = make_ppo(PROBE_CFG, PROBE_ENV, PROBE_PARAMS)
    template = jax.eval_shape(ppo.init, jax.random.PRNGKey(0), HParams.from_config(PROBE_CFG), PROBE_PARAMS)
    validate = jax.jit(make_validator(ppo, PROBE_VAL.pin, PROBE_VAL.num_steps))
    for k, res in enumerate(out):
        d = root / f"a{k}"
        sel = json.loads((d / "selection.json").read_text())
        curve = [p["score"] for p in sel["val_curve"]]
        assert [p["update"] for p in sel["val_curve"]] == list(range(1, PROBE_CFG.num_updates + 1))
        assert sel["selected_update"] == 1 + int(np.argmax(curve)) and sel["val_score"] == max(curve)
        assert len(set(curve)) > 1  # the score moved during training, so the choice was a real one
        # checkpoint.npz is the selected state: re-validating it gives the recorded score
        state, meta = load_checkpoint(d / "checkpoint.npz", template)
        assert int(state.update) == sel["selected_update"] == int(meta["update"]) == int(res["state"].update)
        score = float(validate(ppo.params_out(state), PROBE_PARAMS, PROBE_VAL.starts)[EPISODIC_RETURN].mean())
        assert score == pytest.approx(sel["val_score"], rel=1e-5, abs=1e-6)
        last, _ = load_checkpoint(d / "checkpoint_last.npz", template)
        assert int(last.update) == PROBE_CFG.num_updates == res["updates"]
        rows = _rows(d)
        assert [r["val/episodic_return"] for r in rows] == pytest.approx(curve)
        assert all(r["val/episodes"] == 8 for r in rows)
    curves = [json.loads((root / f"a{k}" / "selection.json").read_text())["val_curve"] for k in (0, 1)]
    assert curves[0] != curves[1]  # two seeds, two different runs


def test_same_seed_gives_identical_runs_and_resume_continues_them_exactly(probe_run):
    """Run c is trained from scratch, interrupted after its first chunk and resumed: it equals run a bit for bit."""
    root, a = probe_run

    def stop_after_first_chunk(line):
        if line.startswith("update 2/4"):
            raise Interrupt
    dirs = [root / "c0", root / "c1"]
    with pytest.raises(Interrupt):
        run_seeds(PROBE_CFG, PROBE_ENV, PROBE_PARAMS, dirs, PROBE_VAL, progress=stop_after_first_chunk)
    lines = []
    c = run_seeds(PROBE_CFG, PROBE_ENV, PROBE_PARAMS, dirs, PROBE_VAL, resume=True, progress=lines.append)
    assert any(line.startswith("resumed 2 seeds at update 2") for line in lines)
    strip = lambda rows: [{n: v for n, v in r.items() if n != "charts/SPS"} for r in rows]  # noqa: E731
    for k in range(2):
        for x, y in zip(jax.tree.leaves(a[k]["state"]), jax.tree.leaves(c[k]["state"]), strict=True):
            np.testing.assert_array_equal(x, y)
        for name in ("checkpoint.npz", "checkpoint_last.npz"):
            _files_equal(root / f"a{k}", dirs[k], name)
        assert strip(_rows(root / f"a{k}")) == strip(_rows(dirs[k]))
        assert (root / f"a{k}" / "selection.json").read_text() == (dirs[k] / "selection.json").read_text()
    with pytest.raises(ValueError, match="different config"):
        run_seeds(dataclasses.replace(PROBE_CFG, lr=1e-2), PROBE_ENV, PROBE_PARAMS, dirs, PROBE_VAL, resume=True,
                  progress=lambda *_: None)


def test_seed_k_uses_the_key_of_a_single_run_with_seed_plus_k():
    keys = seed_keys(7, 3)
    assert keys.shape == (3, 2)
    for k in range(3):
        np.testing.assert_array_equal(keys[k], jax.random.PRNGKey(7 + k))


# MARKET RUNS: `mmjax train --seeds 2 --select-on-val` end to end on a small synthetic market

def _market_cfgs(root):
    from mmjax.env.build import DataConfig
    from mmjax.env.knobs import EnvKnobs
    from mmjax.runs.run_dir import TrainCore
    from mmjax.runs.train_command import TrainConfig

    # 1 bp of range: the deterministic policy quotes inside 0.5 bp and fills, so validation PnL is not all zero
    ppo = PPOConfig(total_timesteps=2 * 4 * 8, num_envs=4, num_steps=8, num_minibatches=1, update_epochs=1,
                    hidden_sizes="8", updates_per_chunk=1, seed=1)
    core = TrainCore(data=DataConfig(data=str(root / "market"), split_gap_steps=100),
                     env=EnvKnobs(episode_steps=50, max_offset_bps=1.0), ppo=ppo)
    base = TrainConfig(core=core, val_episodes=4)
    return (dataclasses.replace(base, out=str(root / "multi"), seeds=2, select_on_val=True),
            dataclasses.replace(base, out=str(root / "single")))


@pytest.fixture(scope="module")
def market_runs(tmp_path_factory):
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run
    from mmjax.runs.train_command import train

    root = tmp_path_factory.mktemp("seeds")
    synth_run(SynthConfig(out=str(root / "market"), hours=0.25, seed=5))
    multi_cfg, single_cfg = _market_cfgs(root)
    lines = []
    multi = train(multi_cfg, progress=lines.append)
    single = train(single_cfg, progress=lambda *_: None)
    return root, multi, single, lines


def test_two_seeds_give_two_runs_each_laid_out_and_loadable_like_a_single_run(market_runs):
    from mmjax.env import build
    from mmjax.evaluation import harness
    from mmjax.features import spec
    from mmjax.policy.numpy_policy import NumpyPolicy
    from mmjax.runs import run_dir

    root, multi, _, lines = market_runs
    runs = run_dir.find_runs(root / "multi")
    assert [r.name for r in runs] == ["seed1", "seed2"]
    market = multi["market"]
    params = market.env_params(market.splits["test"])
    for seed, run in zip((1, 2), runs, strict=True):
        for name in ("checkpoint.npz", "checkpoint_last.npz", "metrics.jsonl", "learning_curve.png",
                     "train_config.json", "feature_norm.json", "policy.npz", "selection.json"):
            assert (run / name).exists(), (run, name)
        cfg = run_dir.load_train_config(run)
        assert (cfg.core.ppo.seed, cfg.seeds, cfg.out) == (seed, 1, str(run))
        policy = harness.ppo_policy(run, build.make_env(), params)  # what `mmjax evaluate --policy OUT` loads
        obs = jnp.zeros(spec.NUM_FEATURES, jnp.float32)
        assert policy(obs, None, params).shape == (2,)
        # the export is the selected checkpoint's policy
        sel = json.loads((run / "selection.json").read_text())
        np_policy = NumpyPolicy.load(run / "policy.npz", expected_spec_hash=spec.spec_hash())
        np.testing.assert_allclose(np_policy.act(np.zeros(spec.NUM_FEATURES, np.float32)), np.asarray(policy(obs, None, params)),
                                   atol=1e-5)
        assert 1 <= sel["selected_update"] <= 2 and sel["val_episodes"] == 4
    summary = json.loads((root / "multi" / "seeds.json").read_text())
    assert [s["seed"] for s in summary] == [1, 2] and summary[0]["selection"]["metric"] == "mm/pnl"
    # progress: one line per chunk with the mean and each seed's numbers, and the validation scores
    update_lines = [x for x in lines if x.startswith("update ")]
    assert len(update_lines) == 2 and all("seeds [1, 2] return [" in x and "val/pnl [" in x for x in update_lines)


def test_validation_episodes_lie_in_the_validation_split_and_do_not_overlap(market_runs):
    root, multi, _, _ = market_runs
    market = multi["market"]
    val, test = market.splits["val"], market.splits["test"]
    span = market.knobs.episode_steps + market.knobs.latency_steps + 1
    for run in multi["runs"]:
        starts = np.asarray(run["selection"]["val_starts"])
        assert len(starts) == 4 and np.all(np.diff(starts) >= span)
        assert starts.min() >= val.start and starts.max() + span <= val.stop <= test.start


def test_seed_k_of_a_vmapped_run_matches_the_single_run_with_that_seed(market_runs):
    """Not bit-identical: under vmap XLA batches the matmuls and reductions, which rounds differently (about
    1e-7 relative per update on XLA:CPU); the difference stays at float32 rounding over these updates."""
    root, _, single, _ = market_runs
    a, b = np.load(root / "single" / "checkpoint.npz"), np.load(root / "multi" / "seed1" / "checkpoint_last.npz")
    for k in a.files:
        if a[k].dtype.kind == "f":
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)
        elif a[k].dtype.kind in "iub":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # PRNG keys, counters, update
    for x, y in zip(_rows(root / "single"), _rows(root / "multi" / "seed1"), strict=True):
        for name, v in x.items():
            if name != "charts/SPS" and v is not None:
                assert y[name] == pytest.approx(v, rel=1e-3, abs=1e-5), name


def _perturb_rows(params, lo: int, hi: int):
    """Env params with every per-row array's rows [lo, hi) changed (floats scaled and shifted, ints shifted)."""
    T = params.market.mid.shape[0]

    def change(x):
        if not hasattr(x, "shape") or x.ndim == 0 or x.shape[0] not in (T, T + 1):
            return x
        x = np.array(x)
        if x.dtype.kind == "f":
            x[lo:hi] = x[lo:hi] * 1.5 + 1.0
        elif x.dtype.kind == "b":
            x[lo:hi] = ~x[lo:hi]
        else:
            x[lo:hi] = x[lo:hi] + 3
        return jnp.asarray(x)

    return jax.tree.map(change, params)


def test_validation_never_reads_test_split_rows_and_does_read_validation_rows(market_runs):
    from mmjax.env import build
    from mmjax.runs.train_command import validation_episodes

    root, multi, _, _ = market_runs
    market = multi["market"]
    val, test = market.splits["val"], market.splits["test"]
    v = validation_episodes(_market_cfgs(root)[0], market)
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    ppo = make_ppo(_market_cfgs(root)[0].core.ppo, env, v.env_params)
    validate = jax.jit(make_validator(ppo, v.pin, v.num_steps))
    net = ppo.params_out(multi["runs"][0]["state"])  # seed 1's selected checkpoint
    T = market.md.num_steps
    base = jax.device_get(validate(net, v.env_params, v.starts))
    future = jax.device_get(validate(net, _perturb_rows(v.env_params, test.start, T), v.starts))
    inside = jax.device_get(validate(net, _perturb_rows(v.env_params, val.start, val.stop), v.starts))
    for name in base:
        np.testing.assert_array_equal(base[name], future[name], err_msg=name)
    assert any(not np.array_equal(base[n], inside[n]) for n in base)  # the perturbation is one the policy sees


@pytest.mark.slow  # a third market training (~20-40 s on 2 loaded cores)
def test_selected_checkpoint_is_unchanged_when_test_split_rows_change(market_runs):
    from mmjax.env import build
    from mmjax.runs.train_command import validation_episodes

    root, multi, _, _ = market_runs
    market = multi["market"]
    cfg = _market_cfgs(root)[0]
    test_lo, T = market.splits["test"].start, market.md.num_steps
    v = validation_episodes(cfg, market)
    v = v._replace(env_params=_perturb_rows(v.env_params, test_lo, T))
    train_params = _perturb_rows(market.env_params(market.splits["train"]), test_lo, T)
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    dirs = [root / "perturbed" / f"seed{k}" for k in (1, 2)]
    run_seeds(cfg.core.ppo, env, train_params, dirs, v, progress=lambda *_: None)
    for d in dirs:
        ref = root / "multi" / d.name
        assert json.loads((d / "selection.json").read_text()) == json.loads((ref / "selection.json").read_text())
        for name in ("checkpoint.npz", "checkpoint_last.npz"):
            _files_equal(ref, d, name)


# THE SELECTION RULE: the best only when it leads the latest by more than margin_se paired standard errors

def test_keep_best_needs_a_lead_beyond_the_margin_in_paired_standard_errors():
    from mmjax.ppo.selection import keep_best, standard_error

    latest = np.array([0.0, 1.0, -1.0, 2.0, 0.5, -0.5])
    noise = np.array([0.1, -0.1, 0.1, -0.1, 0.1, -0.1])
    lead = 0.05  # paired SE of diff = std(noise, ddof=1) / sqrt(6) = 0.0447: the lead is 1.12 SE
    se = standard_error(noise)
    assert se == pytest.approx(np.std(noise, ddof=1) / np.sqrt(6))
    assert keep_best(latest + lead + noise, latest, 1.0) == (True, pytest.approx(se))
    assert keep_best(latest + lead + noise, latest, 2.0)[0] is False  # 1.12 SE is within a 2-SE margin
    assert keep_best(latest + lead + noise, latest, 0.0)[0] is True  # margin 0: always the best
    # pairing: the episodes' common spread (latest ranges over 3) does not enter the SE, only the difference
    assert keep_best(latest + 3 * lead + noise, latest, 2.0)[0] is True
    assert keep_best(latest, latest, 1.0) == (False, 0.0)  # a tie keeps the latest under a margin


# slow: the margin rule's arithmetic is tested fast in this file; this runs it end to end
@pytest.mark.slow
def test_margin_keeps_the_latest_unless_the_best_leads_clearly(tmp_path):
    """A huge margin: every checkpoint.npz is the latest; the best is kept beside it, and recorded."""
    from mmjax.ppo.selection import standard_error

    cfg = PROBE_CFG
    val = PROBE_VAL._replace(margin_se=1e9)
    out = run_seeds(cfg, PROBE_ENV, PROBE_PARAMS, [tmp_path / "m0"], val, progress=lambda *_: None)
    sel = json.loads((tmp_path / "m0" / "selection.json").read_text())
    curve = [p["score"] for p in sel["val_curve"]]
    assert sel["selected_update"] == cfg.num_updates == out[0]["selection"]["selected_update"]
    assert sel["best_update"] == 1 + int(np.argmax(curve)) and sel["best_score"] == max(curve)
    assert sel["val_score"] == curve[-1] and sel["margin_se"] == 1e9
    assert sel["val_se"] == sel["val_curve"][-1]["se"]
    assert len(sel["best_per_episode"]) == 8 and np.mean(sel["best_per_episode"]) == pytest.approx(max(curve), abs=1e-6)
    best_se = next(p["se"] for p in sel["val_curve"] if p["update"] == sel["best_update"])
    assert best_se == pytest.approx(standard_error(sel["best_per_episode"]))
    ppo = make_ppo(cfg, PROBE_ENV, PROBE_PARAMS)
    template = jax.eval_shape(ppo.init, jax.random.PRNGKey(0), HParams.from_config(cfg), PROBE_PARAMS)
    assert int(load_checkpoint(tmp_path / "m0" / "checkpoint.npz", template)[0].update) == cfg.num_updates
    assert int(load_checkpoint(tmp_path / "m0" / "checkpoint_best.npz", template)[0].update) == sel["best_update"]
    assert int(out[0]["state"].update) == cfg.num_updates
