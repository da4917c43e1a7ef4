"""The promises of the CLI to a careful new user (issue 29), one test each: nothing lost, every bad input a clear error.

A user error is one line on stderr, ``mmjax CMD: error: ...`` naming the file, row and field (or the flag,
its value and the allowed range), exit status 2, and no traceback. A failed command leaves every
pre-existing output byte for byte as it was (`digest` before and after). Tiny inputs: almost every case
fails before anything is compiled.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mmjax import outputs, schema
from mmjax.cli import main as cli_main
from mmjax.env.build import DataConfig
from mmjax.env.knobs import EnvKnobs
from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run
from mmjax.ppo.config import PPOConfig
from mmjax.runs.run_dir import TrainConfig, TrainCore, config_json

TRAIN = ["--split-gap-steps", "50", "--episode-steps", "50", "--num-envs", "4", "--num-steps", "8",
         "--num-minibatches", "2", "--total-timesteps", "64", "--hidden-sizes", "8"]


def digest(path: Path) -> dict[str, str]:
    """sha256 of every file below ``path`` (or of ``path`` itself), by relative name."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path) if p != path else p.name): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def fails(argv: list[str], capsys, *needles: str) -> str:
    """Run `mmjax ARGV`; assert exit 2 and one line on stderr holding every needle; return that line."""
    code = cli_main(argv)
    # a warning (one line of its own, e.g. a short recording's feature windows) is not part of the error
    err = "\n".join(x for x in capsys.readouterr().err.strip().splitlines()
                    if not x.startswith(f"mmjax {argv[0]}: warning: "))
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"mmjax {argv[0]}: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "rec"
    synth_run(SynthConfig(out=str(out), hours=0.02, seed=1))
    return out


@pytest.fixture
def good_run(tmp_path, recording) -> Path:
    """A run directory as `mmjax train` leaves it (its config real; the arrays stand-ins: nothing reads them here)."""
    run = tmp_path / "run"
    run.mkdir()
    core = TrainCore(data=DataConfig(data=str(recording), split_gap_steps=50), env=EnvKnobs(episode_steps=50),
                     ppo=PPOConfig(num_envs=4, num_steps=8, num_minibatches=2, total_timesteps=64, hidden_sizes="8"))
    (run / "train_config.json").write_text(json.dumps(config_json(TrainConfig(core=core, out=str(run))), indent=2))
    for name in ("checkpoint.npz", "policy.npz", "metrics.jsonl", "feature_norm.json"):
        (run / name).write_bytes(name.encode() * 10)
    return run


# ---- tardis CSVs ---------------------------------------------------------------------------------

BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADE_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
T0_US = 1_700_000_000_000_000


def tardis_csvs(d: Path, trades: int = 600, bad_line: int | None = None, gz: bool = False) -> tuple[Path, Path]:
    """A snapshot and 2 s of increments, and ``trades`` trades; with ``bad_line`` the trade on that CSV line has size -1."""
    d.mkdir(parents=True, exist_ok=True)
    book = [f"binance,BTCUSDT,{T0_US},{T0_US + 10},true,{s},{p},1" for s, p in (("bid", 100.0), ("ask", 100.1))]
    book += [f"binance,BTCUSDT,{T0_US + k * 100_000},{T0_US + k * 100_000 + 10},false,bid,100.0,{1 + k % 3}"
             for k in range(1, 21)]
    rows = [f"binance,BTCUSDT,{T0_US + 100 + k * 3000},{T0_US + 110 + k * 3000},{k},{'buy' if k % 2 else 'sell'},"
            f"{100.1 if k % 2 else 100.0},{-1 if bad_line == k + 2 else 0.5}" for k in range(trades)]
    suffix = ".csv.gz" if gz else ".csv"
    paths = d / f"incremental_book_L2{suffix}", d / f"trades{suffix}"
    for path, header, lines in ((paths[0], BOOK_HEADER, book), (paths[1], TRADE_HEADER, rows)):
        text = "\n".join([header, *lines]) + "\n"
        path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return paths


