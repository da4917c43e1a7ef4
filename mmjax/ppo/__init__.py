"""Flax PPO for any gymnax env with a Box action space: `make_train` (pure, jittable) and `run_training`.

Names are imported on first use: `mmjax.ppo.distributed` must be importable without starting a JAX
backend (gymnax starts one on import), and the runner pulls in matplotlib.
"""

import importlib

_WHERE = {
    "PPOConfig": "mmjax.ppo.config", "HParams": "mmjax.ppo.train", "TrainState": "mmjax.ppo.train",
    "make_train": "mmjax.ppo.train", "make_ppo": "mmjax.ppo.train", "deterministic_action": "mmjax.ppo.train",
    "run_training": "mmjax.ppo.runner",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mmjax.ppo' has no attribute {name!r}")
