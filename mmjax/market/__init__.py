"""The synthetic market: its generator and its calibration to a recording.

Generator (data stage, upstream of features and the env): `params` (SynthParams, presets), `flow` (order
arrivals), `book` (the book), `synth` (SynthConfig, `generate`, write a recording). Calibration: `stylized`,
`queue_facts`, `facts` and `fact_ci` (the facts of a recording, with block-bootstrap CIs), `calibrate` (fit the
generator to them; its fill round, `mmjax.evaluation.fill_fit`, measures the maker's fill facts through a
backtest of the env, so it lives with the evaluation, downstream of the env). `command` is `mmjax synth`.

This file imports nothing, so the built-in market (`mmjax.data.builtin`) reaches the generator without jax.
"""
