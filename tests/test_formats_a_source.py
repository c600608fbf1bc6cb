"""Generated source: the C (libseccomp) and Python (pyseccomp) programs, and Go for go-seccomp-bpf.

The C test compiles with ``gcc ... -lseccomp`` (CI needs libseccomp-dev).
The Go is parsed by tree-sitter-go, the Go grammar GitHub uses (there is no
Go toolchain here, and go-seccomp-bpf is not packaged to build against).
The programs must build the filter tracebench.sandbox builds (same decision
for every syscall), agree with each other byte for byte in libseccomp's
pseudo code, and do in the kernel what the real policies say.
"""

from __future__ import annotations

import errno
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_go
from test_formats_a_roundtrip import CASES, read_case
from tree_sitter import Language, Node, Parser

from tracebench import sandbox, syscalls
from tracebench.errors import PolicyError
from tracebench.policy.bpf import Program
from tracebench.policy.formats import beats, c_source, go_source, oci, python_source
from tracebench.policy.model import Action, Condition, Context, Gate, Policy, Rule

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
X86_64 = Context("x86_64")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def docker_x86_64() -> Policy:
    p = oci.read(fixture("docker-default.json"), "docker-default.json")
    return oci.for_host(p.resolve(X86_64), "x86_64")


def build_c(policy: Policy, tmp_path: Path) -> Path:
    src = tmp_path / "filter.c"
    src.write_text(c_source.write(policy))
    exe = tmp_path / "filter"
    subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-o", str(exe), str(src),
                    "-lseccomp"], check=True, capture_output=True, text=True)
    return exe


def python_module(policy: Policy, tmp_path: Path) -> Path:
    path = tmp_path / "generated_filter.py"
    path.write_text(python_source.write(policy))
    return path


def outcomes_per_call(program: Program, arches: tuple[str, ...]) -> dict[tuple[str, int],
                                                                         set[int]]:
    out = {}
    for arch in arches:
        for nr in syscalls.table(arch):
            found = program.outcomes({0: nr, 1: syscalls.AUDIT_ARCH[arch]})
            out[(arch, nr)] = {o.ret for o in found}
    return out


def test_c_and_python_build_the_filter_tracebench_builds(tmp_path: Path) -> None:
    policy = docker_x86_64()
    exe = build_c(policy, tmp_path)
    c_pfc = subprocess.run([str(exe), "--pfc"], check=True, capture_output=True).stdout
    py_pfc = subprocess.run([sys.executable, str(python_module(policy, tmp_path)), "--pfc"],
                            check=True, capture_output=True).stdout
    assert c_pfc == py_pfc
    assert b"# filter for arch x86 (1073741827)" in c_pfc
    c_bpf = subprocess.run([str(exe), "--bpf"], check=True, capture_output=True).stdout
    ours = sandbox.compile(policy, X86_64)
    mine = outcomes_per_call(Program.from_bytes(c_bpf), policy.arches)
    assert mine == outcomes_per_call(ours.program(), policy.arches)
    # clone3: ENOSYS without CAP_SYS_ADMIN (Docker's default capabilities).
    clone3 = syscalls.number("x86_64", "clone3")
    assert clone3 is not None
    assert mine[("x86_64", clone3)] == {Action("errno", 38).ret}


def test_generated_python_source() -> None:
    text = python_source.write(docker_x86_64())
    compile(text, "generated_filter.py", "exec")
    # Names this libseccomp does not know are added only where it does.
    assert "# Unknown to the libseccomp that wrote this file: getxattrat, listmount," in text
    assert re.search(r'"mseal",.*\n(.*\n)*?\s+\):\n\s+if _known\(name\):', text)
    assert '    f = seccomp.SyscallFilter(seccomp.ERRNO(1))\n' in text
    assert "seccomp.Arg(0, seccomp.MASKED_EQ, 0x7e020000, 0)" in text


KERNEL_CHECK = """
import errno, os, socket, sys
def code(call):
    try:
        call()
    except OSError as e:
        return errno.errorcode[e.errno]
    return "ok"
def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
s = socket.socket(socket.AF_UNIX)
print(code(lambda: s.connect("/nonexistent/socket")), code(fork), flush=True)
print(code(lambda: os.execv("/bin/true", ["true"])))  # printed only if execve fails
"""


