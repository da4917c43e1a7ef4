"""Multi-host (multi-process) training: start-up, who writes, and fetching sharded state to the host.

Every process runs the same program (JAX's multi-controller model). After `initialize`, `jax.devices()`
lists the devices of all processes, `make_ppo` builds its env mesh over them (``num_devices=0``), and the
jitted PPO program is partitioned across hosts by XLA; gradients and observation statistics are
all-reduced over the whole env batch. Process 0 alone prints, writes metrics, plots, checkpoints and the
exported policy; every process reads the same data and, on resume, the same checkpoint, so a shared
filesystem (or identical copies) is assumed.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax._src import xla_bridge


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> bool:
    """Join a multi-process run before any JAX computation; returns whether one was joined.

    ``coordinator_address="auto"`` lets JAX detect the cluster (SLURM, Open MPI, Cloud TPU);
    otherwise ``host:port`` of process 0, with ``num_processes > 1`` and this process's id.
    ``num_processes <= 1`` without "auto" is a single-process run: nothing to do.
    """
    if coordinator_address != "auto" and num_processes <= 1:
        return False
    if jax.distributed.is_initialized():
        return True
    if coordinator_address != "auto" and not coordinator_address:
        raise ValueError("distributed: --coordinator-address host:port is required with --num-processes > 1")
    if not 0 <= process_id < max(num_processes, 1) and coordinator_address != "auto":
        raise ValueError(f"distributed: --process-id {process_id} outside [0, {num_processes})")
    # CPU devices of different processes talk through gloo; GPUs and TPUs bring their own collectives and
    # ignore this. (No backend may be touched before jax.distributed.initialize, so no backend check.)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # No public "has a backend started?"; the private check only sharpens the message (absent: JAX's own error).
    if getattr(xla_bridge, "backends_are_initialized", lambda: False)():
        raise RuntimeError("distributed: a JAX backend already started in this process; join the run first, "
                           "before importing gymnax, mmjax.env.build or mmjax.runs.train_command (the `mmjax train` CLI does)")
    if coordinator_address == "auto":
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id)
    return True


def is_main() -> bool:
    """True on the process that prints and writes files (process 0; always true in a single process)."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """NumPy copy of a pytree whose leaves may be sharded over other processes' devices.

    A collective when any leaf spans processes: every process must call it at the same point.
    """
    from jax.experimental import multihost_utils

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(fetch, tree)
