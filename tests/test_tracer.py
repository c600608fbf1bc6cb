"""The recorder's behaviour: exit statuses, errors, attribution, argument values."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from programs.tracer_programs import build

from tracebench.errors import TraceError
from tracebench.tracer import record

# Every test runs with the C loop and with the Python loop (conftest.each_loop).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_loop")]


@pytest.fixture(scope="module")
def progs() -> dict[str, str]:
    return build()


# -- exit statuses ------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "status"), [
    (["exit", "0"], 0),
    (["exit", "42"], 42),
    (["signal", "15"], 143),  # killed by SIGTERM: 128 + 15, as a shell reports it
    (["signal", "9"], 137),
])
def test_exit_status_is_the_programs(argv: list[str], status: int,
                                     progs: dict[str, str]) -> None:
    result = record([progs["endings"], *argv])
    assert result.exit_status == status
    assert not result.detached


def test_exit_status_after_exec_in_a_thread(progs: dict[str, str]) -> None:
    result = record([progs["thread_exec"]])
    assert result.exit_status == 7
    # Still one process: the execve in the second thread took the leader's pid.
    assert set(result.profile.rows["pid"]) == {result.pid}


def test_orphan_is_followed_until_it_exits(progs: dict[str, str]) -> None:
    result = record([progs["endings"], "orphan"])
    assert result.exit_status == 5  # the program's, not the orphan's
    procs = result.profile.processes()
    assert len(procs) == 2
    orphan = next(p for p in procs["pid"] if p != result.pid)
    rows = result.profile.rows
    mine = rows[rows["pid"] == orphan]
    # The orphan's calls after its parent exited are there (nanosleep then getppid).
    assert set(mine["syscall"]) >= {"clock_nanosleep", "getppid", "exit_group"}


# -- errors -----------------------------------------------------------------------------

def test_command_not_found() -> None:
    with pytest.raises(TraceError) as e:
        record(["tracebench-no-such-command"])
    assert str(e.value) == "command not found: tracebench-no-such-command"


def test_missing_file_with_a_path() -> None:
    with pytest.raises(TraceError) as e:
        record(["/nonexistent/prog"])
    assert str(e.value) == "cannot run /nonexistent/prog: no such file"


def test_not_executable(tmp_path: Path) -> None:
    f = tmp_path / "data.txt"
    f.write_text("hello\n")
    with pytest.raises(TraceError) as e:
        record([str(f)])
    assert str(e.value) == f"cannot run {f}: {f} is not executable"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as e:
        record([str(tmp_path)])
    assert str(e.value) == f"cannot run {tmp_path}: {tmp_path} is a directory"


def test_exec_format_error_comes_back_from_the_child(tmp_path: Path) -> None:
    # Executable but not a program the kernel can run (no #! line): the
    # child's execve fails with ENOEXEC, reported through the pipe.
    f = tmp_path / "script"
    f.write_text("echo hi\n")
    f.chmod(0o755)
    with pytest.raises(TraceError) as e:
        record([str(f)])
    assert str(e.value) == f"cannot run {f}: exec format error"
    assert "\n" not in str(e.value)


def test_fast_mode_cannot_attach() -> None:
    with pytest.raises(TraceError, match="--mode fast needs a program started by record"):
        record(pid=os.getpid(), mode="fast")


def test_unknown_mode() -> None:
    with pytest.raises(TraceError, match="unknown mode 'slow'"):
        record(["true"], mode="slow")


def test_attach_to_missing_process() -> None:
    pid = 4_000_000  # above pid_max's default ceiling (4194304 is the hard limit)
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    with pytest.raises(TraceError) as e:
        record(pid=pid)
    assert str(e.value) == f"cannot attach to process {pid}: no such process"


def test_attach_to_itself() -> None:
    with pytest.raises(TraceError, match="that is tracebench itself"):
        record(pid=os.getpid())


def _wait_traced(pid: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:") and int(line.split()[1]):
                    return int(line.split()[1])
        time.sleep(0.01)
    raise AssertionError(f"process {pid} was never traced")


def test_attach_to_an_already_traced_process(progs: dict[str, str]) -> None:
    target = 0
    with subprocess.Popen(["strace", "-o", "/dev/null", progs["sleeper"]],
                          stdout=subprocess.PIPE) as strace:
        try:
            assert strace.stdout is not None
            line = strace.stdout.readline().decode()
            target = int(line.split()[1])  # "ready PID"
            tracer = _wait_traced(target)
            with pytest.raises(TraceError) as e:
                record(pid=target)
            assert str(e.value) == (f"cannot attach to process {target}: it is already "
                                    f"traced by process {tracer}")
        finally:
            strace.kill()  # strace detaches (no PTRACE_O_EXITKILL): end the program too
            strace.wait()
            if target:
                os.kill(target, signal.SIGKILL)


def _drop_cap_sys_ptrace() -> None:
    # PR_CAPBSET_DROP CAP_SYS_PTRACE: after the exec, root no longer has it.
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(24, 19, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def test_attach_refused_without_permission(progs: dict[str, str], tmp_path: Path) -> None:
    # A process of another user, attached to by root without CAP_SYS_PTRACE: EPERM.
    os.chmod(Path(progs["sleeper"]).parent, 0o755)
    with subprocess.Popen([progs["sleeper"]], stdout=subprocess.PIPE, user=65534,
                          group=65534, cwd="/") as target:
        try:
            assert target.stdout is not None
            target.stdout.readline()
            proc = subprocess.run(
                [sys.executable, "-m", "tracebench.tracer", "--pid", str(target.pid)],
                capture_output=True, text=True, timeout=60, check=False,
                preexec_fn=_drop_cap_sys_ptrace)
            assert proc.stderr == (f"tracebench: cannot attach to process {target.pid}: "
                                   "operation not permitted (it belongs to another user or "
                                   "is not dumpable)\n")
            assert proc.returncode == 1
        finally:
            target.kill()


# -- what is recorded -------------------------------------------------------------------

def test_per_process_attribution(progs: dict[str, str]) -> None:
    result = record([progs["forkexec"]])
    procs = result.profile.processes()
    assert len(procs) == 3  # main, the exec chain's process, the vfork child
    assert set(procs["exe"]) == {progs["forkexec"]}
    rows = result.profile.summary(per_process=True)
    main = rows[rows["pid"] == result.pid]
    # Only main forks and vforks; the chain's process execs three times.
    assert set(main["syscall"]) >= {"clone", "vfork", "wait4"}
    execs = rows[rows["syscall"] == "execve"].set_index("pid")
    chain = [p for p in procs["pid"] if p != result.pid and execs["calls"].get(p) == 3]
    assert len(chain) == 1  # the fork child execs `chain 2`, which execs 1, which execs 0
    vfork = next(p for p in procs["pid"] if p not in (result.pid, chain[0]))
    # The vfork child's execve of a missing file failed.
    assert (int(execs.loc[vfork, "calls"]), int(execs.loc[vfork, "errors"])) == (1, 1)


def test_exe_changes_at_execve(progs: dict[str, str]) -> None:
    code = f"import os; os.execv({progs['endings']!r}, ['endings', 'exit', '0'])"
    result = record([sys.executable, "-c", code])
    rows = result.profile.rows
    assert set(rows["pid"]) == {result.pid}
    python = os.path.realpath(sys.executable)
    by_exe = {exe: set(rows[rows["exe"] == exe]["syscall"]) for exe in set(rows["exe"])}
    assert set(by_exe) == {python, progs["endings"]}
    # The execve was made by python; exit_group by the program it started.
    assert "execve" in by_exe[python]
    assert "exit_group" in by_exe[progs["endings"]]
    assert "exit_group" not in by_exe[python]


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_argument_values(mode: str, progs: dict[str, str]) -> None:
    p = record([progs["args"]], mode=mode).profile
    offsets = p.arg_values("x86_64", "lseek", 1)
    assert offsets is not None
    # 100 distinct offsets: the first 64 are kept and the set says it is incomplete.
    assert not offsets.complete
    assert len(offsets.values) == 64
    assert p.arg_values("x86_64", "lseek", 2) is not None
    assert p.arg_values("x86_64", "lseek", 2).values == frozenset({0})  # type: ignore[union-attr]
    assert p.arg_values("x86_64", "lseek", 2).complete  # type: ignore[union-attr]
    fcntl_cmd = p.arg_values("x86_64", "fcntl", 1)
    assert fcntl_cmd is not None and fcntl_cmd.values == frozenset({1, 3})  # F_GETFD F_GETFL
    # openat's path is a pointer: not recorded; its flags are.
    assert p.arg_values("x86_64", "openat", 1) is None
    assert p.arg_values("x86_64", "openat", 2) is not None


def test_argument_values_keep_the_calls_width(progs: dict[str, str]) -> None:
    # close(-1L) sets all 64 bits of the register in a 64-bit call; an i386
    # call has 32: values are kept as the kernel (and a seccomp filter) sees them.
    wide = record([progs["args"]]).profile.arg_values("x86_64", "close", 0)
    assert wide is not None and 2**64 - 1 in wide.values
    m32 = record([progs["m32"]]).profile.arg_values("i386", "close", 0)
    assert m32 is not None and m32.values == frozenset({0xFFFFFFFF})


def test_provenance(progs: dict[str, str]) -> None:
    argv = [progs["endings"], "exit", "0"]
    full = record(argv).profile.provenance
    assert (full.source, full.command, full.measured) == (
        "ptrace", tuple(argv), ("calls", "errors", "seconds"))
    assert "mode=full" in full.notes
    fast = record(argv, mode="fast").profile.provenance
    assert fast.measured == ("calls",)
    assert "mode=fast" in fast.notes


def test_seconds_are_system_time(progs: dict[str, str]) -> None:
    # The 200 ms nanosleep of `endings blocked` spends almost no system CPU
    # time (strace -c's default measure), unlike its wall-clock length.
    result = record([progs["endings"], "blocked"])
    rows = result.profile.summary()
    sleep = rows[rows["syscall"] == "clock_nanosleep"]
    assert int(sleep["calls"].iloc[0]) == 1
    assert float(sleep["seconds"].iloc[0]) < 0.1


def test_prototype_table_is_python_ptraces_loaded_alone() -> None:
    # The table is executed on its own (prototypes._table), not through
    # ptrace.syscall's __init__; it must be the same table all the same.
    code = (
        "import sys\n"
        "from tracebench.tracer import prototypes\n"
        "alone = prototypes._prototypes()\n"
        "print('ptrace.syscall' in sys.modules)\n"
        "prototypes._prototypes.cache_clear()\n"
        "import ptrace.syscall.prototypes\n"
        "print(prototypes._prototypes() == alone, len(alone) > 300)\n"
        "print(prototypes.value_arguments('openat'), prototypes.value_arguments('read'),\n"
        "      prototypes.value_arguments('mmap2'), prototypes.value_arguments('pipe'),\n"
        "      prototypes.value_arguments('no_such_call'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["False", "True True", "(0, 2, 3) (0, 2) (0, 1, 2, 3, 4, 5) () None"]
