"""Compile a Policy into a libseccomp filter, export it, and load it into a child.

This is the only module besides ``tracebench.syscalls`` that talks to
libseccomp (pyseccomp), and it imports it lazily.  The filter is libseccomp's
own: tracebench never assembles BPF for a policy.

How a Policy becomes a filter (POLICY-SEMANTICS.md):

* Gates (Docker's includes/excludes) are applied first: a rule whose gate
  ``ctx`` does not open is left out, as ``Policy.resolve(ctx)`` does.
* One libseccomp filter per target architecture, rules added in policy order
  (names in rule order), merged into one multi-architecture filter.  A rule
  with ``arches`` goes only into those.  A name applies on the architectures
  where it exists and is simply absent elsewhere.
* A name that exists on none of the architectures a rule applies to is left
  out with a warning when that is fail-closed (the default is at least as
  strict as the rule's action: an allow rule under a denying default).  Under
  a more permissive default, leaving out a name libseccomp does not know at
  all could let a real (newer) syscall through, so that is a PolicyError
  naming the rule's line unless ``ignore_unknown``.  A name libseccomp knows
  on other architectures only (``socketcall`` on x86_64) cannot be called on
  these, so leaving it out changes nothing: a warning.
* A rule whose action equals the default is skipped: libseccomp refuses it
  (EACCES) and it has no effect.
* Conditions of one rule are ANDed; libseccomp takes one comparison per
  argument per rule, so a rule with two conditions on one argument is a
  PolicyError (format readers turn OCI's repeated indexes into separate
  rules, as runc does).
* A rule libseccomp refuses as conflicting with an earlier one (EEXIST: same
  call and leading conditions, another action) is a PolicyError naming both
  lines, as runc and crun refuse to start such a container.
* ``masked_eq``: libseccomp takes the mask first and the value second.

Two relabelled builds keep libseccomp's decision tree intact while telling
more: ``observe=True`` replaces each distinct denying action by its own
``trace(n)`` (``labels`` maps n back), for the live RET_TRACE mode; and
``compile_tagged`` gives every rule its own action so the returned value
names the rule (``tags``), which the evaluator uses only to attribute calls
it cannot attribute otherwise (see tracebench.policy.evaluate).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracebench import syscalls
from tracebench.errors import PolicyError, TraceError
from tracebench.policy.bpf import BPF_MAXINSNS, Program
from tracebench.policy.model import Action, Condition, Context, Policy, Rule

_M64 = 0xFFFFFFFFFFFFFFFF
_OPS = {"ne": 1, "lt": 2, "le": 3, "eq": 4, "ge": 5, "gt": 6, "masked_eq": 7}  # enum scmp_compare
_LE_BIT = 0x40000000  # __AUDIT_ARCH_LE


def bpf_arch_token(arch: str) -> int:
    """The ``seccomp_data.arch`` value the kernel reports for a call of ``arch``.

    x32 calls report AUDIT_ARCH_X86_64 (with bit 30 set in the number), which
    is also what libseccomp's filter compares against for x32.
    """
    return syscalls.AUDIT_ARCH["x86_64" if arch == "x32" else arch]


def is_big_endian(arch: str) -> bool:
    return not syscalls.AUDIT_ARCH[arch] & _LE_BIT


@dataclass
class CompiledFilter:
    """A libseccomp filter built from a Policy, ready to export or load.

    ``rules_per_arch``: libseccomp rules added (one per syscall name per
    policy rule) on each architecture.  ``instructions_per_arch``: length of
    a single-architecture program, for reports; ``instruction_count`` is the
    length of the multi-architecture program that is loaded.
    ``labels`` (observe mode) maps a SECCOMP_RET_TRACE data value to the
    action it stands for; ``tags`` (tagged build) maps a returned 32-bit
    value to the index of the rule in ``policy.rules``.
    """

    arches: tuple[str, ...]
    default_action: Action
    warnings: tuple[str, ...]
    rules_per_arch: Mapping[str, int]
    instructions_per_arch: Mapping[str, int]
    labels: Mapping[int, Action] = field(default_factory=dict)
    tags: Mapping[int, int] = field(default_factory=dict)
    skipped: tuple[int, ...] = ()  # rules (indexes) left out: action equals the default
    _filter: Any = None
    _bpf: bytes | None = None

    @property
    def rule_count(self) -> int:
        return sum(self.rules_per_arch.values())

    @property
    def big_endian(self) -> bool:
        return is_big_endian(self.arches[0])

    def export_bpf(self) -> bytes:
        """The classic-BPF program (``struct sock_filter[]``, target byte order)."""
        if self._bpf is None:
            self._bpf = _export(self._filter, "export_bpf")
        return self._bpf

    def export_pfc(self) -> str:
        """libseccomp's pseudo filter code, for people."""
        return _export(self._filter, "export_pfc").decode()

    @property
    def instruction_count(self) -> int:
        return len(self.export_bpf()) // 8

    def program(self) -> Program:
        """The exported program, decoded for the interpreter in tracebench.policy.bpf."""
        return Program.from_bytes(self.export_bpf(), self.big_endian)

    def load(self) -> None:
        """Load the filter into the calling process (meant for a forked child before exec).

        libseccomp sets PR_SET_NO_NEW_PRIVS first (its default), so no
        privilege is needed; the filter then applies to this process and every
        program it executes.
        """
        try:
            self._filter.load()
        except OSError as e:
            raise PolicyError(f"the kernel refused the filter: {e.strerror}") from None


