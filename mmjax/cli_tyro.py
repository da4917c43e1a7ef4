"""How tyro reads mmjax's config dataclasses: the field metadata becomes the flag (jax-free; `mmjax.cli` uses it).

Every field of a config is ``field(default=..., metadata={"help": ...})``; tyro reads ``help`` itself and
shows the default. The rule registered here reads the other metadata keys:

    "choices": [...]      the flag takes one of these strings (tyro: a Literal)
    "parse": f            f(text) -> value converts the flag (e.g. fee presets); its ValueError is the message
    "metavar": "DIR"      the flag's placeholder in the help
    "positional": True    a positional argument instead of a flag
    "nargs": "+"          a list field: its type (``list[str]``) already says so

Flags stay flat (``--maker-fee-bps``, not ``--env.maker-fee-bps``: `tyro.conf.OmitArgPrefixes`), so a leaf
name used twice across the nesting is a programming error, refused by `check_flat` naming both places.
A ``X | None`` field defaulting to None takes an X (``--product BTC-USD``), never the text "None".
A config that refuses its values (``__post_init__`` raising `mmjax.outputs.UserError`) raises `Rejected`
out of tyro, so `mmjax.cli.main` prints the one-line message instead of tyro's box.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import tyro
from tyro.constructors import (
    MISSING,
    MISSING_NONPROP,
    ConstructorRegistry,
    PrimitiveConstructorSpec,
    PrimitiveTypeInfo,
    StructConstructorSpec,
    StructFieldSpec,
    StructTypeInfo,
)

from mmjax.outputs import UserError

MARKERS = (tyro.conf.OmitArgPrefixes, tyro.conf.OmitSubcommandPrefixes)


class Rejected(Exception):  # noqa: N818 - reads as "the config was rejected"
    """A config's own check refused the parsed values; ``error`` is its `UserError` (tyro would box a ValueError)."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


def _without_none(tp):
    """``X | None`` -> X; anything else unchanged."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_config(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _parsed_by(parse, item, metavar: str | None) -> PrimitiveConstructorSpec:
    """A flag converted by the field's own ``parse`` (its ValueError, e.g. a UserError, is tyro's message)."""
    return PrimitiveConstructorSpec(
        nargs=1, metavar=metavar or item.__name__.upper(), instance_from_str=lambda args: parse(args[0]),
        is_instance=lambda x: x is None or isinstance(x, item), str_from_instance=lambda x: [str(x)])


def _none_default(item, metavar: str | None) -> PrimitiveConstructorSpec:
    """tyro's own flag for ``item``, whose default may be None (no "None" choice, no type warning)."""
    spec = ConstructorRegistry.get_primitive_spec(PrimitiveTypeInfo.make(item, set()))
    assert isinstance(spec, PrimitiveConstructorSpec), spec
    base_is_instance = spec.is_instance
    return dataclasses.replace(spec, metavar=metavar or spec.metavar,
                               is_instance=lambda x: x is None or base_is_instance(x))


def field_type(f: dataclasses.Field, tp) -> Any:
    """The type tyro parses for config field ``f`` (declared type ``tp``), with its metadata applied."""
    meta = f.metadata
    optional = f.default is None and _without_none(tp) is not tp  # X | None = None: a given flag is an X
    item = _without_none(tp) if optional else tp
    if _is_config(item):
        return tp
    if "choices" in meta:
        item = Literal[tuple(meta["choices"])]
    extras: list[Any] = []
    if "parse" in meta:
        extras.append(_parsed_by(meta["parse"], item, meta.get("metavar")))
    elif optional:
        extras.append(_none_default(item, meta.get("metavar")))
    elif "metavar" in meta:
        extras.append(tyro.conf.arg(metavar=meta["metavar"]))
    if meta.get("positional"):
        extras.append(tyro.conf.Positional)
    tp = item | None if optional else item
    return Annotated[(tp, *extras)] if extras else tp


def _instantiate(cls):
    def build(**kwargs):
        try:
            return cls(**kwargs)
        except UserError as exc:
            raise Rejected(exc) from exc

    build.__doc__ = cls.__doc__  # tyro's description of the config
    return build


def _default(f: dataclasses.Field, parent: Any) -> Any:
    """The field's default: from the parent's default instance when there is one, else the field's own."""
    if parent is MISSING:
        return MISSING  # tyro's marker: the whole struct is required
    if parent is not MISSING_NONPROP and parent is not None:
        return getattr(parent, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return MISSING_NONPROP  # required


REGISTRY = ConstructorRegistry()


@REGISTRY.struct_rule
def _config_rule(info: StructTypeInfo) -> StructConstructorSpec | None:
    """A config dataclass: one tyro field per dataclass field, its type carrying the metadata, its help the
    metadata's "help"; built by the class itself (a UserError leaves as `Rejected`)."""
    if not _is_config(info.type) or info.type.__module__.split(".")[0] == "tyro":  # tyro's own wrappers: its rule
        return None
    check_flat(info.type)
    hints = typing.get_type_hints(info.type, include_extras=True)
    fields = tuple(StructFieldSpec(name=f.name, type=field_type(f, hints[f.name]), default=_default(f, info.default),
                                   helptext=f.metadata.get("help")) for f in dataclasses.fields(info.type) if f.init)
    return StructConstructorSpec(instantiate=_instantiate(info.type), fields=fields)


def leaf_fields(config_cls) -> list[tuple[str, str]]:
    """(field name, owning class name) of every leaf of a (possibly nested) config, in order."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        tp = _without_none(hints[f.name])
        out += leaf_fields(tp) if _is_config(tp) else [(f.name, config_cls.__name__)]
    return out


def check_flat(config_cls) -> None:
    """Raise TypeError when two leaves of a config share a name (their flags would collide)."""
    seen: dict[str, str] = {}
    for name, owner in leaf_fields(config_cls):
        if name in seen:
            raise TypeError(f"config field {name!r} of {owner} clashes with {seen[name]}'s")
        seen[name] = owner


def cli(tp, args: Sequence[str], prog: str, description: str | None = None):
    """The config ``args`` give for ``tp`` (a config class, or a Union of tyro subcommands), as `--help` shows
    the flags. A bad flag: tyro's message and SystemExit(2); a refusal by the config's own checks: `Rejected`."""
    return tyro.cli(tp, args=list(args), prog=prog, description=description, config=MARKERS, registry=REGISTRY)
