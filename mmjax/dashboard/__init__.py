"""Plotly Dash dashboard of the paper trader: figures (pure), layout, callbacks (pure + wiring), app/server.

No jax here. Paper trading only: nothing in mmjax sends an order.
"""
