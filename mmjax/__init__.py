"""mmjax: market-making reinforcement learning on real crypto order books.

Importing the package imports no jax: the recorder, the NumPy policy and the dashboard stay jax-free.
"""

__version__ = "0.1.0"
