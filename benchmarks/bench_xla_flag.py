"""The speed cost of mmjax's hang fixes (issue 30), side by side in one run, and a determinism check.

    python benchmarks/bench_xla_flag.py --json benchmarks/results/xla_flag.json [--rounds 2] [--skip-benches]

Each round runs, in fresh processes and alternating the settings (the order reversed every other round):

- ``mmjax``: mmjax as it is (the Eigen CPU pool off, `mmjax.xla_cpu`; each orthogonal init matrix on its
  own under vmap, `mmjax.ppo.networks.orthogonal`);
- ``batched-qr``: flax's own orthogonal initializer instead (the batched LAPACK QR that deadlocks);
- ``eigen on``: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true`` (XLA's default Eigen pool);

and measures

- `mmjax train` on the demo's market (the built-in 6 h market, the demo's env knobs and PPO shapes: 256 envs x
  64 steps, 5-update chunks) for ``--updates`` updates, one seed; steps/s is the median `charts/SPS` of the
  chunks after the first (the first chunk's includes nothing but its run, yet is noisier);
- `bench_env.py --quick` (JAX env steps/s) and `bench_ppo.py --quick --no-sweep` (PPO steps/s, Pendulum and the
  built-in market).

A shared machine only slows a run down, so compare the columns of one round, and the best of the rounds.
It also checks determinism: the first round's seeded `mmjax train` outputs (checkpoints, policy, metrics without
their `charts/SPS`) must be byte-identical across the settings; the table says whether they are (exit 1 if not).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# setting -> (the child's XLA_FLAGS (None: unset, mmjax's default applies), flax's batched-QR initializer patched in)
SETTINGS = {"mmjax": (None, False), "batched-qr": (None, True), "eigen on": ("--xla_cpu_multi_thread_eigen=true", False)}
BATCHED_QR = "import flax.linen as nn; from mmjax.ppo import networks; networks.orthogonal = nn.initializers.orthogonal"


def _env(setting: tuple) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env if setting[0] is None else {**env, "XLA_FLAGS": setting[0]}


def _python(setting: tuple, main: str) -> list[str]:
    """`python -c` running `main` (a module's main()), with flax's initializer patched in for batched-qr."""
    patch = BATCHED_QR + "; " if setting[1] else ""
    return [sys.executable, "-c", f"import sys; {patch}{main}"]


def _digest(run: Path) -> str:
    """SHA-256 over a train run's outputs that must not depend on the setting: checkpoints, policy, feature norms,
    metrics without their timings (train_config.json names the run directory, so it is left out)."""
    h = hashlib.sha256()
    for path in sorted(run.rglob("*")):
        if not path.is_file() or path.suffix not in (".npz", ".jsonl", ".json") or path.name == "train_config.json":
            continue
        data = path.read_bytes()
        if path.name == "metrics.jsonl":
            rows = [json.loads(x) for x in data.decode().splitlines()]
            data = json.dumps([{k: v for k, v in r.items() if k != "charts/SPS"} for r in rows]).encode()
        h.update(path.relative_to(run).as_posix().encode() + b"\0" + data)
    return h.hexdigest()


def train_sps(setting: tuple, data: str, updates: int, work: Path) -> float:
    from mmjax.demo import DEMO_REGIMES, DemoConfig, train_config
    from mmjax.env.knobs import parse_fee_bps
    from mmjax.runs.flags import command_line

    tc = train_config(DemoConfig(), data, parse_fee_bps(DEMO_REGIMES[0]), str(work / "run"))
    p = tc.core.ppo
    # the demo's train config, timed as a plain run: no validation, `updates` updates, a fresh --out
    tc = dataclasses.replace(tc, select_on_val=False, val_every_updates=0, overwrite=False,
                             core=dataclasses.replace(tc.core, ppo=dataclasses.replace(p, total_timesteps=updates * p.batch_size)))
    main = "from mmjax.cli import main; raise SystemExit(main())"
    cmd = [*_python(setting, main), *shlex.split(command_line("train", tc, first=("data", "out")))[1:]]
    subprocess.run(cmd, check=True, env=_env(setting), cwd=ROOT, capture_output=True, text=True)
    rows = [json.loads(x) for x in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    chunk_sps = [r["charts/SPS"] for r in rows if r["update"] % p.updates_per_chunk == 0][1:]
    return statistics.median(chunk_sps)


def bench(script: str, args: list[str], setting: tuple, work: Path) -> dict:
    out = work / f"{script}.json"
    main = (f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import runpy; "
            f"runpy.run_path({str(ROOT / 'benchmarks' / script)!r}, run_name='__main__')")
    subprocess.run([*_python(setting, main), "--json", str(out), *args], check=True,
                   env=_env(setting), cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the figures")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, each running every setting")
    ap.add_argument("--updates", type=int, default=15, help="`mmjax train` updates per run (5 per chunk)")
    ap.add_argument("--skip-benches", action="store_true", help="only `mmjax train` (no bench_env, bench_ppo)")
    a = ap.parse_args(argv)
    from mmjax.data.builtin import builtin_market

    data = builtin_market(hours=6.0)  # the demo's market (mmjax demo: 6 h, seed 0)
    load_start = os.getloadavg()
    res = {name: {"train_sps": [], "env_steps_per_s": [], "ppo_pendulum_sps": [], "ppo_market_sps": []}
           for name in SETTINGS}
    digests = {}
    for i in range(a.rounds):
        order = list(SETTINGS.items())
        for name, setting in (order if i % 2 == 0 else order[::-1]):  # alternate which setting runs first
            with tempfile.TemporaryDirectory() as tmp:
                r = res[name]
                r["train_sps"].append(round(train_sps(setting, data, a.updates, Path(tmp))))
                if i == 0:
                    digests[name] = _digest(Path(tmp) / "run")
                if not a.skip_benches:
                    e = bench("bench_env.py", ["--quick"], setting, Path(tmp))
                    r["env_steps_per_s"].append(round(e["jax_steps_per_s"]))
                    b = bench("bench_ppo.py", ["--quick", "--no-sweep", "--repeats", "3"], setting, Path(tmp))
                    r["ppo_pendulum_sps"].append(round(b["envs"][0]["steps_per_s"]))
                    r["ppo_market_sps"].append(round(b["envs"][1]["steps_per_s"]))
            print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v[-1]:,}" for k, v in res[name].items() if v), flush=True)
    identical = len(set(digests.values())) == 1
    settings = {n: {"xla_flags": f, "flax_batched_qr_init": q} for n, (f, q) in SETTINGS.items()}
    out = {"settings": settings, "results": res, "rounds": a.rounds, "updates": a.updates,
           "train_outputs_identical": identical, "train_output_sha256": digests, "cpu_count": os.cpu_count(),
           "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg(),
           "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    names = list(SETTINGS)
    print(f"\n{'best of ' + str(a.rounds) + ' rounds':<20}" + "".join(f"{n:>20}" for n in names))
    for k in res[names[0]]:
        best = [max(res[n][k], default=0) for n in names]
        if all(best):
            print(f"{k:<20}" + "".join(f"{b:>20,}" for b in best[:1])
                  + "".join(f"{f'{b:,} ({100 * (best[0] / b - 1):+.1f} %)':>20}" for b in best[1:]))
    print(f"(%: mmjax against that column) load average {load_start[0]:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end; seeded train outputs "
          + ("byte-identical across the settings" if identical else f"DIFFER: {digests}"))
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
