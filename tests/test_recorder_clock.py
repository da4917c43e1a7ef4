"""The receive clock and wall-clock steps: never made-up rows, never squeezed ones (#19 hole 2)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mmjax import schema
from recorder.clock import ReceiveClock
from tests.mock_coinbase import load_capture
from tests.recorder_fakes import FaultClock
from tests.recorder_harness import FIXTURE, GRID_MS, PRODUCTS, record_against_mock, verify
from tests.recorder_reference import read_dataset, read_raw

MS = 1_000_000


class ScriptedTime:
    """Both clocks set by hand (ns)."""

    def __init__(self):
        self.wall, self.mono = 1_000 * 10**9, 0

    def wall_ns(self):
        return self.wall

    def mono_ns(self):
        return self.mono

    def advance(self, ns):
        self.wall += ns
        self.mono += ns


def test_stamps_follow_the_monotonic_clock_and_steps_reanchor_them():
    t = ScriptedTime()
    clock = ReceiveClock(100 * MS, t)
    a = clock.now_ns()
    t.advance(10 * MS)
    t.wall += 50 * MS  # within the tolerance (e.g. a slow slew): ignored
    assert clock.now_ns() == a + 10 * MS and clock.take_step() == 0
    t.advance(10 * MS)
    t.wall += 5_000 * MS  # a forward step: the stamp jumps with it, and the step is reported
    b = clock.now_ns()
    assert b == t.wall and clock.take_step() == 5_050 * MS and clock.take_step() == 0
    t.wall -= 3_000 * MS  # a backward step: stamps hold just above the last one
    assert clock.now_ns() == b + 1 and clock.take_step() == -3_000 * MS
    t.advance(1_000 * MS)
    assert clock.now_ns() == b + 2  # the new wall time is still behind the last stamp
    t.advance(2_500 * MS)
    assert clock.now_ns() == t.wall > b and clock.steps == 2


class Descheduled(ScriptedTime):
    """Every read moves time on 1 µs; the ``late``-th wall read comes 200 ms late (a thread descheduled)."""

    def __init__(self, late: int):
        super().__init__()
        self.reads, self.late = 0, late

    def mono_ns(self):
        self.advance(1_000)
        return self.mono

    def wall_ns(self):
        self.reads += 1
        if self.reads == self.late:
            self.advance(200 * MS)
        return self.wall


@pytest.mark.parametrize("late", [1, 4])  # while anchoring, and while stamping
def test_a_descheduled_read_is_not_a_clock_step(late):
    clock = ReceiveClock(100 * MS, Descheduled(late))
    for _ in range(5):
        clock.now_ns()
    assert clock.steps == 0 and clock.take_step() == 0


@pytest.fixture(scope="module")
def capture():
    return load_capture(FIXTURE)


@pytest.mark.parametrize("step_s", [0.6, -0.6])
def test_a_wall_clock_step_is_a_gap_and_rows_keep_real_time(capture, tmp_path, step_s):
    """Before: +5 s made 50 flat rows without after_gap; -3 s squeezed 4 s of updates into 0.95 s of rows."""
    fault = FaultClock()
    stamps: list[tuple[int, int]] = []  # (receive stamp, real monotonic ns) of every stamp taken

    def log_stamps(rec):
        now_ns = rec.clock.now_ns

        def logged():
            s = now_ns()
            stamps.append((s, fault.mono_ns()))
            return s

        rec.clock.now_ns = logged

    async def step_during_replay(mock, rec):
        while mock.position < 200:
            await asyncio.sleep(0.005)
        fault.step(int(step_s * 1e9))

    run = record_against_mock(capture, tmp_path, time_source=fault, setup=log_stamps, during=step_during_replay,
                              ticker=False)
    verify(tmp_path, run)
    c = run.c
    assert c.clock_steps == 1 and c.reconnects == 0, (c, run.rec.disconnect_reasons)
    step_real = fault.steps[0][0]
    stamp_of = np.array([s for s, _ in stamps])
    real_of = np.array([r for _, r in stamps])
    raw = np.array([t for t, d, _ in read_raw(tmp_path) if d == "recv"])
    for p in PRODUCTS:
        t = read_dataset(tmp_path, schema.BOOK_DIR, p)
        g = t.column("ts_recv_ns").to_numpy()
        gap = t.column("after_gap").to_numpy(zero_copy_only=False)
        before = g[g <= stamp_of[real_of < step_real].max()]
        after = g[len(before):]
        assert len(before) > 5 and len(after) > 5 and gap[len(before)], f"{p}: no gap at the step"
        # no row is made up: each segment's rows span no more time than frames really took to arrive
        for seg in (before, after):
            inside = (raw > seg[0]) & (raw <= seg[-1])
            real_span = np.interp(raw[inside], stamp_of, real_of)
            assert (seg[-1] - seg[0]) - (real_span.max() - real_span.min()) < 3 * GRID_MS * MS
        # nothing is squeezed: consecutive rows without a gap hold frames that came within one grid step
        for a, b in zip(g[:-1][~gap[1:]], g[1:][~gap[1:]], strict=True):
            within = raw[(raw > a) & (raw <= b)]
            if len(within) > 1:
                real = np.interp(within, stamp_of, real_of)
                assert real.max() - real.min() <= 2 * GRID_MS * MS, f"{p}: frames of {np.ptp(real) / 1e6:.0f} ms in one row"
