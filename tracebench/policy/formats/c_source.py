"""C source of a libseccomp program that builds and loads a policy (write-only).

The program (``gcc -o filter filter.c -lseccomp``) loads the filter and then
runs the program named on its command line; ``--pfc`` prints libseccomp's
pseudo filter code and ``--bpf`` writes the BPF program, to check what it
would load.  ``plan()`` holds the choices shared with the Python writer:

* Rules whose action is the default action are left out: libseccomp refuses
  them (EACCES) and runc skips them as redundant.
* Gated rules (Docker's includes/excludes) must be resolved first
  (``Policy.resolve``); rules limited to some architectures, two comparisons
  on one argument (libseccomp's EINVAL) and architecture sets that one
  filter cannot hold are errors.
* Names are resolved when the program runs (``seccomp_syscall_resolve_name``,
  as runc and pyseccomp do), not with ``SCMP_SYS()``, whose ``__NR_*`` macros
  come from the building machine's kernel headers and miss newer calls.  A
  name the running libseccomp does not know is skipped where leaving it out
  only denies more (a rule that allows, or a denying default; runc and crun
  skip it too) and fails the program otherwise.
* The filter keeps the native architecture and adds the policy's others, as
  runc does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.formats.oci import (
    ARCH_FAMILIES,
    applies_everywhere,
    known_arch,
    scmp_arch,
)
from tracebench.policy.model import Action, Condition, Policy

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBERED = re.compile(r"^syscall_0x([0-9a-f]+)$")
OPS = {"eq": "EQ", "ne": "NE", "lt": "LT", "le": "LE", "gt": "GT", "ge": "GE",
       "masked_eq": "MASKED_EQ"}
ACTIONS = {"kill_process": "KILL_PROCESS", "kill_thread": "KILL_THREAD", "trap": "TRAP",
           "errno": "ERRNO", "trace": "TRACE", "log": "LOG", "allow": "ALLOW",
           "user_notif": "NOTIFY"}


@dataclass(frozen=True)
class Call:
    """One ``seccomp_rule_add``: action, syscall, ANDed conditions.

    ``number`` is set for ``syscall_0xNNN`` names.  ``optional``: skip the
    rule when the running libseccomp does not know the name (leaving it out
    only denies more).  ``known_here``: the libseccomp writing the code knows it.
    """

    action: Action
    name: str
    conditions: tuple[Condition, ...]
    number: int | None = None
    optional: bool = True
    known_here: bool = True


@dataclass(frozen=True)
class Plan:
    """What a libseccomp program does for a policy, in order."""

    name: str
    default: Action
    arches: tuple[str, ...]
    calls: tuple[Call, ...]
    skipped: int


def _check_arches(arches: tuple[str, ...], fmt: str) -> None:
    for arch in arches:
        if not known_arch(arch):
            raise PolicyError(f"{fmt}: libseccomp cannot target architecture {arch}")
    if len(arches) > 1 and not any(
            set(arches) <= {main, *ARCH_FAMILIES.get(main, ())} for main in arches):
        raise PolicyError(f"{fmt}: one filter cannot hold {', '.join(arches)}; choose one "
                          "host architecture and its sub-architectures first")


def plan(policy: Policy, fmt: str) -> Plan:
    """The libseccomp calls that build ``policy``, or PolicyError for what they cannot do."""
    from tracebench.syscalls import is_known_anywhere

    _check_arches(policy.arches, fmt)
    if policy.default_action.kind == "trap" and policy.default_action.value:
        raise PolicyError(f"{fmt}: libseccomp's trap action carries no data")
    calls: list[Call] = []
    skipped = 0
    for rule in policy.rules:
        what = f"the rule for {', '.join(rule.names[:3])}"
        if not rule.gate.is_open():
            raise PolicyError(f"{fmt}: {what} has a capability/kernel gate (resolve the "
                              "policy for a context first)", line=rule.line)
        if not applies_everywhere(policy, rule):
            raise PolicyError(f"{fmt}: {what} is limited to {', '.join(rule.arches)}; one "
                              "libseccomp rule applies to every architecture", line=rule.line)
        if rule.action.value and rule.action.kind not in ("errno", "trace"):
            raise PolicyError(f"{fmt}: libseccomp's {rule.action.kind} action carries no data",
                              line=rule.line)
        args = [c.arg for c in rule.conditions]
        if len(set(args)) < len(args):
            raise PolicyError(f"{fmt}: {what} compares one argument twice (libseccomp allows "
                              "one comparison per argument per rule)", line=rule.line)
        if rule.action == policy.default_action:
            skipped += len(rule.names)
            continue
        for name in dict.fromkeys(rule.names):
            numbered = _NUMBERED.match(name)
            if numbered:
                calls.append(Call(rule.action, name, rule.conditions,
                                  number=int(numbered.group(1), 16)))
                continue
            if not _NAME.match(name):
                raise PolicyError(f"{fmt}: {name!r} is not a syscall name", line=rule.line)
            # Leaving a denying rule out under an allowing default would let
            # the call through: only then must an unknown name fail.
            optional = rule.action.allows or not policy.default_action.allows
            calls.append(Call(rule.action, name, rule.conditions, optional=optional,
                              known_here=is_known_anywhere(name)))
    return Plan(policy.name, policy.default_action, policy.arches, tuple(calls), skipped)


def safe_name(name: str) -> str:
    """The policy's name as a file name and comment word (``filter`` when it has none)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "filter"


def _c_action(action: Action) -> str:
    base = "SCMP_ACT_" + ACTIONS[action.kind]
    return f"{base}({action.value})" if action.kind in ("errno", "trace") else base