def test_c_program_enforces_the_go_seccomp_bpf_example(tmp_path: Path) -> None:
    # go-seccomp-bpf's sandbox example denies connect (EPERM) and clone without
    # CLONE_NEWUSER (a fork), and allows the rest (execve included).
    p = beats.read(fixture("go-seccomp-bpf-sandbox-example.yml"), "seccomp.yml")
    exe = build_c(p, tmp_path)
    out = subprocess.run([str(exe), sys.executable, "-c", KERNEL_CHECK], check=False,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["EPERM", "EPERM"], out.stderr
    assert out.returncode == 0  # /bin/true replaced python: execve was allowed


def test_python_module_enforces_the_beats_denylist(tmp_path: Path) -> None:
    # Beats' documented example: execve, execveat, fork, vfork -> errno (EPERM).
    p = beats.read(fixture("beats-seccomp-denylist-example.yml"), "beats.yml")
    module = python_module(p, tmp_path)
    script = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import generated_filter; " \
        "generated_filter.load();" + KERNEL_CHECK
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                         text=True, timeout=60)
    # connect is allowed (the socket does not exist: ENOENT); the fork's clone
    # is not fork(2); execve is denied.
    assert out.stdout.split() == ["ENOENT", "ok", "EPERM"], out.stderr
    assert module.exists()