def _export(flt: Any, method: str) -> bytes:
    fd = os.memfd_create("tracebench-filter")
    try:
        with open(fd, "w+b", closefd=False) as f:
            getattr(flt, method)(f)
            f.seek(0)
            return f.read()
    finally:
        os.close(fd)


def _where(index: int, rule: Rule) -> str:
    return f"line {rule.line}" if rule.line is not None else f"rule {index + 1}"


def _target_arches(policy: Policy, ctx: Context, arches: Sequence[str] | None) -> tuple[str, ...]:
    wanted = arches if arches else (policy.arches or (ctx.arch,))
    out: list[str] = []
    for a in wanted:
        try:
            canon = syscalls.arch_of(a)
        except syscalls.UnknownArchError as e:
            raise PolicyError(str(e)) from None
        if canon not in out:
            out.append(canon)
    if len({is_big_endian(a) for a in out}) > 1:
        raise PolicyError("a filter cannot mix little- and big-endian architectures: "
                          + ", ".join(out))
    return tuple(out)


def _resolved(policy: Policy, ctx: Context) -> list[tuple[int, Rule]]:
    # Policy.resolve(ctx) without losing each rule's index in policy.rules.
    return [(i, r) for i, r in enumerate(policy.rules) if ctx.opens(r.gate)]


def _syscall_on(arch: str, name: str) -> str | int | None:
    """What to hand libseccomp for ``name`` on ``arch``; None if it is not a syscall there."""
    import pyseccomp

    if name.startswith("syscall_0x"):
        nr = syscalls.number(arch, name)
        assert nr is not None
        real = syscalls.table(arch).get(nr)
        if real is not None:
            return real
        # libseccomp translates numbers from the native numbering by name, so
        # a number it has no name for can only be filtered natively.
        return nr if arch == syscalls.native_arch() else None
    nr = int(pyseccomp.resolve_syscall(syscalls.AUDIT_ARCH[arch], name))
    # -100 > nr > -10000: a call libseccomp rewrites into its multiplexer there
    # (i386 "semop" becomes ipc(SEMOP, ...); "socket" becomes both 359 and
    # socketcall(SYS_SOCKET, ...)); below -10000: it exists on other arches only.
    return name if nr >= 0 or -10000 < nr < -99 else None


def _args(conditions: Sequence[Condition]) -> list[Any]:
    import pyseccomp

    out = []
    for c in conditions:
        if c.op == "masked_eq":
            out.append(pyseccomp.Arg(c.arg, _OPS[c.op], c.mask & _M64, c.value & _M64))
        else:
            out.append(pyseccomp.Arg(c.arg, _OPS[c.op], c.value & _M64))
    return out


def _check_action(action: Action, where: str, line: int | None) -> None:
    # libseccomp's sys_chk_seccomp_action(): errno data below MAX_ERRNO (4095),
    # no data on actions that carry none.
    if action.kind == "errno" and action.value >= 4095:
        raise PolicyError(f"{where}: {action}: libseccomp accepts errno values up to 4094",
                          line=line)
    if action.kind not in ("errno", "trace") and action.value:
        raise PolicyError(f"{where}: {action.kind} carries no value ({action.value} given)",
                          line=line)


def _new_filter(default: Action, arch: str) -> Any:
    import pyseccomp

    try:
        flt = pyseccomp.SyscallFilter(default.ret)
    except OSError:
        raise PolicyError(f"libseccomp refuses {default} as a default action") from None
    token = syscalls.AUDIT_ARCH[arch]
    if token != pyseccomp.system_arch():
        # native first out: libseccomp refuses (EDOM) mixing byte orders in one filter
        flt.remove_arch(pyseccomp.Arch.NATIVE)
        try:
            flt.add_arch(token)
        except OSError as e:
            raise PolicyError(f"libseccomp cannot build a filter for {arch}: {e.strerror}") \
                from None
    return flt


