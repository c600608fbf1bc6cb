"""Policy: a seccomp policy independent of any file format.

A Policy is a default action, an ordered list of rules and the architectures
it targets.  Its meaning (which action a call gets) is defined once, by the
evaluator in ``tracebench.policy.evaluate``; every format reader produces a
Policy and every writer consumes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tracebench.errors import PolicyError

# The kernel's action kinds, ordered from most to least restrictive (the
# order in which stacked filters' results win: include/uapi/linux/seccomp.h).
ACTION_KINDS = ("kill_process", "kill_thread", "trap", "errno", "user_notif", "trace", "log",
                "allow")
_NEEDS_VALUE = frozenset({"errno", "trace"})
# The kernel's SECCOMP_RET_* values; the low 16 bits carry errno/trace data.
RET_VALUES = {
    "kill_process": 0x80000000,
    "kill_thread": 0x00000000,
    "trap": 0x00030000,
    "errno": 0x00050000,
    "user_notif": 0x7FC00000,
    "trace": 0x7FF00000,
    "log": 0x7FFC0000,
    "allow": 0x7FFF0000,
}
_ACTION_RE = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*(-?\d+)\s*\))?\s*$")


@dataclass(frozen=True, order=True)
class Action:
    """A seccomp action: ``allow``, ``errno(1)``, ``trace(7)``, ``kill_process``..."""

    kind: str
    value: int = 0

    def __post_init__(self) -> None:
        if self.kind not in RET_VALUES:
            raise PolicyError(f"unknown action {self.kind!r}")
        if not 0 <= self.value <= 0xFFFF:
            raise PolicyError(f"action {self.kind} data {self.value} is outside 0..65535")

    @classmethod
    def parse(cls, text: str) -> Action:
        """Parse ``errno(1)``, ``allow``, ``kill``... (``kill`` is kill_thread, as libseccomp)."""
        m = _ACTION_RE.match(text.lower())
        if not m:
            raise PolicyError(f"cannot read action {text!r}")
        kind = {"kill": "kill_thread", "notify": "user_notif"}.get(m.group(1), m.group(1))
        value = int(m.group(2)) if m.group(2) is not None else 0
        return cls(kind, value)

    @property
    def ret(self) -> int:
        """The 32-bit SECCOMP_RET_* value the kernel sees."""
        return RET_VALUES[self.kind] | (self.value & 0xFFFF)

    @property
    def restrictiveness(self) -> int:
        """Rank in the kernel's precedence across stacked filters (0 = most restrictive)."""
        return ACTION_KINDS.index(self.kind)

    @property
    def allows(self) -> bool:
        """Whether the call runs (allow and log do; everything else stops it)."""
        return self.kind in ("allow", "log")

    def __str__(self) -> str:
        return f"{self.kind}({self.value})" if self.kind in _NEEDS_VALUE else self.kind


ALLOW = Action("allow")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "masked_eq")


@dataclass(frozen=True)
class Condition:
    """A comparison of one 64-bit syscall argument (libseccomp's ``scmp_arg_cmp``).

    For ``masked_eq`` the test is ``(arg & mask) == value``.
    """

    arg: int
    op: str
    value: int
    mask: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.arg <= 5:
            raise PolicyError(f"argument index {self.arg} is outside 0..5")
        if self.op not in OPS:
            raise PolicyError(f"unknown comparison {self.op!r}")
        for v in (self.value, self.mask):
            if not -(2**63) <= v < 2**64:
                raise PolicyError(f"comparison value {v} does not fit 64 bits")

    def matches(self, argument: int) -> bool:
        """Whether the (64-bit) argument value satisfies this condition."""
        a = argument & 0xFFFFFFFFFFFFFFFF
        v = self.value & 0xFFFFFFFFFFFFFFFF
        if self.op == "masked_eq":
            # libseccomp masks the value too (_db_node_mask_fixup): value 0x35
            # under mask 0xf0 matches what 0x30 matches.
            m = self.mask & 0xFFFFFFFFFFFFFFFF
            return (a & m) == (v & m)
        return {
            "eq": a == v, "ne": a != v, "lt": a < v, "le": a <= v, "gt": a > v, "ge": a >= v,
        }[self.op]

    def __str__(self) -> str:
        if self.op == "masked_eq":
            return f"arg{self.arg} & {self.mask:#x} == {self.value:#x}"
        sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[self.op]
        return f"arg{self.arg} {sym} {self.value:#x}" if self.value > 9 else \
            f"arg{self.arg} {sym} {self.value}"


@dataclass(frozen=True)
class Gate:
    """Conditions under which a rule exists at all (Docker's includes/excludes).

    ``caps``: every capability must be held; ``not_caps``: none may be held;
    ``arches`` / ``not_arches``: the runtime architecture; ``min_kernel``:
    (major, minor) the running kernel must reach.
    """

    caps: frozenset[str] = frozenset()
    not_caps: frozenset[str] = frozenset()
    arches: frozenset[str] = frozenset()
    not_arches: frozenset[str] = frozenset()
    min_kernel: tuple[int, int] | None = None

    def is_open(self) -> bool:
        return self == Gate()


