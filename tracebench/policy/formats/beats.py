"""Beats / elastic go-seccomp-bpf policies (YAML): read and write.

The policy sits under a ``seccomp:`` key (Beats' configuration, and
go-seccomp-bpf's ``cmd/sandbox``) or at the top level::

    seccomp:
      default_action: allow
      syscalls:
      - action: errno
        names: [execve, fork]
      - action: errno
        names_with_args:
        - name: clone
          arguments:
          - argument: 0
            operation: BitsNotSet
            value: 0x10000000

Meaning, from go-seccomp-bpf's filter.go (read at dc93d28):

* ``errno`` returns EPERM, ``trace`` has data 0; names and operations are
  case-insensitive.  Arguments compare as 64-bit values.
* ``BitsSet v`` matches when ANY bit of v is set (``(arg & v) != 0``): that is
  one ``masked_eq`` rule per bit, ORed; ``BitsNotSet v`` is ``(arg & v) == 0``.
* The program tests groups in order and the first match decides.  A Policy
  means what libseccomp makes of its rules (unconditional beats conditional,
  see POLICY-SEMANTICS.md), so a later group's rule for a name is restricted
  to the arguments no earlier group with another action matched, and a rule
  that can never be reached is left out with a warning.
* It is single-architecture (the runtime's): Policy.arches is empty (native).
  It returns ENOSYS for x32 calls and the DEFAULT action for calls of any
  other architecture (i386 on x86_64); libseccomp-compiled filters kill
  those, so under an allowing default the Policy is stricter than Beats.
  go-seccomp-bpf also refuses names it does not know for the architecture;
  that check belongs to whoever compiles the Policy.

The writer turns a Policy back into first-match groups; it refuses what
go-seccomp-bpf cannot say (gates, errno other than EPERM, several
architectures, conditional rules with different actions that may overlap).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.formats.located import Fields, Node, Seq, parse_yaml_documents
from tracebench.policy.formats.oci import applies_everywhere, check_name, policy_name
from tracebench.policy.model import Action, Condition, Policy, Rule

U64 = 2**64 - 1
# go-seccomp-bpf actionNames; errno is EPERM, trace has no data (Program.Ret).
ACTIONS = {
    "kill_thread": Action("kill_thread"),
    "kill_process": Action("kill_process"),
    "trap": Action("trap"),
    "errno": Action("errno", 1),
    "trace": Action("trace", 0),
    "log": Action("log"),
    "allow": Action("allow"),
}
OPERATIONS = {
    "equal": "Equal", "notequal": "NotEqual", "greaterthan": "GreaterThan",
    "lessthan": "LessThan", "greaterorequal": "GreaterOrEqual", "lessorequal": "LessOrEqual",
    "bitsset": "BitsSet", "bitsnotset": "BitsNotSet",
}
_SIMPLE_OPS = {"Equal": "eq", "NotEqual": "ne", "GreaterThan": "gt", "LessThan": "lt",
               "GreaterOrEqual": "ge", "LessOrEqual": "le"}
_OP_OUT = {v: k for k, v in _SIMPLE_OPS.items()}
# A bound on rules one name may expand to (BitsSet bits x negated conditions).
_MAX_ALTERNATIVES = 256

Conj = tuple[Condition, ...]


# ---------------------------------------------------------------- condition algebra


def _bits(value: int) -> list[int]:
    return [1 << i for i in range(64) if value >> i & 1]


def _interval(c: Condition) -> tuple[int, int] | None:
    v = c.value & U64
    return {
        "eq": (v, v), "lt": (0, v - 1), "le": (0, v), "gt": (v + 1, U64), "ge": (v, U64),
    }.get(c.op)


def disjoint(a: Condition, b: Condition) -> bool:
    """True when no argument value satisfies both (False when unsure)."""
    if a.arg != b.arg:
        return False
    for x, y in ((a, b), (b, a)):
        if x.op == "eq":
            return not y.matches(x.value)
        if x.op == "masked_eq" and (x.value & ~x.mask & U64):
            return True  # x never matches
    if a.op == b.op == "masked_eq":
        return bool((a.value ^ b.value) & a.mask & b.mask & U64)
    ia, ib = _interval(a), _interval(b)
    if ia is not None and ib is not None:
        return max(ia[0], ib[0]) > min(ia[1], ib[1])
    if {a.op, b.op} <= {"ne", "lt", "le", "gt", "ge"}:
        ne, other = (a, b) if a.op == "ne" else (b, a)
        iv = _interval(other)
        return ne.op == "ne" and iv is not None and iv == (ne.value & U64, ne.value & U64)
    return False


def conj_disjoint(x: Conj, y: Conj) -> bool:
    """True when no call satisfies both conjunctions (False when unsure)."""
    return any(disjoint(a, b) for a in x for b in y)


def _satisfiable(conj: Conj) -> bool:
    return not conj_disjoint(conj, conj)


def negate(c: Condition) -> list[Condition] | None:
    """Conditions whose OR is ``not c``; None when c never holds (its negation always does)."""
    v, m = c.value & U64, c.mask & U64
    if c.op == "masked_eq":
        if v & ~m & U64:
            return None
        # (arg & m) != v: some bit of m differs from v.
        return [Condition(c.arg, "masked_eq", ~v & b & U64, mask=b) for b in _bits(m)]
    opposite = {"eq": "ne", "ne": "eq", "lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}[c.op]
    return [Condition(c.arg, opposite, v)]


def _merge(a: Condition, b: Condition) -> Condition | None:
    """One condition meaning ``a and b`` (same argument), or None when there is none."""
    if a == b:
        return a
    for x, y in ((a, b), (b, a)):
        if x.op == "eq" and y.matches(x.value):
            return x
    if a.op == b.op == "masked_eq" and not disjoint(a, b):
        return Condition(a.arg, "masked_eq", (a.value | b.value) & U64,
                         mask=(a.mask | b.mask) & U64)
    if a.op == b.op and a.op in ("lt", "le"):
        return a if a.value & U64 <= b.value & U64 else b
    if a.op == b.op and a.op in ("gt", "ge"):
        return a if a.value & U64 >= b.value & U64 else b
    return None


def _add(conj: Conj, alt: Condition) -> Conj:
    """``conj`` AND ``alt``, merged into one comparison per argument where possible.

    libseccomp takes one comparison per argument per rule; go-seccomp-bpf
    ANDs any number (``BitsNotSet`` and ``BitsSet`` on one flags word).
    """
    for i, c in enumerate(conj):
        if c.arg == alt.arg and not disjoint(c, alt):
            merged = _merge(c, alt)
            if merged is not None:
                return (*conj[:i], merged, *conj[i + 1:])
    return (*conj, alt)


def _and(conjs: Iterable[Conj], alternatives: Sequence[Condition]) -> list[Conj]:
    out: list[Conj] = []
    for conj in conjs:
        for alt in alternatives:
            new = _add(conj, alt)
            if _satisfiable(new) and new not in out:
                out.append(new)
    if len(out) > _MAX_ALTERNATIVES:
        raise PolicyError(f"argument conditions expand to more than {_MAX_ALTERNATIVES} rules")
    return out


def exclude(conjs: list[Conj], other: Conj) -> list[Conj] | None:
    """``conjs`` AND NOT ``other``; None when ``other`` always holds (nothing is left)."""
    if all(conj_disjoint(conj, other) for conj in conjs):
        return conjs
    alternatives: list[Condition] = []
    for c in other:
        negs = negate(c)
        if negs is None:
            return conjs  # ``other`` never holds
        alternatives.extend(negs)
    if not alternatives:
        return None
    return _and(conjs, alternatives)


# ---------------------------------------------------------------- reading


@dataclass
class _Occurrence:
    action: Action
    conjs: list[Conj] | None  # None: unconditional
    group: int
    line: int


def _condition(f: Fields, node: Node, where: str) -> list[Condition]:
    """One go-seccomp-bpf condition as ORed model conditions (BitsSet: one per bit)."""
    f.only(node, ("argument", "position", "operation", "value"), where)
    if "argument" in node and "position" in node:
        raise f.error(f"{where} has both 'argument' and 'position'", node.line_of("position"))
    key = "position" if "position" in node else "argument"
    arg = f.integer(node, key, where, high=5) or 0
    op_text = f.string(node, "operation", where, required=True) or ""
    op = OPERATIONS.get(op_text.lower())
    if op is None:
        raise f.error(f"{where}: unknown operation {op_text!r} "
                      f"(known: {', '.join(OPERATIONS.values())})", node.line_of("operation"))
    value = f.integer(node, "value", where) or 0
    if op == "BitsNotSet":
        return [Condition(arg, "masked_eq", 0, mask=value)]
    if op == "BitsSet":
        # (arg & value) != 0: any one bit set.
        return [Condition(arg, "masked_eq", b, mask=b) for b in _bits(value)]
    return [Condition(arg, _SIMPLE_OPS[op], value)]


def _section(f: Fields, top: Node) -> Node:
    """The policy mapping: ``seccomp:`` (or dotted ``seccomp.*`` keys) or the document itself."""
    dotted = [k for k in top if k.startswith("seccomp.")]
    if "seccomp" in top:
        section = f.node(top["seccomp"], "seccomp", top.line_of("seccomp"))
    elif dotted:
        section = Node(top.line_of(dotted[0]))
    elif "default_action" in top or "syscalls" in top:
        return top
    else:
        raise f.error("no seccomp policy here (expected 'seccomp:' or 'default_action:')",
                      top.line)
    for key in dotted:
        sub = key.removeprefix("seccomp.")
        if sub in section:
            raise f.error(f"{key} repeats seccomp.{sub}", top.line_of(key))
        section[sub] = top[key]
        section.key_lines[sub] = top.line_of(key)
    return section


def read(text: str, path: str) -> Policy:
    """Read a Beats / go-seccomp-bpf seccomp policy (YAML)."""
    f = Fields(path)
    docs = parse_yaml_documents(text, path)
    if len(docs) != 1:
        raise PolicyError(f"expected one YAML document, found {len(docs)}", path=path)
    top = f.node(docs[0][0], "the document", docs[0][1])
    section = _section(f, top)
    f.only(section, ("default_action", "syscalls", "enabled"), "seccomp")
    if f.boolean(section, "enabled", "seccomp") is False:
        raise f.error("seccomp.enabled is false: Beats installs no filter",
                      section.line_of("enabled"))
    if "default_action" not in section:
        # Beats would start from its built-in policy (seccomp.go getPolicy).
        raise f.error("seccomp has no default_action (Beats would take its built-in one)",
                      section.line)
    default = _action(f, section, "default_action", "seccomp")
    groups = f.seq(section, "syscalls", "seccomp")
    if not groups:
        raise f.error("seccomp.syscalls is empty (go-seccomp-bpf refuses that)", section.line)
    warnings: list[str] = []
    occurrences: dict[str, list[_Occurrence]] = {}
    group_names: list[list[str]] = []
    group_lines: list[int] = []
    for g, item in enumerate(groups):
        where = f"syscalls[{g}]"
        group = f.node(item, where, groups.line_of(g))
        f.only(group, ("action", "names", "names_with_args"), where)
        action = _action(f, group, "action", where)
        plain: list[str] = []
        for name, line in f.strings(group, "names", where) or []:
            check_name(f, name, line, where)
            if name in plain:
                raise f.error(f"{where}: duplicate syscall {name} (go-seccomp-bpf refuses it)",
                              line)
            plain.append(name)
            occurrences.setdefault(name, []).append(_Occurrence(action, None, g, line))
        group_names.append(plain)
        group_lines.append(group.line)
        with_args = f.seq(group, "names_with_args", where) or Seq(group.line)
        for i, entry_item in enumerate(with_args):
            ewhere = f"{where}.names_with_args[{i}]"
            entry = f.node(entry_item, ewhere, with_args.line_of(i))
            f.only(entry, ("name", "arguments"), ewhere)
            name = check_name(f, f.string(entry, "name", ewhere, required=True) or "",
                              entry.line_of("name"), ewhere)
            if name in plain:
                raise f.error(f"{ewhere}: {name} is also unconditional in this group "
                              "(go-seccomp-bpf refuses that)", entry.line_of("name"))
            arguments = f.seq(entry, "arguments", ewhere)
            if not arguments:
                raise f.error(f"{ewhere} has no arguments", entry.line)
            conjs: list[Conj] = [()]
            for j, cond_item in enumerate(arguments):
                cwhere = f"{ewhere}.arguments[{j}]"
                node = f.node(cond_item, cwhere, arguments.line_of(j))
                conjs = _and(conjs, _condition(f, node, cwhere))
            if not conjs:
                warnings.append(f"line {entry.line}: {ewhere}: BitsSet 0 never matches")
            occurrences.setdefault(name, []).append(_Occurrence(action, conjs, g, entry.line))
    rules = _rules(occurrences, group_names, group_lines, warnings)
    if default.allows:
        warnings.append("go-seccomp-bpf gives calls of other architectures (i386 on x86_64) "
                        "the default action; a libseccomp filter of this policy kills them")
    return Policy(default, tuple(rules), (), name=policy_name(path), warnings=tuple(warnings))


def _action(f: Fields, node: Node, key: str, where: str) -> Action:
    text = f.string(node, key, where, required=True) or ""
    action = ACTIONS.get(text.lower())
    if action is None:
        raise f.error(f"{where}.{key}: unknown action {text!r} "
                      f"(known: {', '.join(ACTIONS)})", node.line_of(key))
    return action


def _rules(occurrences: dict[str, list[_Occurrence]], group_names: list[list[str]],
           group_lines: list[int], warnings: list[str]) -> list[Rule]:
    """First-match occurrences as order-independent rules, in group order."""
    out: list[tuple[int, int, Rule]] = []
    kept_plain: list[set[str]] = [set() for _ in group_names]
    for name, occs in occurrences.items():
        for k, occ in enumerate(occs):
            others = [e for e in occs[:k] if e.action != occ.action]
            conjs: list[Conj] | None = [()] if occ.conjs is None else list(occ.conjs)
            for e in others:
                for other in [()] if e.conjs is None else e.conjs:
                    conjs = exclude(conjs, other) if conjs else conjs
            if not conjs:
                warnings.append(f"line {occ.line}: {name} in syscalls[{occ.group}] is never "
                                "reached: an earlier group with another action matches first")
                continue
            if occ.conjs is None and conjs == [()]:
                kept_plain[occ.group].add(name)
                continue
            for conj in conjs:
                out.append((occ.group, occ.line, Rule((name,), occ.action, conj, line=occ.line)))
    for g, names in enumerate(group_names):
        kept = tuple(n for n in names if n in kept_plain[g])
        if kept:
            action = next(o.action for o in occurrences[kept[0]] if o.group == g)
            out.append((g, -1, Rule(kept, action, line=group_lines[g])))
    out.sort(key=lambda item: (item[0], item[1]))
    return [rule for _, _, rule in out]


def sniff(text: str) -> bool:
    import re

    return re.search(r"^(\s*seccomp:\s*$|\s*default_action:|seccomp\.default_action:)", text,
                     re.M) is not None


# ---------------------------------------------------------------- writing


@dataclass
class Group:
    """One first-match group: an action, unconditional names, names with conditions."""

    action: Action
    names: list[str]
    with_args: list[tuple[str, list[tuple[int, str, int]]]]


def _operations(conj: Conj) -> list[tuple[int, str, int]] | None:
    """go-seccomp-bpf (argument, operation, value) triples ANDed; None if never true."""
    out: list[tuple[int, str, int]] = []
    for c in conj:
        v, m = c.value & U64, c.mask & U64
        if c.op != "masked_eq":
            out.append((c.arg, _OP_OUT[c.op], v))
            continue
        if v & ~m & U64:
            return None
        if m & ~v:
            out.append((c.arg, "BitsNotSet", m & ~v))
        # BitsSet is "any bit": one condition per bit makes them all required.
        out.extend((c.arg, "BitsSet", b) for b in _bits(v))
    return out


def first_match_groups(policy: Policy, fmt: str) -> list[Group]:
    """The policy as go-seccomp-bpf groups that mean the same under first-match order."""
    if len(policy.arches) > 1:
        raise PolicyError(f"{fmt} is single-architecture; this policy targets "
                          f"{', '.join(policy.arches)} (choose one architecture first)")
    _supported(policy.default_action, fmt, "the default action")
    per_name: dict[str, list[Rule]] = {}
    for rule in policy.rules:
        if not rule.gate.is_open():
            raise PolicyError(f"{fmt} has no capability/kernel conditions: the rule for "
                              f"{', '.join(rule.names[:3])} has a gate (resolve the policy "
                              "for a context first)", line=rule.line)
        if not applies_everywhere(policy, rule):
            raise PolicyError(f"{fmt} cannot limit a rule to some architectures",
                              line=rule.line)
        _supported(rule.action, fmt, f"the rule for {rule.names[0]}")
        for name in dict.fromkeys(rule.names):
            per_name.setdefault(name, []).append(rule)
    groups: dict[Action, Group] = {}
    for name, rules in per_name.items():
        if len({r.action for r in rules}) > 1:
            # A rule with the default action is a no-op to libseccomp (runc
            # skips it); in a first-match program it would shadow others.
            rules = [r for r in rules if r.action != policy.default_action] or rules
        uncond = next((r for r in rules if not r.conditions), None)
        if uncond is not None:
            # Unconditional beats conditional, and the first of two
            # unconditional rules stays (POLICY-SEMANTICS.md): nothing else
            # about this name matters.
            rules = [uncond]
        for i, a in enumerate(rules):
            for b in rules[i + 1:]:
                if a.action != b.action and not conj_disjoint(a.conditions, b.conditions):
                    raise PolicyError(
                        f"{name}: argument rules with different actions ({a.action}, "
                        f"{b.action}) may overlap; libseccomp resolves that by its tree, "
                        f"{fmt} by order, so it cannot be written", line=b.line)
        for rule in rules:
            group = groups.setdefault(rule.action, Group(rule.action, [], []))
            if not rule.conditions:
                group.names.append(name)
                continue
            ops = _operations(rule.conditions)
            if ops is not None and (name, ops) not in group.with_args:
                group.with_args.append((name, ops))
    out = [g for g in groups.values() if g.names or g.with_args]
    for g in out:
        g.names.sort()
        g.with_args.sort(key=lambda item: item[0])
    if not out:
        raise PolicyError(f"{fmt} needs at least one syscall group (go-seccomp-bpf refuses "
                          "an empty list)")
    return out


def _supported(action: Action, fmt: str, what: str) -> None:
    if action.kind == "user_notif" or ACTIONS.get(action.kind, action) != action:
        raise PolicyError(f"{fmt} cannot express {what}: {action} (go-seccomp-bpf has "
                          "errno = EPERM, trace without data, and no user_notif)")


def _scalar(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:#x}" if value > 9 else str(value)
    text = str(value)
    # YAML 1.1 (go-ucfg) would read these words as booleans or null.
    if text.lower() in ("y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"):
        return f'"{text}"'
    return text


def write(policy: Policy) -> str:
    """Write the policy as a Beats ``seccomp:`` section (YAML)."""
    groups = first_match_groups(policy, "a Beats policy")
    title = f"seccomp policy {policy.name}" if policy.name else "seccomp policy"
    lines = [f"# {title} for Beats / go-seccomp-bpf, written by tracebench"]
    if policy.arches:
        lines.append(f"# for {policy.arches[0]} (go-seccomp-bpf uses the runtime's "
                     "architecture)")
    lines += ["seccomp:", f"  default_action: {policy.default_action.kind}", "  syscalls:"]
    for g in groups:
        lines.append(f"  - action: {g.action.kind}")
        if g.names:
            lines.append("    names:")
            lines += [f"    - {_scalar(n)}" for n in g.names]
        if g.with_args:
            lines.append("    names_with_args:")
            for name, ops in g.with_args:
                lines += [f"    - name: {_scalar(name)}", "      arguments:"]
                for arg, op, value in ops:
                    lines += [f"      - argument: {arg}", f"        operation: {op}",
                              f"        value: {_scalar(value)}"]
    return "\n".join(lines) + "\n"


FORMAT = Format(
    name="beats",
    description="Beats / elastic go-seccomp-bpf policy (YAML)",
    suffixes=(".yml", ".yaml"),
    read=read,
    write=write,
    sniff=sniff,
)
