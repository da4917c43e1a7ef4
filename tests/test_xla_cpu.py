"""mmjax's XLA default (issue 30): the Eigen CPU pool off unless the user chose, set before any backend starts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmjax import xla_cpu

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("given", "want", "outcome"), [
    (None, "--xla_cpu_multi_thread_eigen=false", "set"),
    ("--xla_force_host_platform_device_count=4",
     "--xla_force_host_platform_device_count=4 --xla_cpu_multi_thread_eigen=false", "added"),
    ("--xla_cpu_multi_thread_eigen=true", "--xla_cpu_multi_thread_eigen=true", "user"),
])
def test_the_flag_is_added_unless_the_user_chose_the_eigen_setting(given, want, outcome, monkeypatch):
    monkeypatch.setattr(xla_cpu, "_backend_started", lambda: False)  # as in a fresh process (pytest runs jax)
    environ = {} if given is None else {"XLA_FLAGS": given}
    assert xla_cpu.apply_default(environ) == outcome
    assert environ["XLA_FLAGS"] == want


def _fresh(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": str(ROOT), **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_mmjax_sets_it_in_a_fresh_process_and_says_so():
    out = _fresh("import mmjax, os; from mmjax import xla_cpu; print(os.environ['XLA_FLAGS']); print(xla_cpu.startup_note())")
    flags, note = out.splitlines()
    assert flags == "--xla_cpu_multi_thread_eigen=false"
    assert note.startswith("XLA: mmjax set --xla_cpu_multi_thread_eigen=false") and "opt out" in note


def test_xla_reads_flags_set_after_import_jax_but_before_the_first_computation():
    """Why setting XLA_FLAGS in mmjax/__init__ works even after `import jax`: XLA parses XLA_FLAGS when the
    backend starts. Proof: an unknown flag set at that point must make XLA refuse to start."""
    code = ("import os, jax; os.environ['XLA_FLAGS'] = '--xla_cpu_no_such_flag_here=1'\n"
            "try:\n    jax.numpy.zeros(1).block_until_ready()\nexcept Exception as e:\n    print('refused', e)\n")
    base = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    r = subprocess.run([sys.executable, "-c", code], env={**base, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True,
                       timeout=120)
    assert "xla_cpu_no_such_flag_here" in r.stdout + r.stderr  # XLA read the late-set flag (and died on it)


def test_too_late_is_reported_not_silently_ignored():
    out = _fresh("import jax; jax.numpy.zeros(1).block_until_ready(); import mmjax, os; from mmjax import xla_cpu; "
                 "print(xla_cpu.outcome, 'XLA_FLAGS' in os.environ); print(xla_cpu.startup_note())", JAX_PLATFORMS="cpu")
    status, note = out.splitlines()
    assert status == "late False" and "not in effect" in note
