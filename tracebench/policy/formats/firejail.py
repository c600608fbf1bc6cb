"""firejail profiles: their seccomp directives (read only).

The meaning is firejail 0.9.72's (src/firejail/profile.c, seccomp.c,
src/fseccomp/, src/lib/syscall.c), for the native ABI only:

* ``seccomp`` denies firejail's ``@default-nodebuggers`` group
  (``@default`` with ``allow-debuggers``); ``seccomp a,b,!c`` denies that
  group plus ``a``, ``b`` and lets ``c`` through;
* ``seccomp.drop LIST`` denies only LIST (``!name`` lets a call through);
* ``seccomp.keep LIST`` allows only LIST plus ``@default-keep``
  (execve, execveat, prctl) and denies everything else;
* when several are given, keep wins over drop, drop over ``seccomp``
  (sandbox.c / seccomp_filter_drop), and a later line of the same kind
  replaces an earlier one;
* denied calls get ``seccomp-error-action`` (default EPERM; ``kill`` is
  SECCOMP_RET_KILL, i.e. kill_thread); ``name:ERRNO`` and ``name:kill`` set
  one call's action;
* ``memory-deny-write-execute`` and ``restrict-namespaces`` load filters of
  their own (fseccomp memory_deny_write_execute, deny_ns); their rules are
  merged into the policy, which means the same as the stacked filters.

Groups come from firejail's own table (``tracebench/data/firejail-0.9.72-
syscall-groups.json``), not systemd's.  firejail silently skips names it does
not know (firejail issue 2931); tracebench refuses an unknown name in a list
that denies (fail closed) and warns for one in a keep list.  The i386 ABI
(``seccomp.32*``, firejail's fixed secondary filter) is not modelled: a
warning says so.  ``include`` lines are not followed by ``read``;
``read_profile(loader=...)`` follows them.
"""

from __future__ import annotations

import errno as errno_names
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import PurePath

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule

DATA_FILE = "firejail-0.9.72-syscall-groups.json"
DEFAULT_ERROR = Action("errno", errno_names.EPERM)  # DEFAULT_SECCOMP_ERROR_ACTION
_LIST_DIRECTIVES = ("seccomp.drop", "seccomp.keep", "seccomp")
_IGNORED_32 = ("seccomp.32.drop", "seccomp.32.keep", "seccomp.32")
# restrict-namespaces with no list (profile.c).
_ALL_NS = "cgroup,ipc,net,mnt,pid,time,user,uts"
_NS_FLAGS = {"cgroup": 0x02000000, "ipc": 0x08000000, "net": 0x40000000, "mnt": 0x00020000,
             "pid": 0x20000000, "time": 0x00000080, "user": 0x10000000, "uts": 0x04000000}
_PROT_WRITE, _PROT_EXEC, _SHM_EXEC, _ENOSYS = 0x2, 0x4, 0o100000, errno_names.ENOSYS
_U32 = 0xFFFFFFFF

Loader = Callable[[str, str], tuple[str, str]]


@functools.lru_cache(maxsize=1)
def groups() -> Mapping[str, tuple[str, ...]]:
    """firejail's ``@group`` table: group -> members (names and nested ``@groups``)."""
    data = json.loads((files("tracebench") / "data" / DATA_FILE).read_text(encoding="utf-8"))
    return {g: tuple(v) for g, v in data["groups"].items()}


def _bits(mask: int) -> Iterator[int]:
    bit = 1
    while bit <= mask:
        if mask & bit:
            yield bit
        bit <<= 1


@dataclass
class _Directives:
    seccomp: tuple[str, int] | None = None  # (list, line); list "" for a bare `seccomp`
    drop: tuple[str, int] | None = None
    keep: tuple[str, int] | None = None
    error_action: Action = DEFAULT_ERROR
    allow_debuggers: bool = False
    mdwx: int | None = None
    namespaces: tuple[str, int] | None = None
    block_secondary: bool = False
    ignore: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _error_action(value: str, path: str, line: int) -> Action:
    if value == "kill":
        return Action("kill_thread")
    if value == "log":
        return Action("log")
    number = getattr(errno_names, value, None) if value.startswith("E") else None
    if not isinstance(number, int):
        raise PolicyError(f"seccomp-error-action: unknown errno {value!r}", path=path, line=line)
    return Action("errno", number)


