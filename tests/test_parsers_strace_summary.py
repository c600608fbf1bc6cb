"""strace -c summary tables: strace 4.26 (little-book) and 6.1 (this machine) tables.

The expected numbers are the table rows themselves, and every table's total
row is checked against the sum of its rows (the parser refuses a table whose
total does not add up, so each passing read is that check too).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tracebench.errors import ParseError
from tracebench.parsers import ImportResult
from tracebench.parsers.strace_summary import header_columns, parse

FIX = Path(__file__).parent / "fixtures" / "strace"
LB = FIX / "little-book"
G61 = FIX / "strace61"


def read(*paths: Path, lenient: bool = False) -> ImportResult:
    return parse([(str(p), io.StringIO(p.read_text())) for p in paths], lenient=lenient)


def read_text(text: str, path: str = "table.txt", lenient: bool = False) -> ImportResult:
    return parse([(path, io.StringIO(text))], lenient=lenient)


def rows(result: ImportResult) -> dict[tuple[str, str], tuple[int, int]]:
    s = result.profile.summary()
    return {(r["arch"], r["syscall"]): (int(r["calls"]), int(r["errors"]))
            for r in s.to_dict("records")}


def totals(result: ImportResult) -> tuple[int, int, float]:
    s = result.profile.summary()
    return int(s.calls.sum()), int(s.errors.sum()), float(s.seconds.sum())


# show-statistics-of-system-calls-1.txt (strace 4.26, "# strace -c ls")
LB_C = {"munmap": (1, 0), "getdents64": (2, 0), "close": (6, 0), "write": (1, 0),
        "ioctl": (2, 0), "fstat": (5, 0), "brk": (3, 0), "openat": (4, 0), "read": (5, 0),
        "lseek": (3, 0), "mmap": (12, 0), "mprotect": (5, 0), "access": (1, 1),
        "execve": (1, 0), "arch_prctl": (2, 1)}


def test_little_book_c_table() -> None:
    r = read(LB / "show-statistics-of-system-calls-1.txt")
    assert rows(r) == {("x86_64", k): v for k, v in LB_C.items()}
    # total row: "100.00    0.000239                    53         2 total" (usecs/call blank)
    assert totals(r)[:2] == (53, 2)
    assert totals(r)[2] == pytest.approx(0.000239, abs=1e-9)
    assert r.profile.summary().set_index("syscall").seconds["munmap"] == pytest.approx(0.00005)
    assert set(r.profile.rows.pid) == {-1}
    assert set(r.profile.rows.exe) == {""}
    assert r.profile.provenance.source == "strace-summary"
    assert r.profile.provenance.measured == ("calls", "errors", "seconds")
    # "# strace -c ls" and "project" (ls's output) come before the table.
    assert r.profile.provenance.notes == (
        "2 line(s) of text outside the tables (program output, strace messages) ignored, "
        f"e.g. {LB / 'show-statistics-of-system-calls-1.txt'}:1: '# strace -c ls'; "
        f"{LB / 'show-statistics-of-system-calls-1.txt'}:2: 'project'",)


def test_sorted_by_calls_same_counts() -> None:
    # "-c -S calls": rows in another order, same run of ls (other times).
    r = read(LB / "show-statistics-of-system-calls-4.txt")
    assert rows(r) == {("x86_64", k): v for k, v in LB_C.items()}
    assert totals(r)[:2] == (53, 2)
    assert totals(r)[2] == pytest.approx(0.000593, abs=1e-9)


def test_elided_table_is_malformed_at_the_elision() -> None:
    path = LB / "show-statistics-of-system-calls-3.txt"  # "-w -c", cut by "......  "
    with pytest.raises(ParseError) as exc:
        read(path)
    assert (exc.value.path, exc.value.line, exc.value.message) == (
        str(path), 8, "not a summary table row")
    r = read(path, lenient=True)
    assert r.skipped == 2  # the "......" row and the missing total row
    assert r.skipped_examples[1] == f"{path}:8: the summary table ends without its total row"
    assert rows(r) == {("x86_64", "mmap"): (12, 0), ("x86_64", "execve"): (1, 0),
                       ("x86_64", "close"): (6, 0)}


def test_summary_columns_reordered() -> None:
    # -U calls,name,errors,max-time,min-time,total-time,avg-time,time-percent: the name
    # column in the middle, blank errors right of it.
    r = read(G61 / "forks-c-U-reordered.txt")
    got = rows(r)
    assert got[("x86_64", "access")] == (11, 11)
    assert got[("x86_64", "read")] == (3, 1)
    assert got[("x86_64", "write")] == (1, 0)  # "        1 write                      0.0..."
    assert got[("x86_64", "mmap")] == (16, 0)
    assert totals(r)[:2] == (87, 18)  # "       87 total                   18 ..."
    assert r.profile.provenance.measured == ("calls", "errors", "seconds")


def test_wall_clock_sorted_table_of_the_same_program() -> None:
    # -w -c -S calls of another run of the same deterministic program: same counts.
    assert rows(read(G61 / "forks-w-c-S-calls.txt")) == rows(read(G61 / "forks-c-U-reordered.txt"))


def test_three_personalities_and_two_columns() -> None:
    # -U name,calls: no errors and no times were measured.
    r = read(G61 / "personality-c-U-name-calls.txt")
    assert rows(r) == {
        ("x86_64", "access"): (1, 0), ("x86_64", "getpid"): (2, 0),
        ("x86_64", "execve"): (1, 0), ("x86_64", "wait4"): (1, 0),
        ("i386", "fork"): (1, 0), ("i386", "getpid"): (2, 0), ("i386", "access"): (1, 0),
        ("x32", "getpid"): (1, 0),
    }
    assert r.profile.provenance.measured == ("calls",)


def test_tables_after_a_trace() -> None:
    # An -C log read as a summary: the trace lines are outside the tables.
    r = read(G61 / "personality-f-C-quiet-none.log")
    assert rows(r)[("x32", "getpid")] == (1, 1)
    assert rows(r)[("i386", "access")] == (1, 1)
    # the 21 trace lines before the first table (line 22)
    assert r.profile.provenance.notes[0].startswith("21 line(s) of text outside the tables")


def test_total_that_does_not_add_up() -> None:
    text = (LB / "show-statistics-of-system-calls-1.txt").read_text()
    bad = text.replace("53         2 total", "54         2 total")
    with pytest.raises(ParseError) as exc:
        read_text(bad)
    assert (exc.value.line, exc.value.message) == (
        21, "total row says 54 calls, the rows add up to 53")
    r = read_text(bad, lenient=True)
    assert r.skipped == 1
    assert totals(r)[:2] == (53, 2)  # the rows are kept


def test_decimal_comma() -> None:
    # strace run under a locale with a decimal comma ("47,58    0,000619").
    text = (LB / "show-statistics-of-system-calls-1.txt").read_text()
    comma = re.sub(r"(\d)\.(\d)", r"\1,\2", text)
    assert comma != text
    assert read_text(comma).profile.summary().equals(
        read(LB / "show-statistics-of-system-calls-1.txt").profile.summary())


def test_number_wider_than_its_column() -> None:
    # strace 4.x printed fixed widths: a count of 10 digits pushes the row right.
    text = (LB / "show-statistics-of-system-calls-1.txt").read_text()
    wide = text.replace("0        12           mmap", "0 10000000012           mmap")
    wide = wide.replace("53         2 total", "10000000053         2 total")
    got = rows(read_text(wide))
    assert got[("x86_64", "mmap")] == (10000000012, 0)
    assert got[("x86_64", "arch_prctl")] == (2, 1)


def test_table_cut_before_its_total() -> None:
    lines = (LB / "show-statistics-of-system-calls-1.txt").read_text().splitlines()
    with pytest.raises(ParseError) as exc:
        read_text("\n".join(lines[:-2]) + "\n")
    assert (exc.value.line, exc.value.message) == (
        19, "the summary table ends without its total row")  # the last row


def test_no_table_at_all() -> None:
    with pytest.raises(ParseError) as exc:
        read_text("project\nREADME\n", "ls.txt")
    assert str(exc.value) == "ls.txt:2: no strace summary table (% time ... syscall) found"


def test_several_tables_add_up() -> None:
    one = read(LB / "show-statistics-of-system-calls-1.txt")
    two = read(LB / "show-statistics-of-system-calls-1.txt",
               LB / "show-statistics-of-system-calls-4.txt")
    assert totals(two)[:2] == (2 * totals(one)[0], 2 * totals(one)[1])
    assert len(two.profile.provenance.files) == 2


def test_header_columns() -> None:
    assert header_columns("% time     seconds  usecs/call     calls    errors syscall") == [
        "percent", "seconds", "usecs", "calls", "errors", "syscall"]
    assert header_columns("    calls syscall             errors  longest shortest") == [
        "calls", "syscall", "errors", "max", "min"]
    assert header_columns("% time of the day") is None
    assert header_columns("calls errors") is None  # the syscall column is always there
