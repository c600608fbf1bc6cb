"""systemd ``SystemCallFilter=`` policies: unit files, drop-ins or bare directive lines.

Read and write.  The meaning is systemd 252's (the version installed where the
group data was generated, ``tracebench/data/systemd-252-syscall-groups.json``):

* The first ``SystemCallFilter=`` sets the mode: a list without ``~`` is an
  allow list (and implicitly allows ``@default``), a ``~`` list is a deny
  list.  Later assignments add to or remove from the set; an empty
  assignment resets everything (systemd.exec(5), load-fragment.c).
* ``~name:ERRNO`` gives that call an errno; in an allow list it puts the
  call back with ``ERRNO`` instead of the default action.  A later ``:errno``
  overrides an earlier one (seccomp_parse_syscall_filter: ``hashmap_update``
  since systemd 248, the fix for systemd issue 18916; before that fix the
  first denying directive kept its errno, which POLICY-SEMANTICS.md quotes).
* Denied calls get ``SystemCallErrorNumber=`` (errno) or, by default or with
  ``kill``, kill_process (SIGSYS).
* ``@group`` references expand (nested) from systemd's own tables; names
  libseccomp does not know are skipped by systemd and land in
  ``Policy.dropped``.
* The filter is loaded for every local ABI (x86-64, x86 and x32 on an x86-64
  machine) unless ``SystemCallArchitectures=`` narrows them.
"""

from __future__ import annotations

import errno as errno_names
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import PurePath

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.model import ALLOW, Action, Policy, Rule

DATA_FILE = "systemd-252-syscall-groups.json"
# SECCOMP_ERROR_NUMBER_KILL: ":kill" / SystemCallErrorNumber=kill.
_KILL = -2
_ERRNO_MAX = 4095
_KEYS = ("SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures")
# Sections where systemd does not know these keys (it ignores them there).
_FOREIGN_SECTIONS = ("Unit", "Install")
# The ABIs systemd loads a filter for (SECCOMP_FOREACH_LOCAL_ARCH, seccomp-util.h).
_LOCAL_ARCHES: Mapping[str, tuple[str, ...]] = {
    "x86_64": ("x86_64", "i386", "x32"),
    "i386": ("i386",),
    "x32": ("x32", "x86_64", "i386"),
    "aarch64": ("aarch64", "arm"),
    "arm": ("arm",),
}
# systemd's architecture identifiers (systemd.unit(5) ConditionArchitecture=).
_SYSTEMD_ARCH = {
    "x86-64": "x86_64", "x86": "i386", "x32": "x32", "arm64": "aarch64", "arm": "arm",
    "riscv64": "riscv64", "s390x": "s390x", "s390": "s390", "ppc64": "ppc64",
    "ppc64-le": "ppc64le", "ppc": "ppc", "mips": "mips", "mips-le": "mipsel",
    "mips64": "mips64", "mips64-le": "mipsel64", "mips64-n32": "mips64n32",
    "mips64-le-n32": "mipsel64n32",
}
_ARCH_SYSTEMD = {v: k for k, v in _SYSTEMD_ARCH.items()}
_SNIFF_RE = re.compile(r"^\s*SystemCall(Filter|ErrorNumber|Architectures)\s*=", re.M)


@functools.lru_cache(maxsize=1)
def groups() -> Mapping[str, tuple[str, ...]]:
    """systemd's ``@group`` tables: group -> members (names and nested ``@groups``)."""
    data = json.loads((files("tracebench") / "data" / DATA_FILE).read_text(encoding="utf-8"))
    return {g: tuple(v["members"]) for g, v in data["groups"].items()}


def parse_analyze_output(text: str) -> dict[str, dict[str, object]]:
    """``systemd-analyze syscall-filter`` output -> {group: {description, members}}.

    Members keep systemd's order; nested groups are ``@name`` members, as
    systemd prints them (``    @clock`` under ``@privileged``).  The trailing
    "# Ungrouped System Calls" comment block is not a group.
    """
    out: dict[str, dict[str, object]] = {}
    members: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@"):
            members = []
            out[line.strip()] = {"description": "", "members": members}
        elif line.startswith("    # ") and members is not None and not members:
            out[next(reversed(out))]["description"] = line.strip()[2:]
        elif line.startswith("    ") and members is not None:
            members.append(line.strip())
        elif line.startswith("#"):
            members = None
    return out


def expand(group: str) -> list[str]:
    """Every syscall name in ``group``, nested groups expanded, in systemd's order."""
    out: list[str] = []
    for member in groups()[group]:
        out.extend(expand(member) if member.startswith("@") else [member])
    return out