def _scan(text: str, path: str, d: _Directives, loader: Loader | None,
          stack: tuple[str, ...]) -> None:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("ignore "):
            d.ignore.append(line[len("ignore "):].strip())
            continue
        if any(line == i or line.startswith(i + " ") for i in d.ignore):
            continue
        if line.startswith("?"):
            if "seccomp" in line or "memory-deny-write-execute" in line or \
                    "restrict-namespaces" in line:
                raise PolicyError(f"conditional seccomp directive {line!r}: its effect depends "
                                  "on firejail's configuration", path=path, line=number)
            continue
        if line.startswith("include "):
            _include(line[len("include "):].strip(), path, number, d, loader, stack)
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in _IGNORED_32:
            d.warnings.append(f"{path}:{number}: {word} (i386 ABI filters) is not modelled")
        elif word in _LIST_DIRECTIVES:
            if word != "seccomp" and not rest:
                raise PolicyError(f"{word} needs a list of system calls", path=path,
                                  line=number)
            setattr(d, "seccomp" if word == "seccomp" else word.split(".")[1], (rest, number))
        elif word == "seccomp-error-action":
            d.error_action = _error_action(rest, path, number)
        elif word == "allow-debuggers":
            d.allow_debuggers = True
        elif word == "memory-deny-write-execute":
            d.mdwx = number
        elif word == "restrict-namespaces":
            d.namespaces = (rest or _ALL_NS, number)
        elif word == "seccomp.block-secondary":
            d.block_secondary = True


def _include(name: str, path: str, line: int, d: _Directives, loader: Loader | None,
             stack: tuple[str, ...]) -> None:
    if loader is None:
        d.warnings.append(f"{path}:{line}: include {name} not read (seccomp lines in it are "
                          "not seen)")
        return
    text, resolved = loader(name, path)
    if resolved in stack:
        raise PolicyError(f"include cycle: {' -> '.join([*stack, resolved])}", path=path,
                          line=line)
    _scan(text, resolved, d, loader, (*stack, resolved))


@dataclass
class _Entry:
    name: str
    negate: bool
    action: Action | None  # per-entry name:ERRNO / name:kill
    from_group: bool


def _entries(items: str, path: str, line: int, native: str) -> list[_Entry]:
    """syscall_check_list(): a comma list of names, $numbers, @groups, !exceptions."""
    from tracebench import syscalls

    if not items:
        raise PolicyError("empty syscall lists are not allowed", path=path, line=line)
    out: list[_Entry] = []

    def walk(text: str, from_group: bool) -> None:
        for item in (i for i in text.split(",") if i):
            if item.startswith("@"):
                if item not in groups():
                    raise PolicyError(f"unknown syscall group {item}", path=path, line=line)
                walk(",".join(groups()[item]), True)
                continue
            negate = item.startswith("!")
            name, colon, err = item.lstrip("!").partition(":")
            action: Action | None = None
            if colon:
                if err == "kill":
                    action = Action("kill_thread")
                else:
                    number = getattr(errno_names, err, None) if err.startswith("E") else None
                    if not isinstance(number, int):
                        raise PolicyError(f"unknown errno in {item!r}", path=path, line=line)
                    action = Action("errno", number)
            if not name:
                raise PolicyError(f"invalid syscall list entry {item!r}", path=path, line=line)
            if name.startswith("$"):
                try:
                    name = syscalls.name(native, int(name[1:], 0))
                except ValueError:
                    raise PolicyError(f"invalid syscall number {item!r}", path=path,
                                      line=line) from None
            out.append(_Entry(name, negate, action, from_group))

    walk(items, False)
    return out


def _native() -> str:
    from tracebench import syscalls

    return syscalls.native_arch()


