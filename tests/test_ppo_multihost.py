"""Two processes (jax.distributed over gloo, 2 CPU devices each) train like one process with 4 devices.

Also: only process 0 writes files and prints, and a checkpoint written by one process resumes in two.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import os, sys
    pid, nproc, port, out, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    from mmjax.ppo import distributed
    joined = distributed.initialize(f"127.0.0.1:{port}", nproc, pid)
    import jax, gymnax, numpy as np
    from mmjax.ppo import PPOConfig, make_ppo, run_training
    assert joined == (nproc > 1) and jax.device_count() == 4, (joined, jax.devices())
    env, ep = gymnax.make("Pendulum-v1")
    cfg = PPOConfig(total_timesteps=16 * 16 * 4, num_envs=16, num_steps=16, num_minibatches=2, update_epochs=2,
                    hidden_sizes="32,32", num_devices=0, updates_per_chunk=2, seed=5)
    mesh = make_ppo(cfg, env, ep).mesh  # the env batch is sharded over all 4 devices, other processes' included
    assert mesh.devices.size == 4 and jax.process_count() == nproc
    assert {d.process_index for d in mesh.devices.flat} == set(range(nproc))

    def progress(line):
        print(line, flush=True)
        if mode == "stop" and line.startswith("update 2/"):
            raise SystemExit(0)  # a run interrupted after its first chunk

    res = run_training(cfg, env, ep, out, resume=(mode == "resume"), progress=progress)
    np.savez(os.path.join(out, f"final_{pid}.npz"), *[np.asarray(x) for x in jax.tree.leaves(res["params"])])
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(out: Path, nproc: int, mode: str = "full") -> list[subprocess.Popen]:
    """Start SCRIPT in `nproc` processes with 4 // nproc CPU devices each."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={4 // nproc}", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    return [subprocess.Popen([sys.executable, "-c", SCRIPT, str(i), str(nproc), str(port), str(out), mode], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(nproc)]


def _run(out: Path, nproc: int, mode: str = "full") -> list[str]:
    """Run SCRIPT in `nproc` processes; returns their stdouts."""
    return [stdout for stdout, _ in _wait_all(_start(out, nproc, mode))]


def _wait_all(procs: list[subprocess.Popen], timeout_s: float = 240.0) -> list[tuple[str, str]]:
    """Wait for every process; if one fails, stop the rest (they would wait on it in a collective)."""
    deadline = time.monotonic() + timeout_s
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.kill()
    outs = [p.communicate() for p in procs]
    failed = sorted((p.returncode < 0, i) for i, p in enumerate(procs) if p.returncode != 0)  # killed ones last
    for _, i in failed:
        raise AssertionError(f"process {i} exited {procs[i].returncode}: {outs[i][1][-3000:]}")
    return outs


def _final(out: Path, pid: int = 0) -> list[np.ndarray]:
    with np.load(out / f"final_{pid}.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def _max_rel_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y) / (1e-3 + np.abs(x)))) for x, y in zip(a, b, strict=True))


def test_two_processes_match_one_process_and_only_process_0_writes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _, (out0, _), (out1, _) = _wait_all(_start(one, 1) + _start(two, 2))  # both runs at once: they share nothing
    assert "update 4/4" in out0 and "update" not in out1  # process 0 speaks for the run
    rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4]  # written once, not once per process
    assert (two / "checkpoint.npz").exists() and (two / "learning_curve.png").exists()
    # every process ends with the same parameters, equal to the one-process run to float tolerance
    assert _max_rel_diff(_final(two, 0), _final(two, 1)) == 0.0
    assert _max_rel_diff(_final(one), _final(two)) < 1e-3


@pytest.mark.slow  # ~40 s of two-process training: keeps the default suite (CI) well inside its 15 minutes
def test_checkpoint_of_one_process_resumes_in_two(tmp_path):
    stopped, uninterrupted = tmp_path / "stopped", tmp_path / "uninterrupted"
    _run(stopped, 1, mode="stop")
    assert json.loads((stopped / "metrics.jsonl").read_text().splitlines()[-1])["update"] == 2
    out0, _ = _run(stopped, 2, mode="resume")
    assert "resumed from" in out0 and "update 4/4" in out0
    _run(uninterrupted, 1)
    assert _max_rel_diff(_final(uninterrupted), _final(stopped)) < 1e-3


# slow: test_two_processes_match_one_process... covers the two-process run in the fast suite
@pytest.mark.slow
def test_mmjax_train_cli_runs_as_two_processes(tmp_path):
    """`mmjax train --coordinator-address ...` joins the run before gymnax starts a JAX backend."""
    from mmjax.market.synth import SynthConfig
    from mmjax.market.synth import run as synth_run

    synth_run(SynthConfig(out=str(tmp_path / "market"), hours=0.25, seed=5))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    common = ["-m", "mmjax", "train", "--data", str(tmp_path / "market"), "--out", str(tmp_path / "run"),
              "--episode-steps", "100", "--split-gap-steps", "100", "--total-timesteps", str(2 * 8 * 16),
              "--num-envs", "8", "--num-steps", "16", "--num-minibatches", "2", "--update-epochs", "1",
              "--updates-per-chunk", "1", "--num-devices", "0", "--coordinator-address", f"127.0.0.1:{port}",
              "--num-processes", "2"]
    procs = [subprocess.Popen([sys.executable, *common, "--process-id", str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = _wait_all(procs)
    assert "update 2/2" in outs[0][0] and "wrote" in outs[0][0]
    assert "update" not in outs[1][0] and "wrote" not in outs[1][0] and "data " not in outs[1][0]
    assert (tmp_path / "run" / "policy.npz").exists()
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2


def test_joining_after_jax_started_is_a_clear_error():
    code = ("import jax; jax.devices(); from mmjax.ppo import distributed; "
            "distributed.initialize('127.0.0.1:1', 2, 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "JAX_PLATFORMS": "cpu",
                              "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert res.returncode != 0 and "already started" in res.stderr and "before importing gymnax" in res.stderr
