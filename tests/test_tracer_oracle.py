"""The recorder against strace 6.1: same programs, same syscalls, same counts.

Each program in tests/programs/ is run once under ``strace -f -c -o FILE``
and once under ``record``; the calls and errors per (arch, syscall) must be
identical.  The only difference allowed is the one strace's own source
explains: strace -c counts a call when it *returns* (src/count.c,
count_syscall(), called from syscall_exiting_trace() in src/syscall.c), so a
call that never returns is not in its table.  record counts such calls as
``unfinished`` (a seccomp allowlist must allow exit_group), and each test
lists exactly which ones it expects and why.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from programs.tracer_programs import build, run_strace

from tracebench.profile import Profile
from tracebench.tracer import record

# Every test runs with the C loop and with the Python loop (conftest.each_loop).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_loop")]


@pytest.fixture(scope="module")
def progs() -> dict[str, str]:
    return build()


def counts(profile: Profile) -> tuple[dict[tuple[str, str], tuple[int, int]],
                                      Counter[tuple[str, str]]]:
    """(arch, syscall) -> (calls, errors) for calls that returned, and the unfinished ones."""
    returned: dict[tuple[str, str], tuple[int, int]] = {}
    unfinished: Counter[tuple[str, str]] = Counter()
    rows = profile.summary()
    for arch, name, calls, errors, unf in zip(
            rows["arch"].tolist(), rows["syscall"].tolist(), rows["calls"].tolist(),
            rows["errors"].tolist(), rows["unfinished"].tolist(), strict=True):
        key = (str(arch), str(name))
        if calls:
            returned[key] = (int(calls), int(errors))
        if unf:
            unfinished[key] += int(unf)
    return returned, unfinished


# program argv (names resolved by the fixture), the exit status, and the
# calls that never return with why: strace has no row for them.
CASES = {
    "threads": (["threads"], 0, {
        # 2 pthreads and 1 clone() thread end with exit(2); the clone3 child
        # and the process end with exit_group(2).
        ("x86_64", "exit"): 3, ("x86_64", "exit_group"): 2}),
    "forkexec": (["forkexec"], 0, {
        # the end of the exec chain (exit 3), the vfork child (_exit(4)), main
        ("x86_64", "exit_group"): 3}),
    "signals": (["signals"], 0, {
        # main and the first child exit; the second child is killed in its
        # group-stop, outside any call
        ("x86_64", "exit_group"): 2}),
    "thread_exec": (["thread_exec"], 7, {
        # the leader is in pause() when another thread's execve replaces it
        ("x86_64", "pause"): 1,
        ("x86_64", "exit_group"): 1}),
    "blocked": (["endings", "blocked"], 0, {
        # the reader thread is in read(2) when exit_group ends the process
        ("x86_64", "read"): 1, ("x86_64", "exit_group"): 1}),
    "orphan": (["endings", "orphan"], 5, {
        # the parent and the child that outlives it
        ("x86_64", "exit_group"): 2}),
    "m32": (["m32"], 0, {("i386", "exit_group"): 1}),
    "int80": (["int80"], 0, {("x86_64", "exit_group"): 1}),
    "killed": (["endings", "signal", "15"], 143, {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_mode_matches_strace(case: str, progs: dict[str, str], tmp_path: Path) -> None:
    argv, status, expected_unfinished = CASES[case]
    argv = [progs[argv[0]], *argv[1:]]
    oracle = run_strace(argv, tmp_path)
    assert ("x86_64", "execve") in oracle  # the table was read
    result = record(argv)
    returned, unfinished = counts(result.profile)
    assert result.exit_status == status
    assert returned == oracle
    assert dict(unfinished) == expected_unfinished


def test_i386_calls_keep_their_names(progs: dict[str, str], tmp_path: Path) -> None:
    # int $0x80 from a 64-bit program: i386 numbers 20, 4 and 6 are getpid,
    # write and close there (on x86_64, 4 and 6 would be stat and lstat).
    result = record([progs["int80"]])
    returned, _ = counts(result.profile)
    assert returned[("i386", "getpid")] == (2, 0)
    assert returned[("i386", "write")] == (1, 0)
    assert returned[("i386", "close")] == (1, 1)
    assert ("x86_64", "stat") not in returned and ("x86_64", "lstat") not in returned
    assert returned[("x86_64", "close")] == (1, 1)


# Fast mode sees no returns: every call entered is a call except exit and
# exit_group (which never return when they succeed); a call cut short by the
# process's death is a call too.
FAST_CASES = {
    "threads": (["threads"], {}),
    "forkexec": (["forkexec"], {}),
    "m32": (["m32"], {}),
    "signals": (["signals"], {}),
    # the leader's pause() is entered and never returns: fast mode cannot
    # tell, so it is one call more than strace's table has
    "thread_exec": (["thread_exec"], {("x86_64", "pause"): 1}),
}


@pytest.mark.parametrize("case", sorted(FAST_CASES))
def test_fast_mode_calls_match_strace(case: str, progs: dict[str, str], tmp_path: Path) -> None:
    argv, extra = FAST_CASES[case]
    argv = [progs[argv[0]], *argv[1:]]
    oracle = {k: calls for k, (calls, _errors) in run_strace(argv, tmp_path).items()}
    full_unfinished = counts(record(argv).profile)[1]
    result = record(argv, mode="fast")
    assert result.profile.provenance.measured == ("calls",)
    returned, unfinished = counts(result.profile)
    calls = {k: c for k, (c, _e) in returned.items()}
    for key, n in extra.items():
        calls[key] -= n
        if not calls[key]:
            del calls[key]
    assert calls == oracle
    assert all(errors == 0 for _c, errors in returned.values())
    assert dict(unfinished) == {k: n for k, n in full_unfinished.items()
                                if k[1] in ("exit", "exit_group")}
