"""The receive clock: monotonic time anchored to wall time, with wall-clock steps detected.

Stamps are ``wall0 + (mono - mono0)``: NTP's slewing moves the wall and the monotonic clock alike,
so they stay together, while a *step* of the wall clock (NTP stepping, an operator, a VM resuming)
shows as the two drifting apart. A drift beyond ``step_tolerance_ns`` re-anchors the clock to the
new wall time and is reported (`ReceiveClock.take_step`), so that the engine records a gap instead
of writing made-up rows (forward step) or squeezing real ones together (backward step). Stamps
never go backwards: after a backward step they hold just above the last one until the new wall
time catches up, and no row is written over that stretch.
"""

from __future__ import annotations

import time


class SystemTime:
    """The machine's clocks."""

    @staticmethod
    def wall_ns() -> int:
        return time.time_ns()

    @staticmethod
    def mono_ns() -> int:
        return time.monotonic_ns()


class ReceiveClock:
    """``now_ns()`` -> strictly increasing receive stamps (ns UTC); ``take_step()`` -> a step seen since."""

    def __init__(self, step_tolerance_ns: int, source=None):
        if step_tolerance_ns <= 0:
            raise ValueError(f"step tolerance must be positive, got {step_tolerance_ns} ns")
        self.source = source if source is not None else SystemTime()
        self.tolerance_ns = int(step_tolerance_ns)
        self.mono0, self.wall0, _ = self._read()
        self.last = 0
        self.steps = 0
        self._step_ns = 0  # signed size of steps not yet taken

    def _read(self) -> tuple[int, int, bool]:
        """(mono, wall, tight): a thread descheduled between the reads would look like a step, so a
        pair counts as tight only if a second monotonic read follows within half the tolerance."""
        src = self.source
        for _ in range(3):
            mono = src.mono_ns()
            wall = src.wall_ns()
            if src.mono_ns() - mono < self.tolerance_ns // 2:
                return mono, wall, True
        return mono, wall, False

    def now_ns(self) -> int:
        mono, wall, tight = self._read()
        stamp = self.wall0 + (mono - self.mono0)
        drift = wall - stamp
        if tight and abs(drift) > self.tolerance_ns:
            self.mono0, self.wall0 = mono, wall
            self.steps += 1
            self._step_ns += drift
            stamp = wall
        if stamp <= self.last:
            stamp = self.last + 1
        self.last = stamp
        return stamp

    def take_step(self) -> int:
        """Signed ns of the wall-clock steps seen since the last call (0: none)."""
        step, self._step_ns = self._step_ns, 0
        return step
