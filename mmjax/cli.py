"""`mmjax` command line: each subcommand is a documented config dataclass plus a `run(config)`.

The dataclass *is* the CLI, parsed by tyro: every field becomes ``--field-name`` (nested configs too: flags
stay flat), its ``help`` metadata (meaning, unit) the flag's help, with the default (`mmjax.cli_tyro` reads
the other metadata keys). Subcommand modules are imported lazily, so ``mmjax record`` never imports jax.
User errors are handled here, once: `main` prints one line and returns 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
import warnings

import tyro

from mmjax import cli_tyro

DESCRIPTION = ("market making with RL in JAX: record or import order books, train PPO, evaluate against baselines, "
               "paper-trade (no real orders, ever); `mmjax COMMAND --help` for a command's flags")

# name -> (module, config class, run function, summary); "module:function" runs a function of another module, so the
# config's module (imported for parsing and --help) can stay free of jax while the run imports it
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "demo": ("mmjax.demo", "DemoConfig", "run", "built-in market end to end: generate, train, evaluate, report"),
    "synth": ("mmjax.market.command", "SynthConfig", "run",
              "write the built-in synthetic market as a recording (a preset, a params file, or calibrated to a recording)"),
    "load": ("mmjax.data.load_config", "LoadConfig", "mmjax.data.summary:run", "load a recording, validate it and print its summary"),
    "features": ("mmjax.features.report", "FeaturesConfig", "run", "per-feature statistics of a recording and the fraction at the clip"),
    "train": ("mmjax.runs.config", "TrainConfig", "mmjax.runs.train_command:run", "train PPO on a recording's training split; exports policy.npz"),
    "sweep": ("mmjax.runs.config", "SweepConfig", "mmjax.runs.sweep_command:run", "grid of PPO/env hyperparameters x seeds in one program; selects on the validation split"),
    "evaluate": ("mmjax.evaluation.configs", "EvaluateConfig", "mmjax.evaluation.evaluate_command:run", "out-of-sample evaluation of a policy against tuned baselines"),
    "backtest": ("mmjax.evaluation.configs", "BacktestConfig", "mmjax.evaluation.backtest_command:run", "one policy over a whole recording, one episode per gap-free segment: fills, PnL, rejections as JSON"),
    "record": ("mmjax.record", "RecordConfig", "run", "record Coinbase L2 books and trades to Parquet (no jax)"),
    "import-tardis": ("mmjax.data.tardis", "TardisImportConfig", "run", "convert Tardis.dev book and trades CSV files into a recording"),
    "import-dbn": ("mmjax.data.dbn", "DbnImportConfig", "run",
                   "convert Databento DBN market-by-order (MBO) files into a recording, optionally with the orders"),
    "live": ("mmjax.live.command", "LiveConfig", "run", "paper-trade a replayed or live order book (NO real orders, ever)"),
    "dashboard": ("mmjax.dashboard.app", "DashboardConfig", "run", "Dash dashboard of the paper trader on 127.0.0.1 (NO real orders, ever)"),
}


def _config_class(name: str):
    module, cls_name, _, _ = COMMANDS[name]
    return getattr(importlib.import_module(module), cls_name)


def run_path(name: str) -> tuple[str, str]:
    """(module, function) that runs command ``name``: the config's module unless the table names another."""
    module, _, run, _ = COMMANDS[name]
    other, _, fn_name = run.rpartition(":")
    return other or module, fn_name


def _command_types(chosen: str | None) -> list:
    """One tyro subcommand per command. Only the chosen command's module is imported (so `mmjax record` never
    imports jax); the others are empty stand-ins that carry their one-line summary for `mmjax --help`."""
    out = []
    for name, (_, cls_name, _, summary) in COMMANDS.items():
        if name == chosen:
            cls = _config_class(name)
            description = f"{summary}\n\n{cls.__doc__.strip()}" if cls.__doc__ else summary
        else:
            cls, description = dataclasses.make_dataclass(cls_name, [], frozen=True), summary
        out.append(typing.Annotated[cls, tyro.conf.subcommand(name, description=description)])
    return out


def parse(argv: list[str]):
    """(command name, its config) from ``argv`` (``["train", "--lr", "1e-3"]``); nothing is run.

    tyro parses (mmjax.cli_tyro: flat flags, help from each field's metadata, defaults shown). A bad flag
    or value: tyro's message and SystemExit(2); ``--help``: SystemExit(0); a value the config's own
    checks refuse: `cli_tyro.Rejected`."""
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    commands = typing.Union[tuple(_command_types(chosen))]  # noqa: UP007 - a Union built at run time
    config = cli_tyro.cli(commands, argv, prog="mmjax", description=DESCRIPTION)
    return chosen, config


def _join_distributed_run(argv: list[str]) -> None:
    """`mmjax train --coordinator-address ...`: join the multi-process run before anything starts JAX.

    The flags are declared (with help) on TrainConfig; they are read here first because the training
    module's imports (gymnax) start a JAX backend, after which a process can no longer join.
    """
    if not argv or argv[0] != "train" or {"-h", "--help"} & set(argv[1:]):
        return  # --help runs nothing, so it joins nothing (and imports no jax)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--coordinator-address", default="")
    pre.add_argument("--num-processes", type=int, default=1)
    pre.add_argument("--process-id", type=int, default=0)
    ns, _ = pre.parse_known_args(argv[1:])
    from mmjax.ppo import distributed

    distributed.initialize(ns.coordinator_address, ns.num_processes, ns.process_id)


def main(argv: list[str] | None = None) -> int:
    """Run ``mmjax ARGV`` (default: this process's arguments); the exit status. Every user error ends here:
    one line ``mmjax CMD: error: ...``, status 2 (a bad flag: tyro's message, status 2); Ctrl-C: status 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _join_distributed_run(argv)
    who = f"mmjax {argv[0]}" if argv and argv[0] in COMMANDS else "mmjax"
    # a warning is one line that names the command, like an error (no source line, no module path); the
    # caller's formatter comes back afterwards (main runs in-process in tests and in `mmjax demo`'s callers)
    caller_format = warnings.formatwarning
    warnings.formatwarning = lambda msg, cat, *_a, **_k: f"{who}: warning: {' '.join(str(msg).split())}\n"
    try:
        name, config = parse(argv)  # range checks run here, before any work
        module, fn_name = run_path(name)
        result = getattr(importlib.import_module(module), fn_name)(config)
    except SystemExit as exc:  # tyro: --help (0), or a bad flag, already explained (2)
        return exc.code if isinstance(exc.code, int) else 2 if exc.code else 0
    except KeyboardInterrupt:
        print(f"{who}: interrupted (Ctrl-C); outputs are left as they were, or resumable "
              "where the command says so", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error(exc)
        if message is None:
            raise  # a bug: keep the traceback
        print(f"{who}: error: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = caller_format
    return int(result) if isinstance(result, int) else 0


def user_error(exc: BaseException) -> str | None:
    """The one-line message of a user error (bad flag, file, directory), or None for a bug.

    User errors are `mmjax.outputs.UserError` (each data format's error derives from it) and the OS's
    refusals on a named path (missing, unreadable, read-only, full disk)."""
    from mmjax.outputs import UserError

    if isinstance(exc, cli_tyro.Rejected):
        exc = exc.error
    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, OSError) and (exc.filename is not None or type(exc) is not OSError):
        text = f"{exc.filename}: {exc.strerror}" if exc.filename is not None else str(exc)
    else:
        return None
    return " ".join(text.split())  # one line


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
