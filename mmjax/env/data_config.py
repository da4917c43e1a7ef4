"""`DataConfig`: which recording, which product, how its rows split. Imports no jax (`mmjax train --help` reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmjax.outputs import UserError, check_range


@dataclass(frozen=True)
class DataConfig:
    """Which recording, which product, and how its rows split into train / validation / test."""

    data: str = field(default="", metadata={"help": "recording directory (book/ and trades/ below it)"})
    product: str | None = field(default=None, metadata={"help": "product partition to load (default: the only one)"})
    split_fractions: str = field(default="0.7,0.15,0.15", metadata={"help": "train,val,test fractions of the rows, in time order"})
    split_gap_steps: int = field(default=3000, metadata={"help": "embargo rows between splits (3000 = 5 min of 100 ms)"})

    def __post_init__(self) -> None:
        fr = parse_fractions(self.split_fractions)
        if any(not f >= 0 for f in fr) or abs(sum(fr) - 1) > 1e-9:
            raise UserError(f"--split-fractions (DataConfig.split_fractions) must be three numbers >= 0 summing to 1 "
                            f"(train,val,test), got {self.split_fractions!r}")
        check_range("DataConfig", "split_gap_steps", self.split_gap_steps, 0)


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as e:
        raise UserError(f"--split-fractions (DataConfig.split_fractions): expected three comma-separated numbers "
                        f"(train,val,test), got {text!r}") from e
    if len(parts) != 3:
        raise UserError(f"--split-fractions (DataConfig.split_fractions): expected three numbers (train,val,test), "
                        f"got {text!r}")
    return parts  # type: ignore[return-value]