def import_argv(book: Path, trades: Path, out: Path, *extra: str) -> list[str]:
    return ["import-tardis", "--book", str(book), "--trades", str(trades), "--out", str(out), "--quiet", *extra]


# ---- 1-7: lost or wrong, exit 0 --------------------------------------------------------------------

def test_1_a_failed_import_overwrite_keeps_the_recording_it_was_to_replace(tmp_path, capsys):
    out = tmp_path / "rec"
    assert cli_main(import_argv(*tardis_csvs(tmp_path / "good"), out)) == 0
    before = digest(out)
    fails(import_argv(*tardis_csvs(tmp_path / "bad", bad_line=500), out, "--overwrite"), capsys,
          "trades.csv: line 500", "amount")
    assert digest(out) == before
    assert cli_main(["load", "--data", str(out)]) == 0
    assert " trades: 600\n" in capsys.readouterr().out  # the old recording, whole


def test_2_synth_into_an_existing_recording_is_refused_and_overwrite_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "rec"
    synth_run(SynthConfig(out=str(out), hours=0.01, seed=1))
    before = digest(out)
    for seed in ("5", "1"):  # another seed would merge part files; the same seed would replace one silently
        fails(["synth", "--out", str(out), "--hours", "0.01", "--seed", seed], capsys, "exists", "--overwrite")
        assert digest(out) == before
    assert cli_main(["synth", "--out", str(out), "--hours", "0.01", "--seed", "5", "--overwrite"]) == 0
    assert sorted(p.name for p in out.rglob("*.parquet")) == ["part-synth-5.parquet"] * 2


def test_3_load_names_a_date_that_lost_its_trades_part(tmp_path, capsys):
    out = tmp_path / "rec"  # 6 minutes across midnight: two dates
    synth_run(SynthConfig(out=str(out), hours=0.1, seed=1, start="2026-01-05T23:57:00"))
    dates = sorted(p.name for p in (out / "trades" / "product=BTC-USD").iterdir())
    assert dates == ["date=2026-01-05", "date=2026-01-06"]
    for f in (out / "trades" / "product=BTC-USD" / dates[1]).iterdir():
        f.unlink()
    (out / "trades" / "product=BTC-USD" / dates[1]).rmdir()
    fails(["load", "--data", str(out)], capsys, "date 2026-01-06 has book but no trades")


def test_3b_load_counts_trades_per_segment(recording, capsys):
    assert cli_main(["load", "--data", str(recording)]) == 0
    text = capsys.readouterr().out
    assert "trades_per_segment_min" in text and "segments_without_trades" in text


def test_4_train_over_an_existing_run_is_refused_naming_the_flags(good_run, recording, capsys):
    before = digest(good_run)
    fails(["train", "--data", str(recording), "--out", str(good_run), *TRAIN], capsys, "--resume", "--overwrite")
    assert digest(good_run) == before


def test_5_a_failed_or_refused_train_leaves_the_run_untouched(good_run, recording, capsys):
    before = digest(good_run)
    fails(["train", "--data", str(recording), "--out", str(good_run), *TRAIN, "--num-envs", "0", "--resume"], capsys,
          "--num-envs", ">= 1, got 0")
    # the changed field is named, not two whole configs printed
    err = fails(["train", "--data", str(recording), "--out", str(good_run), *TRAIN, "--lr", "0.001", "--resume"],
                capsys, "--lr: 0.0003 -> 0.001")
    assert "num_envs" not in err
    assert digest(good_run) == before


