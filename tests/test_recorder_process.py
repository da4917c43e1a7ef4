"""The recorder as a process: SIGTERM flushes and exits 0, SIGKILL leaves only readable files, no jax,
the command lines the README gives."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers.recorder_process import ROOT, _env, parquet_files, spawn_recorder, wait_for
from tests.mock_coinbase import MockInThread, load_capture

FIXTURE = Path(__file__).parent / "fixtures" / "coinbase_small.jsonl.gz"


@pytest.fixture(scope="module")
def capture():
    return load_capture(FIXTURE)


def test_sigterm_flushes_everything_and_exits_0(capture, tmp_path):
    out = tmp_path / "rec"
    with MockInThread(capture, speed=4.0) as mock:
        proc = spawn_recorder(out, mock.url, flush_s=600.0)  # no periodic flush: only the shutdown flush writes
        try:
            wait_for(lambda: (tmp_path / "status.json").exists() and mock.position > 100, 30)
            assert parquet_files(out) == []
            proc.send_signal(signal.SIGTERM)
            log, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, log
    files = parquet_files(out)
    assert {f.parent.parent.parent.name for f in files} == {"book", "trades"}
    rows = sum(pq.read_table(f).num_rows for f in files if "book" in f.parts)
    assert rows > 10
    assert "msgs/s" in log and "done:" in log


def test_sigkill_leaves_only_readable_files(capture, tmp_path):
    from mmjax.data.loader import read_recording

    out = tmp_path / "rec"
    with MockInThread(capture, speed=4.0) as mock:
        proc = spawn_recorder(out, mock.url, flush_s=0.1)
        try:
            wait_for(lambda: len([f for f in parquet_files(out) if "book" in f.parts]) >= 6, 30)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    for f in parquet_files(out):  # every file under a .parquet name is complete
        assert pq.read_table(f).num_rows > 0
    assert all(p.name.startswith(".") for p in out.rglob("*.tmp"))  # leftovers are hidden temp files
    raw = read_recording(out, "BTC-USD")
    assert raw.num_steps > 5 and raw.after_gap[0]


def test_recorder_never_imports_jax():
    code = ("import sys, recorder.client, recorder.__main__, recorder.engine, recorder.writer, mmjax.record; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'gymnax')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), check=True, timeout=60)


def test_recorder_imports_nothing_from_mmjax_but_the_recording_format():
    """recorder/ sits upstream of mmjax: it may use mmjax.schema and nothing else (no cycle via mmjax.cli)."""
    import ast

    for path in sorted((ROOT / "recorder").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] == "mmjax":
                    assert name == "mmjax.schema" or (name == "mmjax" and all(
                        a.name == "schema" for a in node.names)), f"{path.name} imports {name}"


def test_cli_help_lists_record_flags():
    res = subprocess.run([sys.executable, "-m", "mmjax", "record", "--help"], cwd=ROOT, capture_output=True,
                         text=True, env=_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--watchdog-s" in res.stdout and "--grid-ms" in res.stdout and "--raw" in res.stdout
    assert "--out" in res.stdout and "--products-url" in res.stdout and "--lot-size" in res.stdout


@pytest.mark.parametrize("command", [["-m", "mmjax", "record", "--out", "{out}"], ["-m", "recorder", "--out", "{out}"],
                                     ["-m", "recorder", "{out}"]])
def test_the_readme_command_records(capture, tmp_path, command):
    """`mmjax record --products BTC-USD --out DIR` as the README gives it (and `python -m recorder [--out] DIR`)."""
    out = tmp_path / "rec"
    with MockInThread(capture, speed=25.0) as mock:
        args = [a.format(out=out) for a in command] + [
            "--products", "BTC-USD", "--url", mock.url, "--tick-size", "0.01", "--lot-size", "0.00000001",
            "--send-interval-s", "0.01", "--duration-s", "1.5", "--status-s", "0"]
        res = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    files = parquet_files(out)
    assert {f.parent.parent.parent.name for f in files} == {"book", "trades"}


def test_a_command_line_without_an_output_directory_is_refused():
    res = subprocess.run([sys.executable, "-m", "recorder", "--products", "BTC-USD"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--out DIR" in res.stderr
