"""Exported policies: the file format (`format`), the exporter (`export`, needs the trained params) and the
NumPy-only runtime (`numpy_policy`, no jax) that the live engine and the dashboard load."""
