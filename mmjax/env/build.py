"""The env builder of train, evaluate and demo: `make_env`, and `make` in the manner of ``gymnax.make``.

The loading (recording -> features -> params per split) lives in `mmjax.env.market_load`; its names are
re-exported here for the commands that build a market and an env together.
"""

from __future__ import annotations

from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import EnvParams, MarketMakingEnv
from mmjax.env.market_load import (  # noqa: F401 - re-exported: the loading API callers reach through build
    BUILTIN_HOURS,
    BUILTIN_KNOBS,
    DataConfig,
    Market,
    builtin_params,
    load,
    load_norm,
    parse_fractions,
    save_norm,
)
from mmjax.outputs import UserError


def make_env() -> MarketMakingEnv:
    return MarketMakingEnv()


ENV_IDS = ("MarketMaking-v0",)


def make(env_id: str = "MarketMaking-v0", data: str | None = None, product: str | None = None,
         split: str | None = None, **knob_overrides) -> tuple[MarketMakingEnv, EnvParams]:
    """``(env, params)`` in the manner of ``gymnax.make``: the built-in market, or the recording ``data``.

    ``split`` ("train", "val" or "test") restricts episode starts to that split; knobs are EnvKnobs fields.
    """
    if env_id not in ENV_IDS:
        raise UserError(f"mmjax.make: unknown env id {env_id!r}; known: {ENV_IDS}")
    if data is None:
        if product is not None or split is not None:
            raise UserError("mmjax.make: product and split need data=DIR (the built-in market has one product)")
        return make_env(), builtin_params(EnvKnobs(**{**vars(BUILTIN_KNOBS), **knob_overrides}))
    market = load(DataConfig(data=data, product=product), EnvKnobs(**knob_overrides))
    if split is not None and split not in market.splits:
        raise UserError(f"mmjax.make: split must be one of {sorted(market.splits)}, got {split!r}")
    return make_env(), market.env_params(market.splits[split] if split else None)
