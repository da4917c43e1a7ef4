"""How a fill happened: the codes of ``info["bid_fill_kind"]``, one home for the JAX rules, the NumPy twin,
the KPIs, the backtest and the live trader (no jax, no NumPy).

Taker volume at the order's price beyond the queue ahead, taker flow through its price (the level had to
empty first), or the book's opposite touch reaching its price.
"""

NO_FILL, FILL_QUEUE, FILL_THROUGH, FILL_CROSSED = 0, 1, 2, 3
FILL_KINDS = {FILL_QUEUE: "behind_queue", FILL_THROUGH: "traded_through", FILL_CROSSED: "crossed"}
