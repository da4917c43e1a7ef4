"""The built-in market's generator parameters: one frozen dataclass, each field with its meaning, unit and default.

`SynthParams()` is today's built-in market (hand-calibrated to Binance spot BTCUSDT, tick $0.01): its
output must stay byte-identical, so every mechanism added later defaults to "off" and draws nothing
then. Sizes are in the venue's size unit (``size_unit``; BTC for the built-in market, whence the
``_btc`` names). Parameters travel as JSON (`to_json_dict` / `load_params`): a params file, a
``calibration.json`` (its ``"params"``) or a named preset (``mmjax/market/presets/NAME.json``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from mmjax.outputs import UserError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class SynthParams:
    """Parameters of the synthetic order-book generator (docs/synth.md); defaults = the built-in BTC market."""

    tick_size: float = field(default=0.01, metadata={"help": "price tick, USD"})
    start_price_usd: float = field(default=62_000.0, metadata={"help": "initial mid price, USD"})
    size_unit: str = field(default="BTC", metadata={"help": "the venue's size unit written to the metadata (sizes below are in it)"})
    sigma_bps_per_sqrt_s: float = field(default=0.8, metadata={"help": "diffusive vol of the fair price, bps per sqrt(second), before impact"})
    regime_std: float = field(default=0.45, metadata={"help": "stationary std of the log volatility/activity regime"})
    regime_halflife_s: float = field(default=300.0, metadata={"help": "half-life of the volatility/activity regime, seconds"})
    regime_shift_at_frac: float = field(default=1.0, metadata={
        "help": "fraction of the recording after which the regime multiplier is scaled by regime_shift_factor (1 = never)"})
    regime_shift_factor: float = field(default=1.0, metadata={
        "help": "persistent regime change: diffusion variance and taker-order rate times this from regime_shift_at_frac on"})
    band_bps: float = field(default=0.6, metadata={"help": "the book re-quotes when the fair price leaves center +- this, bps"})
    orders_per_s: float = field(default=8.0, metadata={"help": "mean taker-order rate (Hawkes, incl. children), 1/s"})
    branching_ratio: float = field(default=0.7, metadata={"help": "Hawkes branching ratio (mean children per order), in [0, 1)"})
    hawkes_decay_s: float = field(default=0.3, metadata={"help": "mean delay of a child order after its parent, seconds"})
    flow_bias_std: float = field(default=1.0, metadata={"help": "std of the slow buy/sell bias of new taker orders (logit scale)"})
    flow_bias_halflife_s: float = field(default=5.0, metadata={"help": "half-life of that bias, seconds"})
    sign_persistence: float = field(default=0.9, metadata={"help": "probability a child order has its parent's side"})
    order_size_median_btc: float = field(default=0.0032, metadata={"help": "median taker-order size, size unit"})
    order_size_log_std: float = field(default=2.5, metadata={"help": "log-std of taker-order size (lognormal tail)"})
    order_size_max_btc: float = field(default=25.0, metadata={"help": "cap on one taker order, size unit"})
    prints_per_level: float = field(default=2.0, metadata={"help": "mean extra maker prints per level an order fills at"})
    impact_ticks_per_sqrt_btc: float = field(default=320.0, metadata={
        "help": "permanent impact of one order on the fair price, ticks per sqrt(size unit)"})
    impact_delayed_frac: float = field(default=0.8, metadata={"help": "share of an order's impact the fair price absorbs with a delay, in [0, 1]"})
    impact_delay_s: float = field(default=0.3, metadata={"help": "time constant of the delayed impact, seconds"})
    touch_size_median_btc: float = field(default=1.5, metadata={"help": "median touch size when a level becomes the touch, size unit"})
    touch_size_log_std: float = field(default=0.7, metadata={"help": "log-std of the touch size"})
    imbalance_lean: float = field(default=0.8, metadata={"help": "touch sizes scale by exp(+-lean * (F - center) / band)"})
    depth_size_median_btc: float = field(default=0.05, metadata={"help": "median size of levels 1.., size unit"})
    depth_size_log_std: float = field(default=1.5, metadata={"help": "log-std of the sizes of levels 1.."})
    gap_one_tick_prob: float = field(default=0.3, metadata={"help": "probability that a deeper level sits 1 tick from the previous one"})
    gap_median_ticks: float = field(default=25.0, metadata={"help": "median gap between adjacent levels when not 1 tick, ticks"})
    gap_log_std: float = field(default=1.2, metadata={"help": "log-std of that gap"})
    wide_prob: float = field(default=0.03, metadata={"help": "probability that a price event leaves the spread wide for a while"})
    wide_mean_rows: float = field(default=3.0, metadata={"help": "mean duration of a wide-spread episode, rows"})
    wide_mean_ticks: float = field(default=15.0, metadata={"help": "mean extra spread in an episode, ticks"})
    touch_cancel_per_s: float = field(default=0.0, metadata={
        "help": "cancellation rate of the touch queue, fraction of it per second (0 = only trades deplete it)"})
    late_walk_frac: float = field(default=0.0, metadata={
        "help": "how far the trades lead the book snapshots, intervals in [0, 2]: an order at fraction u of "
                "interval (t, t+1] walks the book of row t + floor(u + this), so its prints can lie beyond row t's "
                "touch, as in a real feed whose book lags its trades (0 = off: every order walks row t)"})
    queue_depletion_mid: bool = field(default=False, metadata={
        "help": "large-tick mode: the mid moves only when a touch queue is used up. Makers on the side the fair price "
                "approaches cancel (touch size x (1 - x)^imbalance_lean, x = (F - center) / band in [0, 1]), and the "
                "fair price leaving the band empties that touch: it departs one level, as a sweep with nothing left "
                "(off: the book re-quotes around the fair price with fresh queues)"})
    new_touch_frac: float = field(default=1.0, metadata={
        "help": "large-tick mode: the level that opens at the old opposite touch after a departure starts at this "
                "share of its drawn size and grows towards it (makers join a new level over time; 1 = full at once)"})
    queue_growth_s: float = field(default=5.0, metadata={
        "help": "large-tick mode: time constant of that growth, seconds"})
    touch_join_per_s: float = field(default=0.0, metadata={
        "help": "large-tick mode: makers join the back of each touch queue at this share of its drawn size per second "
                "(leaned like the queue; 0 = none: a queue only shrinks)"})
    size_lot: float = field(default=0.0, metadata={
        "help": "sizes are whole multiples of this lot (orders, prints and book sizes; at least one lot), size unit "
                "(0 = off: continuous sizes)"})


def validate(p: SynthParams) -> None:
    """Raise ValueError naming the first field out of range."""
    checks = [
        (0 <= p.branching_ratio < 1, "branching_ratio must be in [0, 1)"),
        (0 <= p.sign_persistence <= 1, "sign_persistence must be in [0, 1]"),
        (p.tick_size > 0 and p.start_price_usd > 100 * p.tick_size, "tick_size/start_price_usd out of range"),
        (p.band_bps > 0 and p.orders_per_s >= 0, "band_bps must be > 0 and orders_per_s >= 0"),
        (0 <= p.wide_prob <= 1 and 0 <= p.gap_one_tick_prob <= 1, "probabilities must be in [0, 1]"),
        (0 <= p.regime_shift_at_frac <= 1 and p.regime_shift_factor > 0,
         "regime_shift_at_frac must be in [0, 1] and regime_shift_factor > 0"),
        (p.touch_cancel_per_s >= 0, "touch_cancel_per_s must be >= 0"),
        (0 <= p.late_walk_frac <= 2, "late_walk_frac must be in [0, 2]"),
        (p.size_lot >= 0, "size_lot must be >= 0"),
        (p.touch_join_per_s >= 0, "touch_join_per_s must be >= 0"),
        (0 < p.new_touch_frac <= 1 and p.queue_growth_s > 0, "new_touch_frac must be in (0, 1] and queue_growth_s > 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(f"SynthParams: {msg}")


def to_json_dict(p: SynthParams) -> dict:
    """Plain dict of every field (JSON-ready)."""
    return dataclasses.asdict(p)


def from_dict(d: dict, source: str) -> SynthParams:
    """A SynthParams from a (possibly partial) dict; an unknown or mistyped key is an error naming ``source``."""
    names = {f.name: f for f in dataclasses.fields(SynthParams)}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise UserError(f"{source}: unknown generator parameter(s) {unknown}; known: see `mmjax synth --help`")
    values = {}
    for k, v in d.items():
        want = type(names[k].default)
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, want):
            raise UserError(f"{source}: parameter {k!r} must be a {want.__name__}, got {v!r}")
        values[k] = v
    p = SynthParams(**values)
    try:
        validate(p)
    except ValueError as e:
        raise UserError(f"{source}: {e}") from None
    return p


def load_params(path: str | Path) -> SynthParams:
    """Read a params JSON file, or a calibration.json (its ``"params"`` object)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such params file")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: expected a JSON object of generator parameters")
    if "params" in d and isinstance(d["params"], dict):
        d = d["params"]
    d = {k: v for k, v in d.items() if not k.startswith("_")}  # "_comment", "_source": documentation only
    return from_dict(d, str(path))


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> SynthParams:
    """The named preset; an unknown name is an error listing the known ones."""
    path = PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        raise UserError(f"unknown synth preset {name!r}; known: {', '.join(preset_names())}")
    return load_params(path)


