"""The fast path (chunks, bulk counting by the C scanner or the regex, worker
processes) reads exactly like the exact per-line reader: same rows, provenance,
skipped lines, examples and errors, on every real log of the fixtures, in text
and file mode, across chunk boundaries, and with several worker processes on a
multi-MB log made of real strace output."""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from programs.strace_fixtures import FIX, LOGS

from tracebench.errors import ParseError
from tracebench.parsers import ImportResult, strace_fastpath
from tracebench.parsers.strace_log import read_logs

# Every test runs with the C line scanner and with the regex (conftest.each_scan).
pytestmark = pytest.mark.usefixtures("each_scan")



def outcome(run: Callable[[], ImportResult]) -> tuple[Any, ...]:
    """Everything an import says, in a comparable form."""
    try:
        r = run()
    except ParseError as exc:
        return ("error", str(exc))
    rows = sorted((int(x["pid"]), x["exe"], x["arch"], x["syscall"], int(x["calls"]),
                   int(x["errors"]), round(float(x["seconds"]), 9), int(x["unfinished"]))
                  for x in r.profile.rows.to_dict("records"))
    prov = dataclasses.replace(r.profile.provenance, started="")
    return (rows, prov, r.skipped, r.skipped_examples)


def exact(path: Path, lenient: bool) -> tuple[Any, ...]:
    return outcome(lambda: read_logs([(str(path), io.StringIO(path.read_text()))],
                                     lenient=lenient, fast=False))


def fast_text(path: Path, lenient: bool, chunk: int | None = None,
              leader: str | None = None) -> tuple[Any, ...]:
    return outcome(lambda: read_logs([(str(path), io.StringIO(path.read_text()))],
                                     lenient=lenient, chunk_chars=chunk, leader=leader))


def fast_file(path: Path, lenient: bool, chunk: int | None = None,
              workers: int = 1, leader: str | None = None) -> tuple[Any, ...]:
    def run() -> ImportResult:
        with path.open() as fh:
            return read_logs([(str(path), fh)], lenient=lenient, chunk_chars=chunk,
                             workers=workers, leader=leader)
    return outcome(run)


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(FIX)))
def test_fast_path_equals_exact_path(path: Path, lenient: bool) -> None:
    want = exact(path, lenient)
    assert fast_text(path, lenient) == want
    assert fast_text(path, lenient, chunk=97) == want   # many chunk boundaries
    assert fast_file(path, lenient) == want
    assert fast_file(path, lenient, chunk=131) == want


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(FIX)))
def test_every_leader_pattern_reads_like_the_exact_path(path: Path) -> None:
    # Each log kind has its own cheaper leader pattern; on any log, any of them must
    # only decide which lines are counted fast, never change what a line means.
    want = exact(path, lenient=True)
    for leader in strace_fastpath.LEADERS:
        assert fast_text(path, lenient=True, leader=leader) == want, leader


@pytest.mark.parametrize(("name", "leader"), [
    ("stp-f-process-tree-wait4-sigchld.log", "pid"),
    ("stp-f-tt-T-unfinished-resumed.log", "pid-time"),
    ("strace61/forks-f-tt-T-yy-C.log", "pid-time"),
    ("strace61/tty-f-C-terminal.txt", "bracket"),
    ("strace61/ff/forks.22055", "none"),
    ("little-book/show-timestamp-of-system-call-2.txt", "none-time"),
])
def test_leader_picked_from_the_start_of_the_log(name: str, leader: str) -> None:
    assert strace_fastpath.pick_leader((FIX / name).read_bytes()[:65536]) == leader


def _shifted(by: int) -> Callable[[re.Match[str]], str]:
    return lambda m: str(int(m.group()) + by)


def _big_log(target: int) -> str:
    """Real strace 6.1 output repeated with shifted pids: -f -tt -T -yy lines, a -ff-less
    terminal capture with cut lines, and personality switches."""
    parts = []
    for name in ("forks-f-tt-T-yy-C.log", "tty-f-C-terminal.txt",
                 "personality-f-C-quiet-none.log"):
        text = (FIX / "strace61" / name).read_text()
        parts.append(text[:text.index("% time")])  # the trace lines only
    pids = sorted({m for part in parts for m in re.findall(r"\b2[0-9]{4}\b", part)})
    out = []
    size = 0
    shift = 0
    while size < target:
        for part in parts:
            moved = re.sub(r"\b2[0-9]{4}\b", _shifted(shift), part)
            out.append(moved)
            size += len(moved)
        shift += 100
    assert pids
    return "".join(out)


def test_workers_read_a_big_file_like_the_exact_path(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.log"
    path.write_text(_big_log(3 << 20))
    monkeypatch.setattr(strace_fastpath, "POOL_MIN_BYTES", 0)
    want = exact(path, lenient=False)
    assert fast_file(path, lenient=False, chunk=256 << 10, workers=2) == want
    assert fast_file(path, lenient=False, chunk=300_001, workers=3) == want
    assert want[0]  # rows were read


def test_spawned_workers_get_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In a process with threads the workers are spawned: they cannot share the
    # file descriptor, so they are sent the chunks.
    path = tmp_path / "big.log"
    path.write_text(_big_log(1 << 20))
    monkeypatch.setattr(strace_fastpath, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(strace_fastpath, "_context",
                        lambda: multiprocessing.get_context("spawn"))
    assert fast_file(path, lenient=False, chunk=200_000, workers=2) == exact(path, False)


def test_jobs_run_in_worker_processes() -> None:
    jobs: Any = iter([(os.getpid, ())] * 6)
    pids: list[Any] = list(strace_fastpath._in_order(jobs, 2))
    assert len(pids) == 6
    assert os.getpid() not in pids


def test_invalid_utf8_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    good = (FIX / "stp-f-process-tree-wait4-sigchld.log").read_bytes()
    path.write_bytes(good + b'29900 write(1, "\xff", 1) = 1\n')
    with path.open() as fh, pytest.raises(ParseError) as exc:
        read_logs([(str(path), fh)])
    assert (exc.value.line, exc.value.message) == (39, "not UTF-8 text (invalid start byte)")


def test_carriage_returns_read_as_newlines(tmp_path: Path) -> None:
    path = tmp_path / "crlf.log"
    text = (FIX / "stp-f-process-tree-wait4-sigchld.log").read_text()
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert fast_file(path, lenient=False) == fast_file(
        FIX / "stp-f-process-tree-wait4-sigchld.log", lenient=False)[:1] + \
        fast_file(path, lenient=False)[1:]
    assert fast_file(path, lenient=False)[0] == exact(
        FIX / "stp-f-process-tree-wait4-sigchld.log", lenient=False)[0]


def test_trace_after_table_is_caught_in_every_mode(tmp_path: Path) -> None:
    path = tmp_path / "after.log"
    path.write_text((FIX / "strace61" / "forks-f-C.log").read_text() + "22052 getpid() = 1\n")
    want = exact(path, lenient=False)
    assert want[0] == "error"
    assert "trace line after the summary table" in want[1]
    assert fast_file(path, lenient=False, chunk=500) == want
    assert fast_text(path, lenient=False, chunk=500) == want