def _c_value(value: int) -> str:
    value &= 2**64 - 1
    return f"{value:#x}ULL" if value > 9 else f"{value}"


def _c_conditions(conds: tuple[Condition, ...]) -> str:
    parts = [str(len(conds))]
    for c in conds:
        cmp = "SCMP_CMP_" + OPS[c.op]
        if c.op == "masked_eq":
            parts.append(f"SCMP_A{c.arg}({cmp}, {_c_value(c.mask)}, {_c_value(c.value)})")
        else:
            parts.append(f"SCMP_A{c.arg}({cmp}, {_c_value(c.value)})")
    return ", ".join(parts)


_PROLOGUE = """\
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Add a rule; on failure say which and give up building the filter. */
#define RULE(action, nr, name, ...) \\
\tdo { \\
\t\tint rc_ = seccomp_rule_add(ctx, (action), (nr), __VA_ARGS__); \\
\t\tif (rc_ < 0) { \\
\t\t\tfprintf(stderr, "seccomp: rule for %s: %s\\n", (name), strerror(-rc_)); \\
\t\t\tgoto fail; \\
\t\t} \\
\t} while (0)

/* Add a rule if the running libseccomp knows the name: leaving it out only
 * denies more. */
#define RULE_IF_KNOWN(action, name, ...) \\
\tdo { \\
\t\tint nr_ = seccomp_syscall_resolve_name(name); \\
\t\tif (nr_ != __NR_SCMP_ERROR) \\
\t\t\tRULE((action), nr_, (name), __VA_ARGS__); \\
\t} while (0)

/* Add an architecture (the native one is already there). */
#define ARCH(arch) \\
\tdo { \\
\t\tint rc_ = seccomp_arch_add(ctx, (arch)); \\
\t\tif (rc_ < 0 && rc_ != -EEXIST) { \\
\t\t\tfprintf(stderr, "seccomp: %s: %s\\n", #arch, strerror(-rc_)); \\
\t\t\tgoto fail; \\
\t\t} \\
\t} while (0)

"""

_MAIN = """\
int main(int argc, char *argv[])
{
\tscmp_filter_ctx ctx;
\tint export_pfc, export_bpf, rc;

\tif (argc < 2) {
\t\tfprintf(stderr, "usage: %s --pfc | --bpf | PROGRAM [ARG...]\\n", argv[0]);
\t\treturn 2;
\t}
\texport_pfc = strcmp(argv[1], "--pfc") == 0;
\texport_bpf = strcmp(argv[1], "--bpf") == 0;
\tctx = build_filter();
\tif (ctx == NULL)
\t\treturn 1;
\tif (export_pfc)
\t\trc = seccomp_export_pfc(ctx, STDOUT_FILENO);
\telse if (export_bpf)
\t\trc = seccomp_export_bpf(ctx, STDOUT_FILENO);
\telse
\t\trc = seccomp_load(ctx);
\tseccomp_release(ctx);
\tif (rc < 0) {
\t\tfprintf(stderr, "seccomp: %s\\n", strerror(-rc));
\t\treturn 1;
\t}
\tif (export_pfc || export_bpf)
\t\treturn 0;
\texecvp(argv[1], argv + 1);
\tperror(argv[1]);
\treturn 127;
}
"""


def write(policy: Policy) -> str:
    """Write a C program that builds the policy with libseccomp and loads it."""
    p = plan(policy, "a libseccomp C program")
    name = safe_name(p.name)
    out = [
        f"/* seccomp filter {name}, written by tracebench.",
        " *",
        f" * Build: gcc -O2 -o {name} {name}.c -lseccomp",
        f" * Use:   ./{name} PROGRAM [ARG...]   load the filter, then run PROGRAM",
        f" *        ./{name} --pfc              print libseccomp's pseudo filter code",
        f" *        ./{name} --bpf              write the BPF program to stdout",
        " */",
        "",
        _PROLOGUE.rstrip("\n"),
        "",
        "static scmp_filter_ctx build_filter(void)",
        "{",
        f"\tscmp_filter_ctx ctx = seccomp_init({_c_action(p.default)});",
        "",
        "\tif (ctx == NULL) {",
        '\t\tfprintf(stderr, "seccomp: seccomp_init failed\\n");',
        "\t\treturn NULL;",
        "\t}",
    ]
    out += [f"\tARCH({scmp_arch(a)});" for a in p.arches]
    if p.skipped:
        out.append(f"\t/* {p.skipped} name(s) in rules with the default action are left out: "
                   "libseccomp refuses them. */")
    for call in p.calls:
        action, conds = _c_action(call.action), _c_conditions(call.conditions)
        if call.number is not None:
            out.append(f'\tRULE({action}, {call.number:#x}, "{call.name}", {conds});')
        else:
            if not call.known_here:
                out.append(f"\t/* {call.name}: unknown to the libseccomp that wrote this file */")
            if call.optional:
                out.append(f'\tRULE_IF_KNOWN({action}, "{call.name}", {conds});')
            else:
                out.append(f'\tRULE({action}, seccomp_syscall_resolve_name("{call.name}"), '
                           f'"{call.name}", {conds});')
    out += ["\treturn ctx;", "fail:", "\tseccomp_release(ctx);", "\treturn NULL;", "}", "",
            _MAIN.rstrip("\n")]
    return "\n".join(out) + "\n"


FORMAT = Format(
    name="c",
    description="C program that builds and loads the filter with libseccomp (write-only)",
    suffixes=(".c",),
    write=write,
    numbers=True,
)
