"""The oracle: strace 6.1's own -c table for the very run whose trace lines we import.

``strace -f -C -o LOG PROG`` writes the trace lines and then the summary table
strace counted itself (src/count.c).  Reading the trace lines with the
strace-log importer must give exactly the calls and errors of every row of
that table, read with the strace-summary importer: for a forking program
with failing calls, an interrupted read (ERESTARTSYS) and an unknown syscall,
a threaded program, one whose arguments look like strace's own syntax
(``") = 5"``, ``" <unfinished ...>"``, ``"strace: Process 1 attached"``), Python, a
program switching between x86_64, i386 and x32,
terminal captures, injected faults and every leader option (-t -tt -ttt -r -T
-yy -i -n -X raw).  The only difference allowed is the one strace 6.1 has:
its -c leaves out syscall numbers beyond its table (syscall_0xbad), which the
trace shows and we count.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tracebench.parsers import ImportResult
from tracebench.parsers.strace_log import read_logs
from tracebench.parsers.strace_summary import is_table_start
from tracebench.parsers.strace_summary import parse as parse_summary

pytestmark = pytest.mark.slow

SRC = Path(__file__).parent / "fixtures" / "strace" / "strace61" / "src"
PYTHON_WORK = ("import os, threading, subprocess\n"
               "def work():\n"
               "    for _ in range(20):\n"
               "        os.stat('/')\n"
               "        try:\n"
               "            os.stat('/nonexistent')\n"
               "        except OSError:\n"
               "            pass\n"
               "threads = [threading.Thread(target=work) for _ in range(3)]\n"
               "[t.start() for t in threads]\n"
               "[t.join() for t in threads]\n"
               "subprocess.run(['/bin/true'])\n"
               "print('done', flush=True)\n")
Counts = dict[tuple[str, str], tuple[int, int]]


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("strace-oracle")
    builds = {
        "forks": ["-O1"],
        "threads": ["-O1", "-pthread"],
        "tricky": ["-O1", "-pthread"],
        "tty": ["-O1"],
        "personality": ["-O1", "-static", "-nostdlib", "-fno-pie", "-no-pie"],
    }
    for name, flags in builds.items():
        subprocess.run(["gcc", *flags, "-o", str(out / name), str(SRC / f"{name}.c")],
                       check=True)
    return out


def program(bins: Path, name: str) -> list[str]:
    if name == "python":
        return [sys.executable, "-c", PYTHON_WORK]
    return [str(bins / name)]


def run_strace(options: list[str], argv: list[str], out: Path) -> Path:
    subprocess.run(["strace", *options, "-o", str(out), *argv], check=True, cwd=out.parent,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def split(text: str) -> tuple[str, str]:
    """The trace lines and the summary tables of an strace -C output."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if is_table_start(line.rstrip("\n")))
    return "".join(lines[:at]), "".join(lines[at:])


def counts(result: ImportResult) -> Counts:
    return {(r["arch"], r["syscall"]): (int(r["calls"]), int(r["errors"]))
            for r in result.profile.summary().to_dict("records") if r["calls"]}


def trace_counts(trace: str, fast: bool = True) -> Counts:
    return counts(read_logs([("trace", io.StringIO(trace))], fast=fast))


def table_counts(table: str) -> Counts:
    return counts(parse_summary([("table", io.StringIO(table))]))


def assert_oracle(text: str) -> Counts:
    trace, table = split(text)
    got = trace_counts(trace)
    want = table_counts(table)
    unknown = {k: v for k, v in got.items() if k[1].startswith("syscall_0x")}
    assert {k: v for k, v in got.items() if k not in unknown} == want
    assert trace_counts(trace, fast=False) == got
    # The whole log, read as one: the trace lines are kept, the table agrees.
    whole = read_logs([("log", io.StringIO(text))])
    assert "count exactly the summary table" in whole.profile.provenance.notes[0]
    assert whole.skipped == 0
    return unknown


LEADERS = [[], ["-tt", "-T"], ["-ttt"], ["-r"], ["-t", "-r"], ["-yy"], ["-i"], ["-n"],
           ["-X", "raw"], ["-e", "inject=access:error=EACCES:when=2+",
                           "-e", "inject=close:retval=0:when=1"]]


