"""The watchdog of long commands (issue 30): an injected stall dumps stacks, says how to resume, exits non-zero,
and the resumed run continues from the last checkpoint."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmjax.ppo import PPOConfig, watchdog
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.runner import run_training
from mmjax.ppo.watchdog import EXIT_CODE, STACKS, Limits

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path: Path, timeout_s: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def test_a_stall_dumps_stacks_prints_one_line_and_exits_non_zero(tmp_path):
    """No jax: beats every 50 ms, then a stall in a named function; the watchdog must name it in the dump."""
    r = _run(f"""
        import time
        from mmjax.ppo.watchdog import Limits, watching
        def stalled_in_the_loop():
            time.sleep(60)
        with watching({str(tmp_path)!r}, "train", "rerun with --resume", Limits(factor=2, min_s=0.5, startup_s=5)) as wd:
            for i in range(5):
                wd.beat(f"chunk {{i}}")
                time.sleep(0.05)
            stalled_in_the_loop()
        print("not reached")
        """, tmp_path, timeout_s=60)
    assert r.returncode == EXIT_CODE, r.stderr
    assert "not reached" not in r.stdout
    [line] = [x for x in r.stderr.splitlines() if "WATCHDOG" in x]
    assert "mmjax train: WATCHDOG: no progress for" in line and "last: chunk 4" in line
    assert "rerun with --resume" in line and str(tmp_path / STACKS) in line
    dump = (tmp_path / STACKS).read_text()
    assert "stalled_in_the_loop" in dump  # the main thread's Python stack
    assert "== Python threads ==" in dump and "MainThread" in dump and "mmjax-watchdog" in dump
    assert "== native threads (/proc) ==" in dump and "state=" in dump


def test_the_limit_follows_the_slowest_gap_and_ignores_startup():
    wd = watchdog.Watchdog("unused", "train", "", Limits(factor=10, min_s=1, startup_s=99), exit_fn=None)
    assert wd.limit_s() == 99  # before the first heartbeat
    wd.beat()  # the startup gap (load, compile) ends here and is not counted
    assert wd.limit_s() == 1  # no gap seen yet: the floor
    wd._last -= 0.5  # a 0.5 s chunk
    wd.beat()
    assert 5 <= wd.limit_s() < 6


def test_a_busy_process_is_not_a_stall(tmp_path):
    """A long single program keeps the CPU busy: no heartbeat for many limits, yet no exit."""
    r = _run(f"""
        import time
        from mmjax.ppo.watchdog import Limits, watching
        with watching({str(tmp_path)!r}, "sweep", "rerun", Limits(factor=2, min_s=0.2, startup_s=0.2)):
            t0 = time.process_time()
            while time.process_time() - t0 < 1.0:
                pass
        print("finished")
        """, tmp_path, timeout_s=60)
    assert r.returncode == 0 and "finished" in r.stdout, r.stderr
    assert not (tmp_path / STACKS).exists()


@pytest.mark.parametrize(("name", "value"), [("MMJAX_WATCHDOG_MIN_S", "soon"), ("MMJAX_WATCHDOG_FACTOR", "0")])
def test_bad_knobs_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        Limits.from_env({name: value})


def test_training_stalled_after_a_chunk_exits_and_resumes_from_its_checkpoint(tmp_path):
    """A real run_training (in a child process) whose progress stalls after the first 2-update chunk: the watchdog
    dumps the stalled stack and exits with EXIT_CODE, that chunk's checkpoint on disk; the resumed run continues
    from update 2 to the end."""
    out = tmp_path / "run"
    r = _run(f"""
        import time
        from mmjax.ppo import PPOConfig
        from mmjax.ppo.envs import ProbeEnv, ProbeParams
        from mmjax.ppo.runner import run_training
        from mmjax.ppo.watchdog import Limits, watching
        CFG = PPOConfig(total_timesteps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                        hidden_sizes="16,16", updates_per_chunk=2)
        def stall_after_first_chunk(line):
            if line.startswith("update 2/4"):
                time.sleep(600)  # the injected stall
        limits = Limits(factor=1, min_s=10, startup_s=600, cpu_idle_s=None)  # a chunk and its plot: well under 10 s
        with watching({str(out)!r}, "train", "rerun with --resume", limits) as wd:
            run_training(CFG, ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3), {str(out)!r},
                         progress=wd.wrap(stall_after_first_chunk))
        """, tmp_path, timeout_s=900)
    assert r.returncode == EXIT_CODE, r.stdout + r.stderr
    assert "WATCHDOG" in r.stderr and "--resume" in r.stderr
    assert "stall_after_first_chunk" in (out / STACKS).read_text()
    assert [json.loads(x)["update"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    cfg = PPOConfig(total_timesteps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                    hidden_sizes="16,16", updates_per_chunk=2)
    lines = []
    res = run_training(cfg, ProbeEnv("obs_action"), ProbeParams(max_steps_in_episode=3), out, resume=True,
                       progress=lines.append)
    assert any(x.startswith("resumed from") and x.endswith("at update 2") for x in lines)
    assert res["updates"] == 4
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in rows] == [1, 2, 3, 4]
    assert np.isfinite([x["losses/value_loss"] for x in rows]).all()
