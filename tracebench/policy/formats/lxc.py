"""LXC seccomp policies, versions 1 and 2 (read only).

The grammar and meaning are lxc's ``src/lxc/seccomp.c`` (parse_config,
parse_config_v1/v2, get_v2_default_action, parse_v2_rules, do_resolve_add_rule):

* line 1 is the version, ``1`` or ``2``; line 2 the mode:
  ``allowlist``/``whitelist`` (default kill, rules allow) or
  ``denylist``/``blacklist`` (default allow, rules kill), optionally followed
  by the default action (``kill``, ``errno N``, ``allow``, ``trap``,
  ``notify``); v1 must say ``allowlist`` and lists bare syscall NUMBERS of the
  host architecture, one per line;
* v2 lines: ``#`` in the first column is a comment; ``[x86_64]``, ``[x86]``,
  ``[all]``... sections; ``name [action] [idx,value,op][idx,value,op,mask]``;
  ``reject_force_umount`` denies ``umount2(..., MNT_FORCE)`` with EACCES.
* ``kill`` is SCMP_ACT_KILL, i.e. kill_thread.
* A section only decides whether its lines are read on this host: lxc adds
  every rule it reads to the host's native ABI and to each compat ABI (x86,
  x32 on x86-64), whichever section it was in.
* A name libseccomp does not know is skipped by lxc; a rule whose action is
  the default one makes lxc fail (libseccomp: EACCES).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule

# lxc builds compat contexts on these hosts (parse_config_v2).
_HOST_ABIS: Mapping[str, tuple[str, ...]] = {
    "x86_64": ("x86_64", "i386", "x32"),
    "aarch64": ("aarch64", "arm"),
    "ppc64": ("ppc64", "ppc"),
    "mips64": ("mips64", "mips", "mips64n32"),
    "mipsel64": ("mipsel64", "mipsel", "mipsel64n32"),
}
# [section] -> the hosts on which lxc reads it.
_SECTIONS: Mapping[str, tuple[str, ...]] = {
    "x86": ("i386", "x86_64"),
    "x32": ("x86_64",),
    "x86_64": ("x86_64",),
    "arm": ("arm", "aarch64"),
    "arm64": ("aarch64",),
    "ppc64le": ("ppc64le",),
    "ppc64": ("ppc64",),
    "ppc": ("ppc", "ppc64"),
    "mips64": ("mips64",),
    "mips64n32": ("mips64",),
    "mips": ("mips", "mips64"),
    "mipsel64": ("mipsel64",),
    "mipsel64n32": ("mipsel64",),
    "mipsel": ("mipsel", "mipsel64"),
    "s390x": ("s390x",),
    "s390": ("s390",),
    "loongarch64": ("loongarch64",),
}
_ABI_SECTIONS = ("x86", "x32", "x86_64", "arm", "arm64")
_OPS = {"SCMP_CMP_NE": "ne", "!=": "ne", "SCMP_CMP_LT": "lt", "<": "lt",
        "SCMP_CMP_LE": "le", "<=": "le", "SCMP_CMP_EQ": "eq", "==": "eq",
        "SCMP_CMP_GE": "ge", ">=": "ge", "SCMP_CMP_GT": "gt", ">": "gt",
        "SCMP_CMP_MASKED_EQ": "masked_eq", "&=": "masked_eq"}
_ARG_RE = re.compile(r"^\[\s*([-+]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*))\s*,([^,]*),"
                     r"([^0-9^,]*)(?:,([^,]*))?")
_MODE_RE = re.compile(r"^(denylist|blacklist|allowlist|whitelist)")
_EACCES, _MNT_FORCE = 13, 1
_U64 = 0xFFFFFFFFFFFFFFFF


def _strtoull(text: str) -> int | None:
    """lxc_safe_uint64(text, base 0): a C number, no sign, surrounding blanks allowed."""
    text = text.strip()
    if not text or text.startswith(("-", "+")):
        return None
    try:
        value = int(text, 16) if text[:2].lower() == "0x" else \
            int(text, 8) if len(text) > 1 and text[0] == "0" else int(text, 10)
    except ValueError:
        return None
    return value if value <= _U64 else None


def _c_int(text: str) -> int:
    """sscanf("%i"): optional sign, then 0x.. hex, 0.. octal or decimal."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        return sign * int(body, 16)
    return sign * (int(body, 8) if len(body) > 1 and body[0] == "0" else int(body, 10))


