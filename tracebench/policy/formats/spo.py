"""Kubernetes SeccompProfile resources (security-profiles-operator): read and write.

A file is multi-document YAML and may hold several profiles.  Reading picks
one: the only SeccompProfile in the file, or the one named after ``#`` in the
path (``profiles.yaml#runc-v1.4.2``); with several and no name the reader
refuses and lists the names (``documents()`` gives them too).  Documents of
other kinds are skipped.

The operator installs ``spec`` marshalled as JSON for the runtime, so the
rules mean what they mean in an OCI profile (runc's OR for repeated argument
indexes included).  The CRD's own limits apply: ``errnoRet`` 0 is "unset"
(EPERM), values are int64, there is no ``defaultErrnoRet`` (so the default
errno is EPERM), ``architectures`` is a flat list.

``baseProfileName`` is resolved against another profile of the same file the
way the operator unions them (internal/pkg/util/union_syscalls.go and
saschagrunert/security-profiles-merger ``UnionSyscalls``: one entry per name,
the less restrictive action wins, base first).  A base that is not in the file
(or an ``oci://`` artifact) cannot be resolved: under a denying default the
profile is read without it and a warning says it allows less than the operator
would; under an allowing default that would drop denials, so it is an error.
"""

from __future__ import annotations

from typing import Any

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.formats.located import Fields, Node, Seq, parse_yaml_documents
from tracebench.policy.formats.oci import (
    ACTION_NAMES,
    ACTIONS,
    EPERM,
    canonical_arches,
    check_action_data,
    entry_conditions,
    rule_entries,
    rules_of_entry,
    scmp_arch,
)
from tracebench.policy.model import ACTION_KINDS, Action, Policy, Rule

GROUP = "security-profiles-operator.x-k8s.io"
VERSIONS = ("v1", "v1beta1", "v1alpha1")
# The operator's storage version (api/seccompprofile/v1, +kubebuilder:storageversion).
WRITE_VERSION = "v1"
_SPEC_FIELDS = ("state", "disabled", "baseProfileName", "defaultAction", "architectures",
                "listenerPath", "listenerMetadata", "syscalls", "flags")
_MAX_BASE_DEPTH = 15  # resolveSyscallsForProfile's maxLevel


def _split(path: str) -> tuple[str, str | None]:
    if "#" in path:
        file, name = path.rsplit("#", 1)
        return file, name or None
    return path, None


def _profiles(text: str, path: str) -> list[tuple[str, Node]]:
    """(metadata.name, document) of every SeccompProfile in the file."""
    f = Fields(path)
    out: list[tuple[str, Node]] = []
    for doc, line in parse_yaml_documents(text, path):
        node = f.node(doc, "a YAML document", line)
        if node.get("kind") != "SeccompProfile":
            continue
        api = f.string(node, "apiVersion", "the SeccompProfile", required=True) or ""
        group, _, version = api.partition("/")
        if group != GROUP or version not in VERSIONS:
            raise f.error(f"apiVersion {api!r} is not {GROUP}/{'|'.join(VERSIONS)}",
                          node.line_of("apiVersion"))
        meta = f.node(node.get("metadata"), "metadata", node.line_of("metadata"))
        name = f.string(meta, "name", "metadata", required=True)
        assert name is not None
        if any(n == name for n, _ in out):
            raise f.error(f"two SeccompProfiles are named {name!r}", meta.line_of("name"))
        out.append((name, node))
    return out


def documents(text: str, path: str) -> list[str]:
    """The names of the SeccompProfiles in a file, in file order."""
    return [name for name, _ in _profiles(text, _split(path)[0])]


def _spec(f: Fields, doc: Node, warnings: list[str]) -> Node:
    spec = f.node(doc.get("spec"), "spec", doc.line_of("spec"))
    f.only(spec, _SPEC_FIELDS, "spec")
    state = f.string(spec, "state", "spec")
    if state not in (None, "Enabled", "Disabled"):
        raise f.error(f"spec.state {state!r} is not Enabled or Disabled", spec.line_of("state"))
    if state == "Disabled" or f.boolean(spec, "disabled", "spec"):
        warnings.append(f"line {spec.line}: the profile is disabled: the operator does not "
                        "install it")
    return spec


