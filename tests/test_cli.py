"""The CLI is tyro over the config dataclasses: nested configs take flat flags, the field metadata is the help."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mmjax import cli, cli_tyro
from mmjax.env.knobs import EnvKnobs

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class _Inner:
    lr: float = field(default=3e-4, metadata={"help": "learning rate"})
    activation: str = field(default="tanh", metadata={"help": "hidden activation", "choices": ["tanh", "relu"]})


@dataclass(frozen=True)
class _Outer:
    """An outer config."""

    env: EnvKnobs = field(default_factory=EnvKnobs)
    inner: _Inner = field(default_factory=_Inner)
    out: str = field(default="x", metadata={"help": "where the output goes", "metavar": "DIR"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})
    files: list[str] = field(default_factory=list, metadata={"help": "input files", "nargs": "+"})
    product: str | None = field(default=None, metadata={"help": "product partition"})
    ticks: int | None = field(default=None, metadata={"help": "ticks behind the touch"})


@dataclass(frozen=True)
class _Positional:
    path: str = field(metadata={"help": "the input", "positional": True})
    n: int = field(default=1, metadata={"help": "how many"})


def _parse(cls, argv):
    return cli_tyro.cli(cls, argv, prog="t")


def _help(cls, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        _parse(cls, ["--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_nested_configs_take_flat_flags_and_rebuild_nested():
    cfg = _parse(_Outer, ["--maker-fee-bps", "-0.5", "--lr", "0.01", "--episode-steps", "600"])
    assert cfg.env == EnvKnobs(maker_fee_bps=-0.5, episode_steps=600)
    assert cfg.inner.lr == 0.01 and cfg.out == "x"
    with pytest.raises(SystemExit):
        _parse(_Outer, ["--env.maker-fee-bps", "1"])  # no prefixed spelling


def test_booleans_lists_choices_and_none_defaults_parse_as_the_flags_say(capsys):
    cfg = _parse(_Outer, ["--quiet", "--files", "a.dbn", "b.dbn", "--activation", "relu", "--product", "ETH-USD",
                          "--ticks", "-1"])
    assert (cfg.quiet, cfg.files, cfg.inner.activation, cfg.product, cfg.ticks) == (
        True, ["a.dbn", "b.dbn"], "relu", "ETH-USD", -1)
    assert _parse(_Outer, ["--quiet", "--no-quiet"]).quiet is False
    cfg = _parse(_Outer, [])
    assert (cfg.files, cfg.product, cfg.ticks) == ([], None, None)
    for bad in (["--activation", "sigmoid"], ["--ticks", "None"], ["--lr", "fast"]):
        with pytest.raises(SystemExit) as exc:
            _parse(_Outer, bad)
        assert exc.value.code == 2
        assert bad[1] in capsys.readouterr().err  # the refused value is named


def test_positional_fields_are_positional():
    assert _parse(_Positional, ["in.csv", "--n", "3"]) == _Positional("in.csv", 3)
    with pytest.raises(SystemExit):
        _parse(_Positional, ["--path", "in.csv"])


def test_help_is_the_field_metadata_with_the_defaults(capsys):
    text = " ".join(_help(_Outer, capsys).replace("│", " ").split())
    for shown in ("An outer config.", "--lr FLOAT learning rate (default: 0.0003)", "--out DIR where the output goes",
                  "--quiet, --no-quiet no progress lines (default: False)", "{tanh,relu}",
                  "--maker-fee-bps", "rebate = -0.5", "--product STR product partition (default: None)"):
        assert shown in text, shown
    assert "{None}" not in text  # an X | None flag takes an X


def test_a_leaf_name_used_twice_is_a_clear_error():
    @dataclass(frozen=True)
    class Clash:
        inner: _Inner = field(default_factory=_Inner)
        lr: float = 1.0

    with pytest.raises(TypeError, match="'lr' of Clash clashes with _Inner"):
        _parse(Clash, [])


def test_train_flags_cover_data_env_and_ppo_knobs_once_each():
    from mmjax.ppo.config import PPOConfig
    from mmjax.runs.train_command import TrainConfig

    names = [name for name, _ in cli_tyro.leaf_fields(TrainConfig)]
    assert len(names) == len(set(names))
    for cls in (EnvKnobs, PPOConfig):
        assert {f.name for f in dataclasses.fields(cls)} <= set(names)
    assert "risk_aversion" in names and "gamma" in names  # the env's risk aversion is not PPO's discount


def test_bad_knob_values_name_the_field():
    with pytest.raises(cli_tyro.Rejected, match="latency_steps must be a whole number >= 1"):
        _parse(_Outer, ["--latency-steps", "0"])


def test_fee_flags_take_bps_or_a_named_preset(capsys):
    from mmjax.env.knobs import FEE_PRESETS

    assert _parse(_Outer, ["--maker-fee-bps", "rebate"]).env.maker_fee_bps == FEE_PRESETS["rebate"][0] == -0.5
    assert _parse(_Outer, ["--maker-fee-bps", "coinbase-retail"]).env.maker_fee_bps == 40.0
    assert _parse(_Outer, ["--maker-fee-bps", "1.5"]).env.maker_fee_bps == 1.5
    with pytest.raises(SystemExit):
        _parse(_Outer, ["--maker-fee-bps", "cheap"])
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "maker fee 'cheap': give bps (e.g. -0.5) or a preset: coinbase-top, rebate, coinbase-retail" in err


def test_main_returns_the_status_of_help_and_of_a_bad_flag(capsys):
    assert cli.main(["load", "--help"]) == 0
    assert "--on-crossed {drop,raise}" in capsys.readouterr().out
    assert cli.main(["load", "--no-such-flag", "1"]) == 2
    assert "--no-such-flag" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)


# `mmjax CMD --help` for every command in one process: a line per command, "ok" when it printed its help and
# exited 0 and no jax library had been imported yet (the configs live in jax-free modules; the run is imported later)
_HELP_PROBE = """import contextlib, io, sys
from mmjax.cli import COMMANDS, main
for name in COMMANDS:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([name, '--help'])
    bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'optax', 'gymnax'))
    helped = rc == 0 and 'show this help message' in out.getvalue()
    print(name, 'ok' if helped and not bad else f'rc={rc} help={helped} imports {bad[:5]}')
"""


def test_help_of_every_command_imports_no_jax():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _HELP_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert set(lines) == set(cli.COMMANDS)
    bad = [f"mmjax {name} --help: {verdict}" for name, verdict in lines.items() if verdict != "ok"]
    assert not bad, "\n".join(bad) + "\n(imports accumulate in the one process: the first line brought them in)"
