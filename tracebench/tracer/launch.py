"""Starting a program under ptrace, and attaching to a running one.

A started program goes through the steps strace takes (strace.c,
startup_child): the path is resolved here the way execvp(3) would, so the
child makes exactly one execve; the child stops itself with SIGSTOP; the
tracer seizes it (PTRACE_SEIZE, with PTRACE_O_EXITKILL so it cannot outlive
the tracer) and lets it go on with SIGCONT.  In fast mode the child then
loads a seccomp filter that returns SECCOMP_RET_TRACE for every call (it
must be traced before that: with no tracer, RET_TRACE fails every call with
ENOSYS).  An execve that fails is reported through a close-on-exec pipe, as
subprocess does.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import time
from collections.abc import Callable, Mapping, Sequence

from ptrace import PtraceError

from tracebench.errors import TraceError
from tracebench.tracer import kernel

_EXEC_FAILED = 127  # the child's exit code when execve failed (as a shell's)


def resolve(program: str, env: Mapping[str, str]) -> str:
    """The file execve will run for ``program``, searched in PATH like execvp(3).

    Raises TraceError for a program that is not found or not executable.
    """
    if not program:
        raise TraceError("no program given")
    if "/" in program:
        candidates = [program]
    else:
        path = env.get("PATH", os.defpath)
        candidates = [os.path.join(d or ".", program) for d in path.split(":")]
    denied: str | None = None
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            denied = denied or cand
            continue
        if os.access(cand, os.X_OK):
            return cand
        denied = denied or cand
    if denied is not None:
        what = "a directory" if os.path.isdir(denied) else "not executable"
        raise TraceError(f"cannot run {program}: {denied} is {what}")
    if "/" in program:
        raise TraceError(f"cannot run {program}: no such file")
    raise TraceError(f"command not found: {program}")


class Child:
    """A program started under ptrace: its pid and the pipe that reports a failed execve."""

    def __init__(self, pid: int, errpipe: int, path: str) -> None:
        self.pid = pid
        self._errpipe = errpipe
        self.path = path

    def exec_error(self) -> TraceError | None:
        """After the child exited: why its execve failed, if it did."""
        try:
            data = os.read(self._errpipe, 256)
        except OSError:
            data = b""
        finally:
            self.close()
        if not data:
            return None
        step, _, num = data.decode(errors="replace").partition(":")
        code = int(num) if num.isdigit() else 0
        if step == "seccomp":
            return TraceError(f"cannot load the fast-mode seccomp filter into {self.path}: "
                              f"{os.strerror(code) if code else num}")
        if not code:
            return TraceError(f"cannot run {self.path}: {num} in the child before execve")
        if code == errno.ENOEXEC:
            return TraceError(f"cannot run {self.path}: exec format error")
        return TraceError(f"cannot run {self.path}: {os.strerror(code)}")

    def close(self) -> None:
        if self._errpipe >= 0:
            os.close(self._errpipe)
            self._errpipe = -1


def start(argv: Sequence[str], env: Mapping[str, str], options: int,
          load_filter: Callable[[], None] | None,
          child_setup: Callable[[], None]) -> Child:
    """Fork, seize the child and let it exec ``argv``; it is traced from its execve on.

    ``load_filter`` (fast mode) runs in the child after it is traced and
    before the execve; ``child_setup`` runs in the child first (signal mask).
    """
    path = resolve(argv[0], env)
    args = [os.fsencode(a) for a in argv]
    envb = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    bpath = os.fsencode(path)
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (measured by the tests' outcomes)
        step = "setup"
        try:
            os.close(rfd)
            child_setup()
            # Python ignores SIGPIPE and SIGXFSZ for itself; the program gets
            # the defaults, as subprocess gives them (restore_signals).
            for name in ("SIGPIPE", "SIGXFSZ"):
                if hasattr(signal, name):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGSTOP)
            if load_filter is not None:
                step = "seccomp"
                load_filter()
            step = "exec"
            os.execve(bpath, args, envb)
        except BaseException as e:  # the child must never return to the caller's code
            code = getattr(e, "errno", None) or 0
            detail = str(code) if code else type(e).__name__
            try:
                os.write(wfd, f"{step}:{detail}".encode())
            finally:
                os._exit(_EXEC_FAILED)
    os.close(wfd)
    child = Child(pid, rfd, path)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not (os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP):
            err = child.exec_error()
            raise err or TraceError(f"cannot start {path}: unexpected wait status {status:#x}")
        try:
            kernel.request(kernel.PTRACE_SEIZE, pid, 0, options)
        except PtraceError as e:
            # "strace -f tracebench record -- CMD": strace traced the child
            # from its fork on, and a task has one tracer.
            tracer = kernel.tracer_of(pid)
            if tracer:
                raise TraceError(f"cannot trace {path}: it is already traced by process "
                                 f"{tracer} (is tracebench itself running under a "
                                 "tracer with -f?)") from None
            raise TraceError(f"cannot trace {path}: {os.strerror(e.errno or 0)}") from None
    except BaseException:
        _kill_and_reap(pid)
        child.close()
        raise
    os.kill(pid, signal.SIGCONT)
    return child


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def attach(pid: int, options: int) -> list[int]:
    """Seize every thread of process ``pid`` and interrupt it; returns the thread ids.

    Threads created while this runs are seized too (the list is read again
    until it stops growing, as strace does).  On failure, what was seized is
    let go again before the TraceError is raised.
    """
    if pid == os.getpid() or pid <= 0:
        raise TraceError(f"cannot attach to process {pid}: that is tracebench itself"
                         if pid == os.getpid() else f"invalid process id {pid}")
    if not os.path.exists(f"/proc/{pid}"):
        raise TraceError(f"cannot attach to process {pid}: no such process")
    if kernel.tgid_of(pid) not in (pid, None):
        raise TraceError(f"cannot attach to process {pid}: it is a thread of process "
                         f"{kernel.tgid_of(pid)}; give the process id")
    seized: list[int] = []
    skipped: set[int] = set()
    try:
        while True:
            new = [t for t in kernel.threads_of(pid) if t not in seized and t not in skipped]
            if not new:
                break
            for tid in new:
                try:
                    kernel.request(kernel.PTRACE_SEIZE, tid, 0, options)
                except PtraceError as e:
                    if tid != pid and e.errno == errno.ESRCH:
                        skipped.add(tid)  # a thread that just exited
                        continue
                    if e.errno == errno.EPERM and kernel.state_of(tid) == "Z" and tid == pid:
                        # A leader that ended with pthread_exit() while its
                        # threads go on: a zombie cannot be traced, they can.
                        skipped.add(tid)
                        continue
                    raise kernel.attach_refused(pid, e.errno or 0) from None
                seized.append(tid)
                kernel.request_quiet(kernel.PTRACE_INTERRUPT, tid)
        if not seized:
            raise TraceError(f"cannot attach to process {pid}: no such process")
    except BaseException:
        for tid in seized:
            # Seized but never resumed by us: PTRACE_DETACH needs a stopped
            # tracee, and the interrupt stops it (or it is already gone).
            _release(tid)
        raise
    return seized


def _release(tid: int, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, status = os.waitpid(tid, kernel.WALL | os.WNOHANG)
        except OSError:
            return  # gone
        if got == 0:
            time.sleep(0.001)
            continue
        if not os.WIFSTOPPED(status):
            return
        # A signal-delivery-stop's signal is delivered on the way out.
        sig = os.WSTOPSIG(status) if status >> 16 == 0 else 0
        kernel.request_quiet(kernel.PTRACE_DETACH, tid, 0, sig)
        return