def _entries(f: Fields, spec: Node) -> list[tuple[Node, str]]:
    syscalls = f.seq(spec, "syscalls", "spec")
    out = []
    for i, item in enumerate(syscalls or []):
        assert syscalls is not None
        where = f"spec.syscalls[{i}]"
        out.append((f.node(item, where, syscalls.line_of(i)), where))
    return out


def _copy(entry: Node) -> Node:
    out = Node(entry.line)
    out.update(entry)
    out.key_lines.update(entry.key_lines)
    return out


def _rank(kind_name: str) -> int:
    return ACTION_KINDS.index(ACTIONS[kind_name])


def _union(f: Fields, left: list[tuple[Node, str]],
           right: list[tuple[Node, str]]) -> list[tuple[Node, str]]:
    """The operator's UnionSyscalls on (entry, where) lists: one entry per name, base first."""
    merged: dict[str, tuple[Node, str]] = {}
    for side in (left, right):
        for entry, where in side:
            action = f.string(entry, "action", where, required=True)
            if action not in ACTIONS:
                raise f.error(f"{where}: unknown action {action!r}", entry.line_of("action"))
            names = f.strings(entry, "names", where) or []
            for name, line in names:
                single = _copy(entry)
                one = Seq(entry.line_of("names"))
                one.append(name)
                one.item_lines.append(line)
                single["names"] = one
                if name not in merged:
                    merged[name] = (single, where)
                    continue
                old, old_where = merged[name]
                # pickSyscall: less restrictive action (ties keep the earlier),
                # errnoRet follows the action picked; args are unioned, and an
                # entry without args makes the union unconditional (unionArgs).
                keep_old = _rank(str(old["action"])) >= _rank(str(single["action"]))
                picked, picked_where = (old, old_where) if keep_old else (single, where)
                result = _copy(picked)
                old_args, new_args = old.get("args"), single.get("args")
                if isinstance(old_args, Seq) and isinstance(new_args, Seq) and old_args \
                        and new_args:
                    args = Seq(old_args.line)
                    for src in (old_args, new_args):
                        for i, arg in enumerate(src):
                            if arg not in args:
                                args.append(arg)
                                args.item_lines.append(src.line_of(i))
                    result["args"] = args
                else:
                    result.pop("args", None)
                merged[name] = (result, picked_where)
    return [merged[name] for name in sorted(merged)]


def _resolve_base(f: Fields, name: str, spec: Node, profiles: dict[str, Node],
                  warnings: list[str]) -> tuple[list[tuple[Node, str]], str | None]:
    """The profile's syscall entries with its base profiles unioned in; and an unresolved base."""
    entries = _entries(f, spec)
    current, seen = spec, {name}
    for _ in range(_MAX_BASE_DEPTH):
        base = f.string(current, "baseProfileName", "spec")
        if not base:
            return entries, None
        if base in seen:
            raise f.error(f"baseProfileName {base!r} refers back to a profile already merged",
                          current.line_of("baseProfileName"))
        if base not in profiles:
            return entries, base
        seen.add(base)
        base_spec = f.node(profiles[base].get("spec"), "spec", profiles[base].line)
        entries = _union(f, _entries(f, base_spec), entries)
        warnings.append(f"line {current.line_of('baseProfileName')}: base profile {base!r} "
                        "merged in from this file")
        current = base_spec
    raise f.error(f"base profiles nest deeper than {_MAX_BASE_DEPTH} levels (the operator's "
                  "limit)", spec.line_of("baseProfileName"))


def _read_profile(f: Fields, name: str, doc: Node, profiles: dict[str, Node]) -> Policy:
    warnings: list[str] = []
    spec = _spec(f, doc, warnings)
    kind_name = f.string(spec, "defaultAction", "spec", required=True)
    assert kind_name is not None
    if kind_name not in ACTIONS:
        raise f.error(f"spec.defaultAction: unknown action {kind_name!r}",
                      spec.line_of("defaultAction"))
    kind = ACTIONS[kind_name]
    default = Action(kind, EPERM if kind in ("errno", "trace") else 0)
    arches = canonical_arches(f, f.strings(spec, "architectures", "spec") or [], warnings)
    flags = f.strings(spec, "flags", "spec") or []
    if flags:
        warnings.append(f"line {spec.line_of('flags')}: flags are not kept")
    for key in ("listenerPath", "listenerMetadata"):
        if f.string(spec, key, "spec"):
            warnings.append(f"line {spec.line_of(key)}: {key} is not kept")
    entries, missing = _resolve_base(f, name, spec, profiles, warnings)
    if missing is not None:
        line = spec.line_of("baseProfileName")
        if default.allows:
            raise f.error(f"base profile {missing!r} is not in this file: without it this "
                          f"allow-by-default profile would lose the base's denials", line)
        warnings.append(f"line {line}: base profile {missing!r} is not in this file and is not "
                        "merged: this policy allows less than the operator would install")
    rules: list[Rule] = []
    for entry, where in entries:
        rules.extend(rules_of_entry(f, entry, where, warnings, dialect="spo"))
    return Policy(default, tuple(rules), arches, name=name, warnings=tuple(warnings))