def read_profile(text: str, path: str, native: str | None = None,
                 loader: Loader | None = None) -> Policy:
    """Read a firejail profile's seccomp filter for the native ABI.

    ``loader(name, from_path) -> (text, resolved_path)`` reads ``include``d
    files; without it includes are listed in the warnings.
    """
    native = native or _native()
    d = _Directives()
    _scan(text, path, d, loader, (path,))
    if d.keep is None and d.drop is None and d.seccomp is None and d.mdwx is None \
            and d.namespaces is None:
        raise PolicyError("no seccomp, seccomp.drop, seccomp.keep, memory-deny-write-execute "
                          "or restrict-namespaces line", path=path)
    dropped: set[str] = set()
    if d.keep is not None:
        policy_rules, default = _keep(d, native, path, dropped)
    else:
        policy_rules, default = _drop(d, native, path, dropped)
    if d.block_secondary:
        d.warnings.append(f"{path}: seccomp.block-secondary: calls of other ABIs are denied")
    elif d.keep is None and d.drop is not None:
        d.warnings.append(f"{path}: seccomp.drop installs no filter for secondary ABIs (i386 "
                          "calls are not filtered)")
    elif d.keep is None and d.seccomp is not None:
        d.warnings.append(f"{path}: the i386 ABI gets firejail's fixed secondary filter, which "
                          "tracebench does not model")
    return Policy(default, tuple(policy_rules), (native,), PurePath(path).name,
                  tuple(sorted(dropped)), tuple(d.warnings))


def _check_names(entries: list[_Entry], denying: bool, path: str, line: int,
                 dropped: set[str], warnings: list[str]) -> list[_Entry]:
    from tracebench import syscalls

    kept = []
    seen: set[str] = set()
    for e in entries:
        if not syscalls.is_known_anywhere(e.name):
            if e.from_group:
                # firejail's own table names calls of other architectures
                # (s390_mmio_read, ni_syscall) that its #ifdef SYS_... leaves out.
                dropped.add(e.name)
                continue
            if denying and not e.negate:
                raise PolicyError(f"unknown system call {e.name!r}: firejail would skip it and "
                                  "not deny it", path=path, line=line)
            warnings.append(f"{path}:{line}: unknown system call {e.name!r} skipped, as "
                            "firejail does")
            dropped.add(e.name)
            continue
        key = ("!" if e.negate else "") + e.name
        if key in seen and not e.from_group:
            warnings.append(f"{path}:{line}: {e.name} is listed twice")
        seen.add(key)
        kept.append(e)
    return kept


def _drop(d: _Directives, native: str, path: str,
          dropped: set[str]) -> tuple[list[Rule], Action]:
    """seccomp / seccomp LIST / seccomp.drop LIST: default allow, listed calls denied."""
    denied: dict[str, tuple[Action, int]] = {}
    excepted: set[str] = set()
    if d.drop is not None:
        sources = [(d.drop[0], d.drop[1])]
    elif d.seccomp is not None:
        base = "@default" if d.allow_debuggers else "@default-nodebuggers"
        sources = [(base, d.seccomp[1])] + ([(d.seccomp[0], d.seccomp[1])] if d.seccomp[0]
                                            else [])
    else:
        sources = []
    for items, line in sources:
        for e in _check_names(_entries(items, path, line, native), True, path, line, dropped,
                              d.warnings):
            if e.negate:
                excepted.add(e.name)
            else:
                denied.setdefault(e.name, (e.action or d.error_action, line))
    by_action: dict[tuple[Action, int], list[str]] = {}
    for call, (action, line) in denied.items():
        if call not in excepted:
            by_action.setdefault((action, line), []).append(call)
    rules = [Rule(tuple(sorted(names)), action, line=line)
             for (action, line), names in sorted(by_action.items(), key=lambda kv: kv[0][1])]
    unconditional = {c for c in denied if c not in excepted}
    for call, action, conditions, line in _extra_denials(d):
        if call not in unconditional:
            rules.append(Rule((call,), action, conditions, line=line))
    return rules, ALLOW


def _extra_denials(d: _Directives) -> Iterator[tuple[str, Action, tuple[Condition, ...], int]]:
    """The stacked memory-deny-write-execute and restrict-namespaces filters, as deny rules.

    firejail's BPF looks at the low 32 bits of an argument (EXAMINE_ARGUMENT);
    each test is a mask of those bits, so the 64-bit masked_eq is the same test.
    """
    act = d.error_action
    if d.mdwx is not None:
        yield "mmap", act, (Condition(2, "masked_eq", _PROT_WRITE | _PROT_EXEC,
                                      _PROT_WRITE | _PROT_EXEC),), d.mdwx
        for call in ("mprotect", "pkey_mprotect"):
            yield call, act, (Condition(2, "masked_eq", _PROT_EXEC, _PROT_EXEC),), d.mdwx
        yield "shmat", act, (Condition(2, "masked_eq", _SHM_EXEC, _SHM_EXEC),), d.mdwx
        yield "memfd_create", act, (), d.mdwx
    if d.namespaces is not None:
        mask, line = _ns_mask(d.namespaces[0], d.namespaces[1]), d.namespaces[1]
        for bit in _bits(mask & ~_NS_FLAGS["time"]):
            yield "clone", act, (Condition(0, "masked_eq", bit, bit),), line
        yield "clone3", Action("errno", _ENOSYS), (), line
        for bit in _bits(mask):
            yield "unshare", act, (Condition(0, "masked_eq", bit, bit),), line
        yield "setns", act, (Condition(1, "masked_eq", 0, _U32),), line
        for bit in _bits(mask):
            yield "setns", act, (Condition(1, "masked_eq", bit, bit),), line


