"""Python source that builds and loads a policy with pyseccomp (write-only).

The module defines ``build_filter()`` (a ``pyseccomp.SyscallFilter``) and
``load()``; run as a script it loads the filter and executes the program on
its command line, or prints libseccomp's pseudo filter code with ``--pfc``.
It makes the same libseccomp calls as the C writer (``c_source.plan``).
"""

from __future__ import annotations

from tracebench.policy.formats import Format
from tracebench.policy.formats.c_source import ACTIONS, OPS, Call, plan, safe_name
from tracebench.policy.model import Action, Condition, Policy


def _action(action: Action) -> str:
    base = "seccomp." + ACTIONS[action.kind]
    return f"{base}({action.value})" if action.kind in ("errno", "trace") else base


def _value(value: int) -> str:
    value &= 2**64 - 1
    return f"{value:#x}" if value > 9 else str(value)


def _args(conds: tuple[Condition, ...]) -> str:
    out = []
    for c in conds:
        extra = f", {_value(c.value)}" if c.op == "masked_eq" else ""
        first = c.mask if c.op == "masked_eq" else c.value
        out.append(f", seccomp.Arg({c.arg}, seccomp.{OPS[c.op]}, {_value(first)}{extra})")
    return "".join(out)


def _runs(calls: tuple[Call, ...]) -> list[list[Call]]:
    """Consecutive calls that differ only in their name (same action, conditions, resolving)."""
    runs: list[list[Call]] = []
    for call in calls:
        last = runs[-1][-1] if runs else None
        if last is not None and (last.action, last.conditions, last.optional,
                                 last.number is None) == \
                (call.action, call.conditions, call.optional, call.number is None):
            runs[-1].append(call)
        else:
            runs.append([call])
    return runs


def _wrapped(words: list[str], indent: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(indent + word)
    return lines


def write(policy: Policy) -> str:
    """Write a Python module that builds the policy with pyseccomp and can load it."""
    p = plan(policy, "a pyseccomp program")
    name = safe_name(p.name)
    out = [
        f'"""seccomp filter {name}, written by tracebench.',
        "",
        "build_filter() returns the pyseccomp filter; load() installs it in this process.",
        f"As a script: python3 {name}.py PROGRAM [ARG...] loads it and runs PROGRAM;",
        "--pfc prints libseccomp's pseudo filter code.",
        '"""',
        "",
        "import os",
        "import sys",
        "",
        "import pyseccomp as seccomp",
        "",
        "",
        "def _known(name):",
        "    # -1: this libseccomp knows the name on no architecture; leaving a rule",
        "    # out for it is done only where that denies more.",
        "    return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) != -1",
        "",
        "",
        "def build_filter():",
        f"    f = seccomp.SyscallFilter({_action(p.default)})",
    ]
    for arch in p.arches:
        attr = "X86" if arch == "i386" else arch.upper()
        out += [f"    if not f.exist_arch(seccomp.Arch.{attr}):",
                f"        f.add_arch(seccomp.Arch.{attr})"]
    if p.skipped:
        out.append(f"    # {p.skipped} name(s) in rules with the default action are left out: "
                   "libseccomp refuses them.")
    for run in _runs(p.calls):
        first = run[0]
        action, args = _action(first.action), _args(first.conditions)
        if first.number is not None:
            out += [f"    f.add_rule({action}, {c.number:#x}{args})  # {c.name}" for c in run]
            continue
        unknown = [c.name for c in run if not c.known_here]
        if unknown:
            note = "Unknown to the libseccomp that wrote this file: " + ", ".join(unknown)
            out += _wrapped(note.split(), "    # ")
        indent, target = "    ", f'"{first.name}"'
        if len(run) > 1:
            out.append("    for name in (")
            out += _wrapped([f'"{c.name}",' for c in run], "        ")
            out.append("    ):")
            indent, target = "        ", "name"
        if first.optional:
            # Leaving the rule out when libseccomp does not know the name only
            # denies more; otherwise add_rule's error stops the build.
            out += [f"{indent}if _known({target}):",
                    f"{indent}    f.add_rule({action}, {target}{args})"]
        else:
            out.append(f"{indent}f.add_rule({action}, {target}{args})")
    out += [
        "    return f",
        "",
        "",
        "def load():",
        "    build_filter().load()",
        "",
        "",
        'if __name__ == "__main__":',
        "    if len(sys.argv) < 2:",
        '        sys.exit(f"usage: {sys.argv[0]} --pfc | PROGRAM [ARG...]")',
        '    if sys.argv[1] == "--pfc":',
        "        sys.stdout.flush()",
        "        build_filter().export_pfc(sys.stdout)",
        "        sys.exit(0)",
        "    load()",
        "    os.execvp(sys.argv[1], sys.argv[1:])",
    ]
    return "\n".join(out) + "\n"


FORMAT = Format(
    name="python",
    description="Python module that builds and loads the filter with pyseccomp (write-only)",
    suffixes=(".py",),
    write=write,
    numbers=True,
)
