"""The firejail reader, held to firejail itself (Debian's firejail 0.9.72).

The seccomp lines of the profiles in the fixtures (and two written here)
go into a profile firejail runs a static program under
(tests/programs/errnos.c); for each syscall number it makes, the errno it
sees must be what the evaluator says of the Policy tracebench reads from the
same text.  scripts/bootstrap.sh installs firejail.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest
from programs.tracer_programs import build

from tracebench import syscalls
from tracebench.policy import Action, Context, Policy
from tracebench.policy.evaluate import evaluate
from tracebench.policy.formats import firejail

FIX = Path(__file__).parent / "fixtures" / "policies-b"
CTX = Context("x86_64")
ARGS = (-1 & 0xFFFFFFFFFFFFFFFF, 0, 0, 0, 0, 0)  # what errnos passes
# Harmless with arguments (-1, 0, ...) when they run (each fails on its
# first argument, or only reads), and named by the profiles below.
PROBES = ("getpid", "getppid", "mount", "umount2", "chroot", "perf_event_open", "unshare",
          "setns", "mmap", "mprotect", "personality", "reboot", "swapoff", "init_module",
          "settimeofday", "clock_settime", "ptrace", "add_key", "keyctl", "bpf",
          "userfaultfd", "io_setup", "io_uring_setup", "modify_ldt", "iopl", "ioperm",
          "syslog", "acct", "process_vm_readv", "kcmp", "adjtimex", "clock_adjtime",
          "clone3")
# What errnos itself needs after its execve (static glibc start-up, printf).
STARTUP = ("brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
           "readlink", "getrandom", "mprotect", "newfstatat", "fstat", "write", "exit_group")


def seccomp_lines(name: str) -> str:
    """The seccomp directives of a fixture profile."""
    keep = ("seccomp", "memory-deny-write-execute", "restrict-namespaces")
    lines = (FIX / name).read_text().splitlines()
    return "".join(f"{line}\n" for line in lines if line.split(" ")[0].startswith(keep))


PROFILES = {
    "Viber": seccomp_lines("firejail-Viber.profile"),
    "dnscrypt-proxy": seccomp_lines("firejail-dnscrypt-proxy.profile"),
    "spectre-meltdown-checker": seccomp_lines("firejail-spectre-meltdown-checker.profile"),
    "keep": f"seccomp.keep {','.join(STARTUP)},getpid,mount\n",
    "error-actions": "seccomp-error-action EACCES\nseccomp.drop mount,getppid:ENOENT,@swap\n",
}


def run_under_firejail(tmp_path: Path, profile: str) -> dict[int, tuple[int, int]]:
    fj = shutil.which("firejail")
    assert fj is not None, "firejail is not installed (scripts/bootstrap.sh installs it)"
    path = tmp_path / "t.profile"
    path.write_text(profile)
    nrs = [syscalls.number("x86_64", n) for n in PROBES]
    out = subprocess.run([fj, "--quiet", f"--profile={path}", build()["errnos"],
                          *map(str, nrs)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    seen = {}
    for line in out.stdout.splitlines():
        nr, ret, err = map(int, line.split())
        seen[nr] = (ret, err)
    assert sorted(seen) == sorted(n for n in nrs if n is not None), out.stdout + out.stderr
    return seen


def agrees(action: Action, seen: tuple[int, int]) -> bool:
    if action.kind == "errno":
        return seen == (-1, action.value)
    assert action.allows, action
    # A call that ran fails on its arguments, never with the errnos these
    # profiles deny with (the tests run as root: no EPERM of its own).
    return seen[0] != -1 or seen[1] not in (errno.EPERM, errno.EACCES, errno.ENOENT)


@pytest.mark.parametrize("name", PROFILES)
def test_firejail_answers_as_the_evaluator_says(tmp_path: Path, name: str) -> None:
    text = PROFILES[name]
    policy: Policy = firejail.read(text, f"{name}.profile")
    seen = run_under_firejail(tmp_path, text)
    said = {n: evaluate(policy, CTX, "x86_64", n, ARGS).action for n in PROBES}
    wrong = {n: (str(said[n]), seen[syscalls.number("x86_64", n) or -1]) for n in PROBES
             if not agrees(said[n], seen[syscalls.number("x86_64", n) or -1])}
    assert wrong == {}
    # Each profile denies some probes and lets others run: the test can tell.
    assert any(a.allows for a in said.values()) and not all(a.allows for a in said.values())
