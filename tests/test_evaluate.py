"""The evaluator's answers for policies built in code (kernel agreement: test_evaluate_kernel)."""

from __future__ import annotations

import pytest

from tracebench import sandbox
from tracebench.errors import PolicyError
from tracebench.policy.evaluate import Decision, evaluate
from tracebench.policy.model import (
    ALLOW,
    DOCKER_DEFAULT_CAPS,
    Action,
    Condition,
    Context,
    Gate,
    Policy,
    Rule,
)

CTX = Context("x86_64")
EPERM, ENOSYS = Action("errno", 1), Action("errno", 38)


def errno_(n: int) -> Action:
    return Action("errno", n)


# A Docker-shaped policy: default errno(1), clone3 gated on CAP_SYS_ADMIN both
# ways (as docker-default.json), personality allowed for some values only.
DOCKERISH = Policy(EPERM, (
    Rule(("read", "write", "getpid"), ALLOW, line=5),
    Rule(("clone3",), ALLOW, gate=Gate(caps=frozenset({"CAP_SYS_ADMIN"})), line=9),
    Rule(("clone3",), ENOSYS, gate=Gate(not_caps=frozenset({"CAP_SYS_ADMIN"})), line=14),
    Rule(("personality",), ALLOW, (Condition(0, "eq", 0),), line=20),
    Rule(("personality",), ALLOW, (Condition(0, "eq", 8),), line=25),
    Rule(("personality",), ALLOW, (Condition(0, "eq", 0xFFFFFFFF),), line=30),
    Rule(("io_uring_setup",), ALLOW, gate=Gate(min_kernel=(7, 0)), line=35),
), arches=("x86_64", "i386", "x32"), name="dockerish")


def test_gates_are_judged_in_the_context() -> None:
    d = evaluate(DOCKERISH, CTX, "x86_64", "clone3")
    assert (d.action, d.rule_index, d.undecided) == (ENOSYS, 2, False)
    admin = Context("x86_64", DOCKER_DEFAULT_CAPS | {"CAP_SYS_ADMIN"})
    d = evaluate(DOCKERISH, admin, "x86_64", "clone3")
    assert (d.action, d.rule_index) == (ALLOW, 1)
    # min_kernel compares (major, minor)
    assert evaluate(DOCKERISH, CTX, "x86_64", "io_uring_setup").action == EPERM
    assert evaluate(DOCKERISH, Context("x86_64", kernel=(7, 0)), "x86_64",
                    "io_uring_setup").rule_index == 6


def test_compile_applies_gates_as_policy_resolve_does() -> None:
    import dataclasses

    for ctx in (CTX, Context("x86_64", DOCKER_DEFAULT_CAPS | {"CAP_SYS_ADMIN"}, (7, 1))):
        resolved = DOCKERISH.resolve(ctx)
        a = sandbox.compile(DOCKERISH, ctx).export_bpf()
        b = sandbox.compile(dataclasses.replace(resolved, name="resolved"), ctx).export_bpf()
        assert a == b


def test_argument_conditions_make_a_call_undecided_without_arguments() -> None:
    d = evaluate(DOCKERISH, CTX, "x86_64", "personality")
    assert d.undecided and d.allowed is None
    assert d.actions == {EPERM, ALLOW}
    # most restrictive first; every example reproduces its outcome
    assert d.action == EPERM and d.outcomes[0].rule_index is None
    assert d.outcomes[1].rule_index == 3 and d.outcomes[1].example == (0, 0, 0, 0, 0, 0)
    assert d.outcomes[0].example == (1, 0, 0, 0, 0, 0)
    for o in d.outcomes:
        again = evaluate(DOCKERISH, CTX, "x86_64", "personality", o.example)
        assert (again.action, again.rule_index, again.undecided) == (
            o.action, o.rule_index, False)
    assert evaluate(DOCKERISH, CTX, "x86_64", "personality", [8]).rule_index == 4
    assert evaluate(DOCKERISH, CTX, "x86_64", "personality", [0xFFFFFFFF]).rule_index == 5
    assert evaluate(DOCKERISH, CTX, "x86_64", "personality", [9]).action == EPERM


def test_calls_without_conditions_are_decided_whatever_the_arguments() -> None:
    d = evaluate(DOCKERISH, CTX, "x86_64", "read")
    assert d == Decision(ALLOW, 0, False, d.outcomes, False)
    assert d.allowed is True
    assert evaluate(DOCKERISH, CTX, "x86_64", "read", [1, 2, 3]).outcomes[0].example == (
        1, 2, 3, 0, 0, 0)
    d = evaluate(DOCKERISH, CTX, "x86_64", "mount")
    assert (d.action, d.rule_index, d.allowed) == (EPERM, None, False)


