"""Plain name lists (Beats' seccomp-profiler-allow.txt): read as an allowlist, write back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebench.errors import PolicyError
from tracebench.policy.formats import plain
from tracebench.policy.model import ALLOW, Action, Condition, Gate, Policy, Rule

FIXTURE = Path(__file__).parent / "fixtures" / "policies" / "beats-seccomp-profiler-allow.txt"
EPERM = Action("errno", 1)


def test_beats_profiler_allow_list() -> None:
    p = plain.read(FIXTURE.read_text(), str(FIXTURE))
    assert p.default_action == EPERM and p.arches == ()
    # 19 names under four '#' headings, blank lines between; "# cgo pthread" is line 1.
    assert [(r.names[0], r.line) for r in p.rules][:5] == [
        ("mprotect", 2), ("set_robust_list", 3), ("tgkill", 4), ("time", 5), ("access", 8)]
    assert len(p.rules) == 19 and all(r.action == ALLOW for r in p.rules)
    assert plain.sniff(FIXTURE.read_text())


def test_write_sorted() -> None:
    p = plain.read(FIXTURE.read_text(), str(FIXTURE))
    assert plain.write(p) == "".join(f"{n}\n" for n in [
        "access", "clock_gettime", "getdents", "getppid", "gettimeofday", "mprotect",
        "nanosleep", "open", "pipe", "pipe2", "poll", "readlink", "rename", "set_robust_list",
        "stat", "tgkill", "time", "unlink", "wait4"])


def test_comments_duplicates_and_bad_lines() -> None:
    p = plain.read("read  # the one we need\n\nwrite\nread\n", "l.txt")
    assert [r.names for r in p.rules] == [("read",), ("write",)]
    assert p.warnings == ("line 4: read repeats line 1",)
    with pytest.raises(PolicyError, match="expected one syscall name, found 'open close'") as err:
        plain.read("read\n# ok\nopen close\n", "l.txt")
    assert (err.value.path, err.value.line) == ("l.txt", 3)
    with pytest.raises(PolicyError, match="'open,' is not a syscall name") as err:
        plain.read("\n\nopen,\n", "l.txt")
    assert err.value.line == 3


@pytest.mark.parametrize(("policy", "message"), [
    (Policy(Action("kill_process"), (Rule(("read",), ALLOW),)), r"default errno\(1\)"),
    (Policy(EPERM, (Rule(("read",), Action("log")),)), "only allows: the rule for read is log"),
    (Policy(EPERM, (Rule(("dup",), ALLOW, (Condition(0, "eq", 1),)),)),
     "no argument conditions: the rule for dup has arg0 == 1"),
    (Policy(EPERM, (Rule(("reboot",), ALLOW, gate=Gate(caps=frozenset({"CAP_SYS_BOOT"}))),)),
     "has a gate"),
    (Policy(EPERM, (Rule(("read",), ALLOW),), arches=("x86_64",)), "native architecture only"),
])
def test_write_refuses_what_a_list_cannot_say(policy: Policy, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        plain.write(policy)


def test_rules_with_the_default_action_are_no_ops() -> None:
    p = Policy(EPERM, (Rule(("read",), ALLOW), Rule(("acct",), EPERM)))
    assert plain.write(p) == "read\n"
