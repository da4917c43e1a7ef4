"""The import contract: data flows one way, the live path is jax-free, libraries never import commands.

Read from the source (AST). A module "imports" every `import x` / `from x import y` anywhere in it,
inside functions too, plus the `__init__` of every package above what it imports (Python runs those).
Libraries follow the data flow; commands (the thin shells named in the CLI's table) and the package
root's `mmjax.make` are composition roots that may reach anything upstream, but never another command.
The live path's own modules never import jax, not even inside a function; the library modules they
import must not import jax when imported (their top-level imports), which is what a replay runs.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mmjax", "recorder")

# stage -> the stages it may import (itself included). The data flow of the README:
# recorder -> schema <- data -> features -> env -> ppo -> policy -> runs -> evaluation, and policy -> live -> dashboard.
# ppo is the learner; policy holds the exported policy's format, exporter and NumPy runtime and the closed-form
# baselines; runs orchestrates training (the train and sweep commands, the run directory).
UPSTREAM = {
    "schema": {"schema"},
    "recorder": {"schema", "recorder"},
    "data": {"schema", "data"},
    "features": {"schema", "data", "features"},
    "env": {"schema", "data", "features", "env"},
    "ppo": {"schema", "data", "features", "env", "ppo"},
    "policy": {"schema", "data", "features", "env", "ppo", "policy"},
    "runs": {"schema", "data", "features", "env", "ppo", "policy", "runs"},
    "evaluation": {"schema", "data", "features", "env", "ppo", "policy", "runs", "evaluation"},
    "live": {"schema", "recorder", "data", "features", "env", "policy", "live"},
    "dashboard": {"schema", "recorder", "data", "features", "env", "policy", "live", "dashboard"},
    "app": set(),  # the composition root (cli, demo, mmjax.record): may import anything
}
JAX_LIBS = ("jax", "jaxlib", "flax", "optax", "chex", "gymnax")
# What the live path runs: paper trading must start without jax, and without the gymnasium interface.
JAX_FREE_ROOTS = ("recorder", "mmjax.outputs", "mmjax.live", "mmjax.dashboard", "mmjax.policy.numpy_policy",
                  "mmjax.env.sim_np", "mmjax.env.sim_types", "mmjax.env.sim_quotes", "mmjax.env.attribution",
                  "mmjax.env.kpis", "mmjax.env.knobs", "mmjax.env.fill_kinds", "mmjax.features.stream", "mmjax.policy.baselines", "mmjax.data.ticks",
                  "mmjax.data.raw", "mmjax.cli_tyro",
                  # the configs of the commands that run jax: their --help and config checks import none
                  "mmjax.data.load_config", "mmjax.env.data_config", "mmjax.ppo.config", "mmjax.runs.config",
                  "mmjax.evaluation.configs")
NO_GYMNASIUM_ROOTS = ("mmjax.live", "mmjax.env.sim_np", "mmjax.env.sim_types", "mmjax.env.sim_quotes",
                      "mmjax.policy.numpy_policy")


def stage(module: str) -> str:
    if module in command_modules() or module == "mmjax":
        return "app"  # commands compose the stages; `mmjax.make` builds an env (imported on first call)
    parts = module.split(".")
    if parts[0] == "recorder":
        return "recorder"
    if module in ("mmjax.schema", "mmjax.outputs"):
        return "schema"  # the recording format, and output safety (user errors, atomic writes, locks)
    if parts[:2] == ["mmjax", "market"]:
        # the synthetic market: its generator and fact-based calibration sit with the data (the maker's fill facts,
        # measured through a backtest of the env, live in the evaluation: mmjax/evaluation/fill_facts.py)
        return "data"
    if len(parts) > 1 and parts[1] in UPSTREAM:
        return parts[1]
    return "app"


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def imports_of(module: str, top_level_only: bool = False) -> set[str]:
    """Every module named by an import statement in ``module`` (absolute names): anywhere, or at its top level."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    is_pkg = MODULES[module].name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    found = set()
    nodes = _top_level(tree) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES)
    # a package's __init__ runs before any of its modules
    closed = set()
    for name in found:
        parts = name.split(".")
        closed.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return closed