def _action(text: str, path: str, line: int) -> tuple[Action | None, str]:
    """get_v2_default_action(): prefix matches, as lxc does ("kill_process" reads as kill)."""
    text = text.lstrip(" ")
    note = ""
    for word, action in (("kill", Action("kill_thread")), ("allow", ALLOW),
                         ("trap", Action("trap")), ("notify", Action("user_notif"))):
        if text.startswith(word):
            rest = text[len(word):].split("[")[0].split("#")[0].strip()
            if rest:
                note = f"{path}:{line}: lxc reads {text.split()[0]!r} as {word!r}"
            return action, note
    if text.startswith("errno"):
        m = re.match(r"\s*([-+]?\d+)", text[5:])
        if not m:
            raise PolicyError(f"cannot read the errno value in {text!r}", path=path, line=line)
        value = int(m.group(1))
        if not 0 <= value <= 0xFFFF:
            raise PolicyError(f"errno {value} is outside 0..65535", path=path, line=line)
        return Action("errno", value), note
    if text:
        raise PolicyError(f"unrecognized seccomp action {text!r}", path=path, line=line)
    return None, note


def _arguments(text: str, path: str, line: int) -> tuple[Condition, ...]:
    """parse_v2_rules(): ``[idx,value,op]`` or ``[idx,value,op,mask]`` pieces split at ``]``."""
    if "[" not in text:
        return ()
    conditions: list[Condition] = []
    pieces = text.split("]")
    if pieces and pieces[-1] == "":
        pieces.pop()
    if len(pieces) > 6:
        raise PolicyError("more than 6 argument comparisons (lxc reads only the first 6)",
                          path=path, line=line)
    for piece in pieces:
        start = piece.find("[")
        m = _ARG_RE.match(piece[start:]) if start >= 0 else None
        if not m:
            raise PolicyError(f"cannot read argument comparison {piece.strip()!r}]", path=path,
                              line=line)
        index = _c_int(m.group(1))
        value = _strtoull(m.group(2))
        mask = _strtoull(m.group(4)) if m.group(4) is not None else 0
        op = _OPS.get(m.group(3))
        if not 0 <= index < 6 or value is None or mask is None or op is None:
            raise PolicyError(f"cannot read argument comparison {piece[start:].strip()!r}]",
                              path=path, line=line)
        conditions.append(Condition(index, op, value, mask) if op == "masked_eq"
                          else Condition(index, op, value))
    indexes = [c.arg for c in conditions]
    if len(set(indexes)) != len(indexes):
        raise PolicyError("two comparisons of the same argument in one rule (libseccomp "
                          "refuses them: EINVAL)", path=path, line=line)
    return tuple(conditions)


def _native() -> str:
    from tracebench import syscalls

    return syscalls.native_arch()


def read_config(text: str, path: str, host: str | None = None) -> Policy:
    """Read an LXC seccomp policy as lxc loads it on ``host`` (default: this machine)."""
    host = host or _native()
    lines = text.splitlines()
    number = 0
    while number < len(lines) and not lines[number].strip():
        number += 1
    first = lines[number].strip() if number < len(lines) else ""
    if first not in ("1", "2"):
        raise PolicyError(f"the first line must be the policy version 1 or 2, not {first!r}",
                          path=path, line=number + 1)
    number += 1
    # fscanf("%d\n") swallows the blank lines after the version.
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number >= len(lines):
        raise PolicyError("no allowlist/denylist line", path=path, line=number)
    mode_line = lines[number]
    if "debug" in mode_line:
        raise PolicyError("lxc does not implement 'debug'", path=path, line=number + 1)
    if first == "1":
        if "allowlist" not in mode_line:
            raise PolicyError("a version 1 policy must be an 'allowlist'", path=path,
                              line=number + 1)
        return _read_v1(lines, number + 1, path, host)
    return _read_v2(lines, number, path, host)


def _read_v1(lines: list[str], start: int, path: str, host: str) -> Policy:
    from tracebench import syscalls

    rules = []
    for index in range(start, len(lines)):
        m = re.match(r"\s*([-+]?\d+)", lines[index])
        if not m or int(m.group(1)) < 0:
            raise PolicyError(f"version 1 lines are syscall numbers, not {lines[index]!r}",
                              path=path, line=index + 1)
        rules.append(Rule((syscalls.name(host, int(m.group(1))),), ALLOW, line=index + 1))
    return Policy(Action("kill_thread"), tuple(rules), (host,), PurePath(path).name)