def _ns_mask(names: str, line: int, path: str = "") -> int:
    mask = 0
    for name in names.split(","):
        if name not in _NS_FLAGS:
            raise PolicyError(f"{name!r} is not a valid namespace", path=path or None,
                              line=line)
        mask |= _NS_FLAGS[name]
    return mask


def _keep(d: _Directives, native: str, path: str,
          dropped: set[str]) -> tuple[list[Rule], Action]:
    """seccomp.keep LIST: allow LIST and @default-keep, deny the rest."""
    assert d.keep is not None
    items, line = d.keep
    allowed: list[str] = []
    for e in _check_names(_entries("@default-keep," + items, path, line, native), False, path,
                          line, dropped, d.warnings):
        if e.negate and e.name in allowed:
            allowed.remove(e.name)
        elif not e.negate and e.name not in allowed:
            allowed.append(e.name)
    default = d.error_action
    conditional = _keep_conditions(d)
    plain = sorted(c for c in allowed if c not in conditional)
    rules = [Rule(tuple(plain), ALLOW, line=line)] if plain else []
    for call in sorted(set(allowed) & set(conditional)):
        for action, conditions, extra_line in conditional[call]:
            if action != default:
                rules.append(Rule((call,), action, conditions, line=extra_line))
    return rules, default


def _keep_conditions(d: _Directives) -> dict[str, list[tuple[Action, tuple[Condition, ...], int]]]:
    """What an allowed call still gets under the stacked filters (the complement of their tests)."""
    out: dict[str, list[tuple[Action, tuple[Condition, ...], int]]] = {}
    if d.mdwx is not None:
        out["mmap"] = [(ALLOW, (Condition(2, "masked_eq", 0, _PROT_WRITE),), d.mdwx),
                       (ALLOW, (Condition(2, "masked_eq", 0, _PROT_EXEC),), d.mdwx)]
        for call in ("mprotect", "pkey_mprotect"):
            out[call] = [(ALLOW, (Condition(2, "masked_eq", 0, _PROT_EXEC),), d.mdwx)]
        out["shmat"] = [(ALLOW, (Condition(2, "masked_eq", 0, _SHM_EXEC),), d.mdwx)]
        out["memfd_create"] = []
    if d.namespaces is not None:
        mask, line = _ns_mask(d.namespaces[0], d.namespaces[1]), d.namespaces[1]
        clone_mask = mask & ~_NS_FLAGS["time"]
        out["clone"] = [(ALLOW, (Condition(0, "masked_eq", 0, clone_mask),), line)]
        out["clone3"] = [(Action("errno", _ENOSYS), (), line)]
        out["unshare"] = [(ALLOW, (Condition(0, "masked_eq", 0, mask),), line)]
        # setns passes when no flag of the mask is set and the low word is not 0.
        out["setns"] = [(ALLOW, (Condition(1, "masked_eq", bit, mask | bit),), line)
                        for bit in _bits(_U32 & ~mask)]
    return out


def read(text: str, path: str) -> Policy:
    """Read a firejail profile's seccomp directives (includes are not followed)."""
    return read_profile(text, path)


def sniff(text: str) -> bool:
    """A profile with a seccomp directive."""
    return any(line.strip().split(" ")[0] in (*_LIST_DIRECTIVES, *_IGNORED_32)
               for line in text.splitlines())


FORMAT = Format(
    name="firejail",
    description="firejail profile seccomp / seccomp.drop / seccomp.keep (firejail 0.9.72 groups)",
    suffixes=(".profile", ".local", ".inc"),
    read=read,
    write=None,
    sniff=sniff,
)
