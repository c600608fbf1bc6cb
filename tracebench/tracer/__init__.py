"""The ptrace recorder: run or attach to a program and count its syscalls.

``record(argv)`` runs ``argv`` under ptrace (following every fork, vfork,
clone, clone3 and execve) and returns a RecordResult once the program and
everything it started have exited; ``record(pid=N)`` attaches to a running
process and all its threads.  Nothing here prints.

Ctrl-C, SIGTERM, SIGHUP, SIGQUIT (see tracebench.tracer.interrupts):

* started program: a Ctrl-C from the terminal reaches the program itself (it
  is in record's process group) and record keeps tracing until the program
  ends; the signal sent to record alone is passed on to the program's traced
  processes in that group.  ``record`` returns normally either way, with the
  program's exit status (130 if SIGINT killed it).
* attached process (``pid=``): record detaches from every thread, leaving the
  process running as it was, and returns what it saw
  (``RecordResult.detached``; ``exit_status`` 0).

Call it from the main thread; elsewhere (or with ``handle_signals=False``)
signals are left to the caller.

Modes: ``"full"`` (calls, errors, seconds, like ``strace -c -f``) and
``"fast"`` (calls only, one seccomp stop per call; a program started by
record only).  See tracebench.tracer.recorder for what is counted how.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracebench.errors import TraceError

if TYPE_CHECKING:
    from tracebench.profile import Profile

MODES = ("full", "fast")

__all__ = ["MODES", "RecordResult", "record"]


@dataclass(frozen=True)
class RecordResult:
    """What one recording gives.

    ``exit_status`` is the program's as a shell reports it (128+N when killed
    by signal N); 0 for an attached process that was detached.  ``signals``
    lists the Ctrl-C/SIGTERM/SIGHUP/SIGQUIT record received while tracing;
    ``forwarded`` those it passed on to the program.  ``calls`` is the total
    number of calls counted; ``elapsed`` the wall-clock seconds from the
    start (or attach) to the end of tracing.
    """

    profile: Profile
    exit_status: int
    pid: int
    detached: bool = False
    signals: tuple[int, ...] = ()
    forwarded: tuple[int, ...] = ()
    calls: int = 0
    elapsed: float = 0.0


def record(argv: Sequence[str] | None = None, *, mode: str = "full", pid: int | None = None,
           env: Mapping[str, str] | None = None, handle_signals: bool = True) -> RecordResult:
    """Record the syscalls of ``argv`` (run now) or of process ``pid`` (attached).

    Raises TraceError (one line) for a program that cannot be found, run or
    attached to.  The program keeps record's stdin, stdout and stderr.  Like
    strace, record waits for any child (wait4(-1)): a child of the caller's
    own that ends meanwhile is reaped and ignored.
    """
    import signal
    import time

    from tracebench.profile import Provenance
    from tracebench.tracer import kernel, launch
    from tracebench.tracer.interrupts import Interrupts
    from tracebench.tracer.recorder import Recorder

    if mode not in MODES:
        raise TraceError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    if (argv is None) == (pid is None):
        raise TraceError("give either a command to run or a process id to attach to")
    if argv is not None and not list(argv):
        raise TraceError("no command given")
    if pid is not None and mode == "fast":
        raise TraceError("--mode fast needs a program started by record: a seccomp filter "
                         "cannot be added to a running process")
    environ = dict(os.environ if env is None else env)
    load_filter = _trace_all_filter() if mode == "fast" else None

    rec: Recorder
    interrupts = Interrupts(detach_on_signal=pid is not None,
                            targets=lambda: list(rec.procs))
    if not handle_signals:
        interrupts.active = False
    rec = Recorder(mode, interrupts)
    # wait4 needs SIGCHLD not to be ignored (SIG_IGN would reap children itself).
    old_chld = signal.getsignal(signal.SIGCHLD)
    if old_chld == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    child = None
    interrupts.block()
    started = time.perf_counter()
    try:
        if argv is not None:
            options = kernel.FOLLOW | kernel.PTRACE_O_EXITKILL
            if mode == "fast":
                options |= kernel.PTRACE_O_TRACESECCOMP
            child = launch.start(list(argv), environ, options, load_filter,
                                 interrupts.child_restore)
            rec.begin_program(child.pid)
            command = tuple(argv)
        else:
            assert pid is not None
            command = kernel.cmdline_of(pid) or (f"pid {pid}",)
            rec.begin_attach(pid, launch.attach(pid, kernel.FOLLOW))
        interrupts.start()
        try:
            rec.run()
        except BaseException:
            if rec.attached:
                rec.detach_all()
            else:
                rec.kill_all()
            raise
    except BaseException:
        if child is not None:
            child.close()
        raise
    finally:
        elapsed = time.perf_counter() - started
        interrupts.stop()
        if old_chld == signal.SIG_IGN:
            signal.signal(signal.SIGCHLD, old_chld)
    if child is not None:
        failure = child.exec_error()
        if failure is not None and not rec.execed:
            raise failure

    notes = _notes(mode, pid, rec.detached)
    measured = ("calls", "errors", "seconds") if mode == "full" else ("calls",)
    profile = rec.build(Provenance(source="ptrace", command=command, measured=measured,
                                   notes=notes))
    status = rec.status
    exit_status = kernel.exit_code(status) if status is not None else 0
    return RecordResult(profile=profile, exit_status=exit_status, pid=rec.leader,
                        detached=rec.detached, signals=tuple(interrupts.received),
                        forwarded=tuple(interrupts.forwarded), calls=rec.calls(),
                        elapsed=elapsed)


def _notes(mode: str, pid: int | None, detached: bool) -> tuple[str, ...]:
    notes = [f"mode={mode}"]
    if pid is not None:
        notes.append(f"attached to process {pid}: calls made before the attach are not seen"
                     + ("; detached before it ended" if detached else ""))
    if mode == "full":
        notes.append("calls: calls that returned, as strace -c counts them; unfinished: calls "
                     "entered that never returned (exit_group, calls cut short by death)")
        notes.append("seconds: system CPU time between syscall entry and exit, as strace -c")
    else:
        notes.append("fast mode: calls entered (no errors, no time); exit and exit_group are "
                     "unfinished; a call the program's own seccomp filter stops before ours "
                     "is not seen")
    return tuple(notes)


def _trace_all_filter() -> Callable[[], None]:
    """A loader for a filter that returns SECCOMP_RET_TRACE for every call, built by libseccomp."""
    from tracebench import sandbox, syscalls
    from tracebench.policy.model import Action, Context, Policy

    native = syscalls.native_arch()
    # int $0x80 (i386) and x32 calls must be traced too, not killed as a
    # foreign architecture.
    flt = sandbox.compile(Policy(default_action=Action("trace", 0),
                                 arches=syscalls.family(native)),
                          Context(arch=native))
    load: Callable[[], None] = flt.load
    return load
