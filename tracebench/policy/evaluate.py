"""What a policy does to a system call: the evaluator every command relies on.

The meaning of a Policy is what the kernel does with the filter libseccomp
builds from it.  Inside one libseccomp filter that is neither "first rule
wins" nor "most restrictive wins": overlapping rules on one syscall resolve by
the shape of the decision tree libseccomp builds (POLICY-SEMANTICS.md).  So
the evaluator does not reason about rules at all to decide: it compiles the
policy with libseccomp (``tracebench.sandbox.compile``, the very filter
``load()`` installs), and runs the exported classic-BPF program on the call's
``struct seccomp_data`` (``tracebench.policy.bpf``).  The kernel differential
tests (tests/test_evaluate_kernel.py) hold it to the kernel.

Unknown arguments are symbols: the program is explored on every path the
known values allow, and each distinct result is reported with an example
argument vector that produces it.  One possible result: decided.  Several:
``undecided`` (the call's arguments matter).

Which rule decided is attribution, not decision.  libseccomp compares actions
only for equality, so rules with equal actions merge in its tree and the
filter cannot say which of them matched.  The evaluator names the first rule
(in policy order) that names the call on that architecture, has the action the
filter returned, and whose conditions hold for the arguments, with
libseccomp's comparison semantics (64-bit; low 32 bits only on 32-bit
architectures; ``masked_eq`` masks the value too).  When no rule fits that way
(i386's ``socket`` rule also filters ``socketcall``), a second build with a
distinct action per rule (``sandbox.compile_tagged``) names the rule, if the
rule it names has the action the real filter returned.  The tagged build is
never used to decide: distinct actions change the tree (two rules with equal
actions that libseccomp would merge, or refuse with EEXIST once they differ).

With ``Context.runtime == "runc"`` the evaluator adds what runc puts in
front of that filter (libcontainer/seccomp/patchbpf/enosys_linux.go): unless
the default action lets calls run (allow, log, trace), a call whose number is
above the highest number any rule names on its architecture gets ENOSYS, as
from a kernel that predates it, so that libc falls back to an older call.
runc does this for the profile's architectures and, since 1.1.15, the
native one (before that a profile without ``architectures`` got no stub).
The highest number is the highest this libseccomp knows a name for; a runc
built with an older libseccomp, which knows fewer names, may set it lower.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from tracebench import syscalls
from tracebench.errors import PolicyError
from tracebench.policy import bpf
from tracebench.policy.model import ACTION_KINDS, RET_VALUES, Action, Condition, Context, Policy

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF
_64BIT = 0x80000000  # __AUDIT_ARCH_64BIT
# libseccomp compares only the low 32 bits of arguments on these (ARCH_SIZE_32).
_CMP32_64BIT_ABIS = frozenset({"x32", "mips64n32", "mipsel64n32"})
_KIND_BY_RET = {v: k for k, v in RET_VALUES.items()}
# What a program sees from a call denied with ENOSYS (runc's stub, Docker's
# clone3 rule): the answer of a kernel that predates the call, on which glibc
# falls back to an older one (clone3 -> clone).
ENOSYS = Action("errno", errno.ENOSYS)
# runc's isAllowAction: under these defaults it adds no stub.
_PERMISSIVE_KINDS = frozenset({"allow", "log", "trace"})


@dataclass(frozen=True)
class Outcome:
    """One action a call can get, the rule that gives it, and arguments that get it.

    ``rule_index`` indexes ``policy.rules`` (None: the default action, or the
    filter's bad-architecture action).  ``example`` is six argument values
    that get this action (arguments that play no part are 0).
    """

    action: Action
    rule_index: int | None
    example: tuple[int, ...]


@dataclass(frozen=True)
class Decision:
    """What a policy does with one call.

    ``outcomes`` lists every possible action (most restrictive first); there
    is one when the call is decided.  When ``undecided`` (the arguments
    matter and were not all given), ``action``/``rule_index`` are those of
    the most restrictive outcome.  ``bad_arch``: the policy does not cover the
    call's architecture, and the filter gives its bad-architecture action
    (libseccomp's default: kill_thread).
    """

    action: Action
    rule_index: int | None
    undecided: bool = False
    outcomes: tuple[Outcome, ...] = ()
    bad_arch: bool = False
    stub: int | None = None  # runc's ENOSYS stub answered: the highest number it lets by

    @property
    def actions(self) -> frozenset[Action]:
        return frozenset(o.action for o in self.outcomes)

    @property
    def allowed(self) -> bool | None:
        """True if the call runs, False if it is stopped, None if that depends on arguments."""
        runs = {o.action.allows for o in self.outcomes}
        return runs.pop() if len(runs) == 1 else None


def _action_of(ret: int, known: dict[int, Action]) -> Action:
    if ret in known:
        return known[ret]
    kind = _KIND_BY_RET.get(ret & 0xFFFF0000)
    if kind is None:
        # An unknown return value kills the process (kernel/seccomp.c, default case).
        return Action("kill_process")
    return Action(kind, ret & 0xFFFF if kind in ("errno", "trace") else 0)


def _cmp32(arch: str) -> bool:
    return arch in _CMP32_64BIT_ABIS or not syscalls.AUDIT_ARCH[arch] & _64BIT


def _regs32(arch: str) -> bool:
    # The kernel zero-extends the registers of 32-bit tasks into seccomp_data.
    from tracebench.sandbox import bpf_arch_token

    return not bpf_arch_token(arch) & _64BIT


def _holds(c: Condition, args: Sequence[int], cmp32: bool) -> bool:
    # libseccomp's comparison: the datum is masked too (_db_node_mask_fixup).
    width = _U32 if cmp32 else _M64
    a, v, m = args[c.arg] & width, c.value & width, c.mask & width
    if c.op == "masked_eq":
        return (a & m) == (v & m)
    return {"eq": a == v, "ne": a != v, "lt": a < v, "le": a <= v, "gt": a > v,
            "ge": a >= v}[c.op]


class _Judge:
    """The compiled program of one (policy, ctx) and what has been learnt from it."""

    def __init__(self, policy: Policy, ctx: Context, ignore_unknown: bool) -> None:
        from tracebench import sandbox

        flt = sandbox.compile(policy, ctx, ignore_unknown=ignore_unknown)
        self.policy, self.ctx, self.ignore_unknown = policy, ctx, ignore_unknown
        self.program = flt.program()
        self.arches = flt.arches
        self.big_endian = flt.big_endian
        self.default = policy.default_action
        skipped = set(flt.skipped)
        self.rules = [(i, r) for i, r in enumerate(policy.rules)
                      if ctx.opens(r.gate) and i not in skipped]
        self.known = {a.ret: a for a in (self.default, *(r.action for _, r in self.rules))}
        self._open: dict[tuple[str, int], list[bpf.Outcome]] = {}
        self._nrs: dict[str, list[tuple[int, frozenset[int]]]] = {}
        self._tagged: tuple[bpf.Program, dict[int, int]] | None = None
        self.stub = self._runc_stub() if ctx.runtime == "runc" else {}

    def _runc_stub(self) -> dict[str, int]:
        """Architecture -> the highest syscall number runc's ENOSYS stub lets by."""
        if self.default.kind in _PERMISSIVE_KINDS:
            return {}
        out = {}
        for arch in {*self.arches, self.ctx.arch}:
            nrs = [syscalls.number(arch, n) for _, r in self.rules for n in r.names]
            highest = max((n for n in nrs if n is not None), default=0)
            if highest:  # runc: "could not find any syscalls for arch", no stub
                out[arch] = highest
        return out

    def fixed_words(self, arch: str, nr: int) -> dict[int, int]:
        from tracebench.sandbox import bpf_arch_token

        words = {0: nr & _U32, 1: bpf_arch_token(arch), 2: 0, 3: 0}
        if _regs32(arch):
            for i in range(6):
                words[bpf.arg_words(i, self.big_endian)[1]] = 0
        return words

    def open_outcomes(self, arch: str, nr: int) -> list[bpf.Outcome]:
        key = (arch, nr)
        if key not in self._open:
            self._open[key] = self.program.outcomes(self.fixed_words(arch, nr))
        return self._open[key]

    def rule_nrs(self, arch: str) -> list[tuple[int, frozenset[int]]]:
        if arch not in self._nrs:
            out = []
            for i, rule in self.rules:
                if arch in self.arches and rule.applies_to(arch):
                    nrs = {syscalls.number(arch, n) for n in rule.names}
                    out.append((i, frozenset(n for n in nrs if n is not None)))
            self._nrs[arch] = out
        return self._nrs[arch]

    def tagged(self) -> tuple[bpf.Program, dict[int, int]]:
        if self._tagged is None:
            from tracebench import sandbox

            flt = sandbox.compile_tagged(self.policy, self.ctx,
                                         ignore_unknown=self.ignore_unknown)
            self._tagged = (flt.program(), dict(flt.tags))
        return self._tagged

    def attribute(self, arch: str, nr: int, ret: int, args: tuple[int, ...]) -> int | None:
        if ret == self.default.ret or arch not in self.arches:
            return None
        cmp32 = _cmp32(arch)
        for i, nrs in self.rule_nrs(arch):
            rule = self.policy.rules[i]
            if nr in nrs and rule.action.ret == ret \
                    and all(_holds(c, args, cmp32) for c in rule.conditions):
                return i
        program, tags = self.tagged()
        words = {**bpf.split_args(args, self.big_endian), **self.fixed_words(arch, nr)}
        tagged = tags.get(program.run_words([words.get(w, 0) for w in range(bpf.WORDS)]))
        if tagged is not None and self.policy.rules[tagged].action.ret == ret:
            return tagged
        return None


@functools.lru_cache(maxsize=16)
def _judge(policy: Policy, ctx: Context, ignore_unknown: bool) -> _Judge:
    return _Judge(policy, ctx, ignore_unknown)


def evaluate(policy: Policy, ctx: Context, arch: str, syscall_name: str,
             args: Sequence[int | None] | None = None, *,
             ignore_unknown: bool = False) -> Decision:
    """What ``policy`` (gates judged in ``ctx``) does with ``syscall_name`` called on ``arch``.

    ``args``: the call's arguments (fewer than six, or None entries, mean
    unknown; None: all unknown).  Arguments are 64-bit (negative values are
    taken modulo 2**64); a 32-bit task's are cut to 32 bits, as the kernel
    does.  Raises PolicyError when the policy cannot be compiled (see
    tracebench.sandbox.compile; ``ignore_unknown`` is passed on) or the name
    is not a syscall on ``arch``.  The compiled program is cached per
    (policy, ctx, ignore_unknown).
    """
    try:
        arch = syscalls.arch_of(arch)
    except syscalls.UnknownArchError as e:
        raise PolicyError(str(e)) from None
    nr = syscalls.number(arch, syscall_name)
    if nr is None:
        raise PolicyError(f"{syscall_name!r} is not a syscall on {arch}")
    judge = _judge(policy, ctx, ignore_unknown)
    highest = judge.stub.get(arch)
    if highest is not None and nr > highest:
        return Decision(ENOSYS, None, outcomes=(Outcome(ENOSYS, None, (0,) * 6),),
                        stub=highest)
    width = _U32 if _regs32(arch) else _M64
    given = [None if a is None else a & width for a in (args or ())]
    fixed = judge.fixed_words(arch, nr)
    found = judge.open_outcomes(arch, nr)
    known = bpf.split_args(given, judge.big_endian)
    if len(found) > 1 and known:
        if len(given) >= 6 and all(a is not None for a in given[:6]):
            words = {**known, **fixed}
            ret = judge.program.run_words([words.get(w, 0) for w in range(bpf.WORDS)])
            found = [bpf.Outcome(ret, {})]
        else:
            found = judge.program.outcomes({**known, **fixed})
    outcomes = []
    for o in found:
        example = bpf.join_args({**o.witness, **known}, judge.big_endian)
        action = _action_of(o.ret, judge.known)
        outcomes.append(Outcome(action, judge.attribute(arch, nr, o.ret, example), example))
    outcomes.sort(key=lambda o: (ACTION_KINDS.index(o.action.kind), o.action.value))
    first = outcomes[0]
    return Decision(first.action, first.rule_index, len(outcomes) > 1, tuple(outcomes),
                    arch not in judge.arches)
