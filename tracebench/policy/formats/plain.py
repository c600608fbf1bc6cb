"""A plain list of syscall names, one per line: read and write.

The shape of Beats' ``seccomp-profiler-allow.txt``::

    # cgo pthread
    mprotect
    set_robust_list

``#`` starts a comment (on its own line or after a name), blank lines are
skipped.  Read as an allowlist for the native architecture: every name
allowed, everything else errno(EPERM).  Only such a policy can be written
back; anything a list cannot say (conditions, other actions, gates, a
different default, architectures) is an error, never silently dropped.
"""

from __future__ import annotations

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.formats.located import Fields
from tracebench.policy.formats.oci import check_name, policy_name
from tracebench.policy.model import ALLOW, Action, Policy, Rule

DEFAULT = Action("errno", 1)


def read(text: str, path: str) -> Policy:
    """Read a list of syscall names as an allowlist (default errno(EPERM))."""
    f = Fields(path)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if len(line.split()) > 1:
            raise f.error(f"expected one syscall name, found {line!r}", number)
        name = check_name(f, line, number, "the list")
        if name in seen:
            warnings.append(f"line {number}: {name} repeats line {seen[name]}")
            continue
        seen[name] = number
        rules.append(Rule((name,), ALLOW, line=number))
    return Policy(DEFAULT, tuple(rules), (), name=policy_name(path), warnings=tuple(warnings))


def write(policy: Policy) -> str:
    """Write the allowed names, sorted; PolicyError unless the policy is a plain allowlist."""
    if policy.default_action != DEFAULT:
        raise PolicyError(f"a plain list means default errno(1); this policy's default is "
                          f"{policy.default_action}")
    if policy.arches:
        raise PolicyError(f"a plain list targets the native architecture only; this policy "
                          f"targets {', '.join(policy.arches)}")
    names: set[str] = set()
    for rule in policy.rules:
        what = f"the rule for {', '.join(rule.names[:3])}"
        if rule.action == DEFAULT and not rule.arches and rule.gate.is_open():
            continue  # the default already does this
        if rule.action != ALLOW:
            raise PolicyError(f"a plain list only allows: {what} is {rule.action}",
                              line=rule.line)
        if rule.conditions:
            raise PolicyError(f"a plain list has no argument conditions: {what} has "
                              f"{' and '.join(map(str, rule.conditions))}", line=rule.line)
        if not rule.gate.is_open():
            raise PolicyError(f"a plain list has no capability/kernel conditions: {what} has a "
                              "gate (resolve the policy for a context first)", line=rule.line)
        if rule.arches:
            raise PolicyError(f"a plain list cannot limit {what} to {', '.join(rule.arches)}",
                              line=rule.line)
        names.update(rule.names)
    return "".join(f"{n}\n" for n in sorted(names))


def sniff(text: str) -> bool:
    """Every non-comment line is one bare syscall name (and there is at least one)."""
    names = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    names = [n for n in names if n]
    return bool(names) and all(n.replace("_", "").isalnum() and n.islower() for n in names)


FORMAT = Format(
    name="plain",
    description="one syscall name per line, '#' comments (an allowlist)",
    suffixes=(".txt", ".list"),
    read=read,
    write=write,
    sniff=sniff,
)