_Plan = list[tuple[int, Rule, dict[str, list[str | int]]]]


def _plan(policy: Policy, rules: Sequence[tuple[int, Rule]], arches: tuple[str, ...],
          ignore_unknown: bool, warnings: list[str]) -> _Plan:
    """For each rule, what to add on each architecture; unknown names judged here."""
    default = policy.default_action
    plan = []
    _check_action(default, "default action", None)
    for i, rule in rules:
        where = _where(i, rule)
        _check_action(rule.action, where, rule.line)
        args_seen: set[int] = set()
        for c in rule.conditions:
            if c.arg in args_seen:
                raise PolicyError(f"{where}: two conditions on argument {c.arg} in one rule; "
                                  "libseccomp compares each argument once per rule (to OR "
                                  "them, write one rule per condition)", line=rule.line)
            args_seen.add(c.arg)
        rule_arches = [a for a in arches if rule.applies_to(a)]
        per_arch: dict[str, list[str | int]] = {a: [] for a in rule_arches}
        for name in rule.names:
            found = False
            for a in rule_arches:
                sc = _syscall_on(a, name)
                if sc is not None:
                    per_arch[a].append(sc)
                    found = True
            if found or not rule_arches:
                continue
            on = ", ".join(rule_arches)
            known = not name.startswith("syscall_0x") and syscalls.is_known_anywhere(name)
            opens = default.restrictiveness > rule.action.restrictiveness
            if not opens:
                warnings.append(f"{where}: {name!r} is not a syscall on {on}; left out of this "
                                f"{rule.action} rule (fail-closed: the default is {default})")
            elif known:
                warnings.append(f"{where}: {name!r} exists on other architectures only, not "
                                f"on {on}; left out of this {rule.action} rule")
            elif ignore_unknown:
                warnings.append(f"{where}: {name!r} is unknown to libseccomp on {on}; left out "
                                f"of this {rule.action} rule as asked, so a kernel that has it "
                                f"gives it the default {default}")
            else:
                raise PolicyError(
                    f"{where}: {name!r} is unknown to libseccomp on {on}; leaving it out of "
                    f"this {rule.action} rule would give it the more permissive default "
                    f"{default} (pass --ignore-unknown to leave it out anyway)", line=rule.line)
        plan.append((i, rule, per_arch))
    return plan


# How long a libseccomp compile may take in the preflight child before it is
# judged stuck (a big policy compiles in well under a second).
GUARD_SECONDS = 20.0


def _cmp64(arch: str) -> bool:
    """Whether libseccomp compares all 64 bits of arguments on ``arch`` (ARCH_SIZE_64)."""
    return arch not in ("x32", "mips64n32", "mipsel64n32") \
        and bool(syscalls.AUDIT_ARCH[arch] & 0x80000000)


def _hazard(plan: _Plan, skipped: Sequence[int], arches: Sequence[str]) -> bool:
    """Whether libseccomp 2.5 may never finish adding these rules.

    Measured on libseccomp 2.5.4: ``allow ioctl(fd > 2, arg1 == 0x5401)``
    then ``allow ioctl(fd > 2, arg2 == 0)`` makes seccomp_rule_add() loop
    forever on 64-bit architectures: a != < <= > >= comparison links two
    tree nodes to the next level, and the second rule's node is linked into
    that shared level twice.  Any syscall with two or more rules, one of
    which has such a comparison before another condition, is compiled once
    in a child first, with a time limit.
    """
    for arch in arches:
        if not _cmp64(arch):
            continue
        count: dict[str | int, int] = {}
        shared: set[str | int] = set()
        for i, rule, per_arch in plan:
            if i in skipped or arch not in per_arch:
                continue
            last = max((c.arg for c in rule.conditions), default=-1)
            dag = any(c.op not in ("eq", "masked_eq") and c.arg < last for c in rule.conditions)
            for sc in per_arch[arch]:
                count[sc] = count.get(sc, 0) + 1
                if dag:
                    shared.add(sc)
        if any(count[sc] > 1 for sc in shared):
            return True
    return False


