"""The ptrace event loop: follow every task, count every syscall, build a Profile.

Counting (``--mode full``, like ``strace -c -f``):

* a call is *entered* at its syscall-entry stop and *returns* at its exit
  stop, where PTRACE_GET_SYSCALL_INFO's ``is_error`` says whether it failed.
  Profile ``calls`` are the calls that returned, which is what strace -c
  counts (count.c: count_syscall() is called from syscall_exiting_trace());
  calls entered that never returned go to ``unfinished``: exit, exit_group,
  and whatever call a thread is in when its process dies (SIGKILL,
  exit_group or execve from another thread).  strace leaves those out of its
  table, but a seccomp allowlist must allow them.
* seconds are what strace -c reports by default (without -w): system CPU
  time of the process between the entry and the exit stop, taken from the
  rusage that wait4() returns with each stop (strace.c: ``ru_stime``;
  count.c: ``ts_sub(&wts, &tcp->stime, &tcp->ltime)``).
* each call is attributed to the architecture the kernel reports for it
  (``arch`` of PTRACE_GET_SYSCALL_INFO): ``int $0x80`` from a 64-bit
  program is an i386 call; x32 calls (bit 30 of the number) are x32.
* calls before the program's first execve (tracebench's own child set-up)
  are not counted, as strace hides them.

``--mode fast``: only the seccomp stops of a SECCOMP_RET_TRACE filter are
taken (one stop per call instead of two): no errors, no time, and no way to
see whether a call returned.  exit and exit_group (which never return when
they succeed) are ``unfinished``; every other call entered is a call.

The loop runs in C (hotloop.c, through tracer/native.py) when it was built
at install, else in Python (``_loop_full``, ``_loop_fast``); both count the
same way, and ``TRACEBENCH_LOOP=python|native`` picks one.  The C loop only
takes the stops that happen at every call and hands every other stop back
to the same Python code the Python loop uses, so the policy (what is
counted, attributed, remembered) lives here once.

Per stop the hot path makes three system calls (wait4, one
PTRACE_GET_SYSCALL_INFO, the resume) and resumes the tracee *before* doing
its bookkeeping, so that work overlaps the tracee's run on the other core.
Keys are ints (``arch << 32 | nr``), names are resolved once at the end.
Before it sleeps in wait4 the tracer polls (WNOHANG) when it has more than
one CPU: a traced syscall often stops again within microseconds, and a
tracer that went to sleep must then be woken, which on this project's VMs
(an inter-processor interrupt to a halted virtual CPU) costs more than the
polls.  The Python loop polls 3 times (the single-threaded workloads of
scripts/bench_record.py ran about 25% faster).  The C loop polls for up to
NATIVE_SPIN_US: when the VM is idle, the tracee's own CPU has halted while
it was stopped, and the round trip from resuming it to its next stop takes
15-20 us (a histogram over 100,000 stops of the loop workload); 20 polls
(about 8 us) then only added to the wake-up, 100 us of polling made the
loop and find workloads x0.46 and x0.5 of strace's time (x0.9 sleeping at
once).  When the CPUs are busy with other programs, polling takes CPU time
the tracees need (the loop ran 1.3x slower polling than not), and when the
program mostly blocks it only burns CPU time: the C loop measures whether
polling makes it faster as it goes and polls only while it does
(hotloop.c, struct tb_adapt), and polls less long after calls that
outlasted the polls (spin_missed); the Python loop, the fallback, always
polls.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import os
import signal
import struct
import time
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from tracebench import syscalls
from tracebench.errors import TraceError
from tracebench.profile import ARG_VALUES_CAP, Profile, ProfileBuilder, Provenance
from tracebench.tracer import kernel, native, prototypes
from tracebench.tracer.interrupts import Interrupts

_M32 = 0xFFFFFFFF
_X32_BIT = 0x40000000
# Distinct argument tuples remembered per syscall to skip known ones quickly.
_TUPLE_CAP = 4096
_ARCH_ONLY = itemgetter(0)
_SIGTRAP_SYSGOOD = signal.SIGTRAP | 0x80
# (arch, nr, args[6]) of a struct ptrace_syscall_info (entry and seccomp alike).
_UNPACK_INFO = struct.Struct("<4xI16xQ6Q").unpack_from
# How long the C loop polls before it sleeps, when it polls (it measures
# whether polling pays), in microseconds.  See the module docstring.
NATIVE_SPIN_US = 100
# Calls that never return when they succeed (fast mode sees no returns).
_NEVER_RETURN = frozenset({"exit", "exit_group"})

# Layouts, as lists for speed (indexes named here for the reader):
#   task    [counts, inflight counter, entry stime (sec, usec), epoch]
#   epoch   [tgid, exe, counts, counted, serial]   one per process per executable
#   counter [entered, errors, microseconds, argrec, key, returned, serial]
#   argrec  [getter, seen tuples, value sets, positions, arch, live positions]
Task = list[Any]
Epoch = list[Any]


class Recorder:
    """Traces the tasks it is given until they are all gone (or it is told to detach)."""

    def __init__(self, mode: str, interrupts: Interrupts | None = None,
                 arg_cap: int = ARG_VALUES_CAP) -> None:
        self.mode = mode
        self.full = mode == "full"
        self.resume_request = kernel.PTRACE_SYSCALL if self.full else kernel.PTRACE_CONT
        self.interrupts = interrupts
        self.arg_cap = arg_cap
        self.tasks: dict[int, Task] = {}
        self.procs: dict[int, Epoch] = {}
        self.epochs: list[Epoch] = []
        self.argrecs: dict[int, list[Any] | None] = {}
        self.leader: int = 0  # the program's pid (or the attached process)
        self.status: int | None = None  # its wait status, once it ended
        self.attached = False
        self.detached = False
        self.execed = False
        self.hot = kernel.HotCalls()
        self.counters: list[list[Any]] = []  # by serial
        self.native: native.Loop | None = None  # the C loop, while it runs
        self._info = kernel.PtraceSyscallInfo()
        self._serial = 0
        self.use_native = native.wanted()  # before any process is started: it may refuse

    def _epoch(self, tgid: int, exe: str, counted: bool) -> Epoch:
        self._serial += 1
        return [tgid, exe, {}, counted, self._serial]

    # -- starting ---------------------------------------------------------------

    def begin_program(self, pid: int) -> None:
        """Trace a child that was seized before its execve; its set-up calls are not counted."""
        self.leader = pid
        epoch = self._epoch(pid, "", False)
        self.procs[pid] = epoch
        self.tasks[pid] = [epoch[2], None, (0, 0), epoch]

    def begin_attach(self, pid: int, tids: Sequence[int]) -> None:
        """Trace the threads of a running process, seized and interrupted already."""
        self.leader = pid
        self.attached = True
        self.execed = True
        epoch = self._epoch(pid, kernel.exe_of(pid), True)
        self.procs[pid] = epoch
        self.epochs.append(epoch)
        for tid in tids:
            self.tasks[tid] = [epoch[2], None, (0, 0), epoch]

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        """Trace until every task is gone, or detach when the interrupts say so."""
        req = self.interrupts.requested if self.interrupts is not None else [False]
        # Every entry stop allocates a tuple or two; the cyclic collector
        # would walk the heap every 700 of them for nothing (no cycles here).
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self.use_native:
                self._loop_native(req)
            elif self.full:
                self._loop_full(req)
            else:
                self._loop_fast(req)
        finally:
            if collecting:
                gc.enable()
        if req[0] and self.tasks:
            if self.interrupts is not None:
                self.interrupts.acknowledge()
            self.detach_all()

    # The two loops differ in a few lines; they are separate so that neither
    # tests the mode at every stop.

    def _loop_full(self, req: list[bool]) -> None:
        wait4 = self.hot.wait4
        poll = self._poll_flags()
        poll4 = self.hot.poll4 if poll & os.WNOHANG else wait4
        pt = self.hot.ptrace
        status = ctypes.c_int(0)
        st_addr = ctypes.c_void_p(ctypes.addressof(status))
        info = kernel.PtraceSyscallInfo()
        info_addr = ctypes.c_void_p(ctypes.addressof(info))
        size = ctypes.sizeof(info)
        ibytes = (ctypes.c_ubyte * size).from_buffer(info)
        rusage = ctypes.create_string_buffer(kernel.RUSAGE_SIZE)
        ru_addr = ctypes.c_void_p(ctypes.addressof(rusage))
        unpack = _UNPACK_INFO
        stime = struct.Struct("<qq").unpack_from
        ru_off = kernel.RU_STIME_OFFSET
        gsi = kernel.PTRACE_GET_SYSCALL_INFO
        resume = kernel.PTRACE_SYSCALL
        sysstop = kernel.STATUS_SYSCALL_STOP
        entry_size, exit_size, err_off = kernel.SIZE_ENTRY, kernel.SIZE_EXIT, kernel.IS_ERROR_OFFSET
        m32 = _M32
        tasks = self.tasks
        new_counter = self._new_counter
        note_args = self._note_args
        other = self._other_stop
        wall = kernel.WALL
        while tasks:
            if req[0]:
                return
            # Poll a few times before sleeping (see the module docstring).
            # A failed poll (-1) also falls through to wait4, whose errno is kept.
            p = poll4(-1, st_addr, poll, ru_addr)
            if p <= 0:
                p = poll4(-1, st_addr, poll, ru_addr)
                if p <= 0:
                    p = poll4(-1, st_addr, poll, ru_addr)
                    if p <= 0:
                        p = wait4(-1, st_addr, wall, ru_addr)
            if p <= 0:
                if self._wait_failed(ctypes.get_errno()):
                    return
                continue
            s = status.value
            if s == sysstop:
                n = pt(gsi, p, size, info_addr)
                pt(resume, p, 0, 0)
                try:
                    if n == entry_size:
                        t = unpack(info)
                        ts = tasks[p]
                        c = ts[0].get(t[0] << 32 | t[1] & m32)
                        if c is None:
                            c = new_counter(ts, t)
                        c[0] += 1
                        ts[1] = c
                        ts[2] = stime(rusage, ru_off)
                        a = c[3]
                        if a is not None:
                            v = a[0](t)
                            if v not in a[1]:
                                note_args(a, v)
                    elif n == exit_size:
                        ts = tasks[p]
                        c = ts[1]
                        if c is not None:
                            ts[1] = None
                            c[5] += 1
                            if ibytes[err_off]:
                                c[1] += 1
                            sec, usec = stime(rusage, ru_off)
                            sec0, usec0 = ts[2]
                            c[2] += (sec - sec0) * 1000000 + usec - usec0
                except KeyError:
                    self._register(p)
                continue
            other(p, s)

    def _loop_fast(self, req: list[bool]) -> None:
        # os.waitpid is cheaper than wait4 through ctypes plus reading the
        # status back, and fast mode needs no rusage.  It retries EINTR
        # itself, which is fine: fast mode only runs programs record started,
        # and those are never detached from (see interrupts).
        waitpid = os.waitpid
        pt = self.hot.ptrace
        info = kernel.PtraceSyscallInfo()
        info_addr = ctypes.c_void_p(ctypes.addressof(info))
        size = ctypes.sizeof(info)
        unpack = _UNPACK_INFO
        gsi = kernel.PTRACE_GET_SYSCALL_INFO
        resume = kernel.PTRACE_CONT
        secstop = kernel.STATUS_SECCOMP_STOP
        seccomp_size = kernel.SIZE_SECCOMP
        m32 = _M32
        tasks = self.tasks
        new_counter = self._new_counter
        note_args = self._note_args
        other = self._other_stop
        wall = kernel.WALL
        poll = self._poll_flags()
        try:
            while tasks:
                if req[0]:
                    return
                p, s = waitpid(-1, poll)
                if p == 0:
                    p, s = waitpid(-1, poll)
                    if p == 0:
                        p, s = waitpid(-1, poll)
                        if p == 0:
                            p, s = waitpid(-1, wall)
                if s == secstop:
                    n = pt(gsi, p, size, info_addr)
                    pt(resume, p, 0, 0)
                    if n != seccomp_size:
                        continue  # gone before we could ask
                    try:
                        t = unpack(info)
                        ts = tasks[p]
                        c = ts[0].get(t[0] << 32 | t[1] & m32)
                        if c is None:
                            c = new_counter(ts, t)
                        c[0] += 1
                        ts[1] = c
                        a = c[3]
                        if a is not None:
                            v = a[0](t)
                            if v not in a[1]:
                                note_args(a, v)
                    except KeyError:
                        self._register(p)
                    continue
                other(p, s)
        except ChildProcessError:
            tasks.clear()

    def _loop_native(self, req: list[bool]) -> None:
        # The C loop (hotloop.c) takes the hot stops and hands back the rest,
        # which is handled here exactly as the Python loops handle it.
        loop = self.native = native.Loop(self._info, self._poll_flags(), NATIVE_SPIN_US)
        try:
            for tid, task in self.tasks.items():
                loop.task_set(tid, task[3][4])
            run = loop.runner(self.full)
            event = loop.event
            info = self._info
            unpack = _UNPACK_INFO
            counters = self.counters
            tasks = self.tasks
            while tasks:
                if req[0]:
                    return
                r = run()
                if r == native.TICK:
                    continue
                p = int(event[0])
                if r == native.OTHER:
                    self._other_stop(p, int(event[1]))
                elif r == native.NEW_ARGS:
                    rec = counters[int(event[2])][3]
                    if rec is not None:
                        self._args_seen(rec, unpack(info))
                elif r == native.NEW_COUNTER:
                    ts = tasks.get(p)
                    if ts is None:
                        self._register(p)
                        continue
                    t = unpack(info)
                    c = self._new_counter(ts, t)
                    loop.entry(p, c[6], self.full)
                    if c[3] is not None:
                        self._args_seen(c[3], t)
                elif r == native.UNKNOWN:
                    self._register(p)
                elif r == native.WAIT_ERROR and self._wait_failed(int(event[2])):
                    return
        finally:
            for c in counters:
                c[0], c[1], c[2], c[5] = loop.counter(c[6])
            self.native = None
            loop.close()

    def _args_seen(self, a: list[Any], t: tuple[int, ...]) -> None:
        """The C loop saw argument values it had not seen for ``a``'s syscall."""
        v = a[0](t)
        if v not in a[1]:
            before = a[5]
            self._note_args(a, v)
            if a[5] is not before and self.native is not None:
                mask = _mask(a)
                # Every epoch's counter of this syscall (rare: once per
                # argument that saturates).
                for c in self.counters:
                    if c[4] == a[4]:
                        self.native.counter_mask(c[6], mask)

    @staticmethod
    def _poll_flags() -> int:
        """wait4 flags for the polls before sleeping: WNOHANG, or none on a single CPU.

        On one CPU a poll only delays the tracee it waits for; without
        WNOHANG the first "poll" simply blocks and the others never run.
        """
        if len(os.sched_getaffinity(0)) > 1:
            return kernel.WALL | os.WNOHANG
        return kernel.WALL

    def _wait_failed(self, err: int) -> bool:
        """wait4 failed with ``err``: True when there is nothing left to wait for."""
        if err == errno.EINTR:
            return False
        if err == errno.ECHILD:
            self.tasks.clear()
            return True
        raise TraceError(f"wait4: {os.strerror(err)}")

    # -- everything but the hot stops ----------------------------------------------

    def _other_stop(self, pid: int, status: int) -> None:
        if not os.WIFSTOPPED(status):
            # An exit (or a child of the caller's that is no tracee of ours).
            self._gone(pid, status)
            return
        ts = self.tasks.get(pid)
        if ts is None:
            ts = self._register(pid)
        sig = (status >> 8) & 0xFF
        event = status >> 16
        if event == kernel.PTRACE_EVENT_STOP:
            if sig in kernel.GROUP_STOP_SIGNALS:
                # A group-stop (SIGSTOP, ^Z...): stay stopped as without a
                # tracer, yet let SIGCONT or SIGKILL through (ptrace(2),
                # "PTRACE_LISTEN"; strace does the same).
                kernel.request_quiet(kernel.PTRACE_LISTEN, pid)
                return
            inject = 0  # a new task's first stop, or a PTRACE_INTERRUPT
        elif event:
            inject = 0
            if event in (kernel.PTRACE_EVENT_FORK, kernel.PTRACE_EVENT_VFORK,
                         kernel.PTRACE_EVENT_CLONE):
                new = kernel.event_message(pid)
                if new > 0:
                    self._register(new, parent=ts,
                                   thread=None if event == kernel.PTRACE_EVENT_CLONE else False)
            elif event == kernel.PTRACE_EVENT_EXEC:
                self._exec(pid)
        elif sig == _SIGTRAP_SYSGOOD:
            inject = 0  # a syscall-stop of a task seen for the first time
        else:
            inject = sig  # signal-delivery-stop: deliver the signal unchanged
        kernel.request_quiet(self.resume_request, pid, 0, inject)

    def _register(self, tid: int, parent: Task | None = None,
                  thread: bool | None = None) -> Task:
        """Start following a new task (first seen, or announced by a fork/clone event)."""
        ts = self.tasks.get(tid)
        if ts is not None:
            return ts
        tgid = tid if thread is False else (kernel.tgid_of(tid) or tid)
        epoch = self.procs.get(tgid)
        if epoch is None:
            # A fork runs its parent's executable.
            exe = parent[3][1] if parent is not None and parent[3][3] else kernel.exe_of(tgid)
            epoch = self._epoch(tgid, exe, True)
            self.procs[tgid] = epoch
            self.epochs.append(epoch)
        ts = [epoch[2], None, (0, 0), epoch]
        self.tasks[tid] = ts
        if self.native is not None:
            self.native.task_set(tid, epoch[4])
        return ts

    def _gone(self, tid: int, status: int) -> None:
        ts = self.tasks.pop(tid, None)
        if self.native is not None:
            self.native.task_del(tid)
        if ts is not None and ts[3][0] == tid:
            self.procs.pop(tid, None)
        if tid == self.leader:
            self.status = status

    def _exec(self, pid: int) -> None:
        """PTRACE_EVENT_EXEC: a new executable (and maybe a new thread id) for ``pid``."""
        former = kernel.event_message(pid)
        if former and former != pid and former in self.tasks:
            # An execve in a non-leader thread: the kernel gives it the
            # leader's id, and the leader vanishes without an exit report
            # (ptrace(2), "execve(2) under ptrace"); its unfinished call is
            # dropped with it, as strace drops its tcb.
            self.tasks[pid] = self.tasks.pop(former)
            if self.native is not None:
                self.native.task_move(former, pid)
        ts = self.tasks.get(pid) or self._register(pid)
        old = ts[3]
        epoch = self._epoch(old[0], kernel.exe_of(pid), True)
        self.procs[old[0]] = epoch
        self.epochs.append(epoch)
        ts[0] = epoch[2]
        ts[3] = epoch
        loop = self.native
        if loop is not None:
            loop.task_set(pid, epoch[4])
        if not old[3]:
            # The program's first execve: the calls before it were
            # tracebench's own child set-up; the execve itself is the
            # program's first call.
            self.execed = True
            inflight = ts[1]
            if loop is not None:
                cid = loop.task_inflight(pid)
                inflight = self.counters[cid] if cid >= 0 else None
            if inflight is not None:
                c = self._counter(epoch, inflight[4])
                c[0] = 1
                ts[1] = c
                if loop is not None:
                    loop.counter_add_entered(c[6], 1)
                    loop.task_inflight_set(pid, c[6])

    # -- counters and argument values ---------------------------------------------------

    def _new_counter(self, ts: Task, t: tuple[int, ...]) -> list[Any]:
        return self._counter(ts[3], t[0] << 32 | t[1] & _M32)

    def _counter(self, epoch: Epoch, key: int) -> list[Any]:
        """A new counter of ``key`` calls in ``epoch``."""
        a = self._argrec(key) if epoch[3] else None
        serial = len(self.counters)
        c: list[Any] = [0, 0, 0, a, key, 0, serial]
        epoch[2][key] = c
        self.counters.append(c)
        if self.native is not None:
            self.native.counter_add(epoch[4], key, serial, _mask(a) if a is not None else 0)
        return c

    def _argrec(self, key: int) -> list[Any] | None:
        if key in self.argrecs:
            return self.argrecs[key]
        positions = prototypes.value_arguments(_name(key)[1])
        rec: list[Any] | None = None
        if positions:
            live = list(range(len(positions)))
            rec = [itemgetter(*(2 + p for p in positions)), set(), [set() for _ in positions],
                   positions, key >> 32, live]
        self.argrecs[key] = rec
        return rec

    def _note_args(self, a: list[Any], v: Any) -> None:
        """A call whose argument values were not all seen before."""
        live: list[int] = a[5]
        values = v if len(live) > 1 else (v,)
        sets: list[set[int]] = a[2]
        cap = self.arg_cap
        saturated = False
        for i, x in zip(live, values, strict=True):
            s = sets[i]
            if x not in s and len(s) <= cap:
                s.add(x)
                if len(s) > cap:
                    saturated = True
        if saturated:
            # One more value than a profile keeps: the set is marked
            # incomplete when the profile is built, and nothing more is
            # learnt from this argument, so stop looking at it.
            live = [i for i in live if len(sets[i]) <= cap]
            a[5] = live
            if live:
                a[0] = itemgetter(*(2 + a[3][i] for i in live))
                a[1] = set()
            else:
                # Nothing left to learn: a getter whose value (the arch) is
                # always "seen" keeps the hot path to one set lookup.
                a[0] = _ARCH_ONLY
                a[1] = {a[4]}
            return
        if len(a[1]) < _TUPLE_CAP:
            a[1].add(v)

    # -- leaving ------------------------------------------------------------------------

    def detach_all(self, timeout: float = 5.0) -> None:
        """Let every task go where it is, running (or stopped, if it was group-stopped)."""
        pending = set(self.tasks)
        for tid in list(pending):
            if kernel.state_of(tid) in ("Z", "X", ""):
                pending.discard(tid)  # a zombie never stops again; detached as it is reaped
                continue
            kernel.request_quiet(kernel.PTRACE_INTERRUPT, tid)
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + 0.1
        while pending and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, kernel.WALL | os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.001)
                if time.monotonic() > next_check:
                    next_check = time.monotonic() + 0.1
                    pending = {t for t in pending if kernel.state_of(t) not in ("Z", "X", "")}
                continue
            if not os.WIFSTOPPED(status):
                pending.discard(pid)
                self._gone(pid, status)
                continue
            sig = os.WSTOPSIG(status)
            event = status >> 16
            if event in (kernel.PTRACE_EVENT_FORK, kernel.PTRACE_EVENT_VFORK,
                         kernel.PTRACE_EVENT_CLONE):
                new = kernel.event_message(pid)
                if new > 0:
                    pending.add(new)  # auto-attached: it must be let go too
            inject = sig if event == 0 and sig != _SIGTRAP_SYSGOOD else 0
            kernel.request_quiet(kernel.PTRACE_DETACH, pid, 0, inject)
            pending.discard(pid)
        self.tasks.clear()
        self.detached = True

    def kill_all(self, timeout: float = 5.0) -> None:
        """Kill every traced process and reap it (a program record started, on failure)."""
        for tid in list(self.tasks):
            with contextlib.suppress(OSError):
                os.kill(tid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.tasks and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, kernel.WALL | os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.001)
                continue
            if not os.WIFSTOPPED(status):
                self._gone(pid, status)
        self.tasks.clear()

    # -- the result ----------------------------------------------------------------------

    def calls(self) -> int:
        return sum(int(c[0]) for e in self.epochs if e[3] for c in e[2].values())

    def build(self, provenance: Provenance) -> Profile:
        builder = ProfileBuilder(provenance, arg_cap=self.arg_cap)
        for tgid, exe, counts, counted, _serial in self.epochs:
            if not counted:
                continue
            for key, c in counts.items():
                if not c[0]:
                    continue
                arch, name = _name(key)
                entered = int(c[0])
                if self.full:
                    returned = int(c[5])
                elif name in _NEVER_RETURN:
                    returned = 0
                else:
                    returned = entered  # fast mode cannot tell; see the module doc
                builder.add(arch, name, pid=tgid, exe=exe, calls=returned,
                            errors=int(c[1]), seconds=c[2] / 1e6,
                            unfinished=entered - returned)
        for key, a in self.argrecs.items():
            if a is None:
                continue
            arch, name = _name(key)
            for pos, values in zip(a[3], a[2], strict=True):
                for value in sorted(values):
                    vec: list[int | None] = [None] * (pos + 1)
                    vec[pos] = value
                    builder.add_args(arch, name, vec)
        return builder.build()


def _mask(a: list[Any]) -> int:
    """The argument positions an argrec still looks at, as the C loop's bit mask."""
    return sum(1 << a[3][i] for i in a[5])


def _name(key: int) -> tuple[str, str]:
    """(arch, syscall name) for a counter key."""
    audit, nr = key >> 32, key & _M32
    arch = syscalls.ARCH_BY_AUDIT.get(audit)
    if arch is None:
        return f"audit_arch_{audit:#x}", f"syscall_{nr:#x}"
    if arch == "x86_64" and nr & _X32_BIT:
        arch = "x32"
    return arch, syscalls.name(arch, nr)
