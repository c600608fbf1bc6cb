"""record and import end to end, through the installed console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from programs.console import TRACEBENCH, tb

from tracebench.profile import Profile
from tracebench.store import Store


def test_record_stores_the_run_and_returns_the_exit_status(tmp_path: Path) -> None:
    out = tb(tmp_path, "record", "--label", "seven", "--", sys.executable, "-c",
             "import os; print('hello'); os._exit(7)")
    assert out.returncode == 7
    assert out.stdout == "hello\n"  # the program keeps its stdout; the table goes to stderr
    assert "% time     seconds  usecs/call     calls    errors syscall" in out.stderr
    assert "stored run 1 (seven)" in out.stderr
    info, profile = Store(tmp_path).load("seven")
    assert info.exit_status == 7
    assert {"execve", "write"} <= profile.syscalls()
    assert profile.provenance.source == "ptrace"
    assert profile.provenance.command[0] == sys.executable


def test_record_reports_death_by_signal_as_a_shell_does(tmp_path: Path) -> None:
    out = tb(tmp_path, "record", "-q", "--", sys.executable, "-c",
             "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert out.returncode == 128 + 15


def test_record_fast_mode_says_what_it_did_not_measure(tmp_path: Path) -> None:
    out = tb(tmp_path, "record", "--mode", "fast", "--", "/bin/true")
    assert out.returncode == 0
    assert "not measured in this run: errors, seconds" in out.stderr
    profile = Store(tmp_path).load(None)[1]
    assert profile.provenance.measured == ("calls",)
    assert "exit_group" in profile.syscalls()


@pytest.mark.parametrize("argv", [["/nonexistent/prog"], ["--"]])
def test_record_errors_are_one_line(tmp_path: Path, argv: list[str]) -> None:
    out = tb(tmp_path, "record", *argv)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("tracebench: ")
    assert "Traceback" not in out.stderr


def test_record_under_strace_f_is_a_one_line_error(tmp_path: Path) -> None:
    # strace -f traces tracebench's child from its fork on: the child cannot
    # have a second tracer, and the program must not run untraced.
    marker = tmp_path / "ran"
    env = {**os.environ, "TRACEBENCH_STORE": str(tmp_path / "store")}
    out = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "strace.log"),
                          TRACEBENCH, "record", "--", "/bin/touch", str(marker)],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert out.returncode == 2
    assert re.fullmatch(r"tracebench: cannot trace /bin/touch: it is already traced by "
                        r"process \d+ \(is tracebench itself running under a tracer "
                        r"with -f\?\)\n", out.stderr)
    assert not marker.exists()


def test_import_a_real_strace_log_then_table_and_lenient(tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    subprocess.run(["strace", "-f", "-o", str(log), "/bin/ls", "/"], check=True,
                   capture_output=True)
    out = tb(tmp_path, "import", str(log), "--label", "ls")
    assert out.returncode == 0, out.stderr
    assert "from strace-log" in out.stderr
    doc = json.loads(tb(tmp_path, "table", "ls", "--format", "json").stdout)
    calls = {r["syscall"]: r["calls"] for r in doc["syscalls"]}
    lines = [ln for ln in log.read_text().splitlines() if " execve(" in ln]
    assert calls["execve"] == len(lines) == 1
    # A damaged line: an error naming file and line, or skipped and counted.
    bad = tmp_path / "bad.log"
    text = log.read_text().splitlines()
    text.insert(3, f"{text[3].split()[0]} openat(AT_FDCWD, \"/x\", O_RDONLY")
    text.insert(4, "12345 this is not strace = = =")
    bad.write_text("\n".join(text) + "\n")
    out = tb(tmp_path, "import", str(bad))
    assert out.returncode == 2
    assert out.stderr.startswith(f"tracebench: {bad}:") and out.stderr.count("\n") == 1
    out = tb(tmp_path, "import", str(bad), "--lenient", "--label", "lenient")
    assert out.returncode == 0, out.stderr
    assert "skipped" in out.stderr
    assert Store(tmp_path).load("lenient")[1].syscalls() == Store(tmp_path).load("ls")[1].syscalls()


def test_emit_from_a_recorded_run_lets_the_program_run(tmp_path: Path) -> None:
    from tracebench import sandbox
    from tracebench.policy import Context
    from tracebench.policy.formats import FORMATS

    argv = [sys.executable, "-c", "import json, os; print(json.dumps(sorted(os.listdir('/'))))"]
    assert tb(tmp_path, "record", "-q", "--label", "py", "--", *argv).returncode == 0
    out = tb(tmp_path, "emit", "py", "--format", "oci", "-o", str(tmp_path / "py.json"))
    assert out.returncode == 0, out.stderr
    read = FORMATS["oci"].read
    assert read is not None
    policy = read((tmp_path / "py.json").read_text(), "py.json")
    flt = sandbox.compile(policy, Context("x86_64"))
    done = sandbox.spawn(flt, argv, stdout=subprocess.PIPE, close_fds=False)
    stdout, _ = done.communicate(timeout=60)
    assert done.returncode == 0
    assert json.loads(stdout) == sorted(os.listdir("/"))
    # The run holds exactly what the table shows plus what never returned.
    profile: Profile = Store(tmp_path).load("py")[1]
    assert "exit_group" in profile.syscalls()