@pytest.mark.parametrize("options", LEADERS, ids=lambda o: " ".join(o) or "plain")
def test_forks_trace_matches_table(bins: Path, options: list[str], tmp_path: Path) -> None:
    log = run_strace(["-f", "-C", *options], program(bins, "forks"), tmp_path / "log")
    unknown = assert_oracle(log.read_text())
    # syscall(0xbad): in the trace, out of strace 6.1's -c table.
    assert unknown == {("x86_64", "syscall_0xbad"): (1, 1)}


@pytest.mark.parametrize("name", ["threads", "tricky", "python"])
@pytest.mark.parametrize("options", [[], ["-tt", "-T", "-yy"]], ids=["plain", "tt-T-yy"])
def test_threads_and_python_trace_matches_table(bins: Path, name: str, options: list[str],
                                                tmp_path: Path) -> None:
    log = run_strace(["-f", "-C", *options], program(bins, name), tmp_path / "log")
    assert assert_oracle(log.read_text()) == {}


def test_interrupted_read_is_an_error(bins: Path, tmp_path: Path) -> None:
    log = run_strace(["-f", "-C"], program(bins, "forks"), tmp_path / "log")
    trace, table = split(log.read_text())
    assert "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)" in trace
    # 3 reads: the ELF headers of two programs, and the interrupted one.
    assert table_counts(table)[("x86_64", "read")] == (3, 1)
    assert table_counts(table)[("x86_64", "rt_sigreturn")] == (1, 1)  # = -1 EINTR


def test_three_personalities(bins: Path, tmp_path: Path) -> None:
    log = run_strace(["-f", "-C", "-e", "quiet=none"], program(bins, "personality"),
                     tmp_path / "log")
    text = log.read_text()
    assert "runs in 32 bit mode. ]" in text
    assert "runs in x32 mode. ]" in text
    assert assert_oracle(text) == {}
    _trace, table = split(text)
    assert {arch for arch, _ in table_counts(table)} == {"x86_64", "i386", "x32"}


def test_terminal_captures(bins: Path, tmp_path: Path) -> None:
    # No -o: strace and the program share one output, like on a terminal.
    for name in ("tty", "python"):
        out = tmp_path / f"{name}.txt"
        with out.open("w") as fh:
            subprocess.run(["strace", "-f", "-C", *program(bins, name)], check=True,
                           stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
        text = out.read_text()
        assert "strace: Process" in text
        assert assert_oracle(text) == {}


def test_ff_files_match_the_table_of_the_same_program(bins: Path, tmp_path: Path) -> None:
    # -ff and -C cannot be combined: compare with the table of a second run of the
    # same deterministic program (no threads, same calls every run).
    prefix = tmp_path / "ff" / "forks"
    prefix.parent.mkdir()
    subprocess.run(["strace", "-ff", "-o", str(prefix), *program(bins, "forks")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = sorted(prefix.parent.iterdir())
    assert len(files) == 4  # the program and its three children
    handles = [p.open() for p in files]
    try:
        result = read_logs(list(zip([str(p) for p in files], handles, strict=True)))
    finally:
        for h in handles:
            h.close()
    log = run_strace(["-f", "-C"], program(bins, "forks"), tmp_path / "log")
    _trace, table = split(log.read_text())
    got = counts(result)
    assert got.pop(("x86_64", "syscall_0xbad")) == (1, 1)
    assert got == table_counts(table)
    assert {int(p) for p in result.profile.rows.pid} == {int(p.name.split(".")[1])
                                                          for p in files}


@pytest.mark.parametrize(("precision", "per_call"), [("ns", 0.0), ("us", 1e-6)])
def test_durations_add_up_to_the_wall_clock_table(bins: Path, tmp_path: Path,
                                                  precision: str, per_call: float) -> None:
    # -w makes the table sum the same wall-clock intervals -T prints for each call
    # (count.c count_syscall and syscall.c syscall_exiting_trace share the timestamp).
    log = run_strace(["-f", "-C", "-w", f"--syscall-times={precision}"],
                     program(bins, "forks"), tmp_path / "log")
    trace, table = split(log.read_text())
    ours = read_logs([("trace", io.StringIO(trace))]).profile
    theirs = parse_summary([("table", io.StringIO(table))]).profile
    assert ours.measures("seconds")
    mine = ours.summary().set_index(["arch", "syscall"])
    for row in theirs.summary().to_dict("records"):
        got = float(mine.loc[(row["arch"], row["syscall"]), "seconds"])
        # The table prints each total rounded to the microsecond; -T in us drops the
        # nanoseconds of each call.
        limit = 0.5e-6 + per_call * int(row["calls"]) + 1e-9
        assert abs(got - float(row["seconds"])) <= limit, row
