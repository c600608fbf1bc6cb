"""Profile x Policy -> what would break and what is allowed but never used.

Every verdict comes from the evaluator (tracebench.policy.evaluate), which
runs the filter libseccomp compiles from the policy: diff never reasons about
rules on its own.  A call whose fate depends on its arguments is judged from
the argument values the run recorded; without them it stays undecided.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from tracebench import syscalls
from tracebench.errors import PolicyError
from tracebench.policy.evaluate import ENOSYS, Decision, evaluate
from tracebench.policy.model import Action, Context, Policy
from tracebench.profile import Profile

# Judging from recorded values tries every combination of them; past this
# many the call stays undecided rather than being half-judged.
MAX_COMBINATIONS = 4096
# Denied value combinations named in a "denied for some" detail.
MAX_SHOWN = 3
# i386 multiplexes these through socketcall(2), whose arguments sit in user
# memory: a filter cannot see a socket's domain there (containerd PR 13330).
_SOCKETCALL_NAMES = frozenset({
    "socket", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
    "socketpair", "send", "recv", "sendto", "recvfrom", "shutdown", "setsockopt", "getsockopt",
    "sendmsg", "recvmsg", "recvmmsg", "sendmmsg",
})

ALLOWED, DENIED, UNDECIDED, SOME_DENIED = "allowed", "denied", "undecided", "denied for some"


@dataclass(frozen=True)
class UsedCall:
    """A syscall the program made, and what the policy does with it.

    ``verdict``: allowed, denied, "denied for some" (some recorded argument
    values are denied), or undecided (the arguments matter and were not
    recorded).  ``action`` is the most restrictive action it can get;
    ``rule_index`` the rule that gives it (None: the default action, or with
    ``stub`` runc's ENOSYS stub, which lets numbers up to ``stub`` by).
    """

    arch: str
    name: str
    calls: int
    verdict: str
    action: Action
    rule_index: int | None
    rule_line: int | None
    detail: str = ""
    stub: int | None = None

    @property
    def enosys(self) -> bool:
        """Denied with ENOSYS: breaks only a caller that does not fall back."""
        return _denied_with_enosys(self.verdict, self.action)


def _denied_with_enosys(verdict: str, action: Action) -> bool:
    return verdict in (DENIED, SOME_DENIED) and action == ENOSYS


@dataclass(frozen=True)
class ArchDiff:
    """The comparison on one architecture."""

    arch: str
    used: tuple[UsedCall, ...]
    unused_allowed: tuple[str, ...]
    covered: bool = True  # False: the policy does not target this architecture

    def by_verdict(self, verdict: str) -> tuple[UsedCall, ...]:
        return tuple(u for u in self.used if u.verdict == verdict)


@dataclass(frozen=True)
class DiffResult:
    """A Profile compared with a Policy, architecture by architecture."""

    policy_name: str
    default_action: Action
    arches: tuple[ArchDiff, ...]
    notes: tuple[str, ...] = ()

    @property
    def breaks(self) -> bool:
        """Whether something the program used would be stopped (diff's exit status 1)."""
        return any(u.verdict in (DENIED, SOME_DENIED) for a in self.arches for u in a.used)


def _values(profile: Profile, arch: str, name: str, argnos: Sequence[int]
            ) -> list[tuple[int, ...]] | str:
    """Every combination of recorded values of ``argnos``, or why there is none."""
    sets = []
    for n in argnos:
        seen = profile.arg_values(arch, name, n)
        if seen is None:
            hint = " (import the log with --args)" if profile.args_left_in_log else ""
            return f"needs argument {n}, which was not recorded{hint}"
        if not seen.complete:
            # More distinct values than a profile keeps, or calls whose value
            # was not seen (a log's "AT_FDCWD", a call cut short).
            return f"not every value of argument {n} was recorded"
        sets.append(sorted(seen.values))
    total = 1
    for s in sets:
        total *= len(s)
    if total > MAX_COMBINATIONS:
        return f"{total} combinations of recorded argument values; too many to try"
    return list(itertools.product(*sets))


def _judge_with_args(policy: Policy, ctx: Context, profile: Profile, arch: str, name: str,
                     first: Decision, ignore_unknown: bool) -> tuple[str, Decision, str]:
    # Which arguments matter: those the outcomes' example vectors differ in.
    examples = [o.example for o in first.outcomes]
    argnos = [i for i in range(6) if len({e[i] for e in examples}) > 1]
    combos = _values(profile, arch, name, argnos)
    if isinstance(combos, str):
        return UNDECIDED, first, f"undecided: {combos}"
    worst: Decision | None = None
    last_allowed = first
    denied: list[tuple[int, ...]] = []
    allowed = 0
    for combo in combos:
        args: list[int | None] = [None] * 6
        for n, v in zip(argnos, combo, strict=True):
            args[n] = v
        d = evaluate(policy, ctx, arch, name, args, ignore_unknown=ignore_unknown)
        if d.allowed is None:
            return UNDECIDED, first, "undecided: depends on arguments that were not recorded"
        if d.allowed:
            allowed += 1
            last_allowed = d
        else:
            denied.append(combo)
            if worst is None or d.action.restrictiveness < worst.action.restrictiveness:
                worst = d
    how = f"judged from {len(combos)} recorded argument value combination(s)"
    if not denied:
        return ALLOWED, last_allowed, how
    assert worst is not None
    if not allowed:
        return DENIED, worst, how
    # Which recorded values the policy stops: "socket: denied for arg0=40".
    shown = "; ".join(", ".join(f"arg{n}={_number(v)}" for n, v in zip(argnos, c, strict=True))
                      for c in denied[:MAX_SHOWN])
    more = f" and {len(denied) - MAX_SHOWN} more" if len(denied) > MAX_SHOWN else ""
    return SOME_DENIED, worst, (f"{len(denied)} of {len(combos)} recorded combinations "
                                f"denied: {shown}{more}")


def _number(v: int) -> str:
    # Small values (fds, domains, commands) read best in decimal, flags in hex.
    return str(v) if v < 0x10000 else hex(v)


def _candidates(policy: Policy, arch: str) -> set[str]:
    """Names that could be allowed on ``arch``: all of them under an allowing default."""
    if policy.default_action.allows:
        return set(syscalls.names(arch))
    return {n for n in policy.names() if syscalls.number(arch, n) is not None}


def diff(profile: Profile, policy: Policy, ctx: Context, *,
         ignore_unknown: bool = False) -> DiffResult:
    """Compare what ``profile`` used with what ``policy`` (judged in ``ctx``) allows."""
    policy = policy.for_machine(ctx.arch)
    out = []
    notes: list[str] = []
    totals = profile.totals()
    for arch in profile.arches():
        used = []
        covered = True
        for name, calls in ((t[1], t[2]) for t in totals if t[0] == arch):
            try:
                d = evaluate(policy, ctx, arch, str(name), None, ignore_unknown=ignore_unknown)
            except PolicyError as e:
                if "is not a syscall on" in e.message:
                    notes.append(f"{arch}: {name} is not a syscall libseccomp knows; not judged")
                    continue
                raise
            covered = covered and not d.bad_arch
            verdict = ALLOWED if d.allowed else DENIED
            detail = ""
            if d.allowed is None:
                verdict, d, detail = _judge_with_args(policy, ctx, profile, arch, str(name), d,
                                                       ignore_unknown)
            if d.stub is not None:
                detail = f"number above {d.stub}, the highest the policy names on {arch}"
            if _denied_with_enosys(verdict, d.action):
                detail = "; ".join(filter(None, (
                    detail, "ENOSYS: harmless if the caller falls back to an older call")))
            line = policy.rules[d.rule_index].line if d.rule_index is not None else None
            used.append(UsedCall(arch, str(name), int(calls), verdict, d.action, d.rule_index,
                                 line, detail, d.stub))
        names_used = {u.name for u in used}
        unused = []
        for name in sorted(_candidates(policy, arch) - names_used):
            d = evaluate(policy, ctx, arch, name, None, ignore_unknown=ignore_unknown)
            if d.allowed is not False:
                unused.append(name)
        if arch == "i386" and any(r.conditions and set(r.names) & _SOCKETCALL_NAMES
                                  for r in policy.resolve(ctx).rules):
            notes.append("i386: the policy filters socket calls by argument, but 32-bit "
                         "programs can reach them through socketcall(2), whose arguments a "
                         "seccomp filter cannot inspect")
        if not covered:
            notes.append(f"{arch}: the policy does not target this architecture; the filter "
                         "stops every call of it (libseccomp's bad-architecture action)")
        out.append(ArchDiff(arch, tuple(used), tuple(unused), covered))
    return DiffResult(policy.name, policy.default_action, tuple(out), tuple(notes))
