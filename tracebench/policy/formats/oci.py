"""OCI / Docker / Podman seccomp profiles (JSON): read and write.

One reader takes every dialect in use: the runtime-spec ``linux.seccomp``
object, Docker's profile (moby ``profiles/seccomp``: ``archMap``, conditional
``includes``/``excludes``), the pre-2016 form with a singular ``name`` and a
flat ``architectures`` list, and containers/common's extra ``errno`` /
``defaultErrno`` strings.  Semantics follow what Docker, Podman and runc do
with the file, read in their sources:

* ``archMap`` is flattened: Policy.arches is every architecture the profile
  names (a runtime picks the entry of its host and that entry's
  sub-architectures).  An architecture libseccomp does not know here is kept;
  it gets a warning in a flat ``architectures`` list only, which a runtime
  takes whole.
* ``errnoRet`` and ``defaultErrnoRet`` default to EPERM, also for
  SCMP_ACT_TRACE (runc ``getAction``); SCMP_ACT_KILL is kill_thread.
* ``SCMP_CMP_MASKED_EQ`` takes the mask in ``value`` and the datum in
  ``valueTwo``.
* An ``args`` list that repeats an argument index makes every condition a rule
  of its own (OR), as runc and crun do (runc issue 2735).
* ``includes``/``excludes`` become a Gate; their ``arches`` are the host's
  architecture in moby's spelling (``amd64``, ``x86``, ``arm64``,
  ``mips3l64n32``...), ``minKernel`` compares major.minor.
* Names libseccomp does not know stay in the Policy: the compiler decides.

The writer is deterministic and in Docker's current style: rules with the same
action, arguments, gate and comment are grouped, names sorted within a group,
groups in the order the policy first needs them.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.formats.located import Fields, Node, Seq, parse_json
from tracebench.policy.model import Action, Condition, Gate, Policy, Rule

# runtime-spec action names -> model kinds (runc ConvertStringToAction).
ACTIONS = {
    "SCMP_ACT_KILL": "kill_thread",
    "SCMP_ACT_KILL_THREAD": "kill_thread",
    "SCMP_ACT_KILL_PROCESS": "kill_process",
    "SCMP_ACT_TRAP": "trap",
    "SCMP_ACT_ERRNO": "errno",
    "SCMP_ACT_TRACE": "trace",
    "SCMP_ACT_LOG": "log",
    "SCMP_ACT_NOTIFY": "user_notif",
    "SCMP_ACT_ALLOW": "allow",
}
# The writer's spelling: SCMP_ACT_KILL rather than KILL_THREAD, because every
# runtime since the first Docker profile accepts it (containers/common types.go).
ACTION_NAMES = {
    "kill_thread": "SCMP_ACT_KILL",
    "kill_process": "SCMP_ACT_KILL_PROCESS",
    "trap": "SCMP_ACT_TRAP",
    "errno": "SCMP_ACT_ERRNO",
    "trace": "SCMP_ACT_TRACE",
    "log": "SCMP_ACT_LOG",
    "user_notif": "SCMP_ACT_NOTIFY",
    "allow": "SCMP_ACT_ALLOW",
}
OPS = {
    "SCMP_CMP_NE": "ne",
    "SCMP_CMP_LT": "lt",
    "SCMP_CMP_LE": "le",
    "SCMP_CMP_EQ": "eq",
    "SCMP_CMP_GE": "ge",
    "SCMP_CMP_GT": "gt",
    "SCMP_CMP_MASKED_EQ": "masked_eq",
}
OP_NAMES = {v: k for k, v in OPS.items()}
FLAGS = frozenset({"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"})
EPERM = errno.EPERM
U64 = 2**64 - 1
SYSCALL_NAME = re.compile(r"^[A-Za-z0-9_]+$")
CAPABILITY = re.compile(r"^CAP_[A-Z0-9_]+$")

# Docker's archMap families (moby profiles/seccomp/default.json): a host
# architecture and the sub-architectures its filter also covers.
ARCH_FAMILIES: dict[str, tuple[str, ...]] = {
    "x86_64": ("i386", "x32"),
    "aarch64": ("arm",),
    "mips64": ("mips", "mips64n32"),
    "mips64n32": ("mips", "mips64"),
    "mipsel64": ("mipsel", "mipsel64n32"),
    "mipsel64n32": ("mipsel", "mipsel64"),
    "ppc64le": (),
    "s390x": ("s390",),
    "riscv64": (),
    "loongarch64": (),
}
# Host architectures in includes/excludes are moby's spelling of the host
# (seccomp_linux.go goToNative): "mips3l64n32" (sic) is what moby compares a
# little-endian mips64 n32 host against, and profiles spell it that way.
_GATE_ARCH_IN = {"mips3l64n32": "mipsel64n32", "mipsle": "mipsel", "loong64": "loongarch64"}
_GATE_ARCH_OUT = {"x86_64": "amd64", "i386": "x86", "aarch64": "arm64",
                  "mipsel64n32": "mips3l64n32"}

_TOP_FIELDS = ("defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap",
               "syscalls", "flags", "listenerPath", "listenerMetadata")
_ENTRY_FIELDS = ("names", "name", "action", "errnoRet", "errno", "args", "comment", "includes",
                 "excludes")
_ARG_FIELDS = ("index", "value", "valueTwo", "op")
_FILTER_FIELDS = ("caps", "arches", "minKernel")


# ---------------------------------------------------------------- shared pieces


def policy_name(path: str) -> str:
    """A policy's name from its file name: ``/x/docker-default.json`` -> ``docker-default``."""
    base = os.path.basename(path.split("#", 1)[0])
    return base.rsplit(".", 1)[0] if "." in base else base


