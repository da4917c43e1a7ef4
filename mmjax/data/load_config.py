"""`LoadConfig`, the config of `mmjax load`. Imports no jax, so `mmjax load --help` starts fast."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoadConfig:
    """Read and validate a recording, move it to the device, and print the load report and a summary."""

    data: str = field(metadata={"help": "recording directory (holds book/ and trades/)"})
    product: str | None = field(default=None, metadata={"help": "product partition; required if several"})
    start_date: str | None = field(default=None, metadata={"help": "first UTC date to load, YYYY-MM-DD (inclusive)"})
    end_date: str | None = field(default=None, metadata={"help": "last UTC date to load, YYYY-MM-DD (inclusive)"})
    on_crossed: str = field(default="drop", metadata={
        "help": "crossed/locked book rows: drop (counted) or raise", "choices": ["drop", "raise"]})
