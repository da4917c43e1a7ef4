"""A config object as the flat flags the CLI reads: nested configs add no prefix (``--lr``, ``--maker-fee-bps``).

The inverse of `mmjax.cli`'s flattening, for the commands that compare configs field by field (`mmjax train
--resume`) or print the command line that rebuilds one (`mmjax sweep`'s winner)."""

from __future__ import annotations

import dataclasses
import shlex


def leaves(config) -> dict:
    """{field name: value} of every leaf field of a (nested) config dataclass, in order."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out.update(leaves(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return out


def flag(name: str, value) -> str:
    """One field as its flag: ``--name value`` (quoted for a shell), or ``--name`` / ``--no-name`` for a bool."""
    text = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return text if value else f"--no-{text[2:]}"
    return f"{text} {shlex.quote(str(value))}"


def command_line(command: str, config, first: tuple[str, ...] = ()) -> str:
    """``mmjax COMMAND`` with the flags of ``config`` that differ from its class's defaults (``first`` always, first)."""
    given, default = leaves(config), leaves(type(config)())
    rest = [k for k in given if k not in first and given[k] != default[k]]
    return " ".join([f"mmjax {command}", *(flag(k, given[k]) for k in (*first, *rest))])
