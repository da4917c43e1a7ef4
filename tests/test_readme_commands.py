"""Every command line the README shows must work as written: its flags exist, with the spelling shown.

`mmjax ...` lines are parsed by the real CLI (flag names checked, nothing run); benchmark scripts are
asked for `--help` and must list every flag the README gives them. A README that drifts from the
CLI (say, `mmjax record --out DIR` when the CLI took a positional) fails here, naming the line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_commands() -> list[tuple[int, str]]:
    """(line number, command) for every mmjax / python-script command in code blocks and inline code."""
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
                    out.append((no, part))
    return out


COMMANDS = readme_commands()


def _flags(tokens: list[str]) -> list[str]:
    return [t.split("=", 1)[0] for t in tokens if t.startswith("--")]


@cache
def mmjax_options(command: str) -> frozenset[str]:
    from mmjax import cli

    saved = sys.argv
    sys.argv = ["mmjax", command]  # the CLI loads only the chosen command's config
    try:
        parser = cli.build_parser()
    finally:
        sys.argv = saved
    sub = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    assert command in sub, f"README shows `mmjax {command}`, which is not a command ({sorted(sub)})"
    return frozenset(sub[command]._option_string_actions)  # noqa: SLF001


@cache
def script_help(script: str) -> str:
    res = subprocess.run([sys.executable, *script.split(), "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, f"`python {script} --help` failed:\n{res.stderr[-2000:]}"
    return res.stdout


def test_the_readme_shows_commands_at_all():
    shown = {c.split()[1] for _, c in COMMANDS if c.startswith("mmjax ")}
    assert {"demo", "synth", "train", "evaluate", "record", "live", "dashboard"} <= shown


@pytest.mark.parametrize(("line", "command"), COMMANDS, ids=[f"L{n}" for n, _ in COMMANDS])
def test_a_readme_command_line_uses_only_real_flags(line, command):
    tokens = shlex.split(command.replace("[", " ").replace("]", " "))
    if tokens[0] == "mmjax":
        known = mmjax_options(tokens[1])
    else:  # python benchmarks/x.py ... or python -m recorder ...
        script = " ".join(tokens[1:3]) if tokens[1] == "-m" else tokens[1]
        known = frozenset(re.findall(r"(--[a-z0-9][a-z0-9-]*)", script_help(script)))
    unknown = [f for f in _flags(tokens) if f not in known and f.removeprefix("--no-") not in {k.removeprefix("--") for k in known}]
    assert not unknown, f"README.md line {line}: `{command}` uses {unknown}, which the command does not take"
