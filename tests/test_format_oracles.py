"""Policy readers and writers held to the tools that load the formats (Debian's
firejail 0.9.72, LXC 5.0 and systemd 252).

A policy text goes both to the tool, which runs a static program under it
(tests/programs/errnos.c), and to tracebench's reader; for each syscall
number the program makes, the errno it sees must be what the evaluator says
of the Policy read from the same text.  scripts/bootstrap.sh installs the
tools.
"""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from programs.probes import agrees, results, tool
from programs.tracer_programs import build

from tracebench import syscalls
from tracebench.emit import emit
from tracebench.parsers.strace_log import read_logs
from tracebench.policy import Context, Policy
from tracebench.policy.evaluate import evaluate
from tracebench.policy.formats import firejail, lxc, systemd

FIX = Path(__file__).parent / "fixtures" / "policies-b"
CTX = Context("x86_64")
ARGS = (-1 & 0xFFFFFFFFFFFFFFFF, 0, 0, 0, 0, 0)  # what errnos passes
# What errnos itself needs after its execve (static glibc start-up, printf).
STARTUP = ("brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
           "readlink", "getrandom", "mprotect", "newfstatat", "fstat", "write", "exit_group")


def numbers(names: Sequence[str]) -> list[int]:
    nrs = [syscalls.number("x86_64", n) for n in names]
    assert None not in nrs
    return [n for n in nrs if n is not None]


def read_output(out: subprocess.CompletedProcess[str], names: Sequence[str]
                ) -> dict[str, tuple[int, int]]:
    """errnos's lines "NR RESULT ERRNO", by syscall name."""
    assert out.returncode == 0, out.stdout + out.stderr
    by_nr = results(out.stdout)
    assert sorted(by_nr) == sorted(numbers(names)), out.stdout + out.stderr
    return {n: by_nr[nr] for n, nr in zip(names, numbers(names), strict=True)}


def check(policy: Policy, probes: Sequence[str], seen: dict[str, tuple[int, int]],
          deny_errnos: Sequence[int]) -> None:
    said = {n: evaluate(policy, CTX, "x86_64", n, ARGS).action for n in probes}
    wrong = {n: (str(said[n]), seen[n]) for n in probes
             if not agrees(said[n], seen[n], deny_errnos)}
    assert wrong == {}
    # The policy denies some probes and lets others run: the test can tell.
    assert any(a.allows for a in said.values()) and not all(a.allows for a in said.values())


# --- firejail ---------------------------------------------------------------------------------

# Harmless with arguments (-1, 0, ...) when they run (each fails on its
# first argument, or only reads), and named by the profiles below.
FIREJAIL_PROBES = (
    "getpid", "getppid", "mount", "umount2", "chroot", "perf_event_open", "unshare", "setns",
    "mmap", "mprotect", "personality", "reboot", "swapoff", "init_module", "settimeofday",
    "clock_settime", "ptrace", "add_key", "keyctl", "bpf", "userfaultfd", "io_setup",
    "io_uring_setup", "modify_ldt", "iopl", "ioperm", "syslog", "acct", "process_vm_readv",
    "kcmp", "adjtimex", "clock_adjtime", "clone3")


def seccomp_lines(name: str) -> str:
    """The seccomp directives of a fixture firejail profile."""
    keep = ("seccomp", "memory-deny-write-execute", "restrict-namespaces")
    lines = (FIX / name).read_text().splitlines()
    return "".join(f"{line}\n" for line in lines if line.split(" ")[0].startswith(keep))


FIREJAIL = {
    "Viber": seccomp_lines("firejail-Viber.profile"),
    "dnscrypt-proxy": seccomp_lines("firejail-dnscrypt-proxy.profile"),
    "spectre-meltdown-checker": seccomp_lines("firejail-spectre-meltdown-checker.profile"),
    "keep": f"seccomp.keep {','.join(STARTUP)},getpid,mount\n",
    "error-actions": "seccomp-error-action EACCES\nseccomp.drop mount,getppid:ENOENT,@swap\n",
}


@pytest.mark.parametrize("name", FIREJAIL)
def test_firejail_answers_as_the_reader_says(tmp_path: Path, name: str) -> None:
    text = FIREJAIL[name]
    profile = tmp_path / "t.profile"
    profile.write_text(text)
    out = subprocess.run([tool("firejail"), "--quiet", f"--profile={profile}",
                          build()["errnos"], *map(str, numbers(FIREJAIL_PROBES))],
                         capture_output=True, text=True, timeout=60, check=False)
    seen = read_output(out, FIREJAIL_PROBES)
    check(firejail.read(text, f"{name}.profile"), FIREJAIL_PROBES, seen,
          (errno.EPERM, errno.EACCES, errno.ENOENT))


