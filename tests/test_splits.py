"""Chronological splits: ordered, non-overlapping, separated by the embargo, covering the rest."""

from __future__ import annotations

import pytest

from mmjax.data.splits import Split, chronological_splits


@pytest.mark.parametrize(("n", "fractions", "gap"), [(100_000, (0.7, 0.15, 0.15), 3000), (1000, (0.5, 0.25, 0.25), 10),
                                                     (10_007, (0.6, 0.2, 0.2), 0), (999, (1 / 3, 1 / 3, 1 / 3), 7)])
def test_splits_are_chronological_disjoint_and_embargoed(n, fractions, gap):
    s = chronological_splits(n, fractions, gap)
    train, val, test = s["train"], s["val"], s["test"]
    assert list(s) == ["train", "val", "test"]
    assert train.start == 0 and test.stop == n  # nothing lost at the ends
    assert val.start - train.stop == gap and test.start - val.stop == gap  # exactly the embargo between
    assert train.num_steps + val.num_steps + test.num_steps == n - 2 * gap
    for a, b in ((train, val), (val, test)):
        assert a.stop <= b.start  # half-open ranges never overlap
    for sp, f in zip((train, val), fractions[:2], strict=True):
        assert abs(sp.num_steps - f * (n - 2 * gap)) < 1
    covered = set()
    for sp in s.values():
        rows = set(range(sp.start, sp.stop))
        assert not covered & rows
        covered |= rows
    assert len(covered) == n - 2 * gap


def test_default_embargo_is_five_minutes_of_100ms_rows():
    s = chronological_splits(864_000)
    assert s["val"].start - s["train"].stop == 3000
    assert s["train"] == Split("train", 0, int((864_000 - 6000) * 0.7))


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, -0.1), (0.5, 0.3, 0.3)])
def test_bad_fractions_raise(fractions):
    with pytest.raises(ValueError, match="fractions"):
        chronological_splits(10_000, fractions, 10)


def test_too_few_rows_raise():
    with pytest.raises(ValueError, match="cannot hold three splits"):
        chronological_splits(6000, gap_steps=3000)