@pytest.mark.parametrize(("argv", "needles"), [
    (["train", "--total-timesteps", "0"], ["--total-timesteps", ">= 1", "got 0"]),
    (["train", "--lr", "-1"], ["--lr", "(0, 1]", "got -1.0"]),
    (["train", "--lr", "nan"], ["--lr", "got nan"]),
    (["train", "--total-timesteps", "10"], ["--total-timesteps", "one update", "got 10"]),
    (["live", "--max-steps", "-5"], ["--max-steps", ">= 0", "got -5"]),
    (["dashboard", "--port", "99999"], ["--port", "[0, 65535]", "got 99999"]),
    (["train", "--maker-fee-bps", "1e9"], ["maker_fee_bps", "(-100, 10000)"]),
    (["import-tardis", "--book", "b", "--trades", "t", "--out", "o", "--tick-size", "-1"], ["--tick-size", "> 0", "got -1.0"]),
    (["load", "--data", ".", "--start-date", "2026-13-45"], ["--start-date", "2026-13-45", "not a calendar date"]),
    (["evaluate", "--episodes", "0"], ["--episodes", ">= 1"]),
])
def test_6_every_number_is_range_checked_before_any_work(argv, needles, recording, tmp_path, capsys):
    if argv[0] == "train":
        argv = [*argv[:1], "--data", str(recording), "--out", str(tmp_path / "run"), *TRAIN, *argv[1:]]
    if argv[0] == "live":
        argv = [*argv, "--out", str(tmp_path / "kpi.json"), "--replay", str(recording)]
    fails(argv, capsys, *needles)
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_7_a_second_writer_on_one_output_is_refused(good_run, recording, capsys):
    with outputs.lock(good_run, "mmjax train"):
        fails(["train", "--data", str(recording), "--out", str(good_run), *TRAIN, "--resume"], capsys,
              "another mmjax train is writing it", f"pid {__import__('os').getpid()}")
    with outputs.lock(good_run), pytest.raises(outputs.UserError, match="another"):
        synth_run(SynthConfig(out=str(good_run), hours=0.01, seed=1, overwrite=True))


# ---- unclear: tracebacks and misleading messages ----------------------------------------------------