def test_unknown_name_in_a_denying_rule_fails_the_program(tmp_path: Path) -> None:
    # Leaving "mseal" out under an allowing default would allow it: the program
    # must not load a filter without it (this libseccomp does not know mseal).
    p = Policy(Action("allow"), (Rule(("mseal", "acct"), Action("errno", 1)),))
    exe = build_c(p, tmp_path)
    out = subprocess.run([str(exe), "/bin/true"], check=False, capture_output=True, text=True)
    assert out.returncode == 1
    assert "seccomp: rule for mseal: Invalid argument" in out.stderr
    module = python_module(p, tmp_path)
    out = subprocess.run([sys.executable, str(module), "/bin/true"], check=False,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "OSError" in out.stderr


@pytest.mark.parametrize(("policy", "message"), [
    (Policy(Action("errno", 1), (Rule(("reboot",), Action("allow"),
                                      gate=Gate(caps=frozenset({"CAP_SYS_BOOT"}))),)),
     "resolve the policy for a context first"),
    (Policy(Action("errno", 1), (Rule(("dup",), Action("allow"),
                                      (Condition(0, "ge", 1), Condition(0, "le", 9))),)),
     "compares one argument twice"),
    (Policy(Action("errno", 1), arches=("x86_64", "aarch64")), "one filter cannot hold"),
    (Policy(Action("errno", 1), arches=("loongarch64",)), "cannot target architecture"),
    (Policy(Action("errno", 1), (Rule(("read",), Action("trap", 3)),)), "carries no data"),
])
def test_refusals(policy: Policy, message: str) -> None:
    for writer in (c_source.write, python_source.write):
        with pytest.raises(PolicyError, match=message):
            writer(policy)


def test_rules_with_the_default_action_are_left_out() -> None:
    p = Policy(Action("errno", 1), (Rule(("read",), Action("allow")),
                                    Rule(("acct", "bpf"), Action("errno", 1))))
    text = c_source.write(p)
    assert "2 name(s) in rules with the default action are left out" in text
    assert '"acct"' not in text and 'RULE_IF_KNOWN(SCMP_ACT_ALLOW, "read", 0);' in text


# ---------------------------------------------------------------- Go

GO = Parser(Language(tree_sitter_go.language()))
GO_IMPORT = "github.com/elastic/go-seccomp-bpf"


def _go_policies() -> list[tuple[str, Policy]]:
    """Every fixture policy the Go writer takes: as read, or for x86_64 when it has several."""
    out = []
    for fmt, path in CASES:
        policy = read_case(fmt, path)
        if len(policy.arches) > 1:
            policy = oci.for_host(policy.resolve(X86_64), "x86_64")
        try:
            go_source.write(policy)
        except PolicyError:
            # What go-seccomp-bpf cannot say (Docker's profiles: errno other
            # than EPERM, conditions that may overlap): the Beats writer's
            # refusals, pinned in test_formats_a_beats.py.
            continue
        out.append((Path(path).name, policy))
    return out


GO_POLICIES = _go_policies()


def _go_nodes(text: str) -> Iterator[Node]:
    """Every node of the tree tree-sitter-go parses ``text`` into."""
    stack: list[Node] = [GO.parse(text.encode()).root_node]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def _go_problems(text: str) -> list[str]:
    """Where tree-sitter-go found a syntax error or a missing token (line:column)."""
    return [f"{n.start_point[0] + 1}:{n.start_point[1] + 1} {n.type}"
            for n in _go_nodes(text) if n.is_error or n.is_missing]


def _go_strings(text: str) -> set[str]:
    """The Go string literals in ``text`` but the import path."""
    return {n.text.decode()[1:-1] for n in _go_nodes(text)
            if n.type == "interpreted_string_literal" and n.text is not None} - {GO_IMPORT}


def test_the_go_parser_finds_what_is_broken() -> None:
    text = go_source.write(GO_POLICIES[0][1])
    assert _go_problems(text) == []
    assert _go_problems(text.replace("\n}\n", "\n", 1)) != []  # the last brace dropped
    assert _go_problems(text.replace(": seccomp.", " seccomp.", 1)) != []


@pytest.mark.parametrize("policy", [p for _, p in GO_POLICIES], ids=[n for n, _ in GO_POLICIES])
def test_go_source_is_go_and_names_every_call(policy: Policy) -> None:
    # The Beats, go-seccomp-bpf and Security Profiles Operator fixtures.
    assert len(GO_POLICIES) >= 10
    text = go_source.write(policy, package="sandbox", var="Allowed")
    assert _go_problems(text) == []
    assert _go_strings(text) == {n for r in policy.rules for n in r.names}


def test_go_struct_is_beats_own_policy_file() -> None:
    # Beats' policy_linux_amd64.go: DefaultAction errno, one allow group.  The
    # Policy built from its names must print as the same struct literal.
    source = fixture("beats-policy_linux_amd64.go.txt")
    names = re.findall(r'^\t{5}"([a-z0-9_]+)",$', source, re.M)
    assert len(names) == 110
    policy = Policy(Action("errno", 1), (Rule(tuple(names), Action("allow")),))
    body = source[source.index("&seccomp.Policy{"):source.rindex("\n}\n")]
    theirs = [line.strip() for line in body.splitlines()]
    ours = [line.strip() for line in go_source.policy_literal(policy)]
    assert ours == theirs


def test_go_source_of_the_sandbox_example() -> None:
    p = beats.read(fixture("go-seccomp-bpf-sandbox-example.yml"), "seccomp.yml")
    assert go_source.write(p, package="sandbox", var="NetworkPolicy") == """\
// Code generated by tracebench; DO NOT EDIT.

package sandbox

import (
\t"github.com/elastic/go-seccomp-bpf"
)

// NetworkPolicy is the seccomp policy seccomp, for github.com/elastic/go-seccomp-bpf.
var NetworkPolicy = &seccomp.Policy{
\tDefaultAction: seccomp.ActionAllow,
\tSyscalls: []seccomp.SyscallGroup{
\t\t{
\t\t\tAction: seccomp.ActionErrno,
\t\t\tNames: []string{
\t\t\t\t"accept",
\t\t\t\t"bind",
\t\t\t\t"connect",
\t\t\t\t"listen",
\t\t\t\t"recvfrom",
\t\t\t\t"recvmsg",
\t\t\t\t"sendmsg",
\t\t\t\t"sendto",
\t\t\t},
\t\t\tNamesWithCondtions: []seccomp.NameWithConditions{
\t\t\t\t{
\t\t\t\t\tName: "clone",
\t\t\t\t\tConditions: seccomp.ArgumentConditions{
\t\t\t\t\t\t{Argument: 0, Operation: seccomp.BitsNotSet, Value: 0x10000000},
\t\t\t\t\t},
\t\t\t\t},
\t\t\t},
\t\t},
\t},
}
"""
    with pytest.raises(ValueError, match="not a Go identifier"):
        go_source.write(p, package="my-package")


def test_errno_is_eperm_in_go_seccomp_bpf() -> None:
    assert errno.EPERM == 1
    with pytest.raises(PolicyError, match="errno = EPERM"):
        go_source.write(Policy(Action("errno", 13), (Rule(("read",), Action("allow")),)))


def test_runc_seccomp_integration_tests_pass_under_the_c_program(tmp_path: Path) -> None:
    # runc's tests/integration/seccomp.bats runs these programs under these
    # profiles: masked socket rules, OR over a repeated argument index,
    # errnoRet 55 (ENOANO), AND over two arguments, defaultErrnoRet 6 (ENXIO).
    results = []
    for n in (1, 2):
        policy = oci.read(fixture(f"runc-seccomp_syscall_test{n}.json"), "config.json")
        filter_exe = build_c(policy, tmp_path)
        test_exe = tmp_path / f"seccomp_test{n}"
        subprocess.run(["gcc", "-static", "-o", str(test_exe),
                        str(FIXTURES / f"runc-seccomp_syscall_test{n}.c")],
                       check=True, capture_output=True)
        out = subprocess.run([str(filter_exe), str(test_exe)], check=False,
                             capture_output=True, text=True, timeout=60)
        results.append((out.returncode, out.stdout, out.stderr))
    # Every assertion holds but the last of test 1: a number above every
    # syscall gets ENOSYS from a stub runc puts before the filter (runc PR
    # 2750), which is runc's, not the profile's; the profile's default is EPERM.
    assert results == [
        (32, "syscall_assert(syscall(1000, 0xDEADBEEF, 0xCAFEFEED, 0x1337) == -ENOSYS) "
             "failed: -1 != -38\n", ""),
        (0, "", ""),
    ]
