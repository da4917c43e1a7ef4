"""Market-making environment: the knobs (`knobs`), the rules in JAX (`fills`, `steps`, `account`, `observe`,
composed by the gymnax env `market_env`; values in `state`) and in NumPy (`sim_np` with `sim_quotes`, values in
`sim_types`, and the gymnasium adapter `reference`).

`knobs` and `sim_np` import no jax (the live path uses them); `reference` imports no jax but needs gymnasium.
Import them directly (``from mmjax.env import sim_np``) from jax-free code.
"""