def test_missing_data_or_replay_is_one_line(tmp_path, capsys):
    fails(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")], capsys, "nowhere")
    fails(["train", "--out", str(tmp_path / "run")], capsys, "--data DIR is required")
    fails(["live", "--replay", str(tmp_path / "nowhere"), "--max-steps", "5"], capsys, "nowhere: no such recording")
    fails(["dashboard", "--replay", str(tmp_path / "nowhere"), "--port", "0"], capsys, "nowhere: no such recording")


@pytest.fixture(scope="module")
def policy_files(tmp_path_factory) -> dict[str, np.ndarray]:
    """The arrays of a good exported policy (made once: it imports flax)."""
    from mmjax.policy.export import export_policy
    from tests.helpers.policy import EXTRA, make_params

    path = export_policy(make_params(seed=1)[1], tmp_path_factory.mktemp("pol") / "good.npz", EXTRA)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _policy(files: dict, path: Path, **changes) -> Path:
    np.savez(path, **{**files, **changes})
    return path


def test_truncated_foreign_random_and_other_spec_policies_are_one_line(recording, policy_files, tmp_path, capsys):
    good = _policy(policy_files, tmp_path / "p.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    rand = tmp_path / "random.npz"
    rand.write_bytes(np.random.default_rng(0).bytes(4096))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    spec = _policy(policy_files, tmp_path / "spec.npz", **{"features/spec_hash": np.asarray("0" * 64)})
    live = ["live", "--replay", str(recording), "--max-steps", "5", "--status-s", "0"]
    fails([*live, "--policy", str(truncated)], capsys, "truncated.npz", "corrupt")
    fails([*live, "--policy", str(rand)], capsys, "random.npz", "zip signature")
    fails([*live, "--policy", str(foreign)], capsys, "foreign.npz", "missing field")
    fails([*live, "--policy", str(spec)], capsys, "spec.npz", "spec hash")
    fails(["dashboard", "--replay", str(recording), "--port", "0", "--policy", str(truncated)], capsys, "truncated.npz")


def test_a_policy_with_another_observation_size_fails_before_the_backtest_compiles(recording, policy_files, tmp_path,
                                                                                    capsys):
    files = dict(policy_files)
    d = files["obs_norm/mean"].shape[0] - 1
    files.update({"obs_norm/mean": files["obs_norm/mean"][:d], "obs_norm/var": files["obs_norm/var"][:d],
                  "actor/dense_0/kernel": files["actor/dense_0/kernel"][:d], "features/names": files["features/names"][:d]})
    np.savez(tmp_path / "small.npz", **files)
    fails(["backtest", "--data", str(recording), "--policy", str(tmp_path / "small.npz"), "--quiet"], capsys,
          "small.npz", "obs_norm/mean", f"observes {d} entries")


def test_a_truncated_checkpoint_is_named_before_evaluate_tunes(good_run, recording, tmp_path, capsys):
    fails(["evaluate", "--data", str(recording), "--policy", str(good_run), "--out", str(tmp_path / "rep")], capsys,
          "checkpoint.npz", "zip signature")
    assert not (tmp_path / "rep").exists()


def test_a_truncated_csv_gz_names_its_file(tmp_path, capsys):
    book, trades = tardis_csvs(tmp_path / "in", gz=True)
    trades.write_bytes(trades.read_bytes()[:-40])
    fails(import_argv(book, trades, tmp_path / "rec"), capsys, "trades.csv.gz")
    assert not (tmp_path / "rec").exists()


def test_bad_split_fractions_and_a_file_as_output_parent_are_one_line(recording, tmp_path, capsys):
    base = ["train", "--data", str(recording), *TRAIN]
    fails([*base, "--out", str(tmp_path / "r"), "--split-fractions", "0.5,0.6,0.1"], capsys, "--split-fractions", "summing to 1")
    fails([*base, "--out", str(tmp_path / "r"), "--split-fractions", "a,b"], capsys, "--split-fractions", "'a,b'")
    (tmp_path / "file").write_text("x")  # an output below a file (read-only directories do not stop root)
    fails([*base, "--out", str(tmp_path / "file" / "run")], capsys, "file")


def test_a_header_only_trades_file_is_a_quiet_date_said_and_counted(tmp_path, capsys):
    book, trades = tardis_csvs(tmp_path / "in", trades=0)
    assert cli_main(import_argv(book, trades, tmp_path / "rec")) == 0
    assert "quiet_dates: 1" in capsys.readouterr().out
    assert len(list((tmp_path / "rec" / schema.TRADES_DIR).rglob("part-quiet.parquet"))) == 1
    assert cli_main(["load", "--data", str(tmp_path / "rec")]) == 0
    assert "trades: 0" in capsys.readouterr().out


def test_ctrl_c_in_train_is_one_line_and_the_run_stays_resumable(recording, tmp_path, capsys, monkeypatch):
    from mmjax.ppo import runner

    def interrupted(config, env, params, out, **kw):
        (Path(out) / "checkpoint.npz").write_bytes(b"kept")
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_training", interrupted)
    assert cli_main(["train", "--data", str(recording), "--out", str(tmp_path / "run"), *TRAIN]) == 130
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if ": warning: " not in line]  # warnings are one line each too
    assert len(errors) == 1 and "Traceback" not in err and "--resume" in errors[0], err
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == b"kept"
    assert (tmp_path / "run" / "train_config.json").exists()


def test_an_interrupted_write_never_leaves_a_truncated_file(tmp_path, monkeypatch):
    target = tmp_path / "learning_curve.png"
    target.write_bytes(b"old")

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        outputs.atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["learning_curve.png"]


def test_json_outputs_are_strict(recording, tmp_path, capsys):
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))

    assert strict(outputs.dumps_strict({"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": np.arange(2)})) == \
        {"a": None, "b": [None, 1.5], "c": [0, 1]}
    kpi = tmp_path / "kpi.json"
    assert cli_main(["live", "--replay", str(recording), "--max-steps", "3", "--speed", "0", "--status-s", "0",
                     "--out", str(kpi)]) == 0
    assert strict(kpi.read_text())["paper_only"] is True
    fails(["live", "--replay", str(recording), "--max-steps", "3", "--out", str(kpi)], capsys, "kpi.json", "--overwrite")


# ---- every output refused when it exists, and staged: backtest, features, backtest --grid, sweep ------

