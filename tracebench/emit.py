"""Profile(s) -> an allowlist Policy.

The allowlist holds every syscall the program was seen to make, per target
architecture, plus ``always_allow`` minus ``never_allow`` (Beats'
seccomp-profiler allow and blacklist files work the same way).  Output is
deterministic: rules and names sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tracebench import syscalls
from tracebench.errors import TracebenchError
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule
from tracebench.profile import Profile

# Which argument `--pin-args NAME` pins when the user names no index: the one
# that says *what kind* of call it is (socket(AF_UNIX, ...) vs socket(AF_PACKET,
# ...)), as Docker's default profile does for socket, personality and clone.
DEFAULT_PIN_ARGS: Mapping[str, tuple[int, ...]] = {
    "socket": (0,),
    "socketpair": (0,),
    "clone": (0,),
    "personality": (0,),
    "ioctl": (1,),
    "fcntl": (1,),
    "prctl": (0,),
    "arch_prctl": (0,),
    "setsockopt": (1, 2),
    "getsockopt": (1, 2),
    "madvise": (2,),
    "mprotect": (2,),
    "kill": (1,),
    "tgkill": (2,),
    "futex": (1,),
}


@dataclass(frozen=True)
class EmitResult:
    """The emitted Policy and what the user should know about it."""

    policy: Policy
    # arch -> names used (or asked for) that do not exist on that arch
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # names used by the program that --never-allow removed
    removed: tuple[str, ...] = ()


def parse_pin(spec: str) -> tuple[str, tuple[int, ...]]:
    """``socket`` or ``socket:0`` or ``setsockopt:1,2`` -> (name, argument indexes)."""
    name, _, idx = spec.partition(":")
    if not idx:
        if name not in DEFAULT_PIN_ARGS:
            raise TracebenchError(f"--pin-args {spec}: say which arguments to pin, e.g. "
                                  f"{name}:0 (no default for {name})")
        return name, DEFAULT_PIN_ARGS[name]
    try:
        args = tuple(sorted({int(i) for i in idx.split(",")}))
    except ValueError:
        raise TracebenchError(f"--pin-args {spec}: argument indexes must be numbers "
                              "0..5") from None
    if not all(0 <= a <= 5 for a in args):
        raise TracebenchError(f"--pin-args {spec}: argument indexes must be 0..5")
    return name, args


def _used(profile: Profile, arches: Sequence[str]) -> dict[str, set[str]]:
    """Names to allow per target arch: its own rows, else the native rows by name."""
    seen = {a: profile.syscalls(a) for a in profile.arches()}
    native = syscalls.native_arch()
    fallback = seen.get(native) or set().union(*seen.values()) if seen else set()
    return {a: set(seen.get(a) or fallback) for a in arches}


def _pinned_rules(profile: Profile, name: str, argnos: tuple[int, ...],
                  arches: Sequence[str]) -> list[Rule]:
    """One allow rule per combination of observed values of the pinned arguments."""
    combos: list[tuple[Condition, ...]] = [()]
    for argno in argnos:
        values: set[int] = set()
        for arch in arches:
            seen = profile.arg_values(arch, name, argno)
            if seen is None and profile.syscalls(arch) & {name}:
                raise TracebenchError(f"--pin-args {name}: argument {argno} was not recorded "
                                      f"on {arch} (record with tracebench record)")
            if seen is not None:
                if not seen.complete:
                    raise TracebenchError(
                        f"--pin-args {name}: argument {argno} took more distinct values than "
                        "were kept, or some calls were seen without it; pinning would deny "
                        "values the program used")
                values |= seen.values
        combos = [(*c, Condition(argno, "eq", v)) for c in combos for v in sorted(values)]
    return [Rule((name,), ALLOW, c) for c in combos if c]


def emit(profiles: Iterable[Profile], *, default: Action | None = None,
         arches: Sequence[str] = (), always_allow: Iterable[str] = (),
         never_allow: Iterable[str] = (), base: Policy | None = None,
         pin_args: Iterable[str] = ()) -> EmitResult:
    """Build an allowlist from the union of ``profiles``.

    ``default`` is the action for everything else: the base policy's when a
    ``base`` is given, errno(EPERM) otherwise.
    """
    from tracebench.profile import merge

    runs = list(profiles)
    profile = runs[0] if len(runs) == 1 else merge(runs)
    targets = [syscalls.arch_of(a) for a in arches] or sorted(
        set(profile.arches()) | {syscalls.native_arch()})
    if default is None:
        default = base.default_action if base is not None else Action("errno", 1)
    if default.allows:
        raise TracebenchError(f"default action {default} would allow everything: an "
                              "allowlist needs a denying default")
    pins = dict(parse_pin(p) for p in pin_args)
    never = set(never_allow)
    extra = set(always_allow)
    unknown = sorted(n for n in extra | never | set(pins) if not syscalls.is_known_anywhere(n))
    if unknown:
        raise TracebenchError(f"unknown syscall name(s): {', '.join(unknown)}")

    used = _used(profile, targets)
    missing: dict[str, tuple[str, ...]] = {}
    per_arch: dict[str, set[str]] = {}
    for arch in targets:
        wanted = (used[arch] | extra) - never
        exists = {n for n in wanted
                  if n.startswith("syscall_0x") or syscalls.number(arch, n) is not None}
        if wanted - exists:
            missing[arch] = tuple(sorted(wanted - exists))
        per_arch[arch] = exists
    removed = tuple(sorted(set().union(*used.values()) & never))

    # Group names by the set of arches they exist on, so a multi-arch policy
    # reads like Docker's: one rule for the common names, few for the rest.
    by_arches: dict[tuple[str, ...], list[str]] = {}
    for n in sorted(set().union(*per_arch.values()) - set(pins)):
        on = tuple(a for a in targets if n in per_arch[a])
        by_arches.setdefault(on if len(on) < len(targets) else (), []).append(n)
    rules = [Rule(tuple(names), ALLOW, arches=on)
             for on, names in sorted(by_arches.items(), key=lambda kv: (len(kv[0]), kv[0]))]
    for name, argnos in sorted(pins.items()):
        if name in never or not any(name in per_arch[a] for a in targets):
            continue
        rules.extend(_pinned_rules(profile, name, argnos, targets))

    if base is not None:
        rules = [*base.rules, *rules]
    policy = Policy(default, tuple(rules), tuple(targets), name="tracebench emit")
    return EmitResult(policy, missing, removed)
