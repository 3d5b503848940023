"""``streamq worker --processes N``: a parent process that keeps N worker processes running.

Each child is ``python -m streamq worker`` with the parent's arguments minus ``--processes``
(and ``STREAMQ_SUPERVISED=1`` in its environment: a child never supervises). The parent
imports none of your code and holds no connection. It:

- starts a new child at once when one exits 0 (it recycled: ``--max-jobs`` and friends);
- logs a child that dies (non-zero exit, or killed) and starts a new one, backing off
  exponentially (1 s, 2 s, 4 s ... up to a minute) while children keep dying within
  ``CRASH_WINDOW_S`` of starting;
- gives up (exit 2) when a child reports bad usage (exit 2: bad ``--app``, bad option), since
  a new child would fail the same way;
- with ``--burst``, starts no child again: it ends once every child has exited, with exit
  code 0 if all exited 0, else 1 (each failed child is logged with its exit code);
- on SIGTERM/SIGINT sends SIGTERM to every child (each stops gracefully: no new jobs,
  running jobs get the grace period, the rest are handed back) and exits 0 once all stopped
  cleanly; a second signal is passed on (the children hand their jobs back at once), a third
  kills them.

Children run in their own session, so a Ctrl-C in the terminal reaches only the parent (which
passes it on once). On Linux a child gets SIGTERM if the parent dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from streamq.worker import SUPERVISED_ENV

log = structlog.get_logger("streamq.supervisor")

CRASH_WINDOW_S = 30.0
"""A child that dies sooner than this after starting counts towards a crash loop."""
MAX_BACKOFF_S = 60.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(slots=True)
class Slot:
    """One of the N places a child process runs in."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    crashes: int = 0
    """Deaths in a row, each within CRASH_WINDOW_S of its start."""
    restart_at: float | None = None
    done: bool = False
    """Exited in burst mode (0 or not): not replaced."""


