"""Every command line the README shows must work as written: its flags exist, with the spelling shown.

`mmjax ...` lines: every flag must be one `mmjax COMMAND --help` lists, and each whole command line of a code
block is parsed by the real CLI (`mmjax.cli.parse`, nothing run; placeholders such as DIR or H read as "1").
Benchmark scripts are asked for `--help` and must list every flag the README gives them. A README that
drifts from the CLI (say, `mmjax record --out DIR` when the CLI took a positional) fails here, naming the line.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_commands() -> list[tuple[int, str, bool]]:
    """(line number, command, in a code block) for every mmjax / python-script command in code blocks and inline code."""
    lines = README.read_text().splitlines()
    out, in_block, pending = [], False, ""
    for no, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            text = pending + line.split("#", 1)[0].strip()
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            candidates = [text]
        else:
            candidates = re.findall(r"`([^`]+)`", line)
        for cand in candidates:
            for part in re.split(r"&&|\|", cand):
                part = part.strip()
                if re.match(r"^(mmjax [a-z]|python (benchmarks/|-m recorder))", part):
                    out.append((no, part, in_block))
    return out


COMMANDS = readme_commands()


def _flags(tokens: list[str]) -> list[str]:
    return [t.split("=", 1)[0] for t in tokens if t.startswith("--")]


@cache
def mmjax_options(command: str) -> frozenset[str]:
    """The flags `mmjax COMMAND --help` lists (the option column of the real parser's help)."""
    from mmjax import cli

    assert command in cli.COMMANDS, f"README shows `mmjax {command}`, which is not a command ({sorted(cli.COMMANDS)})"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert cli.main([command, "--help"]) == 0
    names = re.findall(r"(?m)^[ │|]{1,4}(--?[a-z][-a-z0-9]*(?:, --?[a-z][-a-z0-9]*)*)", text.getvalue())
    return frozenset(n for group in names for n in group.split(", "))


@cache
def script_help(script: str) -> str:
    res = subprocess.run([sys.executable, *script.split(), "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, f"`python {script} --help` failed:\n{res.stderr[-2000:]}"
    return res.stdout


def test_the_readme_shows_commands_at_all():
    shown = {c.split()[1] for _, c, _ in COMMANDS if c.startswith("mmjax ")}
    assert {"demo", "synth", "train", "evaluate", "record", "live", "dashboard"} <= shown


@pytest.mark.parametrize(("line", "command"), [(n, c) for n, c, _ in COMMANDS], ids=[f"L{n}" for n, _, _ in COMMANDS])
def test_a_readme_command_line_uses_only_real_flags(line, command):
    tokens = shlex.split(command.replace("[", " ").replace("]", " "))
    if tokens[0] == "mmjax":
        known = mmjax_options(tokens[1])
    else:  # python benchmarks/x.py ... or python -m recorder ...
        script = " ".join(tokens[1:3]) if tokens[1] == "-m" else tokens[1]
        known = frozenset(re.findall(r"(--[a-z0-9][a-z0-9-]*)", script_help(script)))
    unknown = [f for f in _flags(tokens) if f not in known and f.removeprefix("--no-") not in {k.removeprefix("--") for k in known}]
    assert not unknown, f"README.md line {line}: `{command}` uses {unknown}, which the command does not take"


# command lines with flags (a bare `mmjax live` names the command; `...` elides flags)
WHOLE = [(n, c) for n, c, _ in COMMANDS if c.startswith("mmjax ") and " --" in c and "..." not in c]


def test_the_readme_shows_whole_command_lines():
    assert len(WHOLE) >= 15, WHOLE


@pytest.mark.parametrize(("line", "command"), WHOLE, ids=[f"L{n}" for n, _ in WHOLE])
def test_a_readme_code_block_command_parses(line, command, capsys):
    """The whole line through the real parser: flags, their values' types and counts, choices, positionals."""
    from mmjax import cli, cli_tyro

    tokens = shlex.split(command.replace("[", " ").replace("]", " "))[1:]
    argv = [re.sub(r"^[A-Z][A-Z0-9_]*(\.[a-z0-9.]+)?$", "1", t) for t in tokens]  # DIR, H, FILE.mbo.dbn.zst
    try:
        name, _ = cli.parse(argv)
    except cli_tyro.Rejected:
        return  # parsed; the config's own checks refuse a placeholder value (e.g. a range)
    except SystemExit:
        pytest.fail(f"README.md line {line}: `{command}` does not parse:\n{capsys.readouterr().err[-3000:]}")
    assert name == tokens[0]
