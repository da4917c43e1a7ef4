"""mmjax: market-making reinforcement learning on real crypto order books.

Importing the package imports no jax: the recorder, the NumPy policy and the dashboard stay jax-free.
"""

__version__ = "0.1.0"


def make(env_id: str = "MarketMaking-v0", **kwargs):
    """``(env, params)`` like ``gymnax.make``: see `mmjax.env.build.make` (imports jax on first call)."""
    from mmjax.env.build import make as _make

    return _make(env_id, **kwargs)
