"""Beats / go-seccomp-bpf YAML: the real examples, first-match order, operations, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebench.errors import PolicyError
from tracebench.policy.evaluate import evaluate
from tracebench.policy.formats import beats
from tracebench.policy.model import Action, Condition, Context, Gate, Policy, Rule

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
EPERM = Action("errno", 1)
CTX = Context("x86_64")
CLONE_NEWUSER = 0x10000000


def read(name: str) -> Policy:
    path = FIXTURES / name
    return beats.read(path.read_text(), str(path))


def shape(p: Policy) -> list[tuple[tuple[str, ...], str, tuple[Condition, ...], int | None]]:
    return [(r.names, str(r.action), r.conditions, r.line) for r in p.rules]


def test_go_seccomp_bpf_sandbox_example() -> None:
    p = read("go-seccomp-bpf-sandbox-example.yml")
    assert p.default_action == Action("allow")
    assert p.arches == ()  # the runtime's architecture
    assert shape(p) == [
        (("connect", "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "bind", "listen"),
         "errno(1)", (), 18),
        # "CLONE_NEWUSER must be set": BitsNotSet 0x10000000 denies clone without it.
        (("clone",), "errno(1)", (Condition(0, "masked_eq", 0, mask=CLONE_NEWUSER),), 32),
    ]
    assert evaluate(p, CTX, "x86_64", "clone", [0, 0, 0, 0, 0, 0]).action == EPERM
    assert evaluate(p, CTX, "x86_64", "clone", [CLONE_NEWUSER | 0x11, 0, 0, 0, 0, 0]).action \
        == Action("allow")
    assert "calls of other architectures" in p.warnings[0]


def test_beats_denylist_example() -> None:
    p = read("beats-seccomp-denylist-example.yml")
    assert p.default_action == Action("allow")
    assert shape(p) == [(("execve", "execveat", "fork", "vfork"), "errno(1)", (), 4)]


def test_first_match_order_becomes_independent_rules() -> None:
    # go-seccomp-bpf tests groups in order.  clone with CLONE_NEWUSER hits the
    # errno group first; everything else falls to the allow group; read in the
    # kill group is never reached.
    text = """seccomp:
  default_action: errno
  syscalls:
  - action: errno
    names_with_args:
    - name: clone
      arguments:
      - argument: 0
        operation: BitsSet
        value: 0x10000000
  - action: allow
    names: [clone, read]
  - action: kill_process
    names: [read, write]
"""
    p = beats.read(text, "t.yml")
    assert shape(p) == [
        (("clone",), "errno(1)",
         (Condition(0, "masked_eq", CLONE_NEWUSER, mask=CLONE_NEWUSER),), 6),
        (("read",), "allow", (), 11),
        (("clone",), "allow", (Condition(0, "masked_eq", 0, mask=CLONE_NEWUSER),), 12),
        (("write",), "kill_process", (), 13),
    ]
    assert p.warnings[0] == ("line 14: read in syscalls[2] is never reached: an earlier group "
                             "with another action matches first")
    for flags, action in ((CLONE_NEWUSER, EPERM), (0, Action("allow")),
                          (CLONE_NEWUSER | 1, EPERM)):
        assert evaluate(p, CTX, "x86_64", "clone", [flags, 0, 0, 0, 0, 0]).action == action
    assert evaluate(p, CTX, "x86_64", "read").action == Action("allow")
    assert evaluate(p, CTX, "x86_64", "write").action == Action("kill_process")


@pytest.mark.parametrize(("operation", "value", "conditions"), [
    ("Equal", 5, [(Condition(1, "eq", 5),)]),
    ("notequal", 5, [(Condition(1, "ne", 5),)]),  # case-insensitive, as Operation.Unpack
    ("GreaterThan", 5, [(Condition(1, "gt", 5),)]),
    ("LessThan", 5, [(Condition(1, "lt", 5),)]),
    ("GreaterOrEqual", 5, [(Condition(1, "ge", 5),)]),
    ("LessOrEqual", 5, [(Condition(1, "le", 5),)]),
    ("BitsNotSet", 6, [(Condition(1, "masked_eq", 0, mask=6),)]),
    # BitsSet is "any of these bits": (arg & 6) != 0, one rule per bit.
    ("BitsSet", 6, [(Condition(1, "masked_eq", 2, mask=2),),
                    (Condition(1, "masked_eq", 4, mask=4),)]),
    ("BitsSet", 0, []),
])
def test_operations(operation: str, value: int, conditions: list[tuple[Condition, ...]]) -> None:
    text = f"""default_action: allow
syscalls:
- action: trace
  names_with_args:
  - name: dup
    arguments:
    - argument: 1
      operation: {operation}
      value: {value}