def _known(name: str) -> bool:
    from tracebench import syscalls

    return syscalls.is_known_anywhere(name)


def _errno_number(text: str) -> int | None:
    """systemd's parse_errno(): an errno name (EPERM) or a number 0..4095."""
    if text.isdigit():
        number = int(text)
        return number if number <= _ERRNO_MAX else None
    named = getattr(errno_names, text, None) if text.startswith("E") else None
    return named if isinstance(named, int) else None


def _errno_text(value: int) -> str:
    return errno_names.errorcode.get(value, str(value))


@dataclass
class _State:
    """The parsed SystemCall*= settings (ExecContext's fields)."""

    # name -> (errno or None for "the negative action" or _KILL, line it was set on)
    filter: dict[str, tuple[int | None, int]] | None = None
    allow_list: bool = False
    errno_setting: int = _KILL
    arches: set[str] | None = None
    seen: bool = False
    dropped: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _split_lines(text: str, path: str) -> list[tuple[int, str, str, str]]:
    """The KEY=VALUE assignments of a unit file: (line, section, key, value).

    Follows systemd's config parser: ``#``/``;`` comments, ``[Section]``
    headers, a trailing backslash joins the next line (comment lines inside
    a continuation are skipped).
    """
    out: list[tuple[int, str, str, str]] = []
    section = ""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if pending and line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            if not pending:
                start = number
            pending.append(line[:-1])
            continue
        if pending:
            line = " ".join([*pending, line])
            pending = []
            number = start
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise PolicyError(f"bad section header {line!r}", path=path, line=number)
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise PolicyError(f"expected KEY=VALUE, got {line!r}", path=path, line=number)
        out.append((number, section, key.strip(), value.strip()))
    if pending:
        raise PolicyError("file ends inside a backslash continuation", path=path, line=start)
    return out


def _apply_name(st: _State, name: str, num: int | None, invert: bool, line: int, path: str,
                from_group: bool) -> None:
    """seccomp_parse_syscall_filter() for one name or @group."""
    assert st.filter is not None
    if name.startswith("@"):
        if name not in groups():
            # systemd: "Unknown system call group, ignoring".  Ignoring a
            # denying (~) entry would allow what the file denies.
            if invert:
                raise PolicyError(f"unknown system call group {name!r} (systemd 252 would "
                                  "ignore it and not deny its calls)", path=path, line=line)
            st.warnings.append(f"{path}:{line}: unknown system call group {name!r} ignored, "
                               "as systemd does")
            return
        for member in groups()[name]:
            _apply_name(st, member, num, invert, line, path, True)
        return
    if not _known(name):
        # systemd: "Failed to parse system call, ignoring" (silently for its
        # own group tables).
        if invert and not from_group:
            raise PolicyError(f"unknown system call {name!r} (systemd would ignore it and not "
                              "deny it)", path=path, line=line)
        st.dropped.add(name)
        if not from_group:
            st.warnings.append(f"{path}:{line}: unknown system call {name!r} ignored, as "
                               "systemd does")
        return
    if (not invert) == st.allow_list or (invert and st.allow_list and num is not None):
        st.filter[name] = (num, line)
    else:
        st.filter.pop(name, None)


def _filter_directive(st: _State, value: str, line: int, path: str) -> None:
    """config_parse_syscall_filter()."""
    if not value:
        st.filter = None
        st.allow_list = False
        return
    invert = value.startswith("~")
    if invert:
        value = value[1:]
    if st.filter is None:
        st.filter = {}
        st.allow_list = not invert
        if st.allow_list:
            for member in groups()["@default"]:
                _apply_name(st, member, None, False, line, path, True)
    for word in value.split():
        name, colon, err = word.partition(":")
        num: int | None = None
        if colon:
            num = _KILL if err == "kill" else _errno_number(err)
            if num is None or not name:
                if invert:
                    raise PolicyError(f"cannot read {word!r} as syscall:errno (systemd would "
                                      "ignore it and not deny the call)", path=path, line=line)
                st.warnings.append(f"{path}:{line}: {word!r} ignored, as systemd does")
                continue
            if not invert:
                st.warnings.append(f"{path}:{line}: {word!r}: allow-listed calls take no "
                                   "errno; systemd ignores the entry")
                continue
        _apply_name(st, name, num, invert, line, path, False)


