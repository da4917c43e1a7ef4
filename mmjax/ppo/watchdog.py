"""A watchdog for long commands (train, sweep, demo, evaluate): no progress for too long means a wedge, so say so.

A run that stops making progress without an error (issue 30: the XLA CPU thread pool wedged, every thread
parked, the host waiting forever) must not sit silent overnight. `watching` starts a daemon thread; the
command reports progress through ``wd.wrap(progress)`` (every progress line is a heartbeat), and the training
loop calls the module's `beat()` after every chunk (on every process of a multi-process run).
When no heartbeat arrives within the limit, the watchdog

- writes ``<out>/watchdog-stacks.txt``: every Python thread's stack (faulthandler), the Python thread list, and
  each native thread of the process with its state and kernel wait channel (/proc; the XLA and Eigen workers
  show there, parked in ``futex_wait`` when wedged);
- prints one line to stderr: what happened, where the stacks are, how to resume;
- exits the process with `EXIT_CODE` (the last checkpoint is whatever the command last wrote: a resumed
  `mmjax train --resume` continues from it).

It fires when both hold: no heartbeat within the limit, and the process has used (almost) no CPU for the
last ``IDLE_S`` seconds (the wedge parks every thread; a long single program such as a sweep's keeps the CPU
busy and is left alone). The limit is ``max(MMJAX_WATCHDOG_MIN_S, MMJAX_WATCHDOG_FACTOR x the longest gap
between heartbeats so far)``; the gap before the first heartbeat (loading data, the first compile) is not
counted and has its own allowance, MMJAX_WATCHDOG_STARTUP_S. Defaults: factor 10, min 600 s, startup 1800 s;
``MMJAX_WATCHDOG=0`` turns it off. They are environment variables so the same knobs reach every command
(docs/ppo.md "Hangs"). On an accelerator the host idles while a long program runs: a single program longer
than the limit with no progress line (a long `mmjax sweep` on a GPU) needs a larger MMJAX_WATCHDOG_STARTUP_S.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmjax import xla_cpu

IDLE_S = 30.0  # CPU quiet for this long (and no heartbeat within the limit): wedged
IDLE_CPU_FRACTION = 0.05  # "quiet": under 5 % of one core between two looks
EXIT_CODE = 75  # EX_TEMPFAIL: a temporary failure; rerun (with --resume where the command has it)
STACKS = "watchdog-stacks.txt"


@dataclass(frozen=True)
class Limits:
    """How long a command may go without a heartbeat, seconds (see the module docstring)."""

    factor: float = 10.0  # x the longest gap between heartbeats seen so far
    min_s: float = 600.0  # never less than this
    startup_s: float = 1800.0  # before the first heartbeat: data loading and the first compile
    enabled: bool = True
    cpu_idle_s: float | None = IDLE_S  # also require this long of a quiet CPU; None: missing heartbeats alone

    @classmethod
    def from_env(cls, environ=os.environ) -> Limits:
        def num(name: str, default: float) -> float:
            text = environ.get(name, "")
            try:
                value = float(text) if text else default
            except ValueError:
                raise ValueError(f"{name}={text!r}: expected a number of seconds (or a factor)") from None
            if value <= 0:
                raise ValueError(f"{name}={text!r}: must be > 0 (MMJAX_WATCHDOG=0 turns the watchdog off)")
            return value

        d = cls()
        return cls(num("MMJAX_WATCHDOG_FACTOR", d.factor), num("MMJAX_WATCHDOG_MIN_S", d.min_s),
                   num("MMJAX_WATCHDOG_STARTUP_S", d.startup_s), environ.get("MMJAX_WATCHDOG", "1") != "0")


class Watchdog:
    """Heartbeats in, a stack dump and an exit out when they stop (start it with `watching`)."""

    def __init__(self, out_dir: str | Path, command: str, resume_hint: str, limits: Limits,
                 exit_fn: Callable[[int], Any] = os._exit):
        self.out_dir, self.command, self.resume_hint, self.limits = Path(out_dir), command, resume_hint, limits
        self._exit = exit_fn
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._beats = 0
        self._longest_gap_s = 0.0
        self._last_note = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mmjax-watchdog", daemon=True)

    def beat(self, note: str = "") -> None:
        """Progress arrived (`note`: what, for the stall message)."""
        now = time.monotonic()
        with self._lock:
            if self._beats:
                self._longest_gap_s = max(self._longest_gap_s, now - self._last)
            self._last, self._beats = now, self._beats + 1
            if note:
                self._last_note = note

    def wrap(self, progress: Callable[[str], Any]) -> Callable[[str], Any]:
        """`progress` that also beats: every progress line is a heartbeat."""

        def beating(line: str, *args, **kwargs):
            self.beat(str(line).splitlines()[0][:160] if str(line).strip() else "")
            return progress(line, *args, **kwargs)

        return beating

    def limit_s(self) -> float:
        lim = self.limits
        if not self._beats:
            return lim.startup_s
        return max(lim.min_s, lim.factor * self._longest_gap_s)

    def _watch(self) -> None:
        tick_s = min(1.0, self.limits.min_s / 4)
        cpu, busy_at = time.process_time(), time.monotonic()
        while not self._stop.wait(tick_s):
            now, cpu_now = time.monotonic(), time.process_time()  # CPU seconds of all the process's threads
            if cpu_now - cpu > IDLE_CPU_FRACTION * tick_s:
                busy_at = now
            cpu = cpu_now
            with self._lock:
                idle, limit, note = now - self._last, self.limit_s(), self._last_note
            quiet = self.limits.cpu_idle_s is None or now - busy_at > min(self.limits.cpu_idle_s, limit)
            if idle > limit and quiet:
                self._fire(idle, limit, note)
                return

    def _fire(self, idle_s: float, limit_s: float, note: str) -> None:
        path = self.out_dir / STACKS
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:
                f.write(f"mmjax {self.command}: no progress for {idle_s:.0f} s (limit {limit_s:.0f} s) at "
                        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; last progress: {note}\n"
                        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}\n\n== Python stacks (faulthandler) ==\n")
                f.flush()
                faulthandler.dump_traceback(f, all_threads=True)
                f.write("\n== Python threads ==\n" + _python_threads() + "\n== native threads (/proc) ==\n"
                        + _native_threads())
            where = f"stacks in {path}"
        except OSError as e:
            where = f"could not write the stacks to {path} ({e})"
        print(f"mmjax {self.command}: WATCHDOG: no progress for {idle_s:.0f} s (limit {limit_s:.0f} s; last: "
              f"{note[:80]}); {where}; {self.resume_hint}; stopping with exit code {EXIT_CODE}",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        self._exit(EXIT_CODE)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _python_threads() -> str:
    return "".join(f"{t.name} ident={t.ident} native_id={t.native_id} daemon={t.daemon} alive={t.is_alive()}\n"
                   for t in threading.enumerate())


def _native_threads() -> str:
    """Each OS thread of this process: id, name, state (R running, S sleeping, ...), kernel wait channel."""
    lines = []
    try:
        tasks = sorted(os.listdir("/proc/self/task"), key=int)
    except OSError:
        return "(no /proc on this system)\n"
    for tid in tasks:
        base = f"/proc/self/task/{tid}"
        try:
            name = Path(base, "comm").read_text().strip()
            state = Path(base, "stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = Path(base, "wchan").read_text().strip() or "-"
        except OSError:
            continue
        lines.append(f"{tid} {name} state={state} wchan={wchan}\n")
    return "".join(lines)


_active: list[Watchdog] = []  # the running watchdog(s) of this process, innermost last


def beat(note: str = "") -> None:
    """A heartbeat to the running watchdog, if any (the training loop calls this after every chunk)."""
    if _active:
        _active[-1].beat(note)


@contextmanager
def watching(out_dir: str | Path, command: str, resume_hint: str, limits: Limits | None = None,
             progress: Callable[[str], Any] = print, exit_fn: Callable[[int], Any] = os._exit) -> Iterator[Watchdog]:
    """Run the body under a watchdog; announce mmjax's XLA setting once (`mmjax.xla_cpu.startup_note`).

    `exit_fn(code)`: how the watchdog ends the process (tests interrupt the main thread instead)."""
    note = xla_cpu.startup_note()
    if note:
        progress(note)
    wd = Watchdog(out_dir, command, resume_hint, limits or Limits.from_env(), exit_fn)
    if wd.limits.enabled:
        wd.start()
    _active.append(wd)
    try:
        yield wd
    finally:
        _active.remove(wd)
        wd.stop()
