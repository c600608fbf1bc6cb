"""Compiling a Policy with libseccomp: names per architecture, refusals, exports, loading."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tracebench import sandbox
from tracebench.errors import PolicyError, TraceError
from tracebench.policy.bpf import Program
from tracebench.policy.evaluate import evaluate
from tracebench.policy.model import ALLOW, Action, Condition, Context, Policy, Rule

CTX = Context("x86_64")
EPERM = Action("errno", 1)


def errno_(n: int) -> Action:
    return Action("errno", n)


def test_compile_exports_bpf_and_pfc() -> None:
    pol = Policy(EPERM, (Rule(("read", "write"), ALLOW, line=2),
                         Rule(("dup",), ALLOW, (Condition(0, "le", 2),), line=3)),
                 arches=("x86_64", "i386"))
    flt = sandbox.compile(pol, CTX)
    assert flt.arches == ("x86_64", "i386")
    assert flt.rules_per_arch == {"x86_64": 3, "i386": 3} and flt.rule_count == 6
    raw = flt.export_bpf()
    assert len(raw) == 8 * flt.instruction_count and len(Program.from_bytes(raw)) > 10
    pfc = flt.export_pfc()
    for line in ('# filter for arch x86_64 (3221225534)', '# filter for arch x86 (1073741827)',
                 'if ($syscall == 0)', '# filter for syscall "dup" (41)',
                 'if ($a0.hi32 > 0)', 'action ERRNO(1);'):
        assert line in pfc, line
    # single-architecture sizes, for reports
    assert set(flt.instructions_per_arch) == {"x86_64", "i386"}
    assert all(0 < n < flt.instruction_count for n in flt.instructions_per_arch.values())


def test_target_architectures() -> None:
    pol = Policy(ALLOW, (Rule(("getpid",), EPERM),))
    assert sandbox.compile(pol, CTX).arches == ("x86_64",)  # none named: ctx.arch
    assert sandbox.compile(pol, Context("aarch64")).arches == ("aarch64",)
    assert sandbox.compile(pol, CTX, arches=["SCMP_ARCH_X86", "x86_64", "x86"]).arches == (
        "i386", "x86_64")
    with pytest.raises(PolicyError, match="little- and big-endian"):
        sandbox.compile(pol, CTX, arches=["x86_64", "s390x"])
    with pytest.raises(PolicyError, match="unknown architecture"):
        sandbox.compile(pol, CTX, arches=["pdp11"])


def test_names_missing_on_some_architectures_are_normal() -> None:
    # mmap2 and socketcall exist on i386 only, arch_prctl on x86_64 and i386
    pol = Policy(ALLOW, (Rule(("mmap2", "socketcall", "arch_prctl"), EPERM, line=7),),
                 arches=("x86_64", "i386"))
    flt = sandbox.compile(pol, CTX)
    assert flt.warnings == ()
    assert flt.rules_per_arch == {"x86_64": 1, "i386": 3}


def test_unknown_name_in_an_allow_rule_under_a_denying_default_is_dropped() -> None:
    # mseal is newer than libseccomp 2.5.4 (POLICY-SEMANTICS.md)
    pol = Policy(EPERM, (Rule(("read", "mseal"), ALLOW, line=12),), arches=("x86_64", "x32"))
    flt = sandbox.compile(pol, CTX)
    assert flt.warnings == ("line 12: 'mseal' is not a syscall on x86_64, x32; left out of "
                            "this allow rule (fail-closed: the default is errno(1))",)
    assert flt.rules_per_arch == {"x86_64": 1, "x32": 1}


def test_unknown_name_in_a_denying_rule_under_an_allowing_default_is_an_error() -> None:
    pol = Policy(ALLOW, (Rule(("mseal", "uretprobe"), EPERM, line=3),))
    with pytest.raises(PolicyError) as e:
        sandbox.compile(pol, CTX)
    assert e.value.line == 3
    assert str(e.value) == (
        "line 3: 'mseal' is unknown to libseccomp on x86_64; leaving it out of this errno(1) "
        "rule would give it the more permissive default allow (pass --ignore-unknown to "
        "leave it out anyway)")
    flt = sandbox.compile(pol, CTX, ignore_unknown=True)
    assert len(flt.warnings) == 2 and "left out of this errno(1) rule as asked" in \
        flt.warnings[0]
    assert flt.rule_count == 0
    # a log rule is more restrictive than allow too (kernel precedence)
    with pytest.raises(PolicyError):
        sandbox.compile(Policy(ALLOW, (Rule(("mseal",), Action("log")),)), CTX)
    # errno(1) under a kill default: leaving it out makes the call stricter
    flt = sandbox.compile(Policy(Action("kill_process"), (Rule(("mseal",), EPERM),)), CTX)
    assert "fail-closed" in flt.warnings[0]


def test_name_known_on_other_architectures_only_is_dropped_with_a_warning() -> None:
    # socketcall cannot be called on x86_64: leaving it out changes nothing
    pol = Policy(ALLOW, (Rule(("socketcall",), EPERM, line=8),))
    flt = sandbox.compile(pol, CTX)
    assert flt.warnings == ("line 8: 'socketcall' exists on other architectures only, not on "
                            "x86_64; left out of this errno(1) rule",)


def test_two_conditions_on_one_argument_are_refused() -> None:
    pol = Policy(ALLOW, (Rule(("dup",), EPERM, (Condition(0, "ge", 5), Condition(0, "le", 9)),
                              line=21),))
    with pytest.raises(PolicyError, match="two conditions on argument 0") as e:
        sandbox.compile(pol, CTX)
    assert e.value.line == 21


@pytest.mark.parametrize(("action", "message"), [
    (errno_(4095), "errno values up to 4094"),
    (Action("trap", 3), "trap carries no value"),
])
def test_actions_libseccomp_refuses(action: Action, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        sandbox.compile(Policy(ALLOW, (Rule(("dup",), action, line=1),)), CTX)
    with pytest.raises(PolicyError, match=message):
        sandbox.compile(Policy(action, ()), CTX)


def test_libseccomp_endless_loop_is_caught_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "GUARD_SECONDS", 1.0)
    rules = (Rule(("ioctl",), ALLOW, (Condition(0, "gt", 2), Condition(1, "eq", 0x5401)),
                  line=40),
             Rule(("ioctl",), ALLOW, (Condition(0, "gt", 2), Condition(2, "eq", 0)),
                  line=41))
    start = time.monotonic()
    with pytest.raises(PolicyError, match="did not finish adding this rule for 'ioctl'") as e:
        sandbox.compile(Policy(EPERM, rules), CTX)
    assert e.value.line == 41 and time.monotonic() - start < 5
    # the same rules on i386 (32-bit comparisons: no shared tree levels) compile
    assert sandbox.compile(Policy(EPERM, rules, arches=("i386",)), CTX).rule_count == 2
    # and distinct leading comparisons are fine on x86_64 too
    other = (rules[0], Rule(("ioctl",), ALLOW, (Condition(0, "gt", 3), Condition(1, "eq", 1))))
    assert sandbox.compile(Policy(EPERM, other), CTX).rule_count == 2


def test_check_reports_sizes_pfc_and_warnings() -> None:
    pol = Policy(EPERM, (Rule(("read", "mseal"), ALLOW, line=3),
                         Rule(("dup",), EPERM, line=4)),
                 arches=("x86_64", "i386"), warnings=("policy.json:9: reader said so",))
    result = sandbox.check(pol, CTX)
    assert result.arches == ("x86_64", "i386")
    assert result.rule_count == 2 and dict(result.rules_per_arch) == {"x86_64": 1, "i386": 1}
    assert result.total_instructions == len(sandbox.compile(pol, CTX).export_bpf()) // 8
    assert result.loadable
    assert result.pfc.startswith("#\n# pseudo filter code start")
    assert result.warnings[0] == "policy.json:9: reader said so"
    assert any("'mseal'" in w for w in result.warnings)
    assert any(w.startswith("line 4:") and "no effect" in w for w in result.warnings)


def test_check_warns_about_filters_the_kernel_will_not_load() -> None:
    rules = tuple(Rule(("dup",), errno_(1 + i % 50), (Condition(0, "eq", i),
                                                      Condition(1, "eq", i)))
                  for i in range(700))
    result = sandbox.check(Policy(ALLOW, rules), CTX)
    assert not result.loadable and result.total_instructions > 4096
    assert result.warnings[-1].endswith("the kernel loads at most 4096 (EINVAL)")


def test_observe_labels_keep_the_decisions() -> None:
    pol = Policy(EPERM, (Rule(("read",), ALLOW), Rule(("dup",), errno_(9)),
                         Rule(("getsid",), Action("kill_process")), Rule(("getpid",), errno_(9)),
                         Rule(("getppid",), Action("log"))))
    flt = sandbox.compile(pol, CTX, observe=True)
    assert flt.labels == {1: EPERM, 2: errno_(9), 3: Action("kill_process")}
    pfc = flt.export_pfc()
    assert "action TRACE(2);" in pfc and "action TRACE(1);" in pfc and "action LOG;" in pfc
    assert "ERRNO" not in pfc and "KILL_PROCESS" not in pfc


def test_tagged_build_names_rules() -> None:
    pol = Policy(ALLOW, (Rule(("dup",), EPERM), Rule(("getpid",), EPERM),
                         Rule(("getsid",), ALLOW)))
    flt = sandbox.compile_tagged(pol, CTX)
    assert sorted(flt.tags.values()) == [0, 1] and flt.skipped == (2,)
    trace_default = Policy(Action("trace", 1), (Rule(("dup",), EPERM),))
    assert list(sandbox.compile_tagged(trace_default, CTX).tags) == [errno_(1).ret]


PROBE = ("import os, sys\n"
         "try:\n    os.getsid(0)\nexcept OSError as e:\n    sys.exit(e.errno)\n"
         "sys.exit(0)\n")


def test_run_under_applies_the_filter_to_the_program() -> None:
    deny = sandbox.compile(Policy(ALLOW, (Rule(("getsid",), errno_(77)),)), CTX)
    assert sandbox.run_under(deny, [sys.executable, "-c", PROBE]) == 77
    kill = sandbox.compile(Policy(ALLOW, (Rule(("getsid",), Action("kill_process")),)), CTX)
    assert sandbox.run_under(kill, [sys.executable, "-c", PROBE]) == -signal.SIGSYS
    none = sandbox.compile(Policy(ALLOW, ()), CTX)
    assert sandbox.run_under(none, [sys.executable, "-c", PROBE]) == 0
    # and the evaluator agrees with what happened
    assert evaluate(Policy(ALLOW, (Rule(("getsid",), errno_(77)),)), CTX, "x86_64",
                    "getsid").action == errno_(77)


def test_a_filter_that_denies_execve_stops_the_program() -> None:
    flt = sandbox.compile(Policy(ALLOW, (Rule(("execve",), EPERM),)), CTX)
    with pytest.raises(TraceError, match=r"could not start under the filter: Operation not "
                                         r"permitted \(the policy must allow execve"):
        sandbox.run_under(flt, [sys.executable, "-c", "pass"])
    enosys = sandbox.compile(Policy(ALLOW, (Rule(("execve",), Action("errno", 38)),)), CTX)
    with pytest.raises(TraceError, match="Function not implemented"):
        sandbox.run_under(enosys, [sys.executable, "-c", "pass"])


def test_run_under_a_missing_or_unusable_program(tmp_path: Path) -> None:
    flt = sandbox.compile(Policy(ALLOW, ()), CTX)
    with pytest.raises(TraceError, match="program not found: /nonexistent/prog"):
        sandbox.run_under(flt, ["/nonexistent/prog"])
    with pytest.raises(TraceError, match="program not found: no-such-program-here"):
        sandbox.run_under(flt, ["no-such-program-here"])
    data = tmp_path / "data.txt"
    data.write_text("not a program\n")
    with pytest.raises(TraceError, match="program not executable"):
        sandbox.run_under(flt, [str(data)])