def _add_all(plan: _Plan, skipped: Sequence[int], default: Action, targets: Sequence[str],
             label: Callable[[int, Action], Action], conflicts: str,
             progress: Callable[[str], None] | None = None) -> tuple[list[Any], dict[str, int]]:
    filters = []
    rules_per_arch: dict[str, int] = {}
    for arch in targets:
        flt = _new_filter(label(-1, default), arch)
        count = 0
        added: list[tuple[int, Rule, str | int]] = []
        for i, rule, per_arch in plan:
            if i in skipped or arch not in per_arch:
                continue
            action = label(i, rule.action)
            args = _args(rule.conditions)
            for sc in per_arch[arch]:
                if progress is not None:
                    progress(f"{i}\t{sc}\t{arch}")
                try:
                    flt.add_rule(action.ret, sc, *args)
                except OSError as e:
                    if e.errno == errno.EEXIST and conflicts == "skip":
                        continue
                    raise _add_error(e, i, rule, sc, arch, added) from None
                added.append((i, rule, sc))
                count += 1
        rules_per_arch[arch] = count
        filters.append(flt)
    return filters, rules_per_arch


def _preflight(policy: Policy, run: Callable[[Callable[[str], None]], object]) -> None:
    """Run ``run`` in a forked child; a PolicyError naming the rule if it does not finish."""
    import select
    import signal
    import time

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            def progress(text: str) -> None:
                os.write(w, text.encode() + b"\n")

            run(progress)
        except BaseException:
            code = 3  # the parent's own compile reports the error
        finally:
            os._exit(code)
    os.close(w)
    last, buf = "", b""
    deadline = time.monotonic() + GUARD_SECONDS
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(r, 65536)
            if not chunk:
                os.waitpid(pid, 0)
                return
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            if lines:
                last = lines[-1].decode()
    finally:
        os.close(r)
    os.waitpid(pid, 0)
    index, sc, arch = last.split("\t") if last else ("0", "?", "?")
    rule = policy.rules[int(index)]
    raise PolicyError(
        f"{_where(int(index), rule)}: libseccomp did not finish adding this rule for {sc!r} on "
        f"{arch} within {GUARD_SECONDS:g} s: libseccomp 2.5 loops forever on rules for one "
        "syscall that share a leading != < <= > >= comparison and then compare different "
        "arguments; rewrite the rules for that syscall", line=rule.line)


def _build(policy: Policy, ctx: Context, *, ignore_unknown: bool, arches: Sequence[str] | None,
           label: Callable[[int, Action], Action], conflicts: str) -> CompiledFilter:
    targets = _target_arches(policy, ctx, arches)
    default = policy.default_action
    warnings: list[str] = []
    plan = _plan(policy, _resolved(policy, ctx), targets, ignore_unknown, warnings)
    skipped = tuple(i for i, rule, _ in plan if rule.action.ret == default.ret)
    for i in skipped:
        rule = policy.rules[i]
        warnings.append(f"{_where(i, rule)}: the rule's action {rule.action} is the default "
                        "action; it has no effect (libseccomp refuses it)")
    if _hazard(plan, skipped, targets):
        _preflight(policy, lambda progress: _add_all(plan, skipped, default, targets, label,
                                                     conflicts, progress))
    filters, rules_per_arch = _add_all(plan, skipped, default, targets, label, conflicts)
    instructions = {a: len(_export(f, "export_bpf")) // 8
                    for a, f in zip(targets, filters, strict=True)}
    merged = filters[0]
    for other in filters[1:]:
        merged.merge(other)
    return CompiledFilter(targets, default, tuple(warnings), rules_per_arch, instructions,
                          skipped=skipped, _filter=merged)


def _add_error(e: OSError, i: int, rule: Rule, sc: str | int, arch: str,
               added: Sequence[tuple[int, Rule, str | int]]) -> PolicyError:
    where = _where(i, rule)
    if e.errno == errno.EEXIST:
        earlier = [_where(j, r) for j, r, s in added
                   if s == sc and r.action.ret != rule.action.ret]
        with_ = f" ({earlier[-1]})" if earlier else ""
        return PolicyError(
            f"{where}: libseccomp refuses this {rule.action} rule for {sc!r} on {arch}: it "
            f"conflicts with an earlier rule for the same call{with_} that has the same "
            "leading conditions and another action (EEXIST)", line=rule.line)
    return PolicyError(f"{where}: libseccomp refuses the rule for {sc!r} on {arch}: "
                       f"{e.strerror}", line=rule.line)