# --- LXC --------------------------------------------------------------------------------------

# Harmless as above; the modules' and mknod fail on their pointer argument.
LXC_PROBES = ("getpid", "getppid", "mount", "umount2", "init_module", "finit_module",
              "delete_module", "open_by_handle_at", "mknod", "chroot", "syslog", "acct")


def run_lxc(tmp_path: Path, config_text: str) -> subprocess.CompletedProcess[str]:
    """errnos as the command of an LXC application container (lxc-execute)."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    shutil.copy(build()["errnos"], rootfs / "errnos")
    seccomp = tmp_path / "seccomp.conf"
    seccomp.write_text(config_text)
    config = tmp_path / "config"
    config.write_text(f"lxc.uts.name = tracebench\nlxc.rootfs.path = dir:{rootfs}\n"
                      f"lxc.seccomp.profile = {seccomp}\n")
    name = f"tracebench-{tmp_path.name}"
    return subprocess.run([tool("lxc-execute"), "-n", name, "-f", str(config), "-P",
                           str(tmp_path), "--", "/errnos", *map(str, numbers(LXC_PROBES))],
                          capture_output=True, text=True, timeout=60, check=False)


LXC = {
    "common": (FIX / "lxc-common.seccomp").read_text(),
    "ubuntu.priv (blacklist)": (FIX / "lxc-ubuntu.priv.seccomp").read_text(),
    "example v2 denylist (errno 0)": (FIX / "lxc-example-seccomp-v2-denylist.conf").read_text(),
    "sections and actions": ("2\ndenylist\n[x86_64]\nmount errno 13\ngetppid errno 2\n"
                             "[all]\nchroot errno 1\n[x86]\nsyslog errno 1\n"),
}


@pytest.mark.parametrize("name", LXC)
def test_lxc_answers_as_the_reader_says(tmp_path: Path, name: str) -> None:
    text = LXC[name]
    seen = read_output(run_lxc(tmp_path, text), LXC_PROBES)
    check(lxc.read(text, f"{name}.seccomp"), LXC_PROBES, seen,
          (errno.EPERM, errno.EACCES, errno.ENOENT))


# --- systemd ----------------------------------------------------------------------------------

STRACE_LOGS = sorted((Path(__file__).parent / "fixtures" / "strace" / "strace61").glob("*.log"))


def analyze_verify(tmp_path: Path, service_lines: str) -> str:
    """What systemd-analyze verify says of a unit holding ``service_lines``."""
    unit = tmp_path / "tracebench-check.service"
    unit.write_text(f"[Unit]\nDescription=check\n{service_lines}ExecStart=/bin/true\n")
    out = subprocess.run([tool("systemd-analyze"), "verify", str(unit)], capture_output=True,
                         text=True, timeout=60, check=False)
    return out.stdout + out.stderr


def test_systemd_parses_what_the_systemd_writer_writes(tmp_path: Path) -> None:
    # Allowlists emitted from real strace logs and the policies of the systemd
    # fixtures, written by tracebench: systemd 252 reads every line.
    texts = []
    for log in STRACE_LOGS:
        profile = read_logs([(str(log), io.StringIO(log.read_text()))], lenient=True).profile
        # as `emit --format systemd` does: numbers without a name left out
        texts.append(systemd.write(emit([profile], by_number=systemd.FORMAT.numbers).policy))
    for name in ("fstrim.service", "systemd-hostnamed.service", "systemd-timesyncd.service"):
        texts.append(systemd.write(systemd.read((FIX / name).read_text(), name)))
    assert len(texts) >= 5
    for text in texts:
        assert "SystemCallFilter=" in text
        # systemd resolves names with the same libseccomp: it skips exactly the
        # names this libseccomp does not know (a newer one would), no others.
        written = {w.lstrip("~") for line in text.splitlines()
                   if line.startswith("SystemCallFilter=")
                   for w in line.split("=", 1)[1].split()}
        unknown = {n for n in written if not n.startswith(("@", "syscall_0x"))
                   and not syscalls.is_known_anywhere(n)}
        said = analyze_verify(tmp_path, text).splitlines()
        skipped = {line.rsplit(": ", 1)[1] for line in said}
        assert all("Failed to parse system call, ignoring: " in line for line in said), said
        assert skipped == unknown
    # The check can fail: a name systemd does not know is reported.
    said = analyze_verify(tmp_path, "[Service]\nSystemCallFilter=read no_such_call\n")
    assert "Failed to parse system call, ignoring: no_such_call" in said
