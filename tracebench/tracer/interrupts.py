"""Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT while a program is being recorded.

The contract (what ``tracebench record`` does):

* A program started by record runs in record's process group, as it would in
  the shell.  A Ctrl-C typed on the terminal reaches it directly (the
  terminal signals the whole foreground group) and record does nothing more:
  the program decides what Ctrl-C means, and record goes on tracing until it
  (and every process it started) has exited, then stores the run.  The same
  signal *sent to record alone* (``kill -INT``, a supervisor's SIGTERM) is
  passed on to the traced processes of record's process group, which is
  what the terminal would have done.  The two cases are told apart by the
  signal's ``si_code``: the terminal's has SI_KERNEL, a kill() has SI_USER.
  A program that ignores the signal keeps running; record keeps tracing.
* A process record attached to (``--pid``) is detached on the first of these
  signals: every thread is taken out of its ptrace-stop or run and let go
  exactly where it was (a pending signal is delivered, a stopped job stays
  stopped), and what was seen so far is stored.  It is never killed.

How: the signals are blocked in the tracing thread and a small thread takes
them with sigwaitinfo() (which gives si_code).  To detach, the tracing thread
must notice even while it sleeps in wait4(), so the signal thread pokes it
with a private real-time signal (whose Python handler does nothing; the
point is the EINTR) until the tracing thread acknowledges.  This needs the
main thread (Python only installs handlers there); off the main thread
signals are left alone.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_STOP = signal.SIGRTMAX  # tells the signal thread to end
_WAKE = signal.SIGRTMAX - 1  # makes the tracing thread's wait4 return EINTR


class Interrupts:
    """Receives the handled signals for the duration of one recording."""

    def __init__(self, *, detach_on_signal: bool,
                 targets: Callable[[], Iterable[int]]) -> None:
        self.detach_on_signal = detach_on_signal
        self._targets = targets
        # The tracing loop tests requested[0] at every stop (a list: cheap to read).
        self.requested = [False]
        self.received: list[int] = []
        self.forwarded: list[int] = []
        self._ack = threading.Event()
        self._done = False
        self._thread: threading.Thread | None = None
        self._old_mask: set[int | signal.Signals] | None = None
        self._old_wake: Callable[[int, FrameType | None], object] | int | None = None
        self.active = threading.current_thread() is threading.main_thread()

    # -- set-up and tear-down (main thread) ---------------------------------

    def block(self) -> None:
        """Block the signals in this thread (before fork: the child unblocks them)."""
        if not self.active:
            return
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [*HANDLED, _STOP])

    def child_restore(self) -> None:
        """In the forked child: the dispositions and mask the program must start with.

        Python's own handlers (SIGINT's KeyboardInterrupt) would run in the
        child until its execve resets them; the defaults apply from now on.
        """
        for sig in HANDLED:
            if signal.getsignal(sig) not in (signal.SIG_IGN, signal.SIG_DFL, None):
                signal.signal(sig, signal.SIG_DFL)
        if self._old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)

    def start(self) -> None:
        """Start taking the signals (after the program is started or attached)."""
        if not self.active:
            return
        if self.detach_on_signal:
            self._old_wake = signal.signal(_WAKE, _nothing)
        self._thread = threading.Thread(target=self._run, name="tracebench-signals",
                                        daemon=True)
        self._thread.start()

    def acknowledge(self) -> None:
        """The tracing loop saw ``requested``: stop poking it."""
        self._ack.set()

    def stop(self) -> None:
        """Stop the signal thread and give the signals back to their old handlers."""
        if not self.active:
            return
        self._done = True
        self._ack.set()
        if self._thread is not None:
            signal.pthread_kill(self._thread.ident or 0, _STOP)
            self._thread.join()
            self._thread = None
        # A signal that came after the thread ended is still pending here:
        # take it now, so it is not delivered to the caller once unblocked.
        while True:
            info = signal.sigtimedwait([*HANDLED, _STOP], 0)
            if info is None:
                break
            if info.si_signo != _STOP:
                self.received.append(info.si_signo)
        if self._old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)
            self._old_mask = None
        if self._old_wake is not None:
            signal.signal(_WAKE, self._old_wake)
            self._old_wake = None

    # -- the signal thread ---------------------------------------------------

    def _run(self) -> None:
        waited = {*HANDLED, _STOP}
        main = threading.main_thread().ident or 0
        while True:
            info = signal.sigwaitinfo(waited)
            if self._done:
                return
            if info.si_signo == _STOP:
                continue
            self.received.append(info.si_signo)
            if self.detach_on_signal:
                self.requested[0] = True
                # Poke until the tracing thread has seen the request: a poke
                # that lands just before it enters wait4() is not an EINTR.
                while not self._ack.wait(0.05):
                    signal.pthread_kill(main, _WAKE)
            elif info.si_code <= 0 and info.si_pid != os.getpid():
                # Sent by a process (SI_USER, SI_QUEUE, SI_TKILL...), not by
                # the terminal (SI_KERNEL), which reached the program itself.
                self._forward(info.si_signo)

    def _forward(self, signo: int) -> None:
        group = os.getpgrp()
        for pid in list(self._targets()):
            try:
                if os.getpgid(pid) == group:
                    os.kill(pid, signo)
                    self.forwarded.append(signo)
            except OSError:
                continue  # exited meanwhile


def _nothing(_signo: int, _frame: FrameType | None) -> None:
    """The wake-up signal's handler: its only job is to interrupt wait4()."""

