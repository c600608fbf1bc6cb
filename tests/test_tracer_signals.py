"""Ctrl-C and friends: passed on to a program record started, detach from an attached one.

The recorder runs in a subprocess (``python -m tracebench.tracer``) so that
the test can signal it alone, or type ^C on a terminal it controls.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from programs.tracer_programs import build

# Every test runs with the C loop and with the Python loop (conftest.each_loop).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_loop")]

TRACER = [sys.executable, "-m", "tracebench.tracer"]


@pytest.fixture(scope="module")
def progs() -> dict[str, str]:
    return build()


def _status(pid: int) -> dict[str, str]:
    return _status_of(f"/proc/{pid}")


def _traced_by(pid: int, tracer: int) -> bool:
    """Whether every thread of ``pid`` is traced by ``tracer``.

    The tracer seizes threads one by one: a signal sent when only the leader
    is seized can be taken by a thread not yet traced, and its handler's
    calls are then never seen.
    """
    tids = os.listdir(f"/proc/{pid}/task")
    try:
        return all(_status_of(f"/proc/{pid}/task/{t}")["TracerPid"] == str(tracer)
                   for t in tids)
    except FileNotFoundError:
        return False


def _status_of(path: str) -> dict[str, str]:
    with open(f"{path}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@contextmanager
def _attached(argv: list[str], out: Path
              ) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """(target, tracer): ``argv`` started, then traced with ``--pid`` once it is ready.

    Waits until every thread of the target is traced (the tracer seizes them
    one by one); the target is killed on the way out.
    """
    with subprocess.Popen(argv, stdout=subprocess.PIPE) as target:
        try:
            assert target.stdout is not None
            target.stdout.readline()
            with subprocess.Popen([*TRACER, "--out", str(out), "--pid", str(target.pid)],
                                  start_new_session=True) as proc:
                _wait_for(lambda: _traced_by(target.pid, proc.pid))
                yield target, proc
        finally:
            target.kill()


def _result(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _calls(doc: dict[str, Any], name: str) -> int:
    return sum(r[4] + r[7] for r in doc["profile"]["rows"] if r[3] == name)


# -- a program record started -----------------------------------------------------------

@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_to_record_is_passed_to_the_program(sig: int, status: int,
                                                   progs: dict[str, str],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with subprocess.Popen([*TRACER, "--out", str(out), "--", progs["sleeper"]],
                          stdout=subprocess.PIPE, start_new_session=True) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"ready ")
        time.sleep(0.2)  # let both threads sleep a few times
        proc.send_signal(sig)  # to record alone, as `kill -INT` would
        assert proc.wait(timeout=30) == status  # the program died of it; record did not
    doc = _result(out)
    assert doc["exit_status"] == status
    assert doc["signals"] == [sig]
    assert doc["forwarded"] == [sig]
    assert _calls(doc, "clock_nanosleep") >= 1  # the run was stored


def test_a_program_that_handles_sigint_gets_it_once(progs: dict[str, str],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with subprocess.Popen([*TRACER, "--out", str(out), "--", progs["sleeper"], "handle"],
                          stdout=subprocess.PIPE, start_new_session=True) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"ready ")
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline() == b"SIGINT 1\n"
        assert proc.wait(timeout=30) == 3
    doc = _result(out)
    assert doc["forwarded"] == [signal.SIGINT]
    assert _calls(doc, "rt_sigreturn") == 1  # the handler ran and returned


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} in {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            data += chunk
    return data


def _take_terminal() -> None:
    # In the child, after setsid(): make the pty on fd 0 our controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_on_the_terminal_reaches_the_program_once(progs: dict[str, str],
                                                         tmp_path: Path) -> None:
    # The terminal signals the whole foreground group (record and the
    # program): record must not pass on a second copy.
    out = tmp_path / "result.json"
    master, slave = os.openpty()
    try:
        with subprocess.Popen([*TRACER, "--out", str(out), "--", progs["sleeper"], "handle"],
                              stdin=slave, stdout=slave, stderr=slave,
                              start_new_session=True,
                              preexec_fn=_take_terminal) as proc:  # noqa: PLW1509
            os.close(slave)
            slave = -1
            _read_until(master, b"ready ")
            os.write(master, b"\x03")  # ^C
            text = _read_until(master, b"SIGINT")
            text += _read_until(master, b"\n")
            assert proc.wait(timeout=30) == 3
        assert b"SIGINT 1\r\n" in text  # exactly one SIGINT reached the program
        doc = _result(out)
        assert doc["signals"] == [signal.SIGINT]
        assert doc["forwarded"] == []
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


# -- an attached process ------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_detaches_and_leaves_the_process_running(sig: int, progs: dict[str, str],
                                                        tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with _attached([progs["sleeper"]], out) as (target, proc):
        time.sleep(0.3)  # let both threads make a few calls
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        doc = _result(out)
        assert doc["detached"] is True
        assert doc["signals"] == [sig]
        assert _calls(doc, "clock_nanosleep") >= 2
        # Let go, not killed: running (sleeping) and traced by nobody.
        assert target.poll() is None
        st = _status(target.pid)
        assert st["TracerPid"] == "0"
        assert st["State"][0] in "SR"
        # Both threads were followed (the count of tasks seen).
        assert len(os.listdir(f"/proc/{target.pid}/task")) == 2


def test_stopped_process_stays_stopped_after_detach(progs: dict[str, str],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with _attached([progs["sleeper"]], out) as (target, proc):
        target.send_signal(signal.SIGSTOP)
        # A group-stop under ptrace shows as "t (tracing stop)".
        _wait_for(lambda: _status(target.pid)["State"][0] == "t")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        # As without a tracer: still stopped, and SIGCONT wakes it.
        assert _status(target.pid)["State"][0] == "T"
        target.send_signal(signal.SIGCONT)
        _wait_for(lambda: _status(target.pid)["State"][0] in "SR")
        assert _result(out)["detached"] is True


def test_attached_process_that_exits_gives_its_status(progs: dict[str, str],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with _attached([progs["sleeper"], "handle"], out) as (target, proc):
        # The signal goes to the tracee, which gets it unchanged: its
        # handler runs and it exits 3.
        target.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 3
        assert target.wait(timeout=10) == 3
        doc = _result(out)
        assert doc["detached"] is False
        assert doc["signals"] == []
        assert _calls(doc, "rt_sigreturn") == 1
