"""The evaluator against the kernel: load real filters into forked children and compare.

Every row of the table in POLICY-SEMANTICS.md is a test of its own (the kernel
must still do what the table says, and the evaluator must say the same), then
a seeded random differential test: random policies, loaded for real, called
with boundary arguments, zero disagreements allowed.  i386 calls are made
through ``int $0x80`` from a small shared object built with gcc.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tracebench import sandbox, syscalls
from tracebench.errors import PolicyError
from tracebench.policy.evaluate import evaluate
from tracebench.policy.model import ALLOW, Action, Condition, Context, Policy, Rule

CTX = Context("x86_64")
M64 = 0xFFFFFFFFFFFFFFFF

# What the child needs after the filter is loaded (write results, allocate,
# exit): allowed explicitly so that default-deny policies can be tested.
HARNESS = ("write", "exit_group", "exit", "mmap", "munmap", "brk", "mremap", "madvise",
           "futex", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "getpid", "gettid",
           "close", "sigaltstack")
# Syscalls that are harmless with any arguments (read-only, or dup of a bogus fd).
SAFE = ("dup", "getpgid", "getsid", "sched_getscheduler")


def errno_(n: int) -> Action:
    return Action("errno", n)


def policy(*rules: Rule, default: Action = ALLOW, arches: Sequence[str] = ()) -> Policy:
    extra = () if default.allows else (Rule(HARNESS, ALLOW),)
    return Policy(default, (*rules, *extra), arches=tuple(arches))


def dup_if(action: Action, *conds: tuple[str, int] | tuple[str, int, int]) -> Rule:
    return Rule(("dup",), action, tuple(Condition(0, *c) for c in conds))


# ---------------------------------------------------------------------------
# Running calls in a filtered child.

_SYS32_C = r"""
long sys32(long nr, long a, long b, long c, long d, long e, long f) {
    long ret;
    __asm__ volatile ("push %%rbp\n\tmov %7, %%rbp\n\tint $0x80\n\tpop %%rbp"
        : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "r"(f)
        : "memory");
    return ret;
}
"""


@pytest.fixture(scope="session")
def sys32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared object whose sys32() makes an i386 system call (int $0x80) from x86_64."""
    d = tmp_path_factory.mktemp("sys32")
    (d / "sys32.c").write_text(_SYS32_C)
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o",
                    str(d / "sys32.so"), str(d / "sys32.c")], check=True)
    return d / "sys32.so"


@dataclass(frozen=True)
class Seen:
    """What happened to one call: ran, failed with errno N, or killed by a signal."""

    kind: str  # "ret", "errno", "signal"
    value: int


class Loadable(Protocol):
    def load(self) -> None: ...