def policy_arch(name: str) -> str | None:
    """Canonical name of a policy architecture (``SCMP_ARCH_X86`` -> ``i386``).

    None for ``SCMP_ARCH_NATIVE``; a lower-cased name for one tracebench does
    not know (kept so nothing is lost; the compiler reports it).
    """
    from tracebench.syscalls import UnknownArchError, arch_of

    key = name.strip().lower().removeprefix("scmp_arch_")
    if key == "native":
        return None
    try:
        return arch_of(key)
    except UnknownArchError:
        return key


def scmp_arch(arch: str) -> str:
    """The ``SCMP_ARCH_*`` spelling of a canonical architecture name."""
    return "SCMP_ARCH_" + ("X86" if arch == "i386" else arch.upper())


def known_arch(arch: str) -> bool:
    from tracebench.syscalls import AUDIT_ARCH

    return arch in AUDIT_ARCH


def action_of(f: Fields, kind_name: str, line: int, errno_ret: int | None,
              warnings: list[str], what: str) -> Action:
    """The Action for an ``SCMP_ACT_*`` name and an optional errnoRet."""
    kind = ACTIONS.get(kind_name)
    if kind is None:
        raise f.error(f"{what}: unknown action {kind_name!r} "
                      f"(known: {', '.join(sorted(ACTIONS))})", line)
    if kind in ("errno", "trace"):
        return Action(kind, EPERM if errno_ret is None else errno_ret)
    if errno_ret is not None:
        warnings.append(f"line {line}: {what}: errnoRet is ignored with {kind_name}")
    return Action(kind)


