"""mmjax: market-making reinforcement learning on real crypto order books.

Importing the package imports no jax: the recorder, the NumPy policy and the dashboard stay jax-free. It does
set mmjax's one XLA default (`mmjax.xla_cpu`: the Eigen CPU thread pool off, unless XLA_FLAGS names it) before
any jax backend starts.
"""

from mmjax import xla_cpu as _xla_cpu

_xla_cpu.apply_default()

__version__ = "0.1.0"


def make(env_id: str = "MarketMaking-v0", **kwargs):
    """``(env, params)`` like ``gymnax.make``: see `mmjax.env.build.make` (imports jax on first call)."""
    from mmjax.env.build import make as _make

    return _make(env_id, **kwargs)
