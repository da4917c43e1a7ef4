"""Flax PPO for any gymnax env with a Box action space: `make_train` (pure, jittable) and `run_training`."""

from mmjax.ppo.config import PPOConfig
from mmjax.ppo.train import HParams, TrainState, deterministic_action, make_ppo, make_train

__all__ = ["PPOConfig", "HParams", "TrainState", "make_train", "make_ppo", "deterministic_action", "run_training"]


def __getattr__(name):
    # The runner pulls in matplotlib; import it only when asked for.
    if name == "run_training":
        from mmjax.ppo.runner import run_training

        return run_training
    raise AttributeError(name)
