"""`mmjax sweep`: grid x seeds on a recording, selection on the validation split, table, plot, winning config."""

import csv
import json

import pytest

from mmjax.env.build import DataConfig
from mmjax.env.knobs import EnvKnobs
from mmjax.market.synth import SynthConfig
from mmjax.market.synth import run as synth_run
from mmjax.ppo.config import PPOConfig
from mmjax.runs.run_dir import TrainCore
from mmjax.runs.sweep_command import SweepConfig, run


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    synth_run(SynthConfig(out=str(root / "market"), hours=0.25, seed=5))
    return root / "market"


def test_sweep_writes_table_plot_and_the_validation_winner(market, tmp_path):
    core = TrainCore(data=DataConfig(data=str(market), split_gap_steps=50), env=EnvKnobs(episode_steps=50),
                     ppo=PPOConfig(total_timesteps=4 * 8 * 2, num_envs=4, num_steps=8, num_minibatches=2,
                                   update_epochs=1, hidden_sizes="8"))
    cfg = SweepConfig(core=core, out=str(tmp_path / "sw"), lr_grid="1e-3,3e-4", risk_aversion_grid="0,0.05", seeds=2, val_episodes=3)
    lines = []
    assert run(cfg, progress=lines.append) == 0
    rows = list(csv.DictReader(open(tmp_path / "sw" / "sweep_table.csv")))
    assert [(float(r["lr"]), float(r["risk_aversion"])) for r in rows] == [(1e-3, 0), (1e-3, 0.05), (3e-4, 0), (3e-4, 0.05)]
    assert all(float(r["val_episodes"]) == 3 for r in rows)  # one validation episode per env
    best = json.loads((tmp_path / "sw" / "sweep_best.json").read_text())
    assert best["score"] == max(float(r["val_pnl"]) for r in rows)
    assert {best["point"]["lr"], best["train_flags"]["lr"]} <= {1e-3, 3e-4}
    assert best["command"].startswith(f"mmjax train --data {market}")
    assert f"--out {tmp_path / 'sw_best'}" in best["command"]  # beside the sweep: a sweep --overwrite cannot take it
    assert f"--risk-aversion {best['point']['risk_aversion']}" in best["command"]  # neither value is the default
    assert (tmp_path / "sw" / "sweep.png").stat().st_size > 1000
    assert any(line.startswith("winner") for line in lines)


def test_bad_grid_values_name_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--lr-grid expects comma-separated numbers"):
        SweepConfig(lr_grid="1e-3,fast").axes()