def _preset_field(name: str, key: str, default):
    """(the preset file's path, its documentation field ``key``): the fields `load_params` skips ("_env", ...)."""
    path = PRESETS_DIR / f"{name}.json"
    load_preset(name)  # an unknown or broken preset fails here, with its message
    return path, json.loads(path.read_text()).get(key, default)


def preset_env(name: str) -> dict[str, float | int]:
    """The environment knobs a market of preset ``name`` is traded with (its ``"_env"`` object: quote size,
    inventory limit, action range, ... by `mmjax.env.knobs.EnvKnobs` field name); {} when it names none.

    They live with the preset because they depend on the market (a tick is ~0.002 bps of BTC and ~11 bps of
    a large-tick stock); `mmjax demo` applies them, the caller checks the names against `EnvKnobs`."""
    path, env = _preset_field(name, "_env", {})
    if not isinstance(env, dict) or not all(isinstance(v, (int, float)) for v in env.values()):
        raise ValueError(f"{path}: field '_env' must be an object of numbers (EnvKnobs field -> value), got {env!r}")
    return dict(env)


def preset_product(name: str) -> str | None:
    """The product name a market of preset ``name`` is written under (its ``"_product"``); None when it names none."""
    path, product = _preset_field(name, "_product", None)
    if product is not None and not (isinstance(product, str) and product.strip()):
        raise ValueError(f"{path}: field '_product' must be a non-empty product name, got {product!r}")
    return product


def overrides(base: SynthParams, given: SynthParams) -> SynthParams:
    """``base`` with every field of ``given`` that differs from the default (an explicit flag) applied on top."""
    default = SynthParams()
    changed = {f.name: getattr(given, f.name) for f in dataclasses.fields(SynthParams)
               if getattr(given, f.name) != getattr(default, f.name)}
    return dataclasses.replace(base, **changed)