def _top_level(tree: ast.Module):
    """Statements that run on import: the module body, descending into if/try/with but not into defs."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)  # type-checking imports never run
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            todo.extend(ast.iter_child_nodes(node))


def internal(names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES}


def in_root(module: str, root: str) -> bool:
    return module == root or module.startswith(root + ".")


def reachable(root: str) -> set[str]:
    """Modules ``root`` runs: its own imports anywhere, and what those import at their top level."""
    seen, todo = set(), [m for m in MODULES if in_root(m, root)]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(internal(imports_of(m, top_level_only=not in_root(m, root))) - seen)
    return seen


def foreign_imports(root: str) -> dict[str, set[str]]:
    """For each module ``root`` runs, the non-package modules it imports (anywhere in root, else top level)."""
    return {m: {d for d in imports_of(m, top_level_only=not in_root(m, root)) if d not in MODULES}
            for m in reachable(root)}


@lru_cache(maxsize=1)
def command_modules() -> frozenset[str]:
    """Modules that are commands (named in the CLI's table), except the data tools at the pipeline's head.

    `load`, `import-tardis` and `features` are conversions whose `run` is a thin shell over
    the library functions in the same module, which the rest of the pipeline uses.
    """
    from mmjax.cli import COMMANDS, run_path

    mods = {run_path(name)[0] for name in COMMANDS}
    return frozenset(m for m in mods if m.split(".")[:2] not in (["mmjax", "data"], ["mmjax", "features"]))


def test_every_module_imports_only_upstream_of_itself():
    bad = []
    for m in MODULES:
        s = stage(m)
        if s == "app":
            continue
        # the package root runs first for everyone, and with it mmjax's XLA default (mmjax.xla_cpu, jax-free)
        for dep in internal(imports_of(m)) - {"mmjax", "mmjax.xla_cpu"}:
            if stage(dep) not in UPSTREAM[s]:
                bad.append(f"{m} ({s}) imports {dep} ({stage(dep)})")
    assert not bad, "imports against the data flow:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("root", JAX_FREE_ROOTS)
def test_the_live_path_never_imports_jax_not_even_inside_functions(root):
    assert any(in_root(m, root) for m in MODULES), f"{root} does not exist"
    bad = [f"{m} imports {dep}" for m, deps in sorted(foreign_imports(root).items())
           for dep in sorted(deps) if dep.split(".")[0] in JAX_LIBS]
    assert not bad, f"{root} reaches jax:\n" + "\n".join(bad)


@pytest.mark.parametrize("root", NO_GYMNASIUM_ROOTS)
def test_the_live_path_does_not_need_gymnasium(root):
    bad = [f"{m} imports {dep}" for m, deps in sorted(foreign_imports(root).items())
           for dep in sorted(deps) if dep.split(".")[0] == "gymnasium"]
    assert not bad, "\n".join(bad)


def test_libraries_never_import_commands_and_commands_never_import_each_other():
    commands = command_modules()
    bad = [f"{m} imports the command {dep}" for m in MODULES if m not in ("mmjax.demo", "mmjax.cli")
           for dep in internal(imports_of(m)) if dep in commands and dep != m]
    assert not bad, "\n".join(sorted(bad))


def test_the_recorder_and_mmjax_do_not_import_each_other_in_a_cycle():
    rec = {d for m in MODULES if stage(m) == "recorder" for d in internal(imports_of(m))}
    assert {d for d in rec if not d.startswith("recorder")} <= {"mmjax", "mmjax.schema"}


def test_the_contract_checker_sees_imports_inside_functions(tmp_path, monkeypatch):
    """A guard on the guard: a function-level `import jax` in a live module must be caught."""
    fake = tmp_path / "mmjax" / "live"
    fake.mkdir(parents=True)
    (fake / "probe.py").write_text("def f():\n    import jax.numpy as jnp\n    return jnp\n")
    monkeypatch.setitem(MODULES, "mmjax.live.probe", fake / "probe.py")
    assert "jax.numpy" in imports_of("mmjax.live.probe")
    with pytest.raises(AssertionError, match="reaches jax"):
        test_the_live_path_never_imports_jax_not_even_inside_functions("mmjax.live")


# Import cycles allowed, each with why. None: keep it so (break a new one with a types module or a move).
CYCLE_ALLOW: set[frozenset[str]] = set()


def module_graph() -> dict[str, set[str]]:
    """Module -> the mmjax/recorder modules it imports anywhere (inside functions too), without the packages
    above itself (an `__init__` runs first for everyone; that is not a cycle)."""
    return {m: {d for d in internal(imports_of(m)) if d != m and not in_root(m, d)} for m in MODULES}


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_no_module_imports_itself_through_a_circle():
    cycles = [c for c in import_cycles(module_graph()) if c not in CYCLE_ALLOW]
    assert not cycles, "import cycles between modules (break them with a types module):\n" + "\n".join(
        " <-> ".join(sorted(c)) for c in cycles)


def test_the_allowed_cycles_still_exist():
    """An allow-list entry whose cycle is gone must leave the list (so it cannot hide a new one)."""
    found = set(import_cycles(module_graph()))
    assert not (CYCLE_ALLOW - found), f"no longer a cycle, remove from CYCLE_ALLOW: {CYCLE_ALLOW - found}"


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [frozenset({"a", "b", "c"})]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_test_files_import_shared_helpers_from_tests_helpers_not_from_each_other():
    """A test module's helpers live in tests/helpers/; importing another test_*.py would run its tests' module."""
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                    if n.split(".")[-1].startswith("test_")]
    assert not bad, "\n".join(bad)
