"""mmjax's one XLA default: ``--xla_cpu_multi_thread_eigen=false``, set before jax starts its CPU backend.

XLA's CPU client runs its intra-op work on a multi-threaded Eigen pool. On vmapped programs (K seeds at once,
`mmjax.ppo.seeds`) that pool wedged: every worker parked, the host thread waiting forever in
``BlockUntilReady``, no error (issue 30; PyAutoFit issue 1530 saw a wedge and found this flag avoided it).
Here the probe (benchmarks/hang_probe.py, docs/ppo.md "Hangs") saw the wedge with the flag too, and native
stacks showed its cause: jaxlib 0.10's batched LAPACK QR (the orthogonal init under vmap) blocking every pool
thread on tasks queued to the same pool. That is fixed where it arises (`mmjax.ppo.networks.orthogonal`: one
matrix at a time); this flag neither causes nor prevents it and is kept as the default it was (the same seeded
runs with and without it are byte-identical). Long commands also run under a watchdog (`mmjax.ppo.watchdog`).

`apply_default` runs when the ``mmjax`` package is imported (mmjax/__init__.py), so it precedes the first jax
computation of every command, benchmark and library user that imports mmjax before using jax. XLA reads
XLA_FLAGS once, when the first backend starts (not at ``import jax``), so the order that matters is: set it
before any jax computation. A user's own XLA_FLAGS is kept: the flag is added only when it names no
``xla_cpu_multi_thread_eigen`` setting itself (so ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true`` opts out).

No jax import here: the package root stays jax-free.
"""

from __future__ import annotations

import os
import sys

FLAG_NAME = "--xla_cpu_multi_thread_eigen"
FLAG = f"{FLAG_NAME}=false"
ENV = "XLA_FLAGS"

# What `apply_default` did in this process: "set" (XLA_FLAGS was empty), "added" (appended to the user's
# flags), "user" (the user chose the Eigen setting), "late" (a jax backend had already started), or None.
outcome: str | None = None


def _backend_started() -> bool:
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(getattr(bridge, "_backends", None))


def apply_default(environ=os.environ) -> str:
    """Add FLAG to ``environ["XLA_FLAGS"]`` unless the user set the Eigen flag or a backend runs; say which."""
    global outcome
    current = environ.get(ENV, "")
    if FLAG_NAME in current:
        outcome = "user"
    elif _backend_started():
        outcome = "late"  # too late to matter: XLA parsed its flags when the backend started
    else:
        environ[ENV] = f"{current} {FLAG}".strip()
        outcome = "added" if current.strip() else "set"
    return outcome


def startup_note() -> str:
    """One line for a long command's start: what mmjax did to XLA_FLAGS and how to override it."""
    flags = os.environ.get(ENV, "")
    if outcome in ("set", "added"):
        return (f"XLA: mmjax set {FLAG} (avoids an XLA CPU thread-pool hang on vmapped programs; XLA_FLAGS={flags!r}); "
                f"set XLA_FLAGS={FLAG_NAME}=true yourself to opt out")
    if outcome == "user":
        return f"XLA: using your XLA_FLAGS={flags!r} (mmjax adds no {FLAG_NAME} setting)"
    if outcome == "late":
        return (f"XLA: a jax backend started before mmjax was imported, so {FLAG} is not in effect; "
                f"export XLA_FLAGS={FLAG} to avoid the XLA CPU thread-pool hang")
    return ""
