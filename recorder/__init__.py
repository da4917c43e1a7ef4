"""Coinbase Advanced Trade WebSocket recorder: full-depth L2 books and trades to mmjax Parquet (no jax).

Entry points: ``python -m recorder OUT`` or ``mmjax record OUT``; see docs/recorder.md.
"""
