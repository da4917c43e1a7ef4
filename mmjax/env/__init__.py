"""Market-making environment: the knobs (`knobs`), the rules in JAX (`fills`, the gymnax env `market_env`) and
in NumPy (`sim_np`, with the gymnasium adapter `reference`).

`knobs` and `sim_np` import no jax (the live path uses them); `reference` imports no jax but needs gymnasium.
Import them directly (``from mmjax.env import sim_np``) from jax-free code.
"""
