"""Chronological train / validation / test splits with an embargo gap between them.

A split is a half-open row range [start, stop). Episodes drawn from a split start at ``start`` or
later and end before ``stop``, so windows of different splits never overlap, and the embargo keeps
rolling features of one split from seeing the rows of another.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmjax.outputs import UserError


@dataclass(frozen=True)
class Split:
    name: str
    start: int  # first row (inclusive)
    stop: int  # last row (exclusive)

    @property
    def num_steps(self) -> int:
        return self.stop - self.start


def chronological_splits(
    num_steps: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    gap_steps: int = 3000,
) -> dict[str, Split]:
    """Split rows [0, num_steps) into train, val, test in time order with ``gap_steps`` rows between.

    The gap (default 3000 rows = 5 min of 100 ms) is dropped from every split.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise UserError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    usable = num_steps - 2 * gap_steps
    if usable <= 0:
        raise UserError(f"{num_steps} rows cannot hold three splits with gaps of {gap_steps} rows")
    sizes = [int(usable * f) for f in fractions]
    sizes[-1] = usable - sizes[0] - sizes[1]
    out, start = {}, 0
    for name, size in zip(("train", "val", "test"), sizes, strict=True):
        out[name] = Split(name, start, start + size)
        start += size + gap_steps
    return out
