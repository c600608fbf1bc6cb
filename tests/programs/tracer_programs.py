"""Build the tracer's test programs and read strace -c tables (for tests/test_tracer*.py)."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

# name -> gcc flags (each program's header comment says what it does)
PROGRAMS = {
    "threads": ["-O1", "-pthread"],
    "forkexec": ["-O1"],
    "signals": ["-O1"],
    "thread_exec": ["-O1", "-pthread"],
    "sleeper": ["-O1", "-pthread"],
    "endings": ["-O1", "-pthread"],
    "args": ["-O1"],
    "many": ["-O1", "-pthread"],
    "argforms": ["-O1", "-static"],
    "errnos": ["-O1", "-static"],
    "errnos32": ["-m32", "-static", "-nostdlib", "-O1"],
    "sockets": ["-O1", "-static"],
    "int80": ["-O1", "-no-pie", "-static"],
    "m32": ["-m32", "-static", "-nostdlib", "-O1"],
}


@functools.lru_cache(maxsize=1)
def build() -> dict[str, str]:
    """Compile every program once per test session; name -> path of the binary."""
    out = Path(tempfile.mkdtemp(prefix="tracebench-programs-"))
    atexit.register(shutil.rmtree, out, True)
    paths = {}
    for name, flags in PROGRAMS.items():
        exe = out / name
        subprocess.run(["gcc", *flags, "-o", str(exe), str(HERE / f"{name}.c")], check=True,
                       capture_output=True)
        paths[name] = str(exe)
    return paths


# One row of a strace -c table:
#   "  0.00    0.000000           0         1         1 access"
# (the errors column is blank when there were none).
_ROW = re.compile(r"^\s*\d+\.\d+\s+\d+\.\d+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$")
# strace starts a new table for each other personality:
#   "System call usage summary for 32 bit mode:"
_SECTION = re.compile(r"^System call usage summary for (32 bit|x32) mode:$")


def strace_counts(text: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(arch, syscall) -> (calls, errors) from an ``strace -c`` table (x86_64 host)."""
    arch = "x86_64"
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for line in text.splitlines():
        sec = _SECTION.match(line)
        if sec:
            arch = "i386" if sec.group(1) == "32 bit" else "x32"
            continue
        m = _ROW.match(line)
        if m and m.group(3) != "total":
            out[(arch, m.group(3))] = (int(m.group(1)), int(m.group(2) or 0))
    return out


def run_strace(argv: list[str], tmp: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """Run ``strace -f -c -o FILE argv`` and read its table."""
    log = tmp / "strace-c.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(log), *argv], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return strace_counts(log.read_text())
