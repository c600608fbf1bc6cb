"""The strace -c table renderer, pinned by golden files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracebench import render
from tracebench.profile import Profile, ProfileBuilder, Provenance

GOLDEN = Path(__file__).parent / "golden"


def two_arch_profile(measured: tuple[str, ...] = ("calls", "errors", "seconds")) -> Profile:
    # Rendered into tests/golden/table-*.txt (see tests/golden/README.md).
    b = ProfileBuilder(Provenance("ptrace", ("ls",), started="2026-01-01T00:00:00+00:00",
                                  kernel="6.1.0", measured=measured))
    b.add("x86_64", "mmap", pid=100, exe="/bin/ls", calls=30, seconds=0.000503)
    b.add("x86_64", "openat", pid=100, calls=34, errors=13, seconds=0.000413)
    b.add("x86_64", "close", pid=100, calls=23, seconds=0.000179)
    b.add("x86_64", "read", pid=101, exe="/bin/cat", calls=7, seconds=0.000074)
    b.add("x86_64", "execve", pid=100, calls=1, seconds=0.0)
    b.add("x86_64", "statfs", pid=100, calls=2, errors=2, seconds=0.0)
    b.add("i386", "read", pid=102, exe="/opt/hello32", calls=2, seconds=0.000002)
    b.add("i386", "write", pid=102, calls=1, seconds=0.000004)
    return b.build()


@pytest.mark.parametrize(
    ("name", "kwargs", "measured"),
    [
        ("table-time.txt", {}, ("calls", "errors", "seconds")),
        ("table-calls.txt", {"sort": "calls"}, ("calls", "errors", "seconds")),
        ("table-name.txt", {"sort": "name"}, ("calls", "errors", "seconds")),
        ("table-per-process.txt", {"per_process": True}, ("calls", "errors", "seconds")),
        ("table-calls-only.txt", {"sort": "calls"}, ("calls",)),
    ],
)
def test_table_matches_golden(name: str, kwargs: dict[str, object],
                              measured: tuple[str, ...]) -> None:
    got = render.summary_table(two_arch_profile(measured), **kwargs)  # type: ignore[arg-type]
    assert got == (GOLDEN / name).read_text()


def test_total_row_sums_rows() -> None:
    text = render.summary_table(two_arch_profile())
    native = text.split("System call usage summary")[0].splitlines()
    total = native[-1].split()
    assert total[-1] == "total"
    assert int(total[3]) == 30 + 34 + 23 + 7 + 1 + 2
    assert int(total[4]) == 15


def test_json_and_csv_carry_the_same_numbers() -> None:
    p = two_arch_profile()
    doc = json.loads(render.summary(p, "json"))
    rows = {(r["arch"], r["syscall"]): r for r in doc["syscalls"]}
    assert rows[("x86_64", "openat")]["errors"] == 13
    assert rows[("x86_64", "openat")]["usecs_per_call"] == 12
    assert rows[("i386", "write")]["calls"] == 1
    csv_lines = render.summary(p, "csv").splitlines()
    assert csv_lines[0] == \
        "arch,syscall,calls,errors,seconds,unfinished,percent_time,usecs_per_call"
    assert "x86_64,openat,34,13,0.000413,0,35.33,12" in csv_lines


def test_unmeasured_columns_are_null_in_json() -> None:
    doc = json.loads(render.summary(two_arch_profile(("calls",)), "json"))
    assert all(r["seconds"] is None and r["errors"] is None for r in doc["syscalls"])
