"""`benchmarks/run_all.py`: checks every script's flags before running any, and keeps quick figures apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

RUN_ALL = Path(__file__).resolve().parents[1] / "benchmarks" / "run_all.py"

# A stand-in benchmark: writes {"value": 1 (2 with --quick)} to --json; exits 0 without a JSON if told to.
FAKE = '''
import argparse, json
ap = argparse.ArgumentParser()
ap.add_argument("--json", required=True)
{quick}
ap.add_argument("--no-json", action="store_true")
a = ap.parse_args()
if not a.no_json:
    json.dump({{"value": 2 if getattr(a, "quick", False) else 1}}, open(a.json, "w"))
'''


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench_dir(tmp_path: Path, **scripts: bool) -> Path:
    """Fake scripts under tmp_path: name -> whether it accepts --quick."""
    for name, quick in scripts.items():
        (tmp_path / name).write_text(FAKE.format(quick='ap.add_argument("--quick", action="store_true")' if quick else ""))
    return tmp_path


def test_a_script_that_rejects_quick_stops_the_run_before_anything_runs(run_all, tmp_path, capsys):
    here = _bench_dir(tmp_path, **{"bench_a.py": True, "bench_b.py": False})
    benches = [("bench_a.py", {"value": "a"}), ("bench_b.py", {"value": "b"})]
    assert run_all.main(["--quick"], benches, here) == 2
    err = capsys.readouterr().err
    assert "nothing was run" in err and "bench_b.py does not take --quick" in err and "bench_a.py" not in err
    assert not (here / "results").exists()  # not even bench_a ran
    # without --quick both accept their flags, and the full-size figures land in results/
    assert run_all.main([], benches, here) == 0
    summary = (here / "results" / "summary.md").read_text()
    assert "| bench_a.py | a | 1 |" in summary and "| bench_b.py | b | 1 |" in summary
    assert "machine" in json.loads((here / "results" / "a.json").read_text())


def test_a_quick_pass_writes_beside_the_full_results_not_over_them(run_all, tmp_path):
    here = _bench_dir(tmp_path, **{"bench_a.py": True})
    benches = [("bench_a.py", {"value": "a"})]
    assert run_all.main([], benches, here) == 0
    full = (here / "results" / "a.json").read_text()
    assert run_all.main(["--quick"], benches, here) == 0
    assert (here / "results" / "a.json").read_text() == full
    assert json.loads((here / "results" / "quick" / "a.json").read_text())["value"] == 2
    assert "(--quick)" in (here / "results" / "quick" / "summary.md").read_text()


def test_unknown_only_names_and_stale_json_are_errors(run_all, tmp_path, capsys):
    here = _bench_dir(tmp_path, **{"bench_a.py": True})
    benches = [("bench_a.py", {"value": "a"})]
    assert run_all.main(["--only", "bench_typo.py"], benches, here) == 2
    assert "--only names no benchmark: bench_typo.py" in capsys.readouterr().err
    assert run_all.main([], benches, here) == 0
    # a script that exits 0 without writing its JSON fails, even though an old JSON is there
    (here / "bench_a.py").write_text((here / "bench_a.py").read_text().replace("if not a.no_json", "if False"))
    assert run_all.main([], benches, here) == 1
    assert "bench_a.py: exit 0, no JSON written" in (here / "results" / "summary.md").read_text()


def test_every_listed_benchmark_exists(run_all):
    missing = [s for s, _ in run_all.BENCHMARKS if not (run_all.HERE / s).exists()]
    assert not missing