def _errno_directive(st: _State, value: str, line: int, path: str) -> None:
    """config_parse_syscall_errno(): empty or "kill" means kill, else 1..4095."""
    if not value or value == "kill":
        st.errno_setting = _KILL
        return
    num = _errno_number(value)
    if num is None or num == 0:
        st.warnings.append(f"{path}:{line}: SystemCallErrorNumber={value} ignored, as systemd "
                           "does")
        return
    st.errno_setting = num


def _arch_directive(st: _State, value: str, line: int, path: str, native: str) -> None:
    """config_parse_syscall_archs(): a set that later assignments extend."""
    from tracebench import syscalls

    if not value:
        st.arches = None
        return
    if st.arches is None:
        st.arches = set()
    for word in value.split():
        arch = native if word == "native" else _SYSTEMD_ARCH.get(word)
        if arch is None:
            try:
                arch = syscalls.arch_of(word)
            except syscalls.UnknownArchError:
                st.warnings.append(f"{path}:{line}: unknown architecture {word!r} ignored, as "
                                   "systemd does")
                continue
        st.arches.add(arch)


def _native() -> str:
    from tracebench import syscalls

    return syscalls.native_arch()


def read_units(sources: Sequence[tuple[str, str]], native: str | None = None) -> Policy:
    """Read a unit and its drop-ins, in systemd's order: ``[(text, path), ...]``.

    ``native`` is the architecture the unit runs on (default: this machine's).
    """
    native = native or _native()
    st = _State()
    for text, path in sources:
        for line, section, key, value in _split_lines(text, path):
            if key not in _KEYS:
                continue
            if section in _FOREIGN_SECTIONS:
                raise PolicyError(f"{key}= in [{section}] is ignored by systemd (it belongs in "
                                  "[Service], [Socket], [Mount] or [Swap])", path=path,
                                  line=line)
            st.seen = True
            if key == "SystemCallFilter":
                _filter_directive(st, value, line, path)
            elif key == "SystemCallErrorNumber":
                _errno_directive(st, value, line, path)
            else:
                _arch_directive(st, value, line, path, native)
    where = sources[-1][1] if sources else "<none>"
    if not st.seen:
        raise PolicyError("no SystemCallFilter=, SystemCallErrorNumber= or "
                          "SystemCallArchitectures= line", path=where)
    return _policy(st, native, where)


def _policy(st: _State, native: str, path: str) -> Policy:
    local = _LOCAL_ARCHES.get(native, (native,))
    if st.arches is None:
        arches = local
    else:
        arches = tuple(a for a in local if a in st.arches)
        for extra in sorted(st.arches - set(local)):
            st.warnings.append(f"{path}: SystemCallArchitectures={_ARCH_SYSTEMD.get(extra, extra)}"
                               f" is not a local ABI of {native}: no filter is loaded for it")
    negative = Action("kill_process") if st.errno_setting == _KILL else \
        Action("errno", st.errno_setting)
    name = PurePath(path).name
    if st.filter is None:
        st.warnings.append(f"{path}: no SystemCallFilter= in effect: every call is allowed")
        return Policy(ALLOW, (), arches, name, tuple(sorted(st.dropped)), tuple(st.warnings))
    default = negative if st.allow_list else ALLOW
    by_action: dict[Action, list[str]] = {}
    for call, (num, line) in st.filter.items():
        if num is None:
            action = ALLOW if st.allow_list else negative
        else:
            action = Action("kill_process") if num == _KILL else Action("errno", num)
        if action == default:
            # libseccomp refuses a rule whose action is the default (EACCES)
            # and systemd then fails to start the unit.
            raise PolicyError(f"{call!r} gets {action}, the filter's default action: libseccomp "
                              "refuses such a rule and systemd fails to start the unit",
                              path=path, line=line)
        by_action.setdefault(action, []).append(call)
    rules = []
    if ALLOW in by_action:
        rules.append(Rule(tuple(sorted(by_action.pop(ALLOW))), ALLOW))
    rules.extend(Rule(tuple(sorted(names)), action) for action, names in
                 sorted(by_action.items()))
    return Policy(default, tuple(rules), arches, name, tuple(sorted(st.dropped)),
                  tuple(st.warnings))


def read(text: str, path: str) -> Policy:
    """Read one unit file, drop-in or bare ``SystemCallFilter=`` lines."""
    return read_units([(text, path)])


def _wrap(prefix: str, words: Sequence[str], width: int = 100) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    for word in words:
        if current and len(prefix) + len(" ".join([*current, word])) > width:
            lines.append(prefix + " ".join(current))
            current = []
        current.append(word)
    if current:
        lines.append(prefix + " ".join(current))
    return lines


