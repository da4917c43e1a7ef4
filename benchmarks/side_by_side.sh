#!/bin/bash
# Old and new code side by side in one run: each tree runs its own bench_live, bench_env and bench_ppo, alternated.
#
#   bash benchmarks/side_by_side.sh OUT TAG=TREE [TAG=TREE ...]
#   e.g. git worktree add /tmp/old 05f2f67 && bash benchmarks/side_by_side.sh /tmp/sbs old=/tmp/old new=$PWD
#
# JSON per benchmark, tree and round under OUT (live_TAG_ROUND.json, env_TAG_ROUND.json, ppo_TAG.json); the table
# lines are printed as they come. Run it with nothing else on the machine: the ratios survive load, the figures don't.
# bench_ppo runs only in trees whose bench_ppo.py has --no-sweep (it times the demo's built-in market since f41d9b3).
set -eu
OUT=$1; shift
mkdir -p "$OUT"
echo "== start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
bench() { local tree=$1; shift; (cd "$tree" && PYTHONPATH="$tree" python "$@"); }
for r in 1 2; do
  for pair in "$@"; do
    tag=${pair%%=*}; tree=${pair#*=}
    echo "-- live $tag round $r"
    bench "$tree" benchmarks/bench_live.py --json "$OUT/live_${tag}_$r.json" | grep -E "end to end|alone"
  done
done
for r in 1 2; do
  for pair in "$@"; do
    tag=${pair%%=*}; tree=${pair#*=}
    echo "-- env $tag round $r"
    bench "$tree" benchmarks/bench_env.py --json "$OUT/env_${tag}_$r.json" --curve 4096 | tail -1
  done
done
for pair in "$@"; do
  tag=${pair%%=*}; tree=${pair#*=}
  grep -q -- "--no-sweep" "$tree/benchmarks/bench_ppo.py" || { echo "-- ppo $tag: skipped (older bench_ppo)"; continue; }
  echo "-- ppo $tag"
  bench "$tree" benchmarks/bench_ppo.py --json "$OUT/ppo_${tag}.json" --no-sweep | grep -E "Pendulum|built-in|matmul"
done
echo "== end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