def run_calls(flt: Loadable, calls: Sequence[tuple[str, int, tuple[int, ...]]],
              sys32: Path | None = None) -> list[Seen]:
    """Make each (arch, nr, args) call in a child under ``flt``; a new child after a kill."""
    seen: list[Seen] = []
    while len(seen) < len(calls):
        start = len(seen)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(r)
                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                lib32 = None
                if sys32 is not None:
                    lib32 = ctypes.CDLL(str(sys32))
                    lib32.sys32.restype = ctypes.c_long
                    lib32.sys32.argtypes = [ctypes.c_long] * 7
                lines = []
                flt.load()
                for arch, nr, args in calls[start:]:
                    sargs = [ctypes.c_long(a - (1 << 64) if a >= 1 << 63 else a) for a in args]
                    if arch == "i386":
                        assert lib32 is not None
                        ret = lib32.sys32(nr, *[a.value for a in sargs])
                        res = f"errno {-ret}" if -4096 < ret < 0 else f"ret {ret}"
                    else:
                        ctypes.set_errno(0)
                        ret = libc.syscall(ctypes.c_long(nr), *sargs)
                        res = f"errno {ctypes.get_errno()}" if ret == -1 else f"ret {ret}"
                    lines.append(res)
                    os.write(w, (res + "\n").encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            got = [line.split() for line in f.read().splitlines()]
        _, status = os.waitpid(pid, 0)
        seen.extend(Seen(k, int(v)) for k, v in got)
        if os.WIFSIGNALED(status):
            seen.append(Seen("signal", os.WTERMSIG(status)))
        elif len(seen) < len(calls):
            raise AssertionError(f"child exited with {status:#x} after {len(seen)} calls")
    return seen


def expected(action: Action) -> Seen | None:
    """What the kernel does with ``action`` (None: the call runs, whatever it returns)."""
    if action.kind == "errno":
        return Seen("errno", action.value)
    if action.kind == "trace":  # no tracer attached: ENOSYS
        return Seen("errno", errno.ENOSYS)
    if action.kind in ("kill_process", "kill_thread", "trap"):
        return Seen("signal", signal.SIGSYS)
    return None


def agrees(action: Action, seen: Seen, injected: set[int]) -> bool:
    want = expected(action)
    if want is not None:
        return seen == want
    return seen.kind == "ret" or (seen.kind == "errno" and seen.value not in injected
                                  and seen.value != errno.ENOSYS)


def kernel(pol: Policy, name: str, *args: int, arch: str = "x86_64",
           sys32: Path | None = None) -> Seen:
    flt = sandbox.compile(pol, CTX)
    nr = syscalls.number(arch, name)
    assert nr is not None
    full = (tuple(args) + (0,) * 6)[:6]
    return run_calls(flt, [(arch, nr, full)], sys32)[0]


def decide(pol: Policy, name: str, *args: int, arch: str = "x86_64") -> Action:
    d = evaluate(pol, CTX, arch, name, (tuple(args) + (0,) * 6)[:6])
    assert not d.undecided
    return d.action


# ---------------------------------------------------------------------------
# The table in POLICY-SEMANTICS.md, row by row.


def test_rule_with_default_action_is_refused_by_libseccomp_and_skipped() -> None:
    import pyseccomp

    raw = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    with pytest.raises(PermissionError):
        raw.add_rule(pyseccomp.ALLOW, "getpid")
    pol = policy(Rule(("getpgid",), ALLOW, line=3), Rule(("getsid",), errno_(201)))
    flt = sandbox.compile(pol, CTX)
    assert flt.skipped == (0,)
    assert any(w.startswith("line 3:") and "no effect" in w for w in flt.warnings)
    assert kernel(pol, "getsid", 0) == Seen("errno", 201)
    assert decide(pol, "getsid", 0) == errno_(201)
    assert kernel(pol, "getpgid", 0).kind == "ret"
    assert decide(pol, "getpgid", 0) == ALLOW


def test_first_unconditional_rule_stays_errno_then_kill() -> None:
    pol = policy(Rule(("getpgid",), errno_(6)), Rule(("getpgid",), Action("kill_process")))
    assert kernel(pol, "getpgid", 0) == Seen("errno", 6)
    d = evaluate(pol, CTX, "x86_64", "getpgid")
    assert (d.action, d.rule_index, d.undecided) == (errno_(6), 0, False)


def test_first_unconditional_rule_stays_errno6_then_errno5() -> None:
    pol = policy(Rule(("getpgid",), errno_(6)), Rule(("getpgid",), errno_(5)))
    assert kernel(pol, "getpgid", 0) == Seen("errno", 6)
    assert decide(pol, "getpgid", 0) == errno_(6)


@pytest.mark.parametrize("order", ["conditional_first", "unconditional_first"])
def test_unconditional_rule_wins_over_conditional(order: str) -> None:
    rules = [dup_if(errno_(7), ("eq", 99)), Rule(("dup",), errno_(8))]
    if order == "unconditional_first":
        rules.reverse()
    pol = policy(*rules)
    assert kernel(pol, "dup", 99) == Seen("errno", 8)
    d = evaluate(pol, CTX, "x86_64", "dup", [99])
    assert d.action == errno_(8)
    assert pol.rules[d.rule_index or 0].conditions == ()
    # and the argument no longer matters at all
    assert not evaluate(pol, CTX, "x86_64", "dup").undecided


def test_same_conditions_with_another_errno_is_eexist() -> None:
    import pyseccomp

    raw = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    raw.add_rule(pyseccomp.ERRNO(7), "dup", pyseccomp.Arg(0, pyseccomp.EQ, 99))
    with pytest.raises(FileExistsError):
        raw.add_rule(pyseccomp.ERRNO(9), "dup", pyseccomp.Arg(0, pyseccomp.EQ, 99))
    pol = Policy(ALLOW, (Rule(("dup",), errno_(7), (Condition(0, "eq", 99),), line=4),
                         Rule(("dup",), errno_(9), (Condition(0, "eq", 99),), line=9)))
    with pytest.raises(PolicyError) as e:
        sandbox.compile(pol, CTX)
    assert e.value.line == 9
    assert "EEXIST" in str(e.value) and "(line 4)" in str(e.value)
    # the same rule twice with the same action is no conflict
    same = Policy(ALLOW, (pol.rules[0], pol.rules[0]))
    assert decide(same, "dup", 99) == errno_(7)


@pytest.mark.parametrize("order", ["ge_first", "le_first"])
def test_overlapping_ranges_errno_vs_errno(order: str) -> None:
    rules = [dup_if(errno_(7), ("ge", 50)), dup_if(errno_(8), ("le", 100))]
    if order == "le_first":
        rules.reverse()
    pol = policy(*rules)
    assert kernel(pol, "dup", 75) == Seen("errno", 8)
    assert decide(pol, "dup", 75) == errno_(8)


@pytest.mark.parametrize("order", ["ge_first", "le_first"])
def test_overlapping_ranges_errno_vs_kill_process(order: str) -> None:
    rules = [dup_if(errno_(11), ("ge", 50)), dup_if(Action("kill_process"), ("le", 100))]
    if order == "le_first":
        rules.reverse()
    pol = policy(*rules)
    assert kernel(pol, "dup", 75) == Seen("signal", signal.SIGSYS)
    assert decide(pol, "dup", 75) == Action("kill_process")


@pytest.mark.parametrize("order", ["ge_first", "le_first"])
def test_overlapping_ranges_errno_vs_log_log_wins(order: str) -> None:
    rules = [dup_if(errno_(11), ("ge", 50)), dup_if(Action("log"), ("le", 100))]
    if order == "le_first":
        rules.reverse()
    pol = policy(*rules)
    seen = kernel(pol, "dup", 75)
    assert seen == Seen("errno", errno.EBADF)  # dup(75) really ran
    assert decide(pol, "dup", 75) == Action("log")


def test_comparisons_are_on_64_bits() -> None:
    pol = policy(dup_if(errno_(12), ("eq", 0xFFFFFFFF)))
    assert kernel(pol, "dup", 0xFFFFFFFF) == Seen("errno", 12)
    assert decide(pol, "dup", 0xFFFFFFFF) == errno_(12)
    assert kernel(pol, "dup", M64) == Seen("errno", errno.EBADF)
    assert decide(pol, "dup", M64) == ALLOW
    assert decide(pol, "dup", -1) == ALLOW


def test_masked_eq_takes_mask_then_value() -> None:
    pol = policy(dup_if(errno_(13), ("masked_eq", 0x30, 0xF0)))
    assert "$a0.lo32 & 0x000000f0 == 48" in sandbox.compile(pol, CTX).export_pfc()
    assert kernel(pol, "dup", 0x35) == Seen("errno", 13)
    assert decide(pol, "dup", 0x35) == errno_(13)
    assert kernel(pol, "dup", 0x45) == Seen("errno", errno.EBADF)
    assert decide(pol, "dup", 0x45) == ALLOW


def test_masked_eq_value_bits_outside_the_mask_are_masked_away() -> None:
    # libseccomp stores value & mask (_db_node_mask_fixup): 0x135 & 0xf0 == 0x30.
    pol = policy(dup_if(errno_(14), ("masked_eq", 0x130, 0xF0)))
    assert kernel(pol, "dup", 0x35) == Seen("errno", 14)
    d = evaluate(pol, CTX, "x86_64", "dup", [0x35])
    assert (d.action, d.rule_index) == (errno_(14), 0)
    assert pol.rules[0].conditions[0].matches(0x35)  # the model agrees with libseccomp


def test_a_shorter_rule_with_the_same_action_absorbs_a_longer_one() -> None:
    # Why the evaluator never decides with per-rule tags: with equal actions
    # libseccomp prunes the longer rule and keeps the shorter; with distinct
    # actions it refuses the shorter one (EEXIST), and dup(5, 4) would be allowed.
    longer = Rule(("dup",), errno_(15), (Condition(0, "eq", 5), Condition(1, "eq", 3)))
    shorter = Rule(("dup",), errno_(15), (Condition(0, "eq", 5),))
    pol = policy(longer, shorter)
    assert kernel(pol, "dup", 5, 4) == Seen("errno", 15)
    d = evaluate(pol, CTX, "x86_64", "dup", [5, 4])
    assert (d.action, d.rule_index) == (errno_(15), 1)
    tagged = sandbox.compile_tagged(pol, CTX)
    from tracebench.policy.bpf import SeccompData

    data = SeccompData(32, sandbox.bpf_arch_token("x86_64"), 0, (5, 4, 0, 0, 0, 0))
    assert tagged.program().run(data) == ALLOW.ret


# ---------------------------------------------------------------------------
# Other kernel behaviour the evaluator's callers rely on.


def test_trace_without_tracer_is_enosys() -> None:
    pol = policy(Rule(("getsid",), Action("trace", 7)))
    assert kernel(pol, "getsid", 0) == Seen("errno", errno.ENOSYS)
    assert decide(pol, "getsid", 0) == Action("trace", 7)


@pytest.mark.parametrize("kind", ["kill_thread", "kill_process", "trap"])
def test_killing_actions_end_the_child_with_sigsys(kind: str) -> None:
    pol = policy(Rule(("getsid",), Action(kind)))
    assert kernel(pol, "getsid", 0) == Seen("signal", signal.SIGSYS)
    assert decide(pol, "getsid", 0) == Action(kind)


def test_errno_values_stop_at_4094() -> None:
    # libseccomp refuses errno data >= MAX_ERRNO (4095); 4094 reaches the caller.
    pol = policy(Rule(("getsid",), errno_(4094)))
    assert kernel(pol, "getsid", 0) == Seen("errno", 4094)
    assert decide(pol, "getsid", 0) == errno_(4094)
    with pytest.raises(PolicyError, match="errno values up to 4094") as e:
        sandbox.compile(policy(Rule(("getsid",), errno_(4095), line=5)), CTX)
    assert e.value.line == 5


def test_default_errno_policy_denies_unlisted_calls() -> None:
    pol = policy(Rule(("getpgid",), ALLOW), default=errno_(38))
    assert kernel(pol, "getsid", 0) == Seen("errno", 38)
    assert decide(pol, "getsid", 0) == errno_(38)
    assert kernel(pol, "getpgid", 0).kind == "ret"


def test_observe_mode_relabels_denials_as_trace(sys32: Path) -> None:
    pol = policy(dup_if(errno_(7), ("ge", 50)), dup_if(Action("kill_process"), ("le", 100)),
                 Rule(("getsid",), errno_(7)), default=errno_(1))
    flt = sandbox.compile(pol, CTX, observe=True)
    assert set(flt.labels.values()) == {errno_(1), errno_(7), Action("kill_process")}
    # Nothing is killed or denied with its real errno: every stop is a trace, ENOSYS untraced.
    calls = [("x86_64", 32, (75, 0, 0, 0, 0, 0)), ("x86_64", 32, (200, 0, 0, 0, 0, 0)),
             ("x86_64", 124, (0,) * 6), ("x86_64", 121, (0,) * 6)]
    assert run_calls(flt, calls) == [Seen("errno", errno.ENOSYS)] * 4
    # and the trace data names the action the real filter gives
    program = flt.program()
    real = sandbox.compile(pol, CTX).program()
    for _arch, nr, args in calls:
        from tracebench.policy.bpf import SeccompData

        data = SeccompData(nr, sandbox.bpf_arch_token("x86_64"), 0, args)
        got = program.run(data)
        assert got & 0xFFFF0000 == 0x7FF00000
        assert flt.labels[got & 0xFFFF].ret == real.run(data)


# ---------------------------------------------------------------------------
# i386 through int $0x80: multi-arch filters and 32-bit arguments.


def test_i386_calls_follow_the_i386_rules(sys32: Path) -> None:
    pol = policy(Rule(("getsid",), errno_(201)), dup_if(errno_(202), ("eq", 5)),
                 arches=("x86_64", "i386"))
    flt = sandbox.compile(pol, CTX)
    getsid32, dup32 = syscalls.number("i386", "getsid"), syscalls.number("i386", "dup")
    assert getsid32 == 147 and dup32 == 41
    calls = [("i386", 147, (0,) * 6), ("i386", 41, (5, 0, 0, 0, 0, 0)),
             ("i386", 41, (999, 0, 0, 0, 0, 0)), ("x86_64", 124, (0,) * 6)]
    assert run_calls(flt, calls, sys32) == [Seen("errno", 201), Seen("errno", 202),
                                            Seen("errno", errno.EBADF), Seen("errno", 201)]
    assert decide(pol, "getsid", arch="i386") == errno_(201)
    assert decide(pol, "dup", 5, arch="i386") == errno_(202)
    assert decide(pol, "dup", 999, arch="i386") == ALLOW


def test_i386_call_on_an_x86_64_only_policy_hits_the_bad_arch_action(sys32: Path) -> None:
    pol = policy(Rule(("getsid",), errno_(201)))
    flt = sandbox.compile(pol, CTX)
    assert run_calls(flt, [("i386", 147, (0,) * 6)], sys32) == [Seen("signal", signal.SIGSYS)]
    d = evaluate(pol, CTX, "i386", "getsid")
    assert d.bad_arch and d.action == Action("kill_thread") and d.rule_index is None


def test_i386_socket_rule_also_filters_socketcall(sys32: Path) -> None:
    # socketcall(SYS_SOCKET=1, NULL): denied by the socket rule; SYS_BIND=2 is not.
    pol = policy(Rule(("socket",), errno_(203), line=7), arches=("x86_64", "i386"))
    flt = sandbox.compile(pol, CTX)
    calls = [("i386", 102, (1, 0, 0, 0, 0, 0)), ("i386", 102, (2, 0, 0, 0, 0, 0)),
             ("i386", 359, (M64, 0, 0, 0, 0, 0))]
    assert run_calls(flt, calls, sys32) == [Seen("errno", 203), Seen("errno", errno.EFAULT),
                                            Seen("errno", 203)]
    d = evaluate(pol, CTX, "i386", "socketcall", [1, 0])
    assert (d.action, d.rule_index) == (errno_(203), 0)
    assert evaluate(pol, CTX, "i386", "socketcall", [2, 0]).action == ALLOW
    open_ = evaluate(pol, CTX, "i386", "socketcall")
    assert open_.undecided and open_.actions == {errno_(203), ALLOW}


def test_i386_arguments_are_32_bit(sys32: Path) -> None:
    # 0xffffffff on i386 is all ones; the upper half never reaches the filter.
    pol = policy(dup_if(errno_(204), ("eq", 0xFFFFFFFF)), arches=("i386", "x86_64"))
    flt = sandbox.compile(pol, CTX)
    assert run_calls(flt, [("i386", 41, (0xFFFFFFFF, 0, 0, 0, 0, 0))], sys32) == [
        Seen("errno", 204)]
    assert decide(pol, "dup", 0xFFFFFFFF, arch="i386") == errno_(204)
    assert decide(pol, "dup", -1, arch="i386") == errno_(204)  # cut to 32 bits
    assert decide(pol, "dup", -1) == ALLOW  # x86_64 compares 64 bits


def test_x32_calls_are_filtered_under_the_x86_64_token() -> None:
    # x32 numbers carry bit 30 and report AUDIT_ARCH_X86_64; this kernel may not
    # run x32 calls (ENOSYS) but the filter sees them first.
    getsid_x32 = syscalls.number("x32", "getsid")
    assert getsid_x32 == 0x40000000 | 124
    both = policy(Rule(("getsid",), errno_(209)), arches=("x86_64", "x32"))
    assert run_calls(sandbox.compile(both, CTX), [("x32", getsid_x32, (0,) * 6)]) == [
        Seen("errno", 209)]
    assert decide(both, "getsid", arch="x32") == errno_(209)
    native = policy(Rule(("getsid",), errno_(209)))
    assert run_calls(sandbox.compile(native, CTX), [("x32", getsid_x32, (0,) * 6)]) == [
        Seen("signal", signal.SIGSYS)]
    d = evaluate(native, CTX, "x32", "getsid")
    assert d.bad_arch and d.action == Action("kill_thread")


# ---------------------------------------------------------------------------
# Real compiled filters written by others (bubblewrap, firejail): the
# interpreter runs them as the kernel does.

FIXTURES = Path(__file__).parent / "fixtures" / "evaluate"
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


class RawFilter:
    """A compiled filter file, loaded as is with prctl(PR_SET_SECCOMP)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def load(self) -> None:
        n = len(self.raw) // 8
        insns = (SockFilter * n).from_buffer_copy(self.raw)
        prog = SockFprog(n, insns)
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


class NoFilter:
    def load(self) -> None:
        pass


# Calls harmless with or without a filter, some denied by these filters.
FIXTURE_CALLS = [
    ("x86_64", "getpid", ()), ("x86_64", "dup", (999,)),
    ("x86_64", "socket", (17, 2, 0)),  # AF_PACKET
    ("x86_64", "socket", (1, 1, 0)),  # AF_UNIX
    ("x86_64", "socket", (3, 2, 0)),  # AF_AX25
    ("x86_64", "socket", (1 << 32 | 17, 2, 0)),  # the upper half is not the domain's
    ("x86_64", "syslog", (0, 0, 0)),  # SYSLOG_ACTION_CLOSE: a no-op
    ("x86_64", "personality", (0xFFFFFFFF,)),  # query only
    ("x86_64", "uselib", (0,)), ("x86_64", "modify_ldt", (0, 0, 0)),
    ("x86_64", "ustat", (0, 0)), ("x86_64", "sysfs", (0,)), ("x86_64", "pivot_root", (0, 0)),
    ("i386", "getpid", ()), ("i386", "dup", (999,)),
    ("i386", "socketcall", (1, 0)),  # SYS_SOCKET: the domain is behind a pointer
    ("i386", "socketcall", (2, 0)),  # SYS_BIND
    ("i386", "syslog", (0, 0, 0)), ("i386", "personality", (0xFFFFFFFF,)),
    ("i386", "sysfs", (0,)),
]


@pytest.mark.parametrize(("fixture", "denied_x86_64", "denied_i386"), [
    ("bubblewrap-demo-flatpak.bpf", 16, 16),
    ("firejail-0.9.72-default-filter.bpf", 71, 0),
    ("firejail-0.9.72-default-filter-32.bpf", 0, 48),
])
def test_real_compiled_filters_run_as_in_the_kernel(fixture: str, denied_x86_64: int,
                                                    denied_i386: int, sys32: Path) -> None:
    from tracebench.policy.bpf import Program, SeccompData

    raw = (FIXTURES / fixture).read_bytes()
    program = Program.from_bytes(raw)
    for arch, count in (("x86_64", denied_x86_64), ("i386", denied_i386)):
        token = sandbox.bpf_arch_token(arch)
        denied = [nr for nr in syscalls.table(arch)
                  if program.run(SeccompData(nr, token)) == errno_(1).ret]
        assert len(denied) == count, (arch, [syscalls.name(arch, nr) for nr in denied])
    calls = []
    for arch, name, args in FIXTURE_CALLS:
        nr = syscalls.number(arch, name)
        assert nr is not None
        calls.append((arch, nr, (tuple(args) + (0,) * 6)[:6]))
    seen = run_calls(RawFilter(raw), calls, sys32)
    unfiltered = run_calls(NoFilter(), calls, sys32)
    for (arch, nr, args), got, free in zip(calls, seen, unfiltered, strict=True):
        ret = program.run(SeccompData(nr, sandbox.bpf_arch_token(arch), 0, args))
        assert ret in (ALLOW.ret, errno_(1).ret, errno_(97).ret), hex(ret)
        # allowed: what the call does without a filter; denied: the filter's errno
        want = free if ret == ALLOW.ret else Seen("errno", ret & 0xFFFF)
        assert got.kind == want.kind and (got.kind == "ret" or got.value == want.value), \
            (fixture, arch, syscalls.name(arch, nr), args, hex(ret), got)


def test_bubblewrap_denies_af_packet_and_every_i386_socket_call() -> None:
    from tracebench.policy.bpf import Program, SeccompData

    program = Program.from_bytes((FIXTURES / "bubblewrap-demo-flatpak.bpf").read_bytes())
    fixed64 = {0: 41, 1: sandbox.bpf_arch_token("x86_64")}
    assert [(o.ret, o.witness) for o in program.outcomes(fixed64)] == [
        (errno_(97).ret, {4: 3, 5: 0}), (ALLOW.ret, {4: 0, 5: 0})]
    # flatpak allows AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK only
    token = sandbox.bpf_arch_token("x86_64")
    allowed = [d for d in range(64)
               if program.run(SeccompData(41, token, 0, (d, 0, 0, 0, 0, 0))) == ALLOW.ret]
    assert allowed == [0, 1, 2, 10, 16]
    # socketcall(SYS_SOCKET, args) on i386: the domain is out of reach, so all of it
    fixed32 = {0: 102, 1: sandbox.bpf_arch_token("i386")}
    assert [(o.ret, o.witness) for o in program.outcomes(fixed32)] == [
        (errno_(97).ret, {4: 1}), (ALLOW.ret, {4: 0})]
    # and an architecture it does not know is killed
    assert [o.ret for o in program.outcomes({1: sandbox.bpf_arch_token("aarch64")})] == [0]


# ---------------------------------------------------------------------------
# The random differential test.

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "masked_eq")
VALUES = (0, 1, 2, 49, 50, 51, 75, 99, 100, 101, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
          0x100000000, 0x100000005, 0x1FFFFFFFF, 1 << 63, M64 - 1, M64)
MASKS = (0xF0, 0xFF, 0xFFFFFFFF, 0xFFFFFFFF00000000, 0xFF000000FF, 0x8000000000000001, M64)


def random_condition(rng: random.Random, arg: int) -> Condition:
    op = rng.choice(OPS)
    if op == "masked_eq":
        mask = rng.choice(MASKS)
        value = mask & rng.choice((*VALUES, rng.getrandbits(64)))
        if rng.random() < 0.1:
            value |= 1 << rng.randrange(64)  # bits outside the mask: libseccomp masks them
        return Condition(arg, op, value, mask)
    return Condition(arg, op, rng.choice((*VALUES, rng.getrandbits(64))))


def random_action(rng: random.Random, n: int, injected: set[int]) -> Action:
    roll = rng.random()
    if roll < 0.7:
        # reuse an earlier errno now and then: equal actions merge in libseccomp's tree
        value = 200 + (rng.randrange(n + 1) if rng.random() < 0.3 else n)
        injected.add(value)
        return errno_(value)
    if roll < 0.8:
        return Action("trace", rng.choice((1, n + 1)))
    if roll < 0.87:
        return Action("log")
    if roll < 0.94:
        return ALLOW
    return Action(rng.choice(("kill_process", "kill_thread", "trap")))


def random_policy(rng: random.Random, arches: Sequence[str]) -> tuple[Policy, set[int]]:
    """1-6 rules on 1-3 harmless syscalls, often overlapping or sharing leading conditions."""
    calls = rng.sample(SAFE, rng.choice((1, 1, 2, 2, 3)))
    default = rng.choice((ALLOW, ALLOW, errno_(199)))
    injected = {199}
    rules: list[Rule] = []
    for n in range(rng.randint(1, 6)):
        action = random_action(rng, n, injected)
        if rules and rng.random() < 0.3:
            # derived from an earlier rule: a condition more or fewer
            base = rng.choice(rules)
            conds = list(base.conditions)
            free = [a for a in (0, 1, 2, 5) if a not in (c.arg for c in conds)]
            if conds and (not free or rng.random() < 0.5):
                conds.pop(rng.randrange(len(conds)))
            else:
                conds.append(random_condition(rng, rng.choice(free)))
            names = base.names
        else:
            args = rng.sample((0, 1, 2, 5), rng.choice((0, 1, 1, 1, 2, 2, 3)))
            conds = [random_condition(rng, a) for a in sorted(args, key=lambda a: (a != 0, a))]
            names = tuple(rng.sample(calls, rng.choice((1, 1, 1, 2)) if len(calls) > 1 else 1))
        rules.append(Rule(names, action, tuple(conds), line=10 + n))
    return policy(*rules, default=default, arches=arches), injected


def candidate_args(rng: random.Random, pol: Policy, name: str, bits: int) -> tuple[int, ...]:
    pool: dict[int, list[int]] = {i: [0, 1, rng.getrandbits(bits)] for i in range(6)}
    for r in pol.rules:
        if name in r.names:
            for c in r.conditions:
                v = c.value & M64
                pool[c.arg] += [v, (v - 1) & M64, (v + 1) & M64, v ^ (1 << 32), v & 0xFFFFFFFF]
                if c.op == "masked_eq":
                    pool[c.arg] += [v | (~c.mask & M64), v ^ (c.mask & -c.mask & M64)]
    mask = (1 << bits) - 1
    return tuple(rng.choice(pool[i]) & mask for i in range(6))


def differential(rng: random.Random, arch: str, cases: int, sys32: Path | None) -> dict[str, int]:
    arches = ("x86_64", "i386") if arch == "i386" else ("x86_64",)
    stats = {"policies": 0, "calls": 0, "eexist": 0, "loops": 0, "undecided_checked": 0}
    bits = 32 if arch == "i386" else 64
    disagreements = []
    while stats["policies"] < cases:
        pol, injected = random_policy(rng, arches)
        try:
            flt = sandbox.compile(pol, CTX)
        except PolicyError as e:
            kind = "eexist" if "EEXIST" in str(e) else "loops" if "did not finish" in str(e) \
                else None
            assert kind is not None, e
            stats[kind] += 1
            continue
        stats["policies"] += 1
        calls, wants = [], []
        for name in sorted({n for r in pol.rules for n in r.names if n in SAFE}):
            nr = syscalls.number(arch, name)
            assert nr is not None
            for _ in range(8):
                args = candidate_args(rng, pol, name, bits)
                calls.append((arch, nr, args))
                wants.append(evaluate(pol, CTX, arch, name, args).action)
            # every outcome the evaluator predicts without arguments must be real
            for o in evaluate(pol, CTX, arch, name).outcomes:
                calls.append((arch, nr, o.example))
                wants.append(o.action)
                stats["undecided_checked"] += 1
        seen = run_calls(flt, calls, sys32)
        stats["calls"] += len(calls)
        for call, want, got in zip(calls, wants, seen, strict=True):
            if not agrees(want, got, injected):
                disagreements.append((pol, call, want, got))
    assert not disagreements, disagreements[:3]
    return stats


@pytest.fixture
def quick_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    # Random policies now and then hit libseccomp's endless loop; a small policy
    # compiles in milliseconds, so one second is plenty to call it stuck.
    monkeypatch.setattr(sandbox, "GUARD_SECONDS", 1.0)


@pytest.mark.usefixtures("quick_guard")
def test_random_policies_agree_with_the_kernel_x86_64() -> None:
    stats = differential(random.Random(4), "x86_64", 300, None)
    assert stats["policies"] == 300 and stats["calls"] > 3000
    assert stats["undecided_checked"] > 500


@pytest.mark.usefixtures("quick_guard")
def test_random_policies_agree_with_the_kernel_i386(sys32: Path) -> None:
    stats = differential(random.Random(386), "i386", 120, sys32)
    assert stats["policies"] == 120 and stats["calls"] > 1000