def conditions_of(f: Fields, args: Seq | None, what: str, warnings: list[str], *,
                  value_high: int = U64) -> list[tuple[Condition, ...]]:
    """The condition sets (ORed) of an ``args`` list: one set, or one per condition.

    runc and crun make every condition a rule of its own when an argument
    index repeats (runc issue 2735); otherwise the conditions are ANDed.
    """
    if not args:
        return [()]
    conds: list[Condition] = []
    for i, item in enumerate(args):
        where = f"{what}.args[{i}]"
        arg = f.node(item, where, args.line_of(i))
        f.only(arg, _ARG_FIELDS, where)
        index = f.integer(arg, "index", where, high=5, required=True)
        value = f.integer(arg, "value", where, high=value_high) or 0
        value_two = f.integer(arg, "valueTwo", where, high=value_high) or 0
        op_name = f.string(arg, "op", where, required=True)
        op = OPS.get(op_name or "")
        if op is None:
            raise f.error(f"{where}: unknown comparison {op_name!r} "
                          f"(known: {', '.join(sorted(OPS))})", arg.line_of("op"))
        assert index is not None
        if op == "masked_eq":
            # runtime-spec: "value" is the mask, "valueTwo" the datum.
            conds.append(Condition(index, op, value_two, mask=value))
        else:
            if value_two:
                warnings.append(f"line {arg.line}: {where}: valueTwo is ignored with {op_name}")
            conds.append(Condition(index, op, value))
    indexes = [c.arg for c in conds]
    if len(set(indexes)) < len(indexes):
        warnings.append(f"line {args.line}: {what}: argument indexes repeat, so each condition "
                        "is a rule of its own (OR), as runc and crun do")
        return [(c,) for c in conds]
    return [tuple(conds)]


def check_name(f: Fields, name: str, line: int, what: str) -> str:
    if not SYSCALL_NAME.match(name):
        raise f.error(f"{what}: {name!r} is not a syscall name", line)
    return name


K = TypeVar("K", bound=Hashable)


def ordered_groups(pairs: Iterable[tuple[str, K]]) -> list[tuple[K, list[str]]]:
    """Group (name, key) pairs by key without reordering any name's own keys.

    A name joins an earlier group of its key only if every group already
    holding that name comes before it; otherwise a new group starts.  So a
    name whose rules must stay in order (two unconditional rules with
    different actions: libseccomp keeps the first) keeps that order.
    Names within a group are sorted; duplicates in a group are merged.
    """
    groups: list[tuple[K, list[str]]] = []
    where: dict[str, int] = {}  # name -> index of the last group holding it
    latest: dict[K, int] = {}   # key -> index of its last group
    for name, key in pairs:
        g = latest.get(key)
        last = where.get(name, -1)
        if g is None or g < last:
            groups.append((key, []))
            g = latest[key] = len(groups) - 1
        if name not in groups[g][1]:
            groups[g][1].append(name)
        where[name] = max(last, g)
    return [(key, sorted(names)) for key, names in groups]


def entry_conditions(conditions: tuple[Condition, ...], what: str) -> list[dict[str, Any]]:
    """The runtime-spec ``args`` list for one rule's ANDed conditions."""
    indexes = [c.arg for c in conditions]
    if len(set(indexes)) < len(indexes):
        # A runtime would OR them (runc issue 2735): refuse rather than loosen.
        raise PolicyError(f"{what}: two conditions on one argument cannot be written as OCI "
                          "args (runtimes OR conditions that share an index)")
    out: list[dict[str, Any]] = []
    for c in conditions:
        arg: dict[str, Any] = {"index": c.arg}
        if c.op == "masked_eq":
            arg["value"] = c.mask & U64
            if c.value:  # Docker's style: valueTwo only when not 0 (omitempty)
                arg["valueTwo"] = c.value & U64
        else:
            arg["value"] = c.value & U64
        arg["op"] = OP_NAMES[c.op]
        out.append(arg)
    return out


def applies_everywhere(policy: Policy, rule: Rule) -> bool:
    """Whether the rule applies on every architecture the policy targets.

    A rule limited to some architectures of a native-only policy (no arches)
    may or may not apply on the host, so that does not count.
    """
    return not rule.arches or (bool(policy.arches) and set(policy.arches) <= set(rule.arches))


def check_action_data(action: Action, fmt: str) -> None:
    if action.value and action.kind not in ("errno", "trace"):
        raise PolicyError(f"{fmt} cannot express the data of action {action.kind}"
                          f"({action.value})")


# ---------------------------------------------------------------- reading


