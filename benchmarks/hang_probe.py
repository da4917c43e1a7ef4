"""Reproducer for the XLA CPU thread-pool wedge (issue 30): fresh processes doing what `mmjax train --seeds 5` does
first, each watched, counting the ones that wedge.

Each run is a new Python process that loads a market, builds PPO as `mmjax.ppo.seeds.run_seeds` does, runs the
vmapped 5-seed ``init`` and materializes it (``int(state.update[0])``, where the reported hang waited), then
compiles and runs the first chunk and materializes its metrics. A run whose process uses no CPU for ``--idle-s``
(the wedge: every thread parked, load 0) is a hang; one still busy after ``--timeout-s`` is a timeout (a slow
machine, counted apart). Either way its Python stacks (faulthandler, on SIGUSR1 before the kill) go to ``--work``/stacks-<candidate>-<market>-<i>.txt.

Markets, alternated run by run: ``builtin`` (the built-in market, the demo's knobs) and ``recording`` (a
large-tick Shanghai stock day imported from ../shared/data with --max-silence-s 60, the issue's knobs).

    python benchmarks/hang_probe.py --runs 30 --json benchmarks/results/hang_probe.json          # mmjax's default
    python benchmarks/hang_probe.py --runs 6 --markets recording --candidate batched-qr --json /tmp/hang_ctl.json

``--candidate`` picks what runs (the child's XLA_FLAGS is removed first, so mmjax's default applies unless set):

- ``mmjax`` (default): mmjax as it is;
- ``eigen-on``: mmjax as it is, with ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true`` (XLA's default Eigen pool);
- ``batched-qr``: the control, mmjax with flax's own orthogonal initializer (one batched LAPACK QR per layer
  under vmap: the deadlock of issue 30, `mmjax.ppo.networks`);
- ``sync``, ``sync-batched-qr``: the same two with jax's synchronous CPU dispatch
  (``jax_cpu_enable_async_dispatch=False``), the setting under which the unfixed init deadlocked most often
  here (a stress test of the fix, not a default).

On a hang the child's native threads (name, state, kernel wait channel) and, where gdb is installed, every
thread's native backtrace go to ``stacks-...native.txt`` next to the Python stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SSE = ROOT.parent / "shared" / "data" / "sse-600961-2023-07-11"
MARKETS = ("builtin", "recording")
NUM_SEEDS = 5
# candidate -> the child's XLA_FLAGS (None: unset, mmjax's default applies)
CANDIDATES = {"mmjax": None, "eigen-on": "--xla_cpu_multi_thread_eigen=true", "batched-qr": None, "sync": None,
              "sync-batched-qr": None}


def _train_core(market: str, data: str, chunk_updates: int):
    from mmjax.env.build import DataConfig
    from mmjax.env.knobs import EnvKnobs
    from mmjax.ppo.config import PPOConfig
    from mmjax.runs.run_dir import TrainCore

    if market == "builtin":  # the demo's market and PPO shapes (mmjax/demo.py)
        return TrainCore(data=DataConfig(data=data, split_fractions="0.6,0.1,0.3", split_gap_steps=600),
                         env=EnvKnobs(episode_steps=600, max_offset_bps=2.0),
                           ppo=PPOConfig(total_timesteps=chunk_updates * 256 * 64, num_envs=256, num_steps=64,
                                         updates_per_chunk=chunk_updates, ent_coef=0.0))
    # the command: --split-fractions 0.45,0.05,0.5 --quote-size 100 --max-inventory 1000 --episode-steps 300
    # --total-timesteps 40000 (PPO defaults otherwise: 64 envs x 128 steps; the first chunk was 4 updates)
    return TrainCore(data=DataConfig(data=data, split_fractions="0.45,0.05,0.5"),
                     env=EnvKnobs(quote_size=100, max_inventory=1000, episode_steps=300),
                     ppo=PPOConfig(total_timesteps=40_000, updates_per_chunk=chunk_updates))


def child(market: str, data: str, chunk_updates: str, candidate: str) -> None:
    """One probe run (in its own process): the vmapped init and the first chunk of a 5-seed `mmjax train`."""
    t0 = time.perf_counter()
    import jax

    if candidate.startswith("sync"):
        jax.config.update("jax_cpu_enable_async_dispatch", False)  # before the CPU client is made
    import mmjax  # noqa: F401 - applies mmjax's XLA default (if any) before jax starts its backend
    from mmjax.env import build
    from mmjax.ppo import networks
    from mmjax.ppo.seeds import seed_keys
    from mmjax.ppo.train import HParams, make_ppo
    from mmjax.ppo.wrappers import EpisodeStats

    if candidate.endswith("batched-qr"):  # the control: flax's initializer, a batched LAPACK QR under vmap
        import flax.linen as nn

        networks.orthogonal = nn.initializers.orthogonal
    cfg = _train_core(market, data, int(chunk_updates))
    market = build.load(cfg.data, cfg.env)
    env = EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"})
    params = market.env_params(market.splits["train"])
    ppo = make_ppo(cfg.ppo, env, params)
    hp = HParams.from_config(cfg.ppo)
    t_load = time.perf_counter()
    state = jax.jit(jax.vmap(ppo.init, in_axes=(0, None, None)))(seed_keys(cfg.ppo.seed, NUM_SEEDS), hp, params)
    update = int(state.update[0])  # where the reported hang waited
    t_init = time.perf_counter()
    n = min(cfg.ppo.updates_per_chunk, cfg.ppo.num_updates)
    run_n = jax.jit(jax.vmap(lambda s, h, p: ppo.run(s, h, p, n), in_axes=(0, None, None)))
    state, metrics = run_n(state, hp, params)
    metrics = jax.device_get(metrics)
    update = int(state.update[0])
    t_chunk = time.perf_counter()
    print(json.dumps({"xla_flags": os.environ.get("XLA_FLAGS"), "update": update, "load_s": t_load - t0,
                      "init_s": t_init - t_load, "chunk_s": t_chunk - t_init,
                      "chunk_steps_per_s": n * cfg.ppo.batch_size * NUM_SEEDS / (t_chunk - t_init)}))


def _cpu_s(pid: int) -> float:
    """CPU seconds used so far by process `pid`, all its threads (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch(p: subprocess.Popen, idle_s: float, timeout_s: float) -> tuple[str, float]:
    """Wait for `p`: "ok" when it exits, "hang" when its CPU time stands still for `idle_s`, else "timeout"."""
    t0 = last_busy = time.monotonic()
    cpu = -1.0
    while p.poll() is None:
        now = time.monotonic()
        try:
            c = _cpu_s(p.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        if c > cpu + 0.02:  # a few clock ticks of progress
            cpu, last_busy = c, now
        if now - last_busy > idle_s:
            return "hang", now - last_busy
        if now - t0 > timeout_s:
            return "timeout", now - last_busy
        time.sleep(0.5)
    p.wait()
    return "ok", 0.0


def _native_stacks(pid: int, out: Path) -> None:
    """Every native thread of `pid`: name, state and kernel wait channel (/proc), then gdb's backtraces if gdb is
    installed (where each XLA, Eigen and LLVM worker waits)."""
    lines = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        base = Path(f"/proc/{pid}/task/{tid}")
        try:
            name, wchan = (base / "comm").read_text().strip(), (base / "wchan").read_text().strip()
            state = (base / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        lines.append(f"{tid} {name!r} {state} {wchan}")
    text = "\n".join(lines) + "\n"
    if shutil.which("gdb"):
        try:
            r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 40"], capture_output=True,
                               text=True, timeout=180)
            text += "\n== gdb ==\n" + r.stdout + r.stderr[-2000:]
        except subprocess.TimeoutExpired:
            text += "\n(gdb timed out)\n"
    out.write_text(text)


def _market(market: str, work: Path) -> str:
    if market == "builtin":
        from mmjax.data.builtin import builtin_market

        return builtin_market(hours=0.25)
    out = work / "sse-600961"
    if not (out / "book").is_dir():
        if not SSE.is_dir():
            raise SystemExit(f"hang_probe: {SSE} is absent; the recording market needs ../shared/data")
        subprocess.run([sys.executable, "-m", "mmjax", "import-tardis", "--book", str(SSE / "incremental_book_L2.csv.gz"),
                        "--trades", str(SSE / "trades.csv.gz"), "--out", str(out), "--max-silence-s", "60", "--quiet"],
                       check=True, cwd=ROOT)
    return str(out)


def _summary(a, per: dict, env: dict) -> dict:
    return {**{k: sum(r[k] for r in per.values()) for k in ("runs", "hangs", "timeouts", "errors")},
            "candidate": a.candidate, "chunk_updates": a.chunk_updates, "idle_s": a.idle_s,
            "timeout_s": a.timeout_s, "child_xla_flags_env": env.get("XLA_FLAGS"),
            "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(), "markets": per}


def _write(a, per: dict, env: dict) -> dict:
    result = _summary(a, per, env)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="fresh-process runs in all, alternating the markets")
    ap.add_argument("--json", default="", help="write the counts here")
    ap.add_argument("--candidate", choices=tuple(CANDIDATES), default="mmjax",
                    help="what runs (see the module docstring): mmjax as it is, or a control")
    ap.add_argument("--chunk-updates", type=int, default=1,
                    help="PPO updates in the probed first chunk (the same program, a shorter run of it)")
    ap.add_argument("--idle-s", type=float, default=30.0,
                    help="a run whose process uses no CPU for this long is a hang (the wedge: all threads parked), s")
    ap.add_argument("--timeout-s", type=float, default=900.0,
                    help="a run still busy after this long is a timeout (slow, not wedged: counted apart), seconds")
    ap.add_argument("--markets", default=",".join(MARKETS), help="comma-separated subset of " + ",".join(MARKETS))
    ap.add_argument("--work", default="/tmp/mmjax_hang_probe", help="scratch directory (the imported recording, stacks)")
    ap.add_argument("--child", nargs=4, metavar=("MARKET", "DATA", "CHUNK_UPDATES", "CANDIDATE"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(*a.child)
        return 0
    cands = [c.strip() for c in a.markets.split(",") if c.strip()]
    if not cands or set(cands) - set(MARKETS):
        ap.error(f"--markets: pick from {MARKETS}, got {a.markets!r}")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = {c: _market(c, work) for c in cands}
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if CANDIDATES[a.candidate] is not None:
        env["XLA_FLAGS"] = CANDIDATES[a.candidate]
    per = {c: {"runs": 0, "hangs": 0, "timeouts": 0, "errors": 0, "seconds": [], "chunk_steps_per_s": [],
               "xla_flags": None} for c in cands}
    for i in range(a.runs):
        c = cands[i % len(cands)]
        stacks = work / f"stacks-{a.candidate}-{c}-{i}.txt"
        code = (f"import faulthandler, signal, sys; f = open({str(stacks)!r}, 'w'); "
                "faulthandler.register(signal.SIGUSR1, file=f, all_threads=True); "
                f"sys.argv = ['hang_probe', '--child', {c!r}, {data[c]!r}, '{a.chunk_updates}', {a.candidate!r}]; "
                f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import hang_probe; hang_probe.main()")
        t0 = time.perf_counter()
        log = work / f"child-{a.candidate}-{c}-{i}.log"  # a file, not a pipe: a full pipe would stall the child (a false hang)
        with open(log, "w") as out_f:
            p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=out_f, stderr=subprocess.STDOUT)
            status, idle = _watch(p, a.idle_s, a.timeout_s)
        if status in ("hang", "timeout"):
            _native_stacks(p.pid, stacks.with_suffix(".native.txt"))
            p.send_signal(signal.SIGUSR1)  # the child's Python stacks into its stacks file
            time.sleep(1.0)
            p.kill()
        p.wait()
        text = log.read_text()
        wall = time.perf_counter() - t0
        r = per[c]
        r["runs"] += 1
        if status == "ok" and p.returncode != 0:
            status = "error"
            print(f"run {i} {c}: error\n{text[-2000:]}", file=sys.stderr)
        if status != "ok":
            r[{"hang": "hangs", "timeout": "timeouts", "error": "errors"}[status]] += 1
        else:
            rec = json.loads(text.strip().splitlines()[-1])
            r["seconds"].append(round(wall, 1))
            r["chunk_steps_per_s"].append(round(rec["chunk_steps_per_s"]))
            r["xla_flags"] = rec["xla_flags"]
            stacks.unlink(missing_ok=True)
            log.unlink()
        if a.json:  # after every run, so a stopped probe still leaves its counts
            _write(a, per, env)
        print(f"run {i + 1}/{a.runs} {a.candidate} {c}: {status} in {wall:.1f} s (load {os.getloadavg()[0]:.1f})"
              + (f" (no CPU used for {idle:.0f} s; stacks in {stacks} and .native.txt)" if status == "hang" else "")
              + (f" (stacks in {stacks})" if status == "timeout" else ""), flush=True)
    result = _write(a, per, env) if a.json else _summary(a, per, env)
    print(json.dumps({k: result[k] for k in ("runs", "hangs", "timeouts", "errors")}))
    return 1 if result["hangs"] or result["timeouts"] or result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
