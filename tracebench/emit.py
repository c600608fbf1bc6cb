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
    # syscall_0xNNN numbers used, left out because the format takes names only
    unnamed: tuple[str, ...] = ()


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
    """Names used per target arch: its own rows, else the native rows by name."""
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
                how = ("import the log with --args, or record with tracebench record"
                       if profile.args_left_in_log else "record with tracebench record")
                raise TracebenchError(f"--pin-args {name}: argument {argno} was not recorded "
                                      f"on {arch} ({how})")
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
         pin_args: Iterable[str] = (), by_number: bool = True) -> EmitResult:
    """Build an allowlist from the union of ``profiles``.

    ``default`` is the action for everything else: the base policy's when a
    ``base`` is given, errno(EPERM) otherwise.  ``by_number=False`` (a format
    that takes names only) leaves out the numbers libseccomp has no name for
    (``syscall_0xNNN``): they get the default action, as a runtime that
    cannot resolve the name would give them anyway.
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
    wanted = (set().union(*used.values()) | extra) - never
    removed = tuple(sorted(set().union(*used.values()) & never))
    missing: dict[str, tuple[str, ...]] = {}
    exists_somewhere: set[str] = set()
    for arch in targets:
        here = {n for n in wanted
                if n.startswith("syscall_0x") or syscalls.number(arch, n) is not None}
        if wanted - here:
            missing[arch] = tuple(sorted(wanted - here))
        exists_somewhere |= here

    # One rule for every target arch, as Docker's profiles are written: a name
    # resolves only where it exists (socketcall on i386), and every format
    # can say that.  A name used on one arch is allowed on the others too.
    unnamed = () if by_number else tuple(sorted(n for n in exists_somewhere
                                                if n.startswith("syscall_0x")))
    names = sorted(exists_somewhere - set(pins) - set(unnamed))
    rules = [Rule(tuple(names), ALLOW)] if names else []
    for name, argnos in sorted(pins.items()):
        if name not in exists_somewhere:
            continue
        rules.extend(_pinned_rules(profile, name, argnos, targets))

    if base is not None:
        rules = [*base.rules, *rules]
    # Only the native architecture and none asked for: leave the policy's
    # architectures implicit (native), as a plain list or a Beats file says it.
    implicit = not arches and targets == [syscalls.native_arch()] and base is None
    policy = Policy(default, tuple(rules), () if implicit else tuple(targets),
                    name="tracebench emit")
    return EmitResult(policy, missing, removed, unnamed)