def _errno_of(f: Fields, node: Node, key: str, what: str) -> int | None:
    """containers/common's ``errno``/``defaultErrno``: a name (``ENOSYS``) or a number."""
    text = f.string(node, key, what)
    if text is None or text == "":
        return None
    if text.isdigit():
        value = int(text)
    else:
        found = getattr(errno, text, None)
        if not isinstance(found, int) or not text.startswith("E"):
            raise f.error(f"{what}.{key}: unknown errno {text!r}", node.line_of(key))
        value = found
    if value > 0xFFFF:
        raise f.error(f"{what}.{key}: errno {value} does not fit 16 bits", node.line_of(key))
    return value


def _errno_ret(f: Fields, node: Node, num_key: str, name_key: str, what: str,
               warnings: list[str]) -> int | None:
    number = f.integer(node, num_key, what, high=0xFFFF)
    named = _errno_of(f, node, name_key, what)
    if named is None:
        return number
    if number is not None and number != named:
        # Podman uses the name, Docker (which has no such field) the number.
        raise f.error(f"{what}: {name_key} {node[name_key]!r} ({named}) and {num_key} {number} "
                      "disagree: Podman would use one, Docker the other",
                      node.line_of(name_key))
    if number is None:
        warnings.append(f"line {node.line_of(name_key)}: {what}.{name_key} is containers/common's "
                        f"field: Podman returns errno {named}, Docker ignores it (EPERM)")
    return named


def _gate_arches(f: Fields, node: Node, what: str, warnings: list[str]) -> frozenset[str]:
    from tracebench.syscalls import UnknownArchError, arch_of

    items = f.strings(node, "arches", what) or []
    out = set()
    for name, line in items:
        key = _GATE_ARCH_IN.get(name, name)
        try:
            out.add(arch_of(key))
        except UnknownArchError:
            warnings.append(f"line {line}: {what}.arches: architecture {name!r} is unknown here; "
                            "kept as written")
            out.add(key.lower())
    return frozenset(out)


def _min_kernel(f: Fields, node: Node, what: str) -> tuple[int, int] | None:
    text = f.string(node, "minKernel", what)
    if not text:
        return None
    # moby KernelVersion.UnmarshalJSON: exactly "<kernel>.<major>", each 0..255, not 0.0.
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() and int(p) <= 255 for p in parts) or \
            parts == ["0", "0"] or not all(parts):
        raise f.error(f"{what}.minKernel {text!r} is not \"<kernel>.<major>\"",
                      node.line_of("minKernel"))
    return int(parts[0]), int(parts[1])


def _caps(f: Fields, node: Node, what: str) -> frozenset[str]:
    items = f.strings(node, "caps", what) or []
    for name, line in items:
        if not CAPABILITY.match(name):
            raise f.error(f"{what}.caps: {name!r} is not a capability name (CAP_...)", line)
    return frozenset(name for name, _ in items)


def _gate(f: Fields, entry: Node, what: str, warnings: list[str]) -> Gate:
    gate = Gate()
    for key in ("includes", "excludes"):
        if entry.get(key) is None:
            continue
        node = f.node(entry[key], f"{what}.{key}", entry.line_of(key))
        f.only(node, _FILTER_FIELDS, f"{what}.{key}")
        caps = _caps(f, node, f"{what}.{key}")
        arches = _gate_arches(f, node, f"{what}.{key}", warnings)
        kernel = _min_kernel(f, node, f"{what}.{key}")
        if key == "includes":
            gate = Gate(caps=caps, arches=arches, min_kernel=kernel, not_caps=gate.not_caps,
                        not_arches=gate.not_arches)
        else:
            if kernel is not None:
                # moby excludes a rule on kernels >= minKernel; a Gate has no
                # upper bound, and dropping the condition would change meaning.
                raise f.error(f"{what}.excludes.minKernel cannot be represented",
                              node.line_of("minKernel"))
            gate = Gate(caps=gate.caps, arches=gate.arches, min_kernel=gate.min_kernel,
                        not_caps=caps, not_arches=arches)
    return gate