def test_partly_known_arguments() -> None:
    pol = Policy(ALLOW, (Rule(("dup",), errno_(7), (Condition(0, "eq", 5),
                                                    Condition(2, "gt", 10)), line=3),))
    assert evaluate(pol, CTX, "x86_64", "dup", [6]).actions == {ALLOW}  # arg0 decides
    d = evaluate(pol, CTX, "x86_64", "dup", [5])
    assert d.undecided and d.actions == {errno_(7), ALLOW}
    assert d.outcomes[0].example == (5, 0, 11, 0, 0, 0)
    d = evaluate(pol, CTX, "x86_64", "dup", [5, None, 11])
    assert not d.undecided and (d.action, d.rule_index) == (errno_(7), 0)
    assert evaluate(pol, CTX, "x86_64", "dup", [None, None, 3]).actions == {ALLOW}


def test_the_first_matching_rule_with_the_decided_action_is_named() -> None:
    pol = Policy(ALLOW, (
        Rule(("dup",), errno_(7), (Condition(0, "ge", 50),), line=1),
        Rule(("dup",), errno_(7), (Condition(0, "ge", 10),), line=2),
        Rule(("dup",), errno_(8), (Condition(0, "eq", 60),), line=3),
    ))
    assert evaluate(pol, CTX, "x86_64", "dup", [20]).rule_index == 1
    assert evaluate(pol, CTX, "x86_64", "dup", [55]).rule_index == 0
    assert evaluate(pol, CTX, "x86_64", "dup", [3]).rule_index is None
    d = evaluate(pol, CTX, "x86_64", "dup", [60])  # overlapping: the tree decides
    assert d.rule_index == (2 if d.action == errno_(8) else 0)


def test_architectures() -> None:
    pol = Policy(ALLOW, (Rule(("getpid",), errno_(9), line=1),
                         Rule(("getppid",), errno_(10), arches=("i386",), line=2)),
                 arches=("x86_64", "x32", "i386"))
    for arch in ("x86_64", "x32", "i386", "x86", "SCMP_ARCH_X86_64"):
        assert evaluate(pol, CTX, arch, "getpid").action == errno_(9)
    assert evaluate(pol, CTX, "i386", "getppid").rule_index == 1
    assert evaluate(pol, CTX, "x86_64", "getppid").action == ALLOW
    # an architecture the policy does not name gets libseccomp's bad-arch action
    native = Policy(ALLOW, pol.rules[:1], name="native only")
    for arch in ("x32", "i386", "aarch64"):
        d = evaluate(native, CTX, arch, "getpid")
        assert d.bad_arch and d.action == Action("kill_thread") and d.rule_index is None
    assert not evaluate(native, CTX, "x86_64", "getpid").bad_arch


def test_big_endian_architectures_compare_the_right_halves() -> None:
    pol = Policy(ALLOW, (Rule(("dup",), errno_(11), (Condition(0, "eq", 5),), line=1),),
                 arches=("s390x",))
    assert sandbox.compile(pol, CTX).big_endian
    assert evaluate(pol, CTX, "s390x", "dup", [5]).action == errno_(11)
    assert evaluate(pol, CTX, "s390x", "dup", [5 << 32]).action == ALLOW
    assert evaluate(pol, CTX, "s390x", "dup", [5 | 1 << 32]).action == ALLOW


def test_raw_syscall_numbers_in_rules() -> None:
    # strace names calls it does not know syscall_0xNNN; getpid is 39 on x86_64
    pol = Policy(ALLOW, (Rule(("syscall_0x27",), errno_(12), line=1),), name="raw")
    d = evaluate(pol, CTX, "x86_64", "getpid")
    assert (d.action, d.rule_index) == (errno_(12), 0)
    assert evaluate(pol, CTX, "x86_64", "syscall_0x27").action == errno_(12)


def test_errors() -> None:
    with pytest.raises(PolicyError, match="not a syscall on x86_64"):
        evaluate(DOCKERISH, CTX, "x86_64", "socketcall")
    with pytest.raises(PolicyError, match="unknown architecture"):
        evaluate(DOCKERISH, CTX, "vax", "read")
    bogus = Policy(ALLOW, (Rule(("getpid", "not_a_syscall"), EPERM, line=4),))
    with pytest.raises(PolicyError) as e:
        evaluate(bogus, CTX, "x86_64", "getpid")
    assert e.value.line == 4
    d = evaluate(bogus, CTX, "x86_64", "getpid", ignore_unknown=True)
    assert d.action == EPERM


def test_compiled_programs_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sandbox.compile

    def counting(*args: object, **kwargs: object) -> sandbox.CompiledFilter:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox, "compile", counting)
    pol = Policy(ALLOW, (Rule(("dup",), EPERM, (Condition(0, "eq", 1),)),), name="cache test")
    for arg in range(5):
        evaluate(pol, CTX, "x86_64", "dup", [arg])
        evaluate(pol, CTX, "x86_64", "getpid")
    assert len(calls) == 1
    evaluate(pol, Context("x86_64", kernel=(5, 4)), "x86_64", "dup")
    assert len(calls) == 2
