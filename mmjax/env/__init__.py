"""Market-making environment: pure fill rules (`fills`), the gymnax env (`market_env`), a NumPy twin (`reference`).

`reference` imports no jax; import it directly (``from mmjax.env import reference``) from jax-free code.
"""