def _read_v2(lines: list[str], index: int, path: str, host: str) -> Policy:
    from tracebench import syscalls

    mode_line = lines[index].rstrip("\n")
    m = _MODE_RE.match(mode_line)
    if not m:
        raise PolicyError(f"bad seccomp policy style {mode_line!r} (allowlist or denylist)",
                          path=path, line=index + 1)
    deny = m.group(1) in ("denylist", "blacklist")
    warnings: list[str] = []
    default: Action | None = None
    if " " in mode_line:
        default, note = _action(mode_line.split(" ", 1)[1].strip(), path, index + 1)
        if note:
            warnings.append(note)
    rule_default = Action("kill_thread") if deny else ALLOW
    default = default or (ALLOW if deny else Action("kill_thread"))
    abis = _HOST_ABIS.get(host, (host,))
    active = True
    rules: list[Rule] = []
    dropped: set[str] = set()
    abi_sections: set[str] = set()
    for number in range(index + 2, len(lines) + 1):
        line = lines[number - 1]
        # A blank-only line, or blanks then '#', gives lxc an empty name and
        # the default action: it resolves nothing and adds no rule.
        if line.startswith("#") or not line.strip() or line.lstrip(" ").startswith("#"):
            continue
        if line.startswith("["):
            section = line[1:-1].lower() if line.endswith("]") else ""
            if section == "all" and line in ("[all]", "[ALL]"):
                active = True
            elif section in _SECTIONS and line in (f"[{section}]", f"[{section.upper()}]"):
                active = host in _SECTIONS[section]
                if active and section in _ABI_SECTIONS:
                    abi_sections.add(line)
            else:
                raise PolicyError(f"unsupported architecture section {line!r}", path=path,
                                  line=number)
            continue
        if not active:
            continue
        name, _, rest = line.partition(" ")
        if name.startswith("reject_force_umount"):
            rules.append(Rule(("umount2",), Action("errno", _EACCES),
                              (Condition(1, "masked_eq", _MNT_FORCE, _MNT_FORCE),),
                              comment="reject_force_umount", line=number))
            continue
        action = rule_default
        if rest.lstrip(" ") and not rest.lstrip(" ").startswith("#"):
            parsed, note = _action(rest, path, number)
            action = parsed or rule_default
            if note:
                warnings.append(note)
        conditions = _arguments(line, path, number)
        if not name or not syscalls.is_known_anywhere(name):
            # lxc: "The syscall[...] is undefined on host native arch" and skips it
            # (a line starting with a blank has an empty name).
            what = f"unknown syscall {name!r}" if name else "line starts with a blank"
            if default.allows and not action.allows:
                raise PolicyError(f"{what}: lxc would skip this rule and allow the call",
                                  path=path, line=number)
            warnings.append(f"{path}:{number}: {what}: rule skipped, as lxc does")
            dropped.add(name)
            continue
        if action == default:
            raise PolicyError(f"{name}: action {action} is the default action; libseccomp "
                              "refuses the rule (EACCES) and lxc fails", path=path, line=number)
        rules.append(Rule((name,), action, conditions, line=number))
    if len(abi_sections) > 1 or (abi_sections and len(abis) > 1):
        warnings.append(f"{path}: lxc adds the rules of {', '.join(sorted(abi_sections))} to "
                        f"every ABI of a {host} host ({', '.join(abis)}), not only the named one")
    return Policy(default, tuple(rules), abis, PurePath(path).name, tuple(sorted(dropped)),
                  tuple(warnings))


def read(text: str, path: str) -> Policy:
    """Read an LXC seccomp policy (v1 or v2) for this machine."""
    return read_config(text, path)


def sniff(text: str) -> bool:
    """``1`` or ``2`` on the first line, an allowlist/denylist line next."""
    lines = [line for line in text.splitlines() if line.strip()][:2]
    return len(lines) == 2 and lines[0].strip() in ("1", "2") and \
        bool(_MODE_RE.match(lines[1].strip()))


FORMAT = Format(
    name="lxc",
    description="LXC seccomp policy (version 1 numbers, version 2 names and [arch] sections)",
    suffixes=(".seccomp",),
    read=read,
    write=None,
    sniff=sniff,
)