def compile(policy: Policy, ctx: Context, *, ignore_unknown: bool = False,
            arches: Sequence[str] | None = None, observe: bool = False) -> CompiledFilter:
    """Compile ``policy`` as judged in ``ctx`` into one libseccomp filter.

    ``arches`` overrides the target architectures (default: the policy's, or
    ``ctx.arch`` when it names none).  With ``observe``, every action that
    stops a call (and the default, if it does) becomes ``trace(n)`` with one
    n per distinct action, recorded in ``labels``; libseccomp compares actions
    only for equality, so the filter decides exactly as the real one would.
    """
    labels: dict[int, Action] = {}
    if observe:
        by_ret: dict[int, Action] = {}
        for a in (policy.default_action, *(r.action for r in policy.rules)):
            if not a.allows and a.ret not in by_ret:
                by_ret[a.ret] = Action("trace", len(by_ret) + 1)
                labels[len(by_ret)] = a

        def label(_i: int, a: Action) -> Action:
            return by_ret.get(a.ret, a)
    else:
        def label(_i: int, a: Action) -> Action:
            return a
    out = _build(policy, ctx, ignore_unknown=ignore_unknown, arches=arches, label=label,
                 conflicts="error")
    out.labels = labels
    return out


def compile_tagged(policy: Policy, ctx: Context, *, ignore_unknown: bool = False,
                   arches: Sequence[str] | None = None) -> CompiledFilter:
    """Compile with a distinct action per rule, so the returned value names the rule.

    Distinct actions can change libseccomp's tree where rules with equal
    actions would have merged, and libseccomp refuses (EEXIST) a rule that
    repeats an earlier one's leading conditions with another action: such a
    rule is left out here.  Use it to attribute, never to decide.
    """
    kind = "trace" if policy.default_action.kind != "trace" else "errno"
    tags: dict[int, int] = {}

    def label(i: int, a: Action) -> Action:
        if i < 0:
            return a
        tag = Action(kind, i + 1)
        tags[tag.ret] = i
        return tag

    out = _build(policy, ctx, ignore_unknown=ignore_unknown, arches=arches, label=label,
                 conflicts="skip")
    out.tags = tags
    return out


@dataclass(frozen=True)
class CheckResult:
    """What ``tracebench check POLICY`` reports about a compiled policy."""

    arches: tuple[str, ...]
    rule_count: int
    rules_per_arch: Mapping[str, int]
    bpf_instructions: Mapping[str, int]  # single-architecture program length
    total_instructions: int  # the multi-architecture program that is loaded
    pfc: str
    warnings: tuple[str, ...]

    @property
    def loadable(self) -> bool:
        return self.total_instructions <= BPF_MAXINSNS


def check(policy: Policy, ctx: Context, *, ignore_unknown: bool = False,
          arches: Sequence[str] | None = None) -> CheckResult:
    """Compile ``policy`` and report its size, pseudo code and warnings.

    Raises PolicyError (with the rule's line) for a policy that cannot be
    compiled faithfully.
    """
    flt = compile(policy, ctx, ignore_unknown=ignore_unknown, arches=arches)
    warnings = list(policy.warnings) + list(flt.warnings)
    total = flt.instruction_count
    if total > BPF_MAXINSNS:
        warnings.append(f"the filter has {total} BPF instructions; the kernel loads at most "
                        f"{BPF_MAXINSNS} (EINVAL)")
    return CheckResult(flt.arches, flt.rule_count, dict(flt.rules_per_arch),
                       dict(flt.instructions_per_arch), total, flt.export_pfc(), tuple(warnings))


def spawn(flt: CompiledFilter, argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` with ``flt`` loaded in the child between fork and exec.

    The filter applies from preexec_fn on: to what subprocess does after it
    (closing descriptors when ``close_fds``, the default) and to execve
    itself, so a policy that denies those stops the program from starting
    (TraceError).  Pass ``close_fds=False`` to hand a strict allowlist only
    the execve.
    """
    import shutil

    program = argv[0]
    env = popen.get("env") or os.environ
    if os.sep in program:
        found: str | None = os.path.join(str(popen.get("cwd") or "."), program)
    else:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None or not os.path.exists(found):
        raise TraceError(f"program not found: {program}")
    if not os.access(found, os.X_OK) or os.path.isdir(found):
        raise TraceError(f"program not executable: {program}")
    try:
        # The filter must be loaded between fork and exec, which is what
        # preexec_fn is for; tracebench does not start programs from threads.
        return subprocess.Popen(list(argv), preexec_fn=flt.load, **popen)  # noqa: PLW1509
    except OSError as e:
        # The program exists and is executable: the filter refused what
        # subprocess does between loading it and execve, or execve itself.
        raise TraceError(f"{program} could not start under the filter: {e.strerror} (the "
                         "policy must allow execve and what precedes it)") from None
    except subprocess.SubprocessError as e:
        raise TraceError(f"cannot start {program} under the filter: {e}") from None


def run_under(flt: CompiledFilter, argv: Sequence[str], **popen: Any) -> int:
    """Run ``argv`` under ``flt`` and return its exit status (-N: killed by signal N)."""
    with spawn(flt, argv, **popen) as proc:
        return proc.wait()