def rules_of_entry(f: Fields, entry: Node, what: str, warnings: list[str], *,
                   dialect: str = "oci") -> list[Rule]:
    """The rules of one ``syscalls`` entry (OCI/Docker, or the SPO CRD with ``dialect="spo"``)."""
    spo = dialect == "spo"
    f.only(entry, ("names", "action", "errnoRet", "args") if spo else _ENTRY_FIELDS, what)
    names_list = f.strings(entry, "names", what)
    single = None if spo else f.string(entry, "name", what)
    if names_list and single:
        raise f.error(f"{what} has both 'name' and 'names' (Docker and Podman refuse that)",
                      entry.line_of("name"))
    if single:
        pairs = [(single, entry.line_of("name"))]
    elif names_list:
        pairs = names_list
    else:
        raise f.error(f"{what} names no syscall", entry.line)
    names = tuple(check_name(f, n, line, what) for n, line in pairs)
    seen: set[str] = set()
    for n, line in pairs:
        if n in seen:
            warnings.append(f"line {line}: {what}: {n} repeats in this rule")
        seen.add(n)
    kind_name = f.string(entry, "action", what, required=True)
    assert kind_name is not None
    if spo:
        # SPO's errnoRet is an int32 with omitempty: 0 is "unset", i.e. EPERM.
        ret = f.integer(entry, "errnoRet", what, high=0xFFFF) or None
    else:
        ret = _errno_ret(f, entry, "errnoRet", "errno", what, warnings)
    action = action_of(f, kind_name, entry.line_of("action"), ret, warnings, what)
    args = f.seq(entry, "args", what)
    if spo and args is not None and len(args) > 6:
        raise f.error(f"{what}.args has more than 6 items", args.line)
    condsets = conditions_of(f, args, what, warnings, value_high=2**63 - 1 if spo else U64)
    gate = Gate() if spo else _gate(f, entry, what, warnings)
    comment = "" if spo else (f.string(entry, "comment", what) or "")
    return [Rule(names, action, conds, gate=gate, comment=comment, line=entry.line)
            for conds in condsets]


def _arches(f: Fields, top: Node, warnings: list[str]) -> tuple[str, ...]:
    flat = f.strings(top, "architectures", "the profile")
    amap = f.seq(top, "archMap", "the profile")
    if flat and amap:
        raise f.error("the profile has both 'architectures' and 'archMap' "
                      "(Docker and Podman refuse that)", top.line_of("archMap"))
    pairs: list[tuple[str, int]] = list(flat or [])
    for i, item in enumerate(amap or []):
        where = f"archMap[{i}]"
        entry = f.node(item, where, amap.line_of(i) if amap is not None else None)
        f.only(entry, ("architecture", "subArchitectures"), where)
        main = f.string(entry, "architecture", where, required=True)
        assert main is not None
        pairs.append((main, entry.line_of("architecture")))
        pairs.extend(f.strings(entry, "subArchitectures", where) or [])
    # A runtime takes every name of a flat list (runc refuses one its libseccomp
    # does not know), but only its own host's archMap entry: moby's default
    # names SCMP_ARCH_LOONGARCH64, which an x86_64 host never looks at.
    return canonical_arches(f, pairs, warnings if flat else None)


def canonical_arches(f: Fields, pairs: list[tuple[str, int]],
                      warnings: list[str] | None) -> tuple[str, ...]:
    """The Policy.arches of SCMP_ARCH_* names; a warning per unknown one if ``warnings``."""
    out: list[str] = []
    native = False
    for name, line in pairs:
        if not name.startswith("SCMP_ARCH_"):
            raise f.error(f"architecture {name!r} is not an SCMP_ARCH_* name", line)
        arch = policy_arch(name)
        if arch is None:
            native = True
            continue
        if warnings is not None and not known_arch(arch):
            warnings.append(f"line {line}: architecture {name} is unknown to tracebench and "
                            "libseccomp here; kept, but no filter can target it")
        if arch not in out:
            out.append(arch)
    if native and out:
        line = next(line for name, line in pairs if name == "SCMP_ARCH_NATIVE")
        raise f.error("SCMP_ARCH_NATIVE next to named architectures cannot be represented",
                      line)
    return tuple(out)


