"""Configs compose: each knob is declared once and nested where it is used (mmjax/env/knobs.py `EnvOverrides`,
mmjax/runs/run_dir.py `TrainCore`, mmjax/runs/flags.py)."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import typing

import pytest

from mmjax import cli
from mmjax.env.knobs import EnvKnobs, EnvOverrides
from mmjax.outputs import UserError
from mmjax.runs import flags
from mmjax.runs.run_dir import TrainConfig, TrainCore


def _leaves(cls, owner: str = "") -> list[tuple[str, str]]:
    """(leaf field name, the nested config class that declares it; "" for the command's own) of a config class."""
    out, hints = [], typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out += _leaves(tp, tp.__name__)
        else:
            out.append((f.name, owner))
    return out


def test_env_overrides_mirror_env_knobs_each_optional_with_its_help():
    knob, over = dataclasses.fields(EnvKnobs), dataclasses.fields(EnvOverrides)
    assert [f.name for f in over] == [f.name for f in knob]
    hints, knob_hints = typing.get_type_hints(EnvOverrides), typing.get_type_hints(EnvKnobs)
    for k, o in zip(knob, over, strict=True):
        assert hints[o.name] == knob_hints[k.name] | None and o.default is None
        assert o.metadata["help"].startswith(k.metadata["help"])
        assert o.metadata.get("parse") is k.metadata.get("parse")  # fee presets parse the same way
    assert EnvOverrides().given() == {}


def test_overrides_replace_only_what_is_given_and_check_ranges_when_made():
    base = EnvKnobs(quote_size=2.0, episode_steps=50)
    assert EnvOverrides().over(base) == base
    assert EnvOverrides(maker_fee_bps=-0.5, episode_steps=600).over(base) == dataclasses.replace(
        base, maker_fee_bps=-0.5, episode_steps=600)
    with pytest.raises(UserError, match="latency_steps must be a whole number >= 1, got 0"):
        EnvOverrides(latency_steps=0)


def test_no_command_declares_an_env_knob_of_its_own_and_no_flag_twice():
    """Every env knob flag comes from EnvKnobs (train, sweep) or EnvOverrides (backtest, evaluate, demo)."""
    knobs = {f.name for f in dataclasses.fields(EnvKnobs)}
    for name, (module, cls_name, *_) in cli.COMMANDS.items():
        leaves = _leaves(getattr(importlib.import_module(module), cls_name))
        names = [n for n, _ in leaves]
        assert len(names) == len(set(names)), f"mmjax {name}: a flag declared twice"
        assert not [n for n, owner in leaves if n in knobs and owner not in ("EnvKnobs", "EnvOverrides")], name


def test_train_and_sweep_contain_one_train_core():
    from mmjax.runs.sweep_command import SweepConfig

    core = {n for n, _ in _leaves(TrainCore)}
    for cls in (TrainConfig, SweepConfig):
        own = [n for n, owner in _leaves(cls) if owner == ""]
        assert typing.get_type_hints(cls)["core"] is TrainCore and not core & set(own), cls.__name__


def test_the_sweep_winners_command_line_parses_back_to_its_train_config():
    from mmjax.runs.sweep_command import SweepConfig

    core = TrainCore(env=EnvKnobs(maker_fee_bps=-0.5, episode_steps=50))
    sweep = SweepConfig(core=dataclasses.replace(core, data=dataclasses.replace(core.data, data="rec")), out="sw")
    winner = sweep.train_config({"lr": 1e-3, "ent_coef": core.ppo.ent_coef, "risk_aversion": 0.05})
    line = flags.command_line("train", winner, first=("data", "out"))
    assert line.startswith("mmjax train --data rec --out sw_best ") and "--risk-aversion 0.05" in line
    assert "--ent-coef" not in line  # the default is left out
    assert cli.parse(shlex.split(line)[1:]) == ("train", winner)


def test_leaves_are_flat_and_bools_become_no_flags():
    cfg = TrainConfig(overwrite=True)
    assert list(flags.leaves(cfg))[:1] == ["data"] and flags.leaves(cfg)["lr"] == cfg.core.ppo.lr
    assert flags.flag("overwrite", True) == "--overwrite" and flags.flag("resume", False) == "--no-resume"


def test_a_parents_own_nested_default_survives_the_flat_cli():
    """`mmjax demo` nests PPOConfig with its own defaults (DEMO_PPO): no flags give them back, one flag changes one
    leaf, and the flat command line of a changed config parses back to it."""
    from mmjax.demo import DEMO_PPO, DemoConfig
    from mmjax.ppo.config import PPOConfig

    assert DEMO_PPO != PPOConfig()  # else this test proves nothing
    assert cli.parse(["demo"]) == ("demo", DemoConfig()) and DemoConfig().ppo == DEMO_PPO
    assert cli.parse(["demo", "--num-envs", "64"])[1].ppo == dataclasses.replace(DEMO_PPO, num_envs=64)
    changed = dataclasses.replace(DemoConfig(), ppo=dataclasses.replace(DEMO_PPO, lr=1e-3))
    line = flags.command_line("demo", changed)
    assert line == "mmjax demo --lr 0.001" and cli.parse(shlex.split(line)[1:]) == ("demo", changed)
