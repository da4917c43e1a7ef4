"""--tensorboard: the runner's metric rows as TensorBoard scalars (CleanRL names, env-step axis), purged on resume."""

import struct
import sys

import pytest

from mmjax.ppo import PPOConfig
from mmjax.ppo.envs import ProbeEnv, ProbeParams
from mmjax.ppo.runner import run_training
from mmjax.ppo.tensorboard import TensorBoardWriter

CFG = PPOConfig(total_timesteps=4 * 8 * 3, num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1,
                hidden_sizes="8", updates_per_chunk=1)


def _scalars(logdir):
    """(tag, step) -> value from every event file in logdir (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out[(v.tag, event.step)] = v.simple_value
    return out


def test_metrics_go_to_tensorboard_under_cleanrl_names(tmp_path):
    pytest.importorskip("tensorboardX")
    run_training(CFG, ProbeEnv("constant"), ProbeParams(max_steps_in_episode=4), tmp_path / "run",
                 progress=lambda _: None, tensorboard_dir=str(tmp_path / "tb"))
    got = _scalars(tmp_path / "tb")
    steps = [CFG.batch_size * u for u in (1, 2, 3)]
    for tag in ("charts/episodic_return", "charts/SPS", "losses/value_loss", "losses/approx_kl",
                "losses/explained_variance", "charts/learning_rate"):
        assert [(tag, s) in got for s in steps] == [True] * 3, tag
    assert got[("charts/episodic_return", steps[-1])] == pytest.approx(4.0)  # 4 steps of reward 1


def test_missing_tensorboardx_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import now fails as if not installed
    with pytest.raises(ImportError, match=r"--tensorboard .*needs tensorboardX.*pip install"):
        TensorBoardWriter(tmp_path)
