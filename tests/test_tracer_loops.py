"""The recorder's two loops: the C loop is built, chosen, and counts like the Python one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from programs.tracer_programs import build

from tracebench.errors import TraceError
from tracebench.tracer import kernel, native, record, recorder
from tracebench.tracer.recorder import Recorder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def progs() -> dict[str, str]:
    return build()


def test_the_install_built_the_c_loop() -> None:
    # scripts/bootstrap.sh installs a compiler before the package: on the
    # machines the tests run on, the optional build must have happened.
    path = native.library_path()
    assert path is not None and path.name.startswith("_hotloop")


def _forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("the other loop ran")
    for name in names:
        monkeypatch.setattr(Recorder, name, refuse)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("program", ["threads", "forkexec", "args"])
def test_native_is_the_default_and_counts_like_python(
        mode: str, program: str, progs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [progs[program]]
    monkeypatch.delenv("TRACEBENCH_LOOP", raising=False)
    with monkeypatch.context() as m:
        _forbid(m, "_loop_full", "_loop_fast")
        c_run = record(argv, mode=mode).profile
    monkeypatch.setenv("TRACEBENCH_LOOP", "python")
    with monkeypatch.context() as m:
        _forbid(m, "_loop_native")
        py_run = record(argv, mode=mode).profile
    cols = ["pid", "exe", "arch", "syscall", "calls", "errors", "unfinished"]
    # pids differ between the runs; everything else is the same program's.
    strip = [(r[1:]) for r in c_run.rows[cols].itertuples(index=False)]
    assert sorted(map(tuple, strip)) == sorted(
        tuple(r[1:]) for r in py_run.rows[cols].itertuples(index=False))
    assert c_run.calls() == py_run.calls()
    # Argument values: the same arguments, equally complete; the values of
    # pids and addresses differ between runs, the ones args.c chose do not.
    def shape(p: Any) -> set[tuple[Any, ...]]:
        return {(key, n, v.complete) for key, per in p.args.items() for n, v in per.items()}
    assert shape(c_run) == shape(py_run)
    for name, n in (("lseek", 1), ("lseek", 2), ("fcntl", 1), ("close", 0)):
        assert c_run.arg_values("x86_64", name, n) == py_run.arg_values("x86_64", name, n)


def test_unknown_loop_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setenv("TRACEBENCH_LOOP", "turbo")
    with pytest.raises(TraceError, match=r"TRACEBENCH_LOOP='turbo': expected 'native' or 'python'"):
        record(["/bin/touch", str(marker)])
    assert not marker.exists()


def test_native_asked_for_but_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEBENCH_LOOP", "native")
    monkeypatch.setattr(native, "library_path", lambda: None)
    with pytest.raises(TraceError, match="the C loop was not built at install"):
        record(["/bin/true"])
    # Unset, the Python loop takes over.
    monkeypatch.delenv("TRACEBENCH_LOOP")
    assert record(["/bin/true"]).exit_status == 0


# -- the C loop's adaptive polling (hotloop.c, struct tb_adapt) ---------------
# polling() is (polling now, trials, changes, windows until the next trial, stage).

def _loop(poll: int) -> native.Loop:
    return native.Loop(kernel.PtraceSyscallInfo(), poll, recorder.NATIVE_SPIN_US)


def _window(loop: native.Loop, polling_ns: int, sleeping_ns: int) -> tuple[int, ...]:
    """End one window that took as long as the current setting takes."""
    return loop.polling(polling_ns if loop.polling()[0] else sleeping_ns)


def test_polling_is_kept_while_it_is_faster_and_trials_grow_rarer() -> None:
    loop = _loop(kernel.WALL | os.WNOHANG)
    try:
        # It polls from the start; the first 4 windows (the program starting)
        # are no trial.
        assert loop.polling() == (1, 0, 0, 4, 0)
        seen = [_window(loop, 1000, 2000)
                for _ in range(4 + 4 + 32 + 4 + 64 + 4 + 128 + 4 + 256 + 4)]
        # A trial: two windows one way, two the other, the first way again.
        assert [s[0] for s in seen[3:7]] == [1, 0, 0, 1]
        assert [s[4] for s in seen[3:7]] == [1, 2, 3, 4]
        # Kept, and the next trial comes after 32 windows, then 64, 128, 256.
        assert seen[7] == (1, 1, 0, 32, 0)
        assert seen[7 + 32 + 4] == (1, 2, 0, 64, 0)
        assert seen[-1] == (1, 5, 0, 256, 0)
        assert all(s[2] == 0 for s in seen)
    finally:
        loop.close()


def test_polling_stops_when_sleeping_is_faster_and_comes_back() -> None:
    loop = _loop(kernel.WALL | os.WNOHANG)
    try:
        for _ in range(4 + 4):  # start, one trial
            state = _window(loop, 3000, 1000)
        # Given up; trials are frequent again after a change.
        assert state == (0, 1, 1, 16, 0)
        # The machine gets quiet: polling pays again, from the next trial on
        # (this one sleeps first: the order alternates).
        seen = [_window(loop, 1000, 3000) for _ in range(16 + 4)]
        assert [s[0] for s in seen[15:19]] == [0, 1, 1, 0]
        assert seen[-1] == (1, 2, 2, 16, 0)
    finally:
        loop.close()


def test_polling_must_pay_to_be_kept_and_more_to_be_taken_up() -> None:
    loop = _loop(kernel.WALL | os.WNOHANG)
    try:
        for _ in range(4 + 4):
            state = _window(loop, 985, 1000)  # polling 1.5% faster: kept
        assert state == (1, 1, 0, 32, 0)
        for _ in range(32 + 4):
            state = _window(loop, 995, 1000)  # 0.5% faster: not worth its CPU time
        assert state == (0, 2, 1, 16, 0)
        for _ in range(16 + 4):
            state = _window(loop, 985, 1000)  # 1.5% faster: not taken up again
        assert state == (0, 3, 1, 32, 0)
        for _ in range(32 + 4):
            state = _window(loop, 970, 1000)  # 3% faster: taken up
        assert state == (1, 4, 2, 16, 0)
    finally:
        loop.close()


def test_polls_learn_how_long_to_wait() -> None:
    # hotloop.c spin_missed: polls that gave up before a stop that came
    # within the 100 us budget (a slow wake-up) poll twice that long next
    # time; polls outwaited by a blocking call are halved, down to 4 us.
    loop = _loop(kernel.WALL | os.WNOHANG)
    try:
        full = recorder.NATIVE_SPIN_US * 1000
        assert [loop.spin_missed(1_000_000) for _ in range(6)] == [
            full // 2, full // 4, full // 8, full // 16, 4000, 4000]
        assert loop.spin_missed(30_000) == 60_000
        assert loop.spin_missed(70_000) == full
    finally:
        loop.close()


def test_one_cpu_never_polls() -> None:
    loop = _loop(kernel.WALL)  # no WNOHANG: Recorder._poll_flags on a single CPU
    try:
        for _ in range(10):
            assert loop.polling(1) == (0, 0, 0, 4, 0)
    finally:
        loop.close()


def test_polling_is_bounded_while_the_program_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    # The C loop polls for at most NATIVE_SPIN_US before it sleeps in wait4:
    # a program blocked for 0.4 s costs the tracer about one budget of CPU
    # time, not 0.4 s of it (as a loop that polled until the next stop would).
    import resource

    monkeypatch.delenv("TRACEBENCH_LOOP", raising=False)
    assert native.wanted() and len(os.sched_getaffinity(0)) > 1
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = record(["/bin/sleep", "0.4"])
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert result.exit_status == 0 and result.elapsed >= 0.4
    assert cpu < 0.15, f"the tracer used {cpu:.3f} s of CPU while the program slept 0.4 s"


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_trials_run_during_a_long_trace_and_the_counts_stay_exact(
        mode: str, progs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    states = []
    close = native.Loop.close

    def keep_state(self: native.Loop) -> None:
        if self.state:
            states.append(self.polling())
        close(self)

    monkeypatch.setattr(native.Loop, "close", keep_state)
    monkeypatch.delenv("TRACEBENCH_LOOP", raising=False)
    n = 15000
    profile = record([progs["many"], str(n), "2"], mode=mode).profile
    # 2 threads x 2 calls x 15000: 60,000 calls, 120,000 stops in full mode
    # (117 windows of 1024 stops; 58 in fast mode): a trial polls in two
    # windows and sleeps in two, so both ways of waiting were used.
    assert len(states) == 1 and states[0][1] >= (3 if mode == "full" else 2)
    rows = profile.rows.set_index("syscall")
    assert rows.loc["getppid", "calls"] == 2 * n
    assert rows.loc["dup", "calls"] == 2 * n
    if mode == "full":
        assert rows.loc["dup", "errors"] == 2 * n
        assert rows.loc["getppid", "errors"] == 0