@pytest.mark.parametrize("argv", [
    ["backtest", "--data", "nowhere", "--quiet", "--json"],
    ["features", "--data", "nowhere", "--json"],
])
def test_an_existing_json_output_is_refused_before_any_work(argv, tmp_path, capsys):
    old = tmp_path / "out.json"
    old.write_text('{"made": "earlier"}\n')
    # --data nowhere: had the command started work first, the error would name the recording instead
    fails([*argv, str(old)], capsys, "out.json", "exists", "--overwrite")
    assert old.read_text() == '{"made": "earlier"}\n'


BACKTEST_RESULT = {"fills": 3, "filled_size": 0.3, "pnl": float("nan"), "mean_abs_position": 0.1, "rejected_post_only": 0,
                   "steps": 10, "segments": 1, "fills_by_kind": {"trade": 3}, "beyond_depth_steps": 0, "quote_steps": 10}


def test_backtest_json_overwrite_replaces_the_file_with_strict_json(tmp_path, monkeypatch, capsys):
    from mmjax.evaluation import backtest_command

    monkeypatch.setattr(backtest_command, "backtest", lambda cfg, progress=None: dict(BACKTEST_RESULT))
    old = tmp_path / "bt.json"
    old.write_text("old")
    assert cli_main(["backtest", "--data", "rec", "--json", str(old), "--overwrite", "--quiet"]) == 0
    assert json.loads(old.read_text(), parse_constant=pytest.fail)["pnl"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["bt.json"]  # no temporary or lock file left


def test_a_backtest_json_written_by_another_command_meanwhile_is_not_overwritten(tmp_path, monkeypatch, capsys):
    from mmjax.evaluation import backtest_command

    out = tmp_path / "bt.json"

    def slow_backtest(cfg, progress=None):
        out.write_text("another command's")  # appears while this backtest runs
        return dict(BACKTEST_RESULT)

    monkeypatch.setattr(backtest_command, "backtest", slow_backtest)
    fails(["backtest", "--data", "rec", "--json", str(out), "--quiet"], capsys, "bt.json", "exists")
    assert out.read_text() == "another command's"


@pytest.fixture
def old_dir(tmp_path) -> Path:
    """A directory an earlier command wrote (its bytes must survive every refused or failed command)."""
    d = tmp_path / "old"
    d.mkdir()
    (d / "stale.csv").write_text("written earlier\n")
    return d


def no_siblings(d: Path) -> list[str]:
    """Names beside ``d`` other than ``d`` and the test's inputs: staging, old or lock leftovers."""
    return [p.name for p in d.parent.iterdir() if p.name.startswith(f".{d.name}.")]


def test_a_grid_report_over_an_existing_out_is_refused_before_the_grid_runs(old_dir, capsys):
    before = digest(old_dir)
    fails(["backtest", "--data", "nowhere", "--grid", "nogrid.toml", "--out", str(old_dir)], capsys,
          "old", "exists", "--overwrite")
    assert digest(old_dir) == before


@pytest.fixture
def grid_args(recording, tmp_path, monkeypatch) -> list[str]:
    """`backtest --grid` flags whose grid runs instantly (no rows): these tests are about its output directory."""
    from mmjax.evaluation import grid

    monkeypatch.setattr(grid, "run_plan", lambda *a, **k: [])
    g = tmp_path / "g.toml"
    g.write_text("[fixed]\nhalf_spread_bps = [1]\n")
    return ["backtest", "--data", str(recording), "--grid", str(g), "--quiet"]


def disk_full(path: Path):
    raise OSError(28, "No space left on device", str(path))


def test_a_grid_report_that_fails_halfway_leaves_the_old_out_whole(grid_args, old_dir, monkeypatch, capsys):
    from mmjax.evaluation import grid_report

    def half(rows, out, meta):
        (out / "grid.parquet").write_bytes(b"half")
        disk_full(out / "best.json")

    monkeypatch.setattr(grid_report, "write_all", half)
    before = digest(old_dir)
    fails([*grid_args, "--out", str(old_dir), "--overwrite"], capsys, "best.json", "No space left")
    assert digest(old_dir) == before and no_siblings(old_dir) == []


def test_a_grid_report_overwrite_replaces_the_old_out_whole(grid_args, old_dir, monkeypatch, capsys):
    from mmjax.evaluation import grid_report

    monkeypatch.setattr(grid_report, "write_all",
                        lambda rows, out, meta: {"best": outputs.write_json(out / "best.json", meta)})
    assert cli_main([*grid_args, "--out", str(old_dir), "--overwrite"]) == 0
    assert sorted(p.name for p in old_dir.iterdir()) == ["best.json"] and no_siblings(old_dir) == []
    assert f"wrote {old_dir / 'best.json'}" in capsys.readouterr().out  # the published path, not the staging one


@pytest.fixture
def sweep_args(recording, monkeypatch) -> list[str]:
    """`sweep` flags whose grid program is a stand-in (scores 0, 1, ... per point): no PPO is compiled."""
    import jax.numpy as jnp

    from mmjax.ppo import grid

    def make_grid_program(ppo, env, train_params, hp_names, env_axes, val_envs):
        def program(named, keys, train_params, val_params):
            z = jnp.zeros((next(iter(named.values())).shape[0], keys.shape[0]))  # [G, S]
            score = z + jnp.arange(z.shape[0])[:, None]
            return {"val": {"mm/pnl": score, "mm/pnl:std": z + 1, "charts/episodic_return": z, "episodes": z + val_envs},
                    "metrics": {"charts/episodic_return": z[..., None], "charts/episodes": z[..., None] + 1}}
        return program, None

    monkeypatch.setattr(grid, "make_grid_program", make_grid_program)
    return ["sweep", "--data", str(recording), "--split-gap-steps", "50", "--episode-steps", "50", "--seeds", "1",
            "--val-episodes", "1", "--lr-grid", "1e-3,3e-4"]


def test_a_sweep_over_an_existing_out_is_refused_before_any_work(old_dir, capsys):
    before = digest(old_dir)
    fails(["sweep", "--data", "nowhere", "--out", str(old_dir)], capsys, "old", "exists", "--overwrite")
    assert digest(old_dir) == before


@pytest.mark.parametrize("existing", [False, True])
def test_a_sweep_that_fails_halfway_leaves_no_out_or_the_old_one_whole(existing, sweep_args, old_dir, monkeypatch,
                                                                         capsys):
    from mmjax.runs import sweep_command

    monkeypatch.setattr(sweep_command, "_plot", lambda rows, key, best, path: disk_full(path))  # after the table and json
    out = old_dir if existing else old_dir.parent / "new"
    before = digest(old_dir)
    fails([*sweep_args, "--out", str(out), *(["--overwrite"] if existing else [])], capsys, "sweep.png", "No space left")
    assert digest(old_dir) == before and no_siblings(out) == []
    assert existing or not out.exists()  # never a half-written directory that looks like a sweep


def test_a_sweep_overwrite_replaces_the_old_out_whole(sweep_args, old_dir, capsys):
    from mmjax.runs import sweep_command as S

    assert cli_main([*sweep_args, "--out", str(old_dir), "--overwrite"]) == 0
    assert sorted(p.name for p in old_dir.iterdir()) == sorted([S.TABLE, S.TABLE_MD, S.PLOT, S.BEST])
    assert json.loads((old_dir / S.BEST).read_text())["point"]["lr"] == 3e-4  # the stand-in scores the 2nd point best
    assert no_siblings(old_dir) == []


@pytest.mark.parametrize("args, words", [
    (["--seeds", "0"], ("--seeds", "[1, 4096]", "got 0")),
    (["--val-episodes", "0"], ("--val-episodes", "got 0")),
    (["--lr-grid", "1e-3,x"], ("--lr-grid", "comma-separated numbers", "'1e-3,x'")),
])
def test_a_sweep_with_a_bad_number_is_one_line_before_any_work(args, words, tmp_path, capsys):
    fails(["sweep", "--data", "nowhere", "--out", str(tmp_path / "sw"), *args], capsys, *words)
    assert not (tmp_path / "sw").exists()


def test_a_sweep_without_data_is_one_line(tmp_path, capsys):
    fails(["sweep", "--out", str(tmp_path / "sw")], capsys, "--data DIR is required")
    assert not (tmp_path / "sw").exists()
