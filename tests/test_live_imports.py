"""The live path never imports jax, flax, gymnax or gymnasium: not in any of its files (functions included),
and not at run time (a whole replay session, model and baselines, in a fresh interpreter)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("jax", "jaxlib", "flax", "gymnax", "gymnasium", "optax", "chex")
# the live engine and everything it runs per row: paper trader, simulator, policy, streaming features
LIVE_PATH = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mmjax" / "live").glob("*.py")) + [
    "mmjax/env/sim_np.py", "mmjax/env/knobs.py", "mmjax/policy/numpy_policy.py", "mmjax/policy/format.py",
    "mmjax/features/stream.py", "mmjax/features/spec.py", "mmjax/policy/baselines.py", "mmjax/data/layout.py",
    "mmjax/schema.py",
]


def forbidden_imports(source: str) -> list[str]:
    """Every import statement (module level or inside a function) of a forbidden package, as 'line: module'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        found += [f"{node.lineno}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    return found


def test_the_checker_sees_an_import_inside_a_function():
    assert forbidden_imports("def f():\n    import jax.numpy as jnp\n") == ["2: jax.numpy"]
    assert forbidden_imports("from gymnasium import spaces\nimport numpy\n") == ["1: gymnasium"]


@pytest.mark.parametrize("path", LIVE_PATH)
def test_no_live_path_file_imports_jax(path):
    assert forbidden_imports((ROOT / path).read_text()) == []


def test_a_replay_session_imports_no_jax(tmp_path):
    """build_runner + run_sync with a policy and with each baseline; then no forbidden module is loaded."""
    from mmjax.features.spec import NUM_MARKET_FEATURES, FeatureNorm
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run
    from tests.helpers.live import write_policy

    rec = tmp_path / "rec"
    synth_run(SynthConfig(out=str(rec), hours=200 / 36_000, seed=4))
    norm = FeatureNorm(np.zeros(NUM_MARKET_FEATURES, np.float32), np.ones(NUM_MARKET_FEATURES, np.float32))
    policy = write_policy(tmp_path / "p.npz", norm, {"max_offset_bps": 5.0})
    code = f"""
import sys
import mmjax.live, mmjax.live.command, mmjax.env.sim_np, mmjax.policy.numpy_policy, mmjax.features.stream
from mmjax.live import EngineConfig, build_runner
for policy, baseline in (({str(policy)!r}, "fixed"), (None, "fixed"), (None, "avellaneda_stoikov"), (None, "queue_aware")):
    runner, _ = build_runner(EngineConfig(replay={str(rec)!r}, speed=0, policy=policy, baseline=baseline))
    runner.run_sync()
    assert runner.trader.steps == 200 and runner.state.snapshot().mode == ("model" if policy else "baseline")
bad = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(bad)
sys.exit(3 if bad else 0)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
