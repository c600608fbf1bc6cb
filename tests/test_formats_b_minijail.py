"""minijail .policy reader and writer on minijail's and ChromeOS's own policies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tracebench.errors import PolicyError
from tracebench.policy.formats import FORMATS, minijail
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule

FIX = Path(__file__).parent / "fixtures" / "policies-b"
KILL = Action("kill_thread")
POLICIES = ["minijail-cat.policy", "minijail-cros_default_v0.policy",
            "minijail-test-stdin_stdout.policy", "cros-capture-packets-amd64.policy",
            "cros-capture-packets-arm.policy", "cros-resourced-seccomp-amd64.policy",
            "cros-tpm_managerd-seccomp-amd64.policy"]


def text(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def read(name: str) -> Policy:
    return minijail.read(text(name), name)


def decide(p: Policy, name: str, *args: int) -> Action:
    """The action of the one rule matching (the reader's rules never overlap)."""
    hits = {r.action for r in p.rules if name in r.names
            and all(c.matches(args[c.arg]) for c in r.conditions)}
    assert len(hits) <= 1, hits
    return hits.pop() if hits else p.default_action


def conds(p: Policy, name: str) -> list[tuple[Condition, ...]]:
    return [r.conditions for r in p.rules if name in r.names]


def normal(p: Policy) -> Policy:
    return dataclasses.replace(p, warnings=(), name="", rules=tuple(
        dataclasses.replace(r, line=None) for r in p.rules))


def test_cat_policy() -> None:
    p = read("minijail-cat.policy")
    assert p.default_action == KILL and p.arches == ("x86_64",)
    # 11 "name: 1" lines, one of them mseal (unknown to libseccomp 2.5.4), plus
    # mmap: arg2 in ~PROT_EXEC || arg2 in ~PROT_WRITE as two rules
    assert len(p.rules) == 10 + 2 and p.dropped == ("mseal",)
    assert conds(p, "mmap") == [(Condition(2, "masked_eq", 0, 4),),
                                (Condition(2, "masked_eq", 0, 2),)]
    assert {r.line for r in p.rules if "mmap" in r.names} == {17}
    assert decide(p, "mmap", 0, 0, 7) == KILL  # PROT_READ|PROT_WRITE|PROT_EXEC
    assert decide(p, "mmap", 0, 0, 5) == ALLOW and decide(p, "mmap", 0, 0, 3) == ALLOW
    assert decide(p, "fadvise64", 0) == ALLOW and decide(p, "socket", 0) == KILL


def test_stdin_stdout_policy() -> None:
    p = read("minijail-test-stdin_stdout.policy")
    assert [r.line for r in p.rules] == [1, 2, 2, 3, 4]
    assert decide(p, "write", 1) == ALLOW and decide(p, "write", 2) == ALLOW
    assert decide(p, "write", 3) == KILL and decide(p, "read", 1) == KILL


def test_denylist_policy() -> None:
    # @denylist: default allow; "bpf: return EPERM"
    p = read("minijail-cros_default_v0.policy")
    assert p.default_action == ALLOW
    assert p.rules == (Rule(("bpf",), Action("errno", 1), line=4),)


def test_capture_packets_constants_and_continuation() -> None:
    p = read("cros-capture-packets-amd64.policy")
    # ioctl: arg1 == SIOCGIFINDEX || ... \  (continued on the next line)
    assert sorted(c[0].value for c in conds(p, "ioctl")) == [0x8913, 0x8914, 0x8927, 0x8933,
                                                            0x8946]
    assert {r.line for r in p.rules if "ioctl" in r.names} == {17}
    assert decide(p, "socket", 17) == ALLOW and decide(p, "socket", 2) == KILL  # AF_PACKET
    # 32 "name: 1" calls besides mseal; mmap, mprotect, socket 2 rules each, ioctl 5
    assert len(p.rules) == 32 + 2 + 2 + 2 + 5


def test_arm_policy_resolves_arm_names() -> None:
    p = read("cros-capture-packets-arm.policy")
    assert p.arches == ("arm",)
    names = {n for r in p.rules for n in r.names}
    assert {"mmap2", "fstat64", "fstatat64", "setresuid32", "set_tls"} <= names
    # arm has constants of its own: no "take their x86-64 header values" warning
    assert not any("x86-64 header values" in w for w in p.warnings), p.warnings
    # the same text under another name: the names alone say arm
    assert minijail.read(text("cros-capture-packets-arm.policy"), "p.policy").arches == ("arm",)
    with pytest.raises(PolicyError, match="nonexistent syscall 'mmap2' on x86_64"):
        minijail.read_policy(text("cros-capture-packets-arm.policy"), "p.policy", arch="x86_64")


@pytest.mark.parametrize(("arch", "o_directory", "o_largefile"), [
    ("x86_64", 0o200000, 0), ("i386", 0o200000, 0o100000), ("arm", 0o40000, 0o400000),
    ("aarch64", 0o40000, 0),
])
def test_constants_are_the_architectures_own(arch: str, o_directory: int,
                                             o_largefile: int) -> None:
    # Values from each architecture's headers (asm-generic/fcntl.h, arch/arm's
    # fcntl.h; glibc's O_LARGEFILE is 0 where it is implicit).
    body = "openat: arg2 == O_DIRECTORY || arg2 == O_LARGEFILE\n"
    p = minijail.read_policy(body, "o.policy", arch=arch)
    assert sorted(c[0].value for c in conds(p, "openat")) == sorted({o_directory, o_largefile})
    assert not p.warnings


def test_architectures_without_constants_take_x86_64s_with_a_warning() -> None:
    p = minijail.read_policy("openat: arg2 == O_RDONLY\n", "o.policy", arch="ppc64le")
    assert any("O_RDONLY take their x86-64 header values" in w for w in p.warnings)
    with pytest.raises(PolicyError, match="MAP_32BIT exists on x86 only"):
        minijail.read_policy("mmap: arg3 == MAP_32BIT\n", "m.policy", arch="ppc64le")
    with pytest.raises(PolicyError, match="unknown constant 'MAP_32BIT'"):
        minijail.read_policy("mmap: arg3 == MAP_32BIT\n", "m.policy", arch="aarch64")


def test_resourced_kill_and_new_constants() -> None:
    p = read("cros-resourced-seccomp-amd64.policy")
    # "kcmp: kill" etc. equal the default action: no rule, the call is killed
    assert decide(p, "ptrace", 0) == KILL and not conds(p, "ptrace")
    assert decide(p, "madvise", 0, 0, 102) == ALLOW  # MADV_GUARD_INSTALL (Linux 6.13)
    assert decide(p, "madvise", 0, 0, 3) == KILL
    assert decide(p, "getrandom", 0, 0, 2) == KILL  # arg2 in ~GRND_RANDOM
    assert decide(p, "prctl", 15) == ALLOW  # PR_SET_NAME


def test_semicolon_return_means_else_errno_by_default() -> None:
    # "socket: arg0 == AF_UNIX; return 1" with the comment "This call should
    # return EPERM when calling with wrong argument" (minijail0(5) meaning)
    p = read("cros-tpm_managerd-seccomp-amd64.policy")
    assert decide(p, "socket", 1) == ALLOW and decide(p, "socket", 2) == Action("errno", 1)
    assert decide(p, "prctl", 0) == Action("errno", 1)
    assert any("compile_seccomp_policy reads it the other way" in w for w in p.warnings)
    other = minijail.read_policy(text("cros-tpm_managerd-seccomp-amd64.policy"), "t.policy",
                                 dialect=minijail.COMPILE_SECCOMP_POLICY)
    assert decide(other, "socket", 1) == Action("errno", 1) and decide(other, "socket", 2) == KILL
    # "kill" as a syscall name is not compile_seccomp_policy syntax
    sig = minijail.read_policy("kill: arg1 == 0; return 1\n", "k.policy", arch="x86_64")
    assert decide(sig, "kill", 5, 0) == ALLOW and decide(sig, "kill", 5, 9) == Action("errno", 1)


def test_first_match_filters_become_disjoint_rules() -> None:
    body = "read: {arg0 == 1; return 5, arg0 < 10; return 6, arg1 & 0x3; trap}\n"
    p = minijail.read_policy(body, "t.policy", arch="x86_64")
    expect = {1: Action("errno", 5), 0: Action("errno", 6), 9: Action("errno", 6)}
    for a0, action in expect.items():
        assert decide(p, "read", a0, 0) == action
    assert decide(p, "read", 12, 2) == Action("trap")
    assert decide(p, "read", 12, 4) == KILL


def test_braced_lists_of_syscalls_and_of_filters() -> None:
    p = minijail.read_policy("{read, write}: 1\nclose: {arg0 == 3; return 7, allow}\n",
                             "t.policy", arch="x86_64")
    assert decide(p, "read", 0, 0) == ALLOW and decide(p, "write", 0, 0) == ALLOW
    assert decide(p, "close", 3, 0) == Action("errno", 7) and decide(p, "close", 4, 0) == ALLOW
    assert decide(p, "open", 0, 0) == KILL
    for body in ("{read, write: 1\n", "read: {arg0 == 1; return 5, allow\n"):
        with pytest.raises(PolicyError, match="unclosed brace") as e:
            minijail.read_policy(body, "t.policy", arch="x86_64")
        assert (e.value.path, e.value.line) == ("t.policy", 1)


def test_include() -> None:
    nested = text("minijail-test-nested-include.policy")  # @include ./test/nested.policy
    with pytest.raises(PolicyError) as e:
        minijail.read(nested, "nested.policy")
    assert (e.value.path, e.value.line) == ("nested.policy", 1)

    def loader(include: str, origin: str) -> tuple[str, str]:
        assert include == "./test/nested.policy"
        return nested, "test/nested.policy"

    with pytest.raises(PolicyError, match="@include cycle"):
        minijail.read_policy(nested, "test/nested.policy", loader=loader, arch="x86_64")
    files = {"./a.policy": ("read: 1\n", "a.policy")}
    p = minijail.read_policy("@include ./a.policy\nwrite: 1\n", "m.policy", arch="x86_64",
                             loader=lambda inc, origin: files[inc])
    assert [(r.names, r.line) for r in p.rules] == [(("read",), 1), (("write",), 2)]


@pytest.mark.parametrize(("body", "line", "message"), [
    ("read: 1\nmmap: arg2 == NOT_A_CONSTANT\n", 2, "unknown constant 'NOT_A_CONSTANT'"),
    ("read 1\n", 1, "missing ':'"),
    ("read: 1\nread: 1\n", 2, "defined twice"),
    ("read: arg0 === 1\n", 1, "invalid token|expected a constant"),
    ("read: arg7 == 1\n", 1, "invalid argument arg7"),
    ("bogus_call: return 1\n", 1, "unknown syscall 'bogus_call'"),
    ("read: 1\n@denylist\n", 1, "must 'return'"),
    ("read: arg0 == 1 \\\n", 1, "ends inside a backslash continuation"),
])
def test_malformed_policies(body: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as e:
        minijail.read_policy(body, "bad.policy", arch="x86_64")
    assert (e.value.path, e.value.line) == ("bad.policy", line)


@pytest.mark.parametrize("name", POLICIES)
def test_round_trip(name: str) -> None:
    p = read(name)
    written = minijail.write(p)
    assert normal(minijail.read_policy(written, "w.policy", arch=p.arches[0])) == normal(p)


def test_writer_text() -> None:
    p = read("cros-tpm_managerd-seccomp-amd64.policy")
    lines = minijail.write(p).splitlines()
    assert "socket: arg0 == 0x1; return 1" in lines
    assert "mmap: arg2 in ~0x4 || arg2 in ~0x2" in lines
    assert "mseal: 1" in lines  # dropped names are kept
    arm = minijail.write(read("cros-capture-packets-arm.policy")).splitlines()
    assert "ARM_set_tls: 1" in arm
    with pytest.raises(PolicyError, match="one architecture"):
        minijail.write(Policy(KILL, (), ("x86_64", "i386")))
    with pytest.raises(PolicyError, match="default action"):
        minijail.write(Policy(Action("errno", 1), (Rule(("read",), ALLOW),), ("x86_64",)))


def test_registered_and_sniffed() -> None:
    assert FORMATS["minijail"] is minijail.FORMAT
    assert all(minijail.sniff(text(n)) for n in [*POLICIES,
                                                 "minijail-test-nested-include.policy"])
    assert not minijail.sniff(text("fstrim.service"))
    assert not minijail.sniff(text("lxc-common.seccomp"))