def read(text: str, path: str) -> Policy:
    """Read an OCI/Docker/Podman seccomp profile (JSON)."""
    f = Fields(path)
    top = f.node(parse_json(text, path), "the profile", 1)
    f.only(top, _TOP_FIELDS, "the profile")
    warnings: list[str] = []
    kind_name = f.string(top, "defaultAction", "the profile", required=True)
    assert kind_name is not None
    ret = _errno_ret(f, top, "defaultErrnoRet", "defaultErrno", "the profile", warnings)
    default = action_of(f, kind_name, top.line_of("defaultAction"), ret, warnings,
                        "defaultAction")
    arches = _arches(f, top, warnings)
    flags = f.strings(top, "flags", "the profile") or []
    for flag, line in flags:
        if flag not in FLAGS:
            raise f.error(f"unknown seccomp flag {flag!r}", line)
    if flags:
        warnings.append(f"line {top.line_of('flags')}: flags "
                        f"({', '.join(fl for fl, _ in flags)}) are not kept: they change how "
                        "the filter is loaded, not which action a call gets")
    for key in ("listenerPath", "listenerMetadata"):
        if f.string(top, key, "the profile"):
            warnings.append(f"line {top.line_of(key)}: {key} is not kept")
    rules: list[Rule] = []
    syscalls = f.seq(top, "syscalls", "the profile")
    for i, item in enumerate(syscalls or []):
        assert syscalls is not None
        where = f"syscalls[{i}]"
        entry = f.node(item, where, syscalls.line_of(i))
        rules.extend(rules_of_entry(f, entry, where, warnings))
    return Policy(default, tuple(rules), arches, name=policy_name(path),
                  warnings=tuple(warnings))


def sniff(text: str) -> bool:
    """A JSON object with a ``defaultAction`` and no Kubernetes ``apiVersion``."""
    head = text.lstrip()
    return head.startswith("{") and '"defaultAction"' in text and '"apiVersion"' not in text


# ---------------------------------------------------------------- writing


def _gate_out(gate: Gate) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    def arches(names: frozenset[str]) -> list[str]:
        return sorted(_GATE_ARCH_OUT.get(a, a) for a in names)

    inc: dict[str, Any] = {}
    exc: dict[str, Any] = {}
    if gate.caps:
        inc["caps"] = sorted(gate.caps)
    if gate.arches:
        inc["arches"] = arches(gate.arches)
    if gate.min_kernel is not None:
        inc["minKernel"] = f"{gate.min_kernel[0]}.{gate.min_kernel[1]}"
    if gate.not_caps:
        exc["caps"] = sorted(gate.not_caps)
    if gate.not_arches:
        exc["arches"] = arches(gate.not_arches)
    return inc or None, exc or None


def _action_fields(action: Action, ret_key: str) -> dict[str, Any]:
    check_action_data(action, "OCI JSON")
    out: dict[str, Any] = {}
    if action.kind in ("errno", "trace") and (ret_key.startswith("default")
                                              or action.value != EPERM):
        out[ret_key] = action.value
    return out


RuleKey = tuple[Action, tuple[Condition, ...], Gate, str]


def rule_entries(policy: Policy, fmt: str,
                 key: Callable[[Rule], Hashable] | None = None) -> list[tuple[Rule, list[str]]]:
    """The policy's rules grouped Docker-style: (a representative rule, sorted names)."""
    reps: dict[Hashable, Rule] = {}
    pairs: list[tuple[str, Hashable]] = []
    for rule in policy.rules:
        if not applies_everywhere(policy, rule):
            raise PolicyError(f"{fmt} cannot limit a rule to some architectures "
                              f"({', '.join(rule.names[:3])} on {', '.join(rule.arches)})",
                              line=rule.line)
        k = key(rule) if key else (rule.action, rule.conditions, rule.gate, rule.comment)
        reps.setdefault(k, rule)
        pairs.extend((name, k) for name in rule.names)
    return [(reps[k], names) for k, names in ordered_groups(pairs)]