def write(policy: Policy) -> str:
    """``[Service]`` drop-in text with SystemCallFilter=/SystemCallErrorNumber= lines.

    Allow lists (default kill_process or errno) and deny lists (default
    allow) of unconditional rules; anything systemd cannot say (argument
    conditions, gates, per-rule architectures, trap/log/trace/kill_thread)
    is a PolicyError, never a silently different filter.
    """
    default = policy.default_action
    if default.kind not in ("allow", "kill_process", "errno"):
        raise PolicyError(f"systemd cannot express the default action {default} (only "
                          "kill_process, errno(N) or, for deny lists, allow)")
    native_set = set(policy.arches) if policy.arches else None
    actions: dict[str, Action] = {}
    for rule in policy.rules:
        where = f" (rule at line {rule.line})" if rule.line else ""
        if rule.conditions:
            raise PolicyError(f"systemd SystemCallFilter= cannot express argument conditions"
                              f"{where}: {', '.join(map(str, rule.conditions))} on "
                              f"{', '.join(rule.names)}")
        if not rule.gate.is_open():
            raise PolicyError(f"systemd cannot express rule conditions on capabilities, "
                              f"architectures or kernels{where}")
        if rule.arches and (native_set is None or set(rule.arches) != native_set):
            raise PolicyError(f"systemd cannot limit a rule to some architectures{where}")
        for call in rule.names:
            # The first unconditional rule for a call is the one libseccomp keeps.
            actions.setdefault(call, rule.action)
    out = [f"# SystemCallFilter= written by tracebench from {policy.name or 'a policy'}",
           "[Service]"]
    out.extend(_arch_lines(policy))
    if default.kind == "allow":
        out.extend(_deny_list(actions))
    else:
        out.extend(_allow_list(policy, actions))
    return "\n".join(out) + "\n"


def _arch_lines(policy: Policy) -> list[str]:
    arches = policy.arches or (_native(),)
    native = _native()
    if set(arches) == set(_LOCAL_ARCHES.get(native, (native,))):
        return []
    words = []
    for arch in arches:
        if arch == native:
            words.append("native")
        elif arch in _ARCH_SYSTEMD:
            words.append(_ARCH_SYSTEMD[arch])
        else:
            raise PolicyError(f"systemd has no architecture identifier for {arch}")
    return ["SystemCallArchitectures=" + " ".join(words)]


def _deny_suffix(action: Action) -> str:
    if action.kind == "kill_process":
        return ""
    if action.kind == "errno" and action.value <= _ERRNO_MAX:
        return ":" + _errno_text(action.value)
    raise PolicyError(f"systemd cannot express the action {action} (only kill_process or "
                      "errno(0..4095) for denied calls)")


def _deny_list(actions: Mapping[str, Action]) -> list[str]:
    words = [call + _deny_suffix(action) for call, action in sorted(actions.items())
             if action != ALLOW]
    if not words:
        return ["# nothing is denied", "SystemCallFilter="]
    return _wrap("SystemCallFilter=~", words)


def _allow_list(policy: Policy, actions: Mapping[str, Action]) -> list[str]:
    default = policy.default_action
    out = []
    if default.kind == "errno":
        out.append(f"SystemCallErrorNumber={_errno_text(default.value)}")
    allowed = sorted({c for c, a in actions.items() if a == ALLOW} | set(policy.dropped))
    out.extend(_wrap("SystemCallFilter=", allowed or ["@default"]))
    # @default is allowed implicitly: take back what the policy does not allow.
    removed = sorted({c for c in expand("@default") if _known(c)} - set(actions))
    out.extend(_wrap("SystemCallFilter=~", removed))
    others = []
    for call, action in sorted(actions.items()):
        if action in (ALLOW, default):
            continue
        if action.kind == "kill_process":
            others.append(call + ":kill")
        else:
            others.append(call + _deny_suffix(action))
    out.extend(_wrap("SystemCallFilter=~", others))
    return out


def sniff(text: str) -> bool:
    """A unit, drop-in or bare lines setting one of the SystemCall*= keys."""
    return bool(_SNIFF_RE.search(text))


FORMAT = Format(
    name="systemd",
    description="systemd unit SystemCallFilter=/SystemCallErrorNumber=/SystemCallArchitectures= "
                "(systemd 252 @groups)",
    suffixes=(".service", ".socket", ".mount", ".swap", ".conf"),
    read=read,
    write=write,
    sniff=sniff,
)
