"""The CLI is generated from config dataclasses: nested configs become flat, documented flags."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from mmjax import cli
from mmjax.env.knobs import EnvKnobs


@dataclass(frozen=True)
class _Inner:
    lr: float = field(default=3e-4, metadata={"help": "learning rate"})


@dataclass(frozen=True)
class _Outer:
    env: EnvKnobs = field(default_factory=EnvKnobs)
    inner: _Inner = field(default_factory=_Inner)
    out: str = field(default="x", metadata={"help": "where"})


def _parse(cls, argv):
    p = argparse.ArgumentParser()
    cli.add_config_arguments(p, cls)
    return cli.config_from_args(cls, p.parse_args(argv))


def test_nested_configs_take_flat_flags_and_rebuild_nested():
    cfg = _parse(_Outer, ["--maker-fee-bps", "-0.5", "--lr", "0.01", "--episode-steps", "600"])
    assert cfg.env == EnvKnobs(maker_fee_bps=-0.5, episode_steps=600)
    assert cfg.inner.lr == 0.01 and cfg.out == "x"


def test_a_leaf_name_used_twice_is_a_clear_error():
    @dataclass(frozen=True)
    class Clash:
        inner: _Inner = field(default_factory=_Inner)
        lr: float = 1.0

    with pytest.raises(TypeError, match="'lr' of Clash clashes with _Inner"):
        cli.flat_fields(Clash)


def test_train_flags_cover_data_env_and_ppo_knobs_once_each():
    from mmjax.ppo.config import PPOConfig
    from mmjax.runs.train_command import TrainConfig

    names = [f.name for f, _ in cli.flat_fields(TrainConfig)]
    assert len(names) == len(set(names))
    for cls in (EnvKnobs, PPOConfig):
        assert {f.name for f in dataclasses.fields(cls)} <= set(names)
    assert "risk_aversion" in names and "gamma" in names  # the env's risk aversion is not PPO's discount


def test_bad_knob_values_name_the_field():
    with pytest.raises(ValueError, match="latency_steps must be a whole number >= 1"):
        _parse(_Outer, ["--latency-steps", "0"])


def test_fee_flags_take_bps_or_a_named_preset():
    from mmjax.env.knobs import FEE_PRESETS

    assert _parse(_Outer, ["--maker-fee-bps", "rebate"]).env.maker_fee_bps == FEE_PRESETS["rebate"][0] == -0.5
    assert _parse(_Outer, ["--maker-fee-bps", "coinbase-retail"]).env.maker_fee_bps == 40.0
    assert _parse(_Outer, ["--maker-fee-bps", "1.5"]).env.maker_fee_bps == 1.5
    with pytest.raises(SystemExit):
        _parse(_Outer, ["--maker-fee-bps", "cheap"])
