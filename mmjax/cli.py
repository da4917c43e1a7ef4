"""`mmjax` command line: each subcommand is a documented config dataclass plus a `run(config)`.

The dataclass *is* the CLI: every field becomes ``--field-name``, its ``help`` metadata (meaning,
unit, default) becomes the flag's help. Subcommand modules are imported lazily, so ``mmjax record``
never imports jax.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import types
import typing
import warnings

# name -> (module, config class, run function, summary)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "demo": ("mmjax.demo", "DemoConfig", "run", "built-in market end to end: generate, train, evaluate, report"),
    "synth": ("mmjax.market.command", "SynthConfig", "run",
              "write the built-in synthetic market as a recording (a preset, a params file, or calibrated to a recording)"),
    "load": ("mmjax.data.summary", "LoadConfig", "run", "load a recording, validate it and print its summary"),
    "features": ("mmjax.features.report", "FeaturesConfig", "run", "per-feature statistics of a recording and the fraction at the clip"),
    "train": ("mmjax.runs.train_command", "TrainConfig", "run", "train PPO on a recording's training split; exports policy.npz"),
    "sweep": ("mmjax.runs.sweep_command", "SweepConfig", "run", "grid of PPO/env hyperparameters x seeds in one program; selects on the validation split"),
    "evaluate": ("mmjax.evaluation.evaluate_command", "EvaluateConfig", "run", "out-of-sample evaluation of a policy against tuned baselines"),
    "backtest": ("mmjax.evaluation.backtest_command", "BacktestConfig", "run", "one policy over a whole recording, one episode per gap-free segment: fills, PnL, rejections as JSON"),
    "record": ("mmjax.record", "RecordConfig", "run", "record Coinbase L2 books and trades to Parquet (no jax)"),
    "import-tardis": ("mmjax.data.tardis", "TardisImportConfig", "run", "convert Tardis.dev book and trades CSV files into a recording"),
    "import-dbn": ("mmjax.data.dbn", "DbnImportConfig", "run",
                   "convert Databento DBN market-by-order (MBO) files into a recording, optionally with the orders"),
    "live": ("mmjax.live.command", "LiveConfig", "run", "paper-trade a replayed or live order book (NO real orders, ever)"),
    "dashboard": ("mmjax.dashboard.app", "DashboardConfig", "run", "Dash dashboard of the paper trader on 127.0.0.1 (NO real orders, ever)"),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(tp):
    """Unwrap ``X | None`` to X."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _is_config(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def flat_fields(config_cls, _seen: dict | None = None) -> list[tuple[dataclasses.Field, type]]:
    """The leaf fields of a (possibly nested) config dataclass, in order; nested configs add no prefix.

    Flags stay flat (``--maker-fee-bps``, ``--lr``), so every leaf name must be unique across the
    nesting: a clash is a programming error and raises here, naming both places.
    """
    seen = {} if _seen is None else _seen
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        tp = _base_type(hints[f.name])
        if _is_config(tp):
            out += flat_fields(tp, seen)
            continue
        if f.name in seen:
            raise TypeError(f"config field {f.name!r} of {config_cls.__name__} clashes with {seen[f.name]}'s")
        seen[f.name] = config_cls.__name__
        out.append((f, tp))
    return out


def add_config_arguments(parser: argparse.ArgumentParser, config_cls) -> None:
    """Add one flag per leaf field; positional fields are marked with metadata positional=True."""
    for f, tp in flat_fields(config_cls):
        help_text = f.metadata.get("help", "")
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if has_default:
            help_text = f"{help_text} (default: {default})"
        if f.metadata.get("positional"):
            parser.add_argument(f.name, type=tp, help=help_text, **({"nargs": "?", "default": default} if has_default else {}))
        elif tp is bool:
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            choices = f.metadata.get("choices")
            nargs = f.metadata.get("nargs")  # a list field (e.g. several input files): its items' type
            item = typing.get_args(tp)[0] if nargs else tp
            parse = _named(f.metadata["parse"], f.name) if "parse" in f.metadata else item
            parser.add_argument(_flag(f.name), dest=f.name, type=parse, default=default, required=not has_default,
                                choices=choices, help=help_text, metavar=f.metadata.get("metavar"), nargs=nargs)


