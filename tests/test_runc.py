"""Held to runc itself: the evaluator's model of runc (``Context.runtime ==
"runc"``), and emit's allowlists as runc loads them.

A static program (tests/programs/errnos.c, and errnos32.c for i386 calls)
runs as a runc container whose seccomp profile is one tracebench wrote, as
Docker hands a profile to runc (the host's architectures as a flat list,
capability gates already applied).
For each syscall number it makes, the errno it sees must be what
``evaluate`` says with runc's ENOSYS stub modelled; without the stub the
evaluator is wrong for some of them, which shows the test can tell.
runc comes from Debian (scripts/bootstrap.sh installs it) and links the same
libseccomp as tracebench, so both take the same highest syscall number.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from programs.console import tb
from programs.probes import agrees, results, tool
from programs.tracer_programs import build

from tracebench import syscalls
from tracebench.cli import main
from tracebench.diff import DENIED, diff
from tracebench.policy import Action, Context, Policy, Rule
from tracebench.policy.evaluate import evaluate
from tracebench.policy.formats import FORMATS, oci
from tracebench.profile import ProfileBuilder, Provenance

DOCKER = Path(__file__).resolve().parent.parent / "tracebench" / "policies" / "docker-default.json"
RUNC = Context("x86_64", runtime="runc")
BARE = Context("x86_64")
# Harmless with arguments (-1, 0, ...) when they run: getpid, getppid, gettid,
# mount (EFAULT), getrandom of 0 bytes, clone3 of size 0 (EINVAL),
# futex_waitv (EINVAL), futex_requeue (EFAULT); the others do not exist.
PROBES = (39, 110, 186, 165, 318, 435, 449, 456, 457, 460, 500, 1000)


def docker_policy() -> Policy:
    read = FORMATS["oci"].read
    assert read is not None
    return read(DOCKER.read_text(), str(DOCKER)).for_machine("x86_64").resolve(BARE)


def below(policy: Policy, highest: int) -> Policy:
    """``policy`` without the names numbered above ``highest`` on x86_64."""
    def keep(name: str) -> bool:
        nr = syscalls.number("x86_64", name)
        return nr is not None and nr <= highest
    rules = [Rule(tuple(filter(keep, r.names)), r.action, r.conditions) for r in policy.rules]
    return policy.with_rules(r for r in rules if r.names)


def runtime_profile(text: str) -> dict[str, object]:
    """The seccomp section of a runc config, from tracebench's OCI output as Docker
    makes it: the archMap entry of the host becomes the flat architectures list."""
    doc = json.loads(text)
    arches: list[str] = []
    for entry in doc.pop("archMap", []):
        if entry["architecture"] == "SCMP_ARCH_X86_64":
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]
    doc["architectures"] = arches or ["SCMP_ARCH_X86_64"]
    return doc


def runc_run(tmp_path: Path, profile_text: str, program: str, args: list[str]
             ) -> subprocess.CompletedProcess[str]:
    """``program`` (one of tests/programs) alone in a runc container, under an OCI
    seccomp profile as tracebench writes it."""
    runc = tool("runc")
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    shutil.copy(build()[program], bundle / "rootfs" / program)
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = [f"/{program}", *args]
    config["linux"]["seccomp"] = runtime_profile(profile_text)
    (bundle / "config.json").write_text(json.dumps(config))
    state = tmp_path / "state"
    name = f"tracebench-{tmp_path.name}"
    try:
        return subprocess.run([runc, "--root", str(state), "run", "--bundle", str(bundle),
                               name], capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run([runc, "--root", str(state), "delete", "--force", name],
                       capture_output=True, check=False)


def run_in_runc(tmp_path: Path, policy: Policy, program: str = "errnos"
                ) -> dict[int, tuple[int, int]]:
    """NR -> (result, errno) of a probe program in a runc container under ``policy``."""
    # errnos32 has its numbers built in
    args = [str(n) for n in PROBES] if program == "errnos" else []
    out = runc_run(tmp_path, oci.write(policy), program, args)
    assert out.returncode == 0, out.stderr
    return results(out.stdout)


def predicted(policy: Policy, ctx: Context, nr: int, arch: str = "x86_64") -> Action:
    names = [n for n in syscalls.names(arch) if syscalls.number(arch, n) == nr]
    return evaluate(policy, ctx, arch, names[0] if names else f"syscall_{nr:#x}").action


# What runc's stub or the policy answers with; a call that ran gets neither.
DENY_ERRNOS = (errno.EPERM, errno.ENOSYS)


@pytest.mark.parametrize("highest", [None, 302], ids=["docker-default", "up-to-prlimit64"])
def test_runc_answers_as_the_evaluator_says(tmp_path: Path, highest: int | None) -> None:
    policy = docker_policy() if highest is None else below(docker_policy(), highest)
    seen = run_in_runc(tmp_path, policy)
    assert sorted(seen) == sorted(PROBES)
    wrong = {nr: (str(predicted(policy, RUNC, nr)), seen[nr]) for nr in PROBES
             if not agrees(predicted(policy, RUNC, nr), seen[nr], DENY_ERRNOS)}
    assert wrong == {}
    # The stub is what makes the difference: without it, numbers above the
    # highest would get the default errno(1), and runc gives ENOSYS.
    stubbed = [nr for nr in PROBES
               if not agrees(predicted(policy, BARE, nr), seen[nr], DENY_ERRNOS)]
    assert stubbed and all(seen[nr] == (-1, errno.ENOSYS) for nr in stubbed)
    if highest is not None:
        assert {318, 435, 1000} <= set(stubbed)


def test_runc_answers_i386_calls_as_the_evaluator_says(tmp_path: Path) -> None:
    # A 32-bit program under Docker's default (architectures x86_64, x86, x32):
    # runc's stub has an i386 section of its own.
    policy = docker_policy()
    assert "i386" in policy.arches
    seen = run_in_runc(tmp_path, policy, "errnos32")
    assert sorted(seen) == [20, 21, 64, 224, 435, 449, 456, 457, 460, 500, 1000]
    wrong = {nr: (str(predicted(policy, RUNC, nr, "i386")), got) for nr, got in seen.items()
             if not agrees(predicted(policy, RUNC, nr, "i386"), got, DENY_ERRNOS)}
    assert wrong == {}
    assert seen[1000] == (-1, errno.ENOSYS) and seen[20] == (1, 0)  # getpid: pid 1
    stubbed = [nr for nr, got in seen.items()
               if not agrees(predicted(policy, BARE, nr, "i386"), got, DENY_ERRNOS)]
    assert stubbed and all(seen[nr] == (-1, errno.ENOSYS) for nr in stubbed)


def test_no_stub_under_a_permissive_default() -> None:
    # runc's isAllowAction: allow, log and trace defaults get no stub.
    for default in (Action("allow"), Action("log"), Action("trace", 5)):
        p = Policy(default, (Rule(("read",), Action("errno", 1)),))
        assert evaluate(p, RUNC, "x86_64", "clone3").action == default
    p = Policy(Action("kill_process"), (Rule(("read", "write"), Action("allow")),))
    d = evaluate(p, RUNC, "x86_64", "getpid")
    assert d.action == Action("errno", errno.ENOSYS) and d.stub == 1
    assert evaluate(p, RUNC, "x86_64", "write").action == Action("allow")
    # Highest number 0 (only read): runc finds "no syscalls" and adds no stub.
    p = Policy(Action("kill_process"), (Rule(("read",), Action("allow")),))
    d = evaluate(p, RUNC, "x86_64", "write")
    assert d.action == Action("kill_process") and d.stub is None


def test_diff_names_the_stub() -> None:
    b = ProfileBuilder(Provenance("strace-summary"))
    for name in ("read", "clone3", "mount"):
        b.add("x86_64", name, calls=1)
    small = Policy(Action("errno", 1), (Rule(("read", "write", "rseq"), Action("allow")),))
    used = {u.name: u for u in diff(b.build(), small, RUNC).arches[0].used}
    assert used["clone3"].verdict == DENIED and used["clone3"].stub == 334 and used["clone3"].enosys
    assert used["clone3"].detail.startswith("number above 334, the highest the policy names")
    assert used["mount"].stub is None and used["mount"].action == Action("errno", 1)
    bare = {u.name: u for u in diff(b.build(), small, BARE).arches[0].used}
    assert bare["clone3"].action == Action("errno", 1) and not bare["clone3"].enosys


def test_an_unknown_runtime_is_a_one_line_error(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["diff", "docker-default", "--runtime", "crun"],
                             env={"TRACEBENCH_STORE": str(tmp_path)})
    assert out.exit_code == 2
    assert out.output == "tracebench: --runtime: unknown runtime 'crun' (known: runc)\n"


def test_an_emitted_allowlist_starts_under_runc_with_the_runtime_base(tmp_path: Path) -> None:
    # What `record` saw of a program is what it calls; runc itself still makes a
    # few calls after loading the filter (it closes its log pipe, then execve):
    # without them the container cannot start.  `emit --base runc-base` adds
    # them (security-profiles-operator's base profile for runc).
    store = tmp_path / "store"
    args = ["39", "110"]  # getpid, getppid
    out = tb(store, "record", "-q", "--", build()["errnos"], *args)
    assert out.returncode == 0, out.stderr
    alone = tb(store, "emit", "--format", "oci")
    based = tb(store, "emit", "--format", "oci", "--base", "runc-base")
    assert alone.returncode == 0 and based.returncode == 0, alone.stderr + based.stderr
    # emit says so when it writes for a container runtime without a base
    assert "add --base runc-base" in alone.stderr and "runc-base" not in based.stderr
    plain = tb(store, "emit", "--format", "plain")
    assert plain.returncode == 0 and "runc-base" not in plain.stderr
    failed = runc_run(tmp_path / "alone", alone.stdout, "errnos", args)
    assert failed.returncode != 0 and "operation not permitted" in failed.stderr
    ran = runc_run(tmp_path / "based", based.stdout, "errnos", args)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "39 1 0\n110 0 0\n"  # pid 1 in its namespace, no parent there


def test_pinned_arguments_are_enforced_by_runc(tmp_path: Path) -> None:
    # The whole loop on one argument: record a program that opens AF_UNIX and
    # AF_INET sockets, emit with socket's domain pinned (and runc's base), and
    # run it in runc: the recorded domains work, AF_INET6 gets the default EPERM.
    store = tmp_path / "store"
    out = tb(store, "record", "-q", "--", build()["sockets"], "1", "2")
    assert out.returncode == 0, out.stderr
    based = tb(store, "emit", "--format", "oci", "--base", "runc-base", "--pin-args", "socket")
    assert based.returncode == 0, based.stderr
    ran = runc_run(tmp_path / "run", based.stdout, "sockets", ["1", "2", "10"])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"1 0 0\n2 0 0\n10 -1 {errno.EPERM}\n"
    # Unpinned, socket is allowed whatever the domain.
    loose = tb(store, "emit", "--format", "oci", "--base", "runc-base")
    ran = runc_run(tmp_path / "loose", loose.stdout, "sockets", ["1", "2", "10"])
    assert ran.returncode == 0 and ran.stdout == "1 0 0\n2 0 0\n10 0 0\n", ran.stderr


def test_a_32_bit_programs_allowlist_covers_its_architecture_in_runc(tmp_path: Path) -> None:
    # m32 makes i386 calls only (int $0x80): emit targets i386 as well as the
    # machine's x86_64, and runc loads both; an allowlist for x86_64 alone
    # does not let the program's first i386 call through.
    store = tmp_path / "store"
    out = tb(store, "record", "-q", "--", build()["m32"])
    assert out.returncode == 0, out.stderr
    both = tb(store, "emit", "--format", "oci", "--base", "runc-base")
    assert both.returncode == 0, both.stderr
    arches = runtime_profile(both.stdout)["architectures"]
    assert isinstance(arches, list) and "SCMP_ARCH_X86" in arches
    ran = runc_run(tmp_path / "both", both.stdout, "m32", [])
    assert ran.returncode == 0 and ran.stdout == "m32\nm32\n", ran.stderr
    native = tb(store, "emit", "--format", "oci", "--base", "runc-base", "--arch", "x86_64")
    ran = runc_run(tmp_path / "native", native.stdout, "m32", [])
    assert ran.returncode != 0 and ran.stdout == ""
