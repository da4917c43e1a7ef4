"""`EnvKnobs`: every knob of the market-making task, defined once with its meaning, unit and default.

The JAX env (`make_params`), the NumPy simulator (`mmjax.env.sim_np`), the live engine, `mmjax train`,
`mmjax evaluate` and `mmjax live` all read this one dataclass; a `policy.npz` stores it (``asdict``) so a
deployed policy runs with the knobs it was trained under. `EnvOverrides`, derived from it here, holds the same
knobs each optional, for the commands that override knobs decided elsewhere (a run's, a market preset's).
NumPy/stdlib only: the live path imports it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mmjax.outputs import UserError

# Knobs that change the compiled program's shapes (static in `EnvParams`); the others are traced floats.
STATIC_KNOBS = ("episode_steps", "latency_steps")

# The action mapping's fixed shape (mmjax/env/actions.py documents it; sim_np repeats it in NumPy):
ACTION_PULL_ABOVE = 0.9  # a side's action above this means "no quote on this side"
ACTION_PULL = 1.0  # an action that pulls: what the abstaining baseline sends on both sides
ACTION_NEAR_TICKS = 8  # ticks behind the touch that get one action band each (tick precision near the touch)


def action_range_ticks(mid_ticks, anchor_ticks, max_offset_bps, xp=np):
    """K: the action's farthest distance behind the touch, whole ticks (>= 1): ``max_offset_bps`` of the mid.

    The one home of K for the JAX env (`mmjax.env.actions`, ``xp=jax.numpy``), the NumPy twin and the
    baselines (NumPy by default). Every operation is float32 (a multiply, an add, a floor), so the
    NumPy path reproduces the device's bits. Returns float32 [...], or an int for scalar NumPy inputs.
    """
    f32 = xp.float32
    k = f32(max_offset_bps) * (f32(mid_ticks) + f32(anchor_ticks)) * f32(1e-4)
    if isinstance(k, np.float32):  # one quote of the NumPy twin: a ufunc on a scalar costs ~1 us
        return max(math.floor(k), 1)
    return xp.maximum(xp.floor(k), f32(1.0))


def episode_span(episode_steps: int, latency_steps: int) -> int:
    """Rows an episode reads from its start row t0 on: rows [t0, t0 + span), with span = E + L + 1.

    Its E steps read rows t0 .. t0 + E, and the last decision (step E - 1) rests from row t0 + E - 1 + L,
    so its first interval of fills reaches row t0 + E + L: the episode needs that many gap-free rows
    (``steps_to_gap[t0] > span``) inside its split (``t0 + span <= split end``).
    """
    return int(episode_steps) + int(latency_steps) + 1

# Named maker-fee regimes, bps of fill notional (negative = rebate), each with the venue tier it stands for.
FEE_PRESETS: dict[str, tuple[float, str]] = {
    "coinbase-top": (0.0, "Coinbase Advanced Trade's best maker tier (0 bps)"),
    "rebate": (-0.5, "a maker rebate as in large perpetual venues' market-maker programs (hftbacktest's examples)"),
    "coinbase-retail": (40.0, "Coinbase Advanced Trade's entry maker tier (40 bps)"),
}


def parse_fee_bps(text: str) -> float:
    """A maker fee in bps, given as a number or a preset name (`FEE_PRESETS`)."""
    if text in FEE_PRESETS:
        return FEE_PRESETS[text][0]
    try:
        return float(text)
    except ValueError:
        raise UserError(f"maker fee {text!r}: give bps (e.g. -0.5) or a preset: {', '.join(FEE_PRESETS)}") from None


def fee_preset_name(fee_bps: float) -> str:
    """The preset whose fee this is, else the number itself (e.g. "rebate", "1.5bps")."""
    for name, (bps, _) in FEE_PRESETS.items():
        if bps == fee_bps:
            return name
    return f"{fee_bps:g}bps"


@dataclass(frozen=True)
class EnvKnobs:
    """Quoting, latency, fee and reward knobs of the market-making environment (docs/env.md)."""

    quote_size: float = field(default=0.01, metadata={
        "help": "size of each quote, venue size unit (BTC for BTC-USD)"})
    max_inventory: float = field(default=0.1, metadata={
        "help": "inventory limit, venue size unit: at q >= +this no bid, at q <= -this no ask (a resting one is "
                "cancelled); orders already at the venue fill in full, so |q| may pass it by those"})
    latency_steps: int = field(default=1, metadata={
        "help": "grid steps between a decision and its order resting at the venue (>= 1)"})
    maker_fee_bps: float = field(default=0.0, metadata={
        "help": "maker fee on fill notional, bps (negative = rebate), or a preset: "
                + "; ".join(f"{k} = {v:g} ({why})" for k, (v, why) in FEE_PRESETS.items()),
        "parse": parse_fee_bps})
    risk_aversion: float = field(default=0.01, metadata={
        "help": "inventory risk aversion in r = dPnL - risk_aversion q^2 sigma^2 dt - eta ..., 1/$ (docs/env.md)"})
    eta: float = field(default=0.0, metadata={
        "help": "dampening of inventory gains in the reward: - eta * max(0, q dmid), unitless"})
    max_offset_bps: float = field(default=10.0, metadata={
        "help": "action range: the farthest quote behind the touch, bps of mid, counted in whole ticks (mmjax/env/actions.py)"})
    requote_margin: float = field(default=0.0, metadata={
        "help": "hysteresis of the action mapping, action units (one near-touch tick band = 0.106): a known order keeps "
                "its price (and queue place) while an action within this of the decided one maps to it; 0 = off "
                "(mmjax/env/actions.py)"})
    episode_steps: int = field(default=3000, metadata={
        "help": "steps per episode, grid steps (3000 = 5 min of 100 ms); time_left_frac runs over it"})

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise UserError("EnvKnobs: " + "; ".join(problems))

    def traced(self) -> dict[str, float]:
        """The knobs that `EnvParams` carries as traced arrays (vmappable), by name."""
        return {k: float(v) for k, v in dataclasses.asdict(self).items() if k not in STATIC_KNOBS}


def _given(self) -> dict:
    """The knobs set here, by name (unset ones are left out)."""
    return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def _over(self, base: EnvKnobs) -> EnvKnobs:
    """``base`` with the knobs set here replacing its own."""
    return dataclasses.replace(base, **self.given())


def _check(self) -> None:
    EnvKnobs(**self.given())  # each knob's own range, checked once and named (UserError) before anything runs


def _optional(f: dataclasses.Field, hint) -> tuple:
    """An `EnvKnobs` field as an optional one: ``hint | None``, default None, the same help (and parser)."""
    unset = "; unset: the knobs in force (the trained policy's, the market preset's, else EnvKnobs')"
    return f.name, hint | None, field(default=None, metadata={**f.metadata, "help": f.metadata["help"] + unset})


# `EnvKnobs` with every knob optional (None: not given), derived here so each knob's name, type, unit and help stay
# defined once: the commands that run over knobs decided elsewhere (a trained run's, a market preset's) take these
# as overrides (`mmjax backtest`, `mmjax evaluate`, `mmjax demo`). Flat flags, the same names as `mmjax train`'s.
EnvOverrides = dataclasses.make_dataclass(
    "EnvOverrides",
    [_optional(f, typing.get_type_hints(EnvKnobs)[f.name]) for f in dataclasses.fields(EnvKnobs)],
    frozen=True,
    namespace={"__module__": __name__, "given": _given, "over": _over, "__post_init__": _check,
               "__doc__": "Env knobs to override, each None unless given (`EnvKnobs`' fields, all optional)."})


def validate(k: EnvKnobs) -> list[str]:
    """Every violated constraint, each naming its field (empty when the knobs are usable)."""
    out = []
    for name in ("quote_size", "max_inventory"):
        v = getattr(k, name)
        if not (math.isfinite(v) and v > 0):
            out.append(f"{name} must be a finite number > 0, got {v}")
    for name in ("latency_steps", "episode_steps"):
        v = getattr(k, name)
        if int(v) != v or v < 1:
            out.append(f"{name} must be a whole number >= 1, got {v}")
    for name in ("risk_aversion", "eta", "max_offset_bps"):
        v = getattr(k, name)
        if not (math.isfinite(v) and v >= 0):
            out.append(f"{name} must be a finite number >= 0, got {v}")
    if not (math.isfinite(k.requote_margin) and 0.0 <= k.requote_margin <= 2.0):
        out.append(f"requote_margin (--requote-margin) must be in [0, 2] action units, got {k.requote_margin:g}")
    if not (math.isfinite(k.maker_fee_bps) and -100.0 < k.maker_fee_bps < 1e4):
        out.append(f"maker_fee_bps (--maker-fee-bps) must be in (-100, 10000) bps, got {k.maker_fee_bps:g}")
    return out


def knobs_from_mapping(stored: Mapping[str, float], base: EnvKnobs | None = None) -> tuple[EnvKnobs, list[str]]:
    """Knobs stored with a policy applied over ``base``; returns them and one note per value that changed.

    Unknown keys are ignored (a newer file's extras); missing keys keep ``base`` (an older file).
    """
    base = base or EnvKnobs()
    names = {f.name for f in dataclasses.fields(EnvKnobs)}
    changes, notes = {}, []
    for key, value in stored.items():
        if key not in names:
            continue
        value = int(value) if key in STATIC_KNOBS else float(value)
        if getattr(base, key) != value:
            notes.append(f"{key} = {value:g} from the policy file (flag/default was {getattr(base, key):g})")
        changes[key] = value
    return dataclasses.replace(base, **changes), notes
