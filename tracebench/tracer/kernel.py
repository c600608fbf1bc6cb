"""What the tracer needs from the kernel: ptrace requests, wait statuses, /proc.

Every ptrace request goes through python-ptrace's binding
(``ptrace.binding.func.ptrace``), with the constants and structure it lacks
defined here (PTRACE_SEIZE and friends, PTRACE_GET_SYSCALL_INFO and its
``struct ptrace_syscall_info``).  The only exceptions are the per-stop hot
paths, which call wait4 and ptrace directly for speed: the Python loop's
through ctypes (``HotCalls``), and the C loop (hotloop.c, native.py).
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

from ptrace import PtraceError
from ptrace.binding import func as _pt

from tracebench.errors import TraceError

# -- requests and options python-ptrace 0.9.9 does not define (linux/ptrace.h) --
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

# -- what python-ptrace does define, re-exported under one roof --
PTRACE_CONT: int = _pt.PTRACE_CONT
PTRACE_SYSCALL: int = _pt.PTRACE_SYSCALL
PTRACE_DETACH: int = _pt.PTRACE_DETACH
PTRACE_GETEVENTMSG: int = _pt.PTRACE_GETEVENTMSG
PTRACE_O_TRACESYSGOOD: int = _pt.PTRACE_O_TRACESYSGOOD
PTRACE_O_TRACEFORK: int = _pt.PTRACE_O_TRACEFORK
PTRACE_O_TRACEVFORK: int = _pt.PTRACE_O_TRACEVFORK
PTRACE_O_TRACECLONE: int = _pt.PTRACE_O_TRACECLONE
PTRACE_O_TRACEEXEC: int = _pt.PTRACE_O_TRACEEXEC
PTRACE_EVENT_FORK: int = _pt.PTRACE_EVENT_FORK
PTRACE_EVENT_VFORK: int = _pt.PTRACE_EVENT_VFORK
PTRACE_EVENT_CLONE: int = _pt.PTRACE_EVENT_CLONE
PTRACE_EVENT_EXEC: int = _pt.PTRACE_EVENT_EXEC
WALL: int = _pt.THREAD_TRACE_FLAGS  # __WALL: wait for threads and clones too

FOLLOW = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK
          | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC)

# PTRACE_SYSCALL_INFO_* (the ``op`` field) and the size the kernel reports for
# each (offsetofend of the last field it filled, kernel/ptrace.c): the return
# value of PTRACE_GET_SYSCALL_INFO tells the kind of stop without reading op.
INFO_NONE, INFO_ENTRY, INFO_EXIT, INFO_SECCOMP = 0, 1, 2, 3
SIZE_ENTRY, SIZE_EXIT, SIZE_SECCOMP = 80, 33, 84
IS_ERROR_OFFSET = 32  # exit.is_error

# Wait statuses of the stops the hot path takes, precomputed: a syscall-stop
# with PTRACE_O_TRACESYSGOOD is WSTOPSIG == SIGTRAP|0x80; a seccomp stop is
# SIGTRAP | PTRACE_EVENT_SECCOMP << 8 (ptrace(2), "Syscall-stops").
_SIGTRAP = 5
STATUS_SYSCALL_STOP = ((_SIGTRAP | 0x80) << 8) | 0x7F
STATUS_SECCOMP_STOP = ((_SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)) << 8) | 0x7F

GROUP_STOP_SIGNALS = frozenset({19, 20, 21, 22})  # SIGSTOP SIGTSTP SIGTTIN SIGTTOU


class _Entry(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6)]


class _Exit(ctypes.Structure):
    _fields_ = [("rval", ctypes.c_int64), ("is_error", ctypes.c_uint8)]


class _Seccomp(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6),
                ("ret_data", ctypes.c_uint32)]


class _Union(ctypes.Union):
    _fields_ = [("entry", _Entry), ("exit", _Exit), ("seccomp", _Seccomp)]


class PtraceSyscallInfo(ctypes.Structure):
    """``struct ptrace_syscall_info`` (linux/ptrace.h, Linux 5.3+)."""

    _anonymous_ = ("u",)
    _fields_ = [
        ("op", ctypes.c_uint8),
        ("pad", ctypes.c_uint8 * 3),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("stack_pointer", ctypes.c_uint64),
        ("u", _Union),
    ]


# struct rusage starts with ru_utime then ru_stime, two struct timeval.
RUSAGE_SIZE = 144
RU_STIME_OFFSET = 16


def request(command: int, pid: int, arg1: int = 0, arg2: int = 0) -> int:
    """One ptrace request through python-ptrace; PtraceError on failure."""
    return int(_pt.ptrace(command, pid, arg1, arg2))


def request_quiet(command: int, pid: int, arg1: int = 0, arg2: int = 0) -> int:
    """A request to a tracee that may have vanished: ESRCH is -1, not an error.

    A tracee killed by SIGKILL, or one whose thread was replaced by an execve
    in another thread, disappears between two requests; that is normal.
    """
    try:
        return int(_pt.ptrace(command, pid, arg1, arg2))
    except PtraceError as e:
        if e.errno == errno.ESRCH:
            return -1
        raise


def event_message(pid: int) -> int:
    """PTRACE_GETEVENTMSG: the new thread's id, or the former id after an execve.

    python-ptrace's ``ptrace_geteventmsg`` hands the kernel a 4-byte pid_t
    where it writes an unsigned long (8 bytes); this uses a buffer of the
    right size.
    """
    msg = ctypes.c_ulong(0)
    if request_quiet(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(msg)) < 0:
        return 0
    return int(msg.value)


class HotCalls:
    """libc's ``wait4`` and ``ptrace`` as bare ctypes functions, for the per-stop path.

    python-ptrace's ``ptrace()`` converts its four arguments through ctypes
    argtypes and checks the result in Python: measured on this project's
    2-core VM, a PTRACE_GETEVENTMSG to a stopped tracee takes 2.0 us through
    it against 1.0 us as a bare ctypes call given a prebuilt pointer
    (scripts/bench_record.py measures both), and os.wait4 builds a 16-field
    struct_rusage object at every stop.  At two stops per syscall and
    ~10 us per stop, that difference alone decides whether the recorder
    keeps up with strace.  So only the three calls made at every stop
    (wait4, PTRACE_GET_SYSCALL_INFO and the resume) use these; every other
    ptrace request goes through python-ptrace's binding (``request``).

    No argtypes: small ints are passed as C ints (libffi widens them to the
    64-bit register glibc's variadic ptrace() reads) and pointers as
    prebuilt ``c_void_p`` objects.  ``ptrace`` comes from a PyDLL without
    errno saving (the GIL is kept: the requests do not block, and releasing
    it costs more than the call; a failed request, to a tracee that just
    vanished, returns -1 and needs no errno).  ``wait4`` comes from a CDLL,
    because it blocks and the Ctrl-C thread must be able to run meanwhile;
    its errors are reported the C way (-1 and ``ctypes.get_errno()``).
    ``poll4`` is the same wait4 from the PyDLL, for WNOHANG polls: they never
    block, so they keep the GIL (a third cheaper per call).
    """

    def __init__(self) -> None:
        self.ptrace: Any = ctypes.PyDLL(None).ptrace
        self.ptrace.restype = ctypes.c_long
        self.wait4: Any = ctypes.CDLL(None, use_errno=True).wait4
        self.wait4.restype = ctypes.c_int
        self.poll4: Any = ctypes.PyDLL(None).wait4
        self.poll4.restype = ctypes.c_int


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N if killed by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


# -- /proc --------------------------------------------------------------------

def tgid_of(tid: int) -> int | None:
    """The process (thread group) a thread belongs to; None if it is gone."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def exe_of(pid: int) -> str:
    """The executable a process runs (``/proc/PID/exe``); "" if unreadable."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def state_of(tid: int) -> str:
    """The one-letter scheduler state of a thread (``Z`` zombie, ``t`` traced...); "" if gone."""
    try:
        with open(f"/proc/{tid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    # "1234 (comm with ) inside) S 1 ..." : the state follows the last ')'.
    tail = data[data.rfind(b")") + 2:]
    return tail[:1].decode() if tail else ""


def tracer_of(pid: int) -> int:
    """The pid of the process tracing ``pid`` (0: none)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def threads_of(pid: int) -> list[int]:
    """The thread ids of process ``pid`` now."""
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def cmdline_of(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return ()
    return tuple(a.decode(errors="replace") for a in raw.split(b"\0")[:-1])


def ptrace_scope() -> str | None:
    """Yama's ptrace_scope setting, if Yama is present."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return f.read().strip()
    except OSError:
        return None


def attach_refused(pid: int, err: int) -> TraceError:
    """The one-line reason an attach to ``pid`` failed with errno ``err``."""
    if err == errno.ESRCH:
        return TraceError(f"cannot attach to process {pid}: no such process")
    tracer = tracer_of(pid)
    if tracer:
        return TraceError(f"cannot attach to process {pid}: it is already traced by process "
                          f"{tracer}")
    if err == errno.EPERM:
        scope = ptrace_scope()
        why = (f"kernel.yama.ptrace_scope is {scope}" if scope not in (None, "0")
               else "it belongs to another user or is not dumpable")
        return TraceError(f"cannot attach to process {pid}: operation not permitted ({why})")
    return TraceError(f"cannot attach to process {pid}: {os.strerror(err)}")