# Docker's default capability set (what `docker run` grants without --cap-add).
DOCKER_DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
    "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
})


# Container runtimes whose own additions to the filter the evaluator models.
RUNTIMES = ("runc",)


@dataclass(frozen=True)
class Context:
    """What a gated policy is judged against: runtime arch, capabilities, kernel.

    ``runtime``: the container runtime that loads the policy, when what it
    adds to the filter matters ("runc": its ENOSYS stub, see
    tracebench.policy.evaluate); None: the libseccomp filter alone.
    """

    arch: str
    caps: frozenset[str] = DOCKER_DEFAULT_CAPS
    kernel: tuple[int, int] = (6, 1)
    runtime: str | None = None

    def opens(self, gate: Gate) -> bool:
        if gate.caps and not gate.caps <= self.caps:
            return False
        if gate.not_caps & self.caps:
            return False
        if gate.arches and self.arch not in gate.arches:
            return False
        if gate.not_arches and self.arch in gate.not_arches:
            return False
        return gate.min_kernel is None or self.kernel >= gate.min_kernel


@dataclass(frozen=True)
class Rule:
    """Give ``action`` to calls of ``names`` whose arguments satisfy every condition.

    ``arches`` limits the rule to some of the policy's architectures (empty:
    all).  ``line`` is where the rule stands in its file, for error messages.
    """

    names: tuple[str, ...]
    action: Action
    conditions: tuple[Condition, ...] = ()
    arches: tuple[str, ...] = ()
    gate: Gate = field(default_factory=Gate)
    comment: str = ""
    line: int | None = None

    def applies_to(self, arch: str) -> bool:
        return not self.arches or arch in self.arches


@dataclass(frozen=True)
class Policy:
    """A seccomp policy: default action, ordered rules, target architectures.

    ``arches`` empty means the native architecture only.  ``dropped`` keeps the
    names that exist on none of the target architectures and were left out of
    the filter (a fail-closed choice, see POLICY-SEMANTICS.md); writers keep
    them so a round trip loses nothing.  ``warnings`` are what a reader noticed
    and accepted.
    """

    default_action: Action
    rules: tuple[Rule, ...] = ()
    arches: tuple[str, ...] = ()
    name: str = ""
    dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def names(self) -> set[str]:
        """Every syscall name the rules mention."""
        return {n for r in self.rules for n in r.names}

    def with_rules(self, rules: Iterable[Rule]) -> Policy:
        return replace(self, rules=tuple(rules))

    def for_machine(self, arch: str) -> Policy:
        """The policy as loaded on a machine whose native architecture is ``arch``.

        A runtime installs only the architectures that machine can run
        (Docker's archMap entry for it): the others can never be seen there, so
        leaving them out changes nothing, and it lets a policy that also names
        architectures this libseccomp does not know (loongarch64) compile.
        """
        from tracebench.syscalls import family

        if not self.arches:
            return self
        mine = tuple(a for a in self.arches if a in family(arch))
        return replace(self, arches=mine or self.arches)

    def resolve(self, ctx: Context) -> Policy:
        """The policy as a runtime would load it in ``ctx``: gates applied, then dropped."""
        rules = tuple(replace(r, gate=Gate()) for r in self.rules if ctx.opens(r.gate))
        return replace(self, rules=rules)


# Every capability the running kernel can know (linux/capability.h), for
# `--cap-add ALL` as `docker run --cap-add ALL` means it.
ALL_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
})


def _cap(name: str) -> str:
    cap = name.strip().upper()
    cap = cap if cap.startswith("CAP_") or cap == "ALL" else f"CAP_{cap}"
    if cap != "ALL" and cap not in ALL_CAPS:
        raise PolicyError(f"unknown capability {name!r}")
    return cap


def _kernel(text: str) -> tuple[int, int]:
    m = re.match(r"^(\d+)\.(\d+)", text.strip())
    if not m:
        raise PolicyError(f"cannot read kernel version {text!r} (want X.Y)")
    return int(m.group(1)), int(m.group(2))


def context(arch: str, cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (),
            kernel: str | None = None, runtime: str | None = None) -> Context:
    """A Context as ``docker run --cap-add/--cap-drop`` on a given kernel would give."""
    import platform

    caps = set(DOCKER_DEFAULT_CAPS)
    for c in map(_cap, cap_drop):
        caps = set() if c == "ALL" else caps - {c}
    for c in map(_cap, cap_add):
        caps = set(ALL_CAPS) if c == "ALL" else caps | {c}
    if runtime is not None and runtime not in RUNTIMES:
        raise PolicyError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
    return Context(arch, frozenset(caps), _kernel(kernel or platform.release()), runtime)