def _named(parse, name: str):
    """A field's own parser (e.g. fee presets) whose ValueError message reaches the user through argparse."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name
    return convert


def config_from_args(config_cls, ns: argparse.Namespace):
    """Rebuild the (nested) config from the flat namespace."""
    hints = typing.get_type_hints(config_cls)
    values = {}
    for f in dataclasses.fields(config_cls):
        tp = _base_type(hints[f.name])
        values[f.name] = config_from_args(tp, ns) if _is_config(tp) else getattr(ns, f.name)
    return config_cls(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, cls_name, _, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        config_cls = getattr(importlib.import_module(module), cls_name) if _wants(name) else None
        if config_cls is not None:
            if config_cls.__doc__:
                p.description = f"{summary}\n\n{config_cls.__doc__.strip()}"
                p.formatter_class = argparse.RawDescriptionHelpFormatter
            add_config_arguments(p, config_cls)
    return parser


def _wants(name: str) -> bool:
    """Import only the chosen subcommand's module (so `mmjax record` never imports jax)."""
    argv = sys.argv[1:]
    return bool(argv) and argv[0] == name


def _join_distributed_run(argv: list[str]) -> None:
    """`mmjax train --coordinator-address ...`: join the multi-process run before anything starts JAX.

    The flags are declared (with help) on TrainConfig; they are read here first because the training
    module's imports (gymnax) start a JAX backend, after which a process can no longer join.
    """
    if not argv or argv[0] != "train":
        return
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--coordinator-address", default="")
    pre.add_argument("--num-processes", type=int, default=1)
    pre.add_argument("--process-id", type=int, default=0)
    ns, _ = pre.parse_known_args(argv[1:])
    from mmjax.ppo import distributed

    distributed.initialize(ns.coordinator_address, ns.num_processes, ns.process_id)


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    _join_distributed_run(sys.argv[1:])
    parser = build_parser()
    ns = parser.parse_args()
    module, cls_name, fn_name, _ = COMMANDS[ns.command]
    mod = importlib.import_module(module)
    # a warning is one line that names the command, like an error (no source line, no module path); the
    # caller's formatter comes back afterwards (main runs in-process in tests and in `mmjax demo`'s callers)
    caller_format = warnings.formatwarning
    warnings.formatwarning = lambda msg, cat, *_a, **_k: f"mmjax {ns.command}: warning: {' '.join(str(msg).split())}\n"
    try:
        config = config_from_args(getattr(mod, cls_name), ns)  # range checks run here, before any work
        result = getattr(mod, fn_name)(config)
    except KeyboardInterrupt:
        print(f"mmjax {ns.command}: interrupted (Ctrl-C); outputs are left as they were, or resumable "
              "where the command says so", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error(exc)
        if message is None:
            raise  # a bug: keep the traceback
        print(f"mmjax {ns.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = caller_format
    return int(result) if isinstance(result, int) else 0


def user_error(exc: BaseException) -> str | None:
    """The one-line message of a user error (bad flag, file, directory), or None for a bug.

    User errors are `mmjax.outputs.UserError` (each data format's error derives from it) and the OS's
    refusals on a named path (missing, unreadable, read-only, full disk)."""
    from mmjax.outputs import UserError

    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, OSError) and (exc.filename is not None or type(exc) is not OSError):
        text = f"{exc.filename}: {exc.strerror}" if exc.filename is not None else str(exc)
    else:
        return None
    return " ".join(text.split())  # one line


if __name__ == "__main__":
    raise SystemExit(main())