"""
    p = beats.read(text, "t.yml")
    assert [r.conditions for r in p.rules] == conditions
    assert all(r.action == Action("trace", 0) for r in p.rules)
    if not conditions:
        assert "BitsSet 0 never matches" in p.warnings[0]


@pytest.mark.parametrize(("text", "message", "line"), [
    ("seccomp:\n  default_action: deny\n  syscalls: [{action: allow, names: [read]}]\n",
     "unknown action 'deny'", 2),
    ("seccomp:\n  default_action: errno\n  syscalls: []\n", "is empty", 2),
    ("seccomp:\n  syscalls: [{action: allow, names: [read]}]\n", "has no default_action", 2),
    ("seccomp:\n  enabled: false\n", "Beats installs no filter", 2),
    ("output: {}\n", "no seccomp policy here", 1),
    ("default_action: errno\nsyscalls:\n- action: allow\n  names: [read, read]\n",
     "duplicate syscall read", 4),
    ("default_action: errno\nsyscalls:\n- action: allow\n  names: [dup]\n  names_with_args:\n"
     "  - name: dup\n    arguments: [{argument: 0, operation: Equal, value: 1}]\n",
     "dup is also unconditional in this group", 6),
    ("default_action: errno\nsyscalls:\n- action: allow\n  names_with_args:\n  - name: dup\n"
     "    arguments:\n    - argument: 6\n      operation: Equal\n", "is outside 0..5", 7),
    ("default_action: errno\nsyscalls:\n- action: allow\n  names_with_args:\n  - name: dup\n"
     "    arguments:\n    - argument: 1\n      operation: Bits\n", "unknown operation 'Bits'", 8),
    ("default_action: errno\nsyscalls:\n- action: allow\n  names_with_args:\n  - name: dup\n"
     "    arguments: []\n", "has no arguments", 5),
    ("default_action: errno\nsyscalls:\n- action: allow\n  nmes: [read]\n",
     "unknown field 'nmes' in syscalls[0]", 4),
    ("default_action: kill\nsyscalls: [{action: allow, names: [read]}]\n",
     "unknown action 'kill'", 1),
])
def test_bad_policies_name_the_line(text: str, message: str, line: int) -> None:
    with pytest.raises(PolicyError) as err:
        beats.read(text, "beat.yml")
    assert message in err.value.message
    assert (err.value.path, err.value.line) == ("beat.yml", line)


def test_dotted_keys_as_in_beats_configs() -> None:
    p = beats.read("seccomp.default_action: allow\nseccomp.syscalls:\n- action: errno\n"
                   "  names: [execve]\n", "filebeat.yml")
    assert (p.default_action, [r.names for r in p.rules]) == (Action("allow"), [("execve",)])


# ---------------------------------------------------------------- writing


def test_write_go_seccomp_bpf_example() -> None:
    out = beats.write(read("go-seccomp-bpf-sandbox-example.yml"))
    assert out == """\
# seccomp policy go-seccomp-bpf-sandbox-example for Beats / go-seccomp-bpf, written by tracebench
seccomp:
  default_action: allow
  syscalls:
  - action: errno
    names:
    - accept
    - bind
    - connect
    - listen
    - recvfrom
    - recvmsg
    - sendmsg
    - sendto
    names_with_args:
    - name: clone
      arguments:
      - argument: 0
        operation: BitsNotSet
        value: 0x10000000
"""


def test_write_masked_eq_as_bit_tests() -> None:
    # (arg & 0xf0) == 0x30: bits 0xc0 clear, 0x10 and 0x20 each set; read
    # back, the three bit tests on one argument merge into libseccomp's one.
    p = Policy(Action("allow"), (Rule(("dup",), Action("errno", 1),
                                      (Condition(0, "masked_eq", 0x30, mask=0xF0),)),))
    out = beats.write(p)
    assert out.count("operation: BitsSet") == 2 and out.count("operation: BitsNotSet") == 1
    again = beats.read(out, "t.yml")
    assert again.rules[0].conditions == p.rules[0].conditions
    for fd, action in ((0x35, EPERM), (0x45, Action("allow")), (0x25, Action("allow"))):
        assert evaluate(again, CTX, "x86_64", "dup", [fd]).action == action


def test_write_orders_groups_for_first_match() -> None:
    # libseccomp: the unconditional errno rule for dup wins over the
    # conditional allow, in either order; first-match needs it alone.
    p = Policy(Action("kill_process"), (
        Rule(("dup",), Action("allow"), (Condition(0, "eq", 3),)),
        Rule(("dup", "read"), EPERM),
    ))
    out = beats.write(p)
    assert "names_with_args" not in out
    again = beats.read(out, "t.yml")
    assert [(r.names, r.action) for r in again.rules] == [(("dup", "read"), EPERM)]


@pytest.mark.parametrize(("policy", "message"), [
    (Policy(Action("errno", 38), (Rule(("read",), Action("allow")),)), r"errno\(38\)"),
    (Policy(EPERM, (Rule(("read",), Action("user_notif")),)), "user_notif"),
    (Policy(EPERM, (Rule(("read",), Action("allow")),), arches=("x86_64", "i386")),
     "single-architecture"),
    (Policy(EPERM, (Rule(("read",), Action("allow"), gate=Gate(min_kernel=(5, 0))),)),
     "has a gate"),
    (Policy(EPERM, (Rule(("dup",), Action("allow"), (Condition(0, "ge", 3),)),
                    Rule(("dup",), Action("log"), (Condition(0, "le", 9),)))),
     "may overlap"),
    (Policy(Action("allow")), "at least one syscall group"),
])
def test_writer_refuses_what_beats_cannot_say(policy: Policy, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        beats.write(policy)


def test_disjoint_conditional_rules_can_be_written() -> None:
    p = Policy(EPERM, (Rule(("dup",), Action("allow"), (Condition(0, "lt", 3),)),
                       Rule(("dup",), Action("log"), (Condition(0, "ge", 3),))))
    again = beats.read(beats.write(p), "t.yml")
    assert [(r.action, r.conditions) for r in again.rules] == \
        [(r.action, r.conditions) for r in p.rules]