class Supervisor:
    """Runs ``command`` in ``processes`` child processes until a signal (or, with ``burst``,
    until every child has exited). ``run()`` returns the exit code."""

    def __init__(self, command: list[str], processes: int, *, burst: bool = False) -> None:
        self.command = command
        self.burst = burst
        self.slots = [Slot(i) for i in range(processes)]
        self.signals: list[int] = []
        self.stopping = False
        self.hard = False
        self.exit_code = EXIT_OK

    def run(self) -> int:
        """Start the children and supervise them; returns 0 after a graceful stop."""
        wake_r, wake_w = socket.socketpair()
        for sock in (wake_r, wake_w):
            sock.setblocking(False)
        restore = _install_signals(wake_w.fileno(), self.signals.append)
        try:
            log.info("supervisor started", processes=len(self.slots), pid=os.getpid(),
                     command=" ".join(self.command[1:]))
            for slot in self.slots:
                self._start(slot)
            while not self._finished():
                select.select([wake_r], [], [], self._timeout())
                with contextlib.suppress(BlockingIOError):
                    wake_r.recv(4096)
                self._handle_signals()
                self._reap()
                self._restart_due()
        finally:
            restore()
            wake_r.close()
            wake_w.close()
        log.info("supervisor stopped", exit_code=self.exit_code)
        return self.exit_code

    # ----------------------------------------------------------------- children

    def _start(self, slot: Slot) -> None:
        slot.restart_at = None
        slot.started = time.monotonic()
        slot.process = subprocess.Popen(self.command, start_new_session=True,
                                        env={**os.environ, SUPERVISED_ENV: "1"},
                                        preexec_fn=functools.partial(_die_with_parent,
                                                                     os.getpid()))
        log.info("worker process started", slot=slot.index, pid=slot.process.pid)

    def _reap(self) -> None:
        for slot in self.slots:
            if slot.process is None or (code := slot.process.poll()) is None:
                continue
            pid, slot.process = slot.process.pid, None
            if self.stopping:
                if code not in (0, -signal.SIGTERM) and self.exit_code == EXIT_OK:
                    self.exit_code = EXIT_FAILED
                log.info("worker process stopped", slot=slot.index, pid=pid,
                         exit=_describe(code))
            elif code == 0:
                self._exited_ok(slot, pid)
            elif code == EXIT_USAGE:
                log.error("worker process reported bad usage (see its error message); not "
                          "restarting: fix the command", slot=slot.index, pid=pid)
                self.exit_code = EXIT_USAGE
                self._stop(signal.SIGTERM)
            elif self.burst:
                self._burst_failed(slot, pid, code)
            else:
                self._crashed(slot, pid, code)

    def _exited_ok(self, slot: Slot, pid: int) -> None:
        slot.crashes = 0
        if self.burst:
            slot.done = True
            log.info("worker process finished (burst)", slot=slot.index, pid=pid)
            return
        log.info("worker process recycled; starting a new one", slot=slot.index, pid=pid)
        self._start(slot)

    def _burst_failed(self, slot: Slot, pid: int, code: int) -> None:
        slot.done = True
        self.exit_code = EXIT_FAILED
        log.error("worker process failed (burst); not restarting", slot=slot.index, pid=pid,
                  exit=_describe(code))

    def _crashed(self, slot: Slot, pid: int, code: int) -> None:
        uptime = time.monotonic() - slot.started
        slot.crashes = slot.crashes + 1 if uptime < CRASH_WINDOW_S else 1
        delay = 0.0 if slot.crashes <= 1 else min(2.0 ** (slot.crashes - 2), MAX_BACKOFF_S)
        log.error("worker process died; its running jobs come back after their lease",
                  slot=slot.index, pid=pid, exit=_describe(code), uptime_s=round(uptime, 1),
                  crashes_in_a_row=slot.crashes, restart_in_s=delay)
        slot.restart_at = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if not self.stopping and slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot)

    def _timeout(self) -> float | None:
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        # Poll children at least every second too: SIGCHLD wakes us, this is a safety net.
        return max(0.0, min([*due, time.monotonic() + 1.0]) - time.monotonic())

    def _finished(self) -> bool:
        if any(slot.process is not None for slot in self.slots):
            return False
        return self.stopping or all(slot.done for slot in self.slots)

    # ----------------------------------------------------------------- stopping

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            if signum == signal.SIGCHLD:
                continue
            name = signal.Signals(signum).name
            if not self.stopping:
                log.info("stopping the worker processes gracefully; send the signal again to "
                         "make them hand running jobs back at once", signal=name)
                self._stop(signal.SIGTERM)
            elif not self.hard:
                self.hard = True
                log.warning("stopping now: worker processes hand their running jobs back",
                            signal=name)
                self._send(signal.SIGTERM)
            else:
                log.warning("killing the worker processes", signal=name)
                self._send(signal.SIGKILL)

    def _stop(self, signum: int) -> None:
        self.stopping = True
        for slot in self.slots:
            slot.restart_at = None
        self._send(signum)

    def _send(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)


def _install_signals(wakeup_fd: int, record: Callable[[int], None]) -> Callable[[], None]:
    """Signal handlers that only record the signal; the wake-up fd ends the select()."""

    def handler(signum: int, frame: Any) -> None:
        record(signum)

    signums = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    old_fd = signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)

    def restore() -> None:
        signal.set_wakeup_fd(old_fd)
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux only), and exit at
    once if it died before that was set (the child would run on, an orphan)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(EXIT_FAILED)


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def child_command(argv: list[str]) -> list[str]:
    """``python -m streamq`` with ``argv`` minus ``--processes N`` (or ``--processes=N``, or
    an abbreviation argparse accepted, down to ``--p``)."""
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        name, eq, _ = token.partition("=")
        if len(name) >= 3 and "--processes".startswith(name):
            skip = not eq
            continue
        out.append(token)
    return [sys.executable, "-m", "streamq", *out]


def supervise(argv: list[str], processes: int, *, burst: bool = False) -> int:
    """Run ``streamq`` ``argv`` (a ``worker`` command line) in ``processes`` children."""
    return Supervisor(child_command(argv), processes, burst=burst).run()