def read_all(text: str, path: str) -> dict[str, Policy]:
    """Every SeccompProfile of a file, by name."""
    file, _ = _split(path)
    f = Fields(file)
    profiles = dict(_profiles(text, file))
    return {name: _read_profile(f, name, doc, profiles) for name, doc in profiles.items()}


def read(text: str, path: str) -> Policy:
    """Read one SeccompProfile: the file's only one, or ``path#name``."""
    file, wanted = _split(path)
    f = Fields(file)
    profiles = dict(_profiles(text, file))
    if not profiles:
        raise PolicyError("no SeccompProfile in this file", path=file)
    if wanted is None:
        if len(profiles) > 1:
            raise PolicyError(f"{len(profiles)} SeccompProfiles in this file "
                              f"({', '.join(profiles)}): choose one as {file}#NAME", path=file)
        wanted = next(iter(profiles))
    if wanted not in profiles:
        raise PolicyError(f"no SeccompProfile named {wanted!r} here (there are: "
                          f"{', '.join(profiles)})", path=file)
    return _read_profile(f, wanted, profiles[wanted], profiles)


def sniff(text: str) -> bool:
    import re

    return re.search(r"^kind:\s*['\"]?SeccompProfile['\"]?\s*$", text, re.M) is not None


def write(policy: Policy) -> str:
    """Write one SeccompProfile document (apiVersion .../v1)."""
    check_action_data(policy.default_action, "a SeccompProfile")
    if policy.default_action.kind in ("errno", "trace") and policy.default_action.value != EPERM:
        raise PolicyError(f"a SeccompProfile has no defaultErrnoRet: its default "
                          f"{policy.default_action} cannot be written")
    spec: dict[str, Any] = {"defaultAction": ACTION_NAMES[policy.default_action.kind]}
    if policy.arches:
        spec["architectures"] = [scmp_arch(a) for a in policy.arches]
    syscalls = []
    for rule, names in rule_entries(policy, "a SeccompProfile"):
        if not rule.gate.is_open():
            raise PolicyError(f"a SeccompProfile has no includes/excludes: the rule for "
                              f"{', '.join(names[:3])} has a gate (resolve the policy for a "
                              "context first)", line=rule.line)
        check_action_data(rule.action, "a SeccompProfile")
        entry: dict[str, Any] = {"action": ACTION_NAMES[rule.action.kind], "names": names}
        if rule.action.kind in ("errno", "trace") and rule.action.value != EPERM:
            if rule.action.value == 0:
                raise PolicyError("a SeccompProfile cannot express errnoRet 0 (it means "
                                  f"unset): rule for {', '.join(names[:3])}", line=rule.line)
            entry["errnoRet"] = rule.action.value
        if rule.conditions:
            args = entry_conditions(rule.conditions, names[0])
            for arg in args:
                if max(arg.get("value", 0), arg.get("valueTwo", 0)) >= 2**63:
                    raise PolicyError(f"a SeccompProfile's argument values are int64: "
                                      f"{names[0]} compares {arg['value']:#x}", line=rule.line)
            entry["args"] = args
        syscalls.append(entry)
    if syscalls:
        spec["syscalls"] = syscalls
    doc = {
        "apiVersion": f"{GROUP}/{WRITE_VERSION}",
        "kind": "SeccompProfile",
        "metadata": {"name": _k8s_name(policy.name)},
        "spec": spec,
    }
    import yaml

    return "---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def _k8s_name(name: str) -> str:
    import re

    cleaned = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return cleaned or "profile"


FORMAT = Format(
    name="spo",
    description="Kubernetes SeccompProfile (security-profiles-operator), YAML",
    suffixes=(".yaml", ".yml"),
    read=read,
    write=write,
    sniff=sniff,
    container=True,
)