def for_host(policy: Policy, host: str) -> Policy:
    """The policy's architectures as Docker's archMap picks them on ``host``.

    The host's entry and those of its sub-architectures the policy names
    (x86_64 -> x86_64, i386, x32); none when the policy does not name the host
    (the runtime then filters the native architecture only).
    """
    from dataclasses import replace

    if host not in policy.arches:
        return replace(policy, arches=())
    family = {host, *ARCH_FAMILIES.get(host, ())}
    return replace(policy, arches=tuple(a for a in policy.arches if a in family))


def _arch_fields(arches: tuple[str, ...]) -> dict[str, Any]:
    if not arches:
        return {}
    present = set(arches)
    order = [a for a in ARCH_FAMILIES if a in present]
    covered = set(order) | {s for a in order for s in ARCH_FAMILIES[a] if s in present}
    if covered != present:
        # Some architecture is in no family of a host the profile names: an
        # archMap would lose it, the flat list (every runtime's own) keeps it.
        return {"architectures": [scmp_arch(a) for a in arches]}
    amap = []
    for a in order:
        subs = [scmp_arch(s) for s in ARCH_FAMILIES.get(a, ()) if s in present]
        amap.append({"architecture": scmp_arch(a), "subArchitectures": subs or None})
    return {"archMap": amap}


def write(policy: Policy) -> str:
    """Write the policy as a Docker-style seccomp profile (JSON, tab-indented)."""
    check_action_data(policy.default_action, "OCI JSON")
    doc: dict[str, Any] = {"defaultAction": ACTION_NAMES[policy.default_action.kind]}
    doc.update(_action_fields(policy.default_action, "defaultErrnoRet"))
    doc.update(_arch_fields(policy.arches))
    syscalls = []
    for rule, names in rule_entries(policy, "OCI JSON"):
        syscalls.append(_entry({"names": names}, rule, names[0], always_args=False))
    doc["syscalls"] = syscalls
    return json.dumps(doc, indent="\t") + "\n"


def _entry(entry: dict[str, Any], rule: Rule, name: str, *, always_args: bool
           ) -> dict[str, Any]:
    """Fill a syscalls[] entry (``names`` or legacy ``name`` already set) from ``rule``."""
    entry["action"] = ACTION_NAMES[rule.action.kind]
    entry.update(_action_fields(rule.action, "errnoRet"))
    if rule.conditions or always_args:
        entry["args"] = entry_conditions(rule.conditions, name)
    if rule.comment:
        entry["comment"] = rule.comment
    inc, exc = _gate_out(rule.gate)
    if inc:
        entry["includes"] = inc
    if exc:
        entry["excludes"] = exc
    return entry


def write_legacy(policy: Policy) -> str:
    """Write the pre-2016 form: one object per syscall with ``name``, flat ``architectures``."""
    check_action_data(policy.default_action, "OCI JSON")
    doc: dict[str, Any] = {"defaultAction": ACTION_NAMES[policy.default_action.kind]}
    doc.update(_action_fields(policy.default_action, "defaultErrnoRet"))
    if policy.arches:
        doc["architectures"] = [scmp_arch(a) for a in policy.arches]
    syscalls = []
    for rule in policy.rules:
        if not applies_everywhere(policy, rule):
            raise PolicyError("OCI JSON cannot limit a rule to some architectures",
                              line=rule.line)
        for name in dict.fromkeys(rule.names):
            syscalls.append(_entry({"name": name}, rule, name, always_args=True))
    doc["syscalls"] = syscalls
    return json.dumps(doc, indent="\t") + "\n"


FORMAT = Format(
    name="oci",
    description="OCI/Docker/Podman seccomp profile (JSON)",
    suffixes=(".json",),
    read=read,
    write=write,
    sniff=sniff,
    container=True,
)
