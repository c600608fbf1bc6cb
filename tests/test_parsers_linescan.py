"""The C line scanner (parsers/linescan.c) reads every line as the fast regex does.

Line by line, for every leader: every line of every real log in the fixtures,
those lines cut and edited at random (a fixed seed: the same lines every run),
and lines written to hit each rule of the regex.  Whole-log equivalence with
the exact reader is checked in test_parsers_strace_fastpath.py, with both
scanners.
"""

from __future__ import annotations

import functools
import io
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from programs.strace_fixtures import LOGS
from programs.tracer_programs import build

from tracebench import extensions
from tracebench.errors import TracebenchError
from tracebench.parsers import linescan, strace_fastpath
from tracebench.parsers.strace_log import read_logs

LEADERS = list(strace_fastpath.LEADERS)

Reading = tuple[int, int, bytes, int, int]


def regex_reading(line: bytes, leader: str) -> Reading:
    """What the fast regex makes of ``line``, in scan_one's terms."""
    (pid, bpid, uname, rname, cname, err, dur, slow), = \
        strace_fastpath.pattern(leader).findall(line + b"\n")
    if slow:
        return linescan.SLOW, 0, b"", 0, 0
    kind = (linescan.UNFINISHED if uname else linescan.RESUMED if rname
            else linescan.COMPLETE if cname else linescan.SIGNAL)
    ns = -1
    if dur:
        sec, frac = dur.split(b".")
        ns = int(sec) * 1_000_000_000 + int(frac[:9].ljust(9, b"0"))
    return kind, int(pid or bpid or -1), uname or rname or cname, int(bool(err)), ns


def c_reading(line: bytes, leader: str) -> Reading:
    kind, pid, name, err, ns = linescan.scan_one(line, LEADERS.index(leader))
    if kind == linescan.SLOW:
        return linescan.SLOW, 0, b"", 0, 0
    if kind == linescan.SIGNAL:
        return kind, pid, b"", 0, -1
    if kind == linescan.UNFINISHED:
        return kind, pid, name, 0, -1
    return kind, pid, name, err, ns


def out_of_range(line: bytes) -> bool:
    # Where C's 64-bit reading would not hold the value the line is read exactly.
    return bool(re.search(rb"\d{19}|<\d{10,}\.", line))


def same(line: bytes, leader: str) -> bool:
    got = c_reading(line, leader)
    if got[0] == linescan.SLOW_RANGE:
        return out_of_range(line) and regex_reading(line, leader)[0] != linescan.SLOW
    return got == regex_reading(line, leader)


# The tracer tests' C programs (threads, fork+exec, signals, failing calls)
# and this Python, traced by the installed strace 6.1 with the options that
# change the line shapes: -y/-yy decorations, -T, timestamps, -r.
PROGRAMS = ["threads", "forkexec", "signals", "args", "endings"]
OPTIONS = [["-f", "-tt", "-T", "-yy"], ["-f", "-r", "-y"], ["-f", "-ttt", "-T"], ["-f"]]


@functools.cache
def strace_lines() -> tuple[bytes, ...]:
    progs = build()
    lines: set[bytes] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for k, options in enumerate(OPTIONS):
            for argv in [[progs[name]] for name in PROGRAMS] + [
                    [sys.executable, "-c", "import json, os; os.listdir('/')"]]:
                log = Path(tmp) / f"{k}.log"
                subprocess.run(["strace", *options, "-o", str(log), *argv], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=60)
                lines.update(log.read_bytes().split(b"\n"))
    return tuple(sorted(lines))


def fixture_lines() -> list[bytes]:
    """Every distinct line of the fixtures' logs and of the strace runs above."""
    lines: set[bytes] = set(strace_lines())
    for path in LOGS:
        lines.update(path.read_bytes().replace(b"\r", b"").split(b"\n"))
    return sorted(lines)


# Lines that hit one rule each (the comment says which).
CRAFTED = [
    b"123 close(3) = 0",
    b"123  close(3)    =    0",                      # several spaces around '='
    b"close() = 0",                                   # ')' right after '('
    b"<... read resumed>) = 0",                       # ')' right after 'resumed>'
    b"<... read resumed>\"x\", 1) = 1 <0.000012>",
    b"read(3, \"a) = 4\", 9) = 9",                    # a ') = ' inside the arguments
    b"f(1) = -1 EINVAL (x = y)",                      # '= ' inside the error text
    b"f(1) = 0 (flags = 1)",                          # '= ' inside an auxiliary string
    b"f(1) = 0 (a) (b)",
    b"f(1) = 0 (a) (b) <0.5>",
    b"f(1) = 0 (a (b))",                              # nested parentheses: slow
    b"f(1) = 0x7ff <1.000000001>",
    b"f(1) = 0x <0.1>",                               # 0x without digits
    b"f(1) = 0xg",
    b"f(1) = 3</etc/passwd> <0.000003>",              # -y decoration
    b"f(1) = 3<a<b>>",
    b"f(1) = -1",                                     # no errno: slow
    b"f(1) = -1 E (x)",                               # errno of one letter: slow
    b"f(1) = -1 ENOENT",
    b"f(1) = ?",
    b"f(1) = 0 <0.1234567891234>",                    # more than 9 fraction digits
    b"f(1) = 0 <12345678901.5>",                      # seconds C does not hold
    b"f(1) = 0 <.5>",
    b"f(1) = 0 <5.>",
    b"f(1) = 0 <0.1> ",
    b"execve(\"/bin/true\") = 0",                     # image changes: slow
    b"execveat(3, \"\") = 0",
    b"clone3({}, 88) = 5",
    b"cloned(1) = 0",
    b"vfork() = 5",
    b"forkx() = 0",
    b"fork_(1) = 0",
    b"<... clone resumed>) = 4",
    b"futex(0x1, FUTEX_WAIT <unfinished ...>",
    b"futex( <unfinished ...>",
    b"f(<unfinished ...>",                            # lookbehind needs the space
    b"clone(child_stack=NULL <unfinished ...>",
    b"--- SIGCHLD {si_signo=SIGCHLD} ---",
    b"--- ---",
    b"---  ---",
    b"--- x",
    b"+++ exited with 0 +++",
    b"[pid  123] close(3) = 0",
    b"[pid 123] 10:00:00.5 close(3) = 0",
    b"[pid123] close(3) = 0",
    b"[pid  123]close(3) = 0",
    b"123 10:00:00.123456 close(3) = 0 <0.000001>",
    b"10:00:00.123456 close(3) = 0",
    b"1700000000.123456 close(3) = 0",
    b"     0.000123 close(3) = 0",                    # -r
    b"  1.5 close(3) = 0",
    b"123 456 close(3) = 0",
    b"123 1: close(3) = 0",
    b"0 close(3) = 0",
    b"0123 close(3) = 0",
    b"12345678901234567890 close(3) = 0",             # a pid C does not hold
    b"[pid 12345678901234567890] close(3) = 0",
    b"123",
    b"123 ",
    b"",
    b" ",
    b"9close(3) = 0",
    b"_x9(3) = 0",
    b"X(3) = 0",
    b"x (3) = 0",
    b"x(3) = 0 <unfinished ...>",
    b"x(3)= 0",
    b"x(3) =0",
    b"x(3) = 0\t",
]


def test_the_install_built_the_scanner() -> None:
    # scripts/bootstrap.sh installs a compiler before the package.
    path = linescan.library_path()
    assert path is not None and path.name.startswith("_linescan")


@pytest.mark.parametrize("leader", LEADERS)
def test_every_fixture_line_reads_as_the_regex_reads_it(leader: str) -> None:
    lines = fixture_lines()
    assert len(lines) > 3000
    bad = [line for line in lines if not same(line, leader)]
    assert bad == []


@pytest.mark.parametrize("leader", LEADERS)
def test_crafted_lines_read_as_the_regex_reads_them(leader: str) -> None:
    bad = [line for line in CRAFTED if not same(line, leader)]
    assert bad == []


def test_crafted_lines_cover_every_kind() -> None:
    kinds = {c_reading(line, "general")[0] for line in CRAFTED}
    assert kinds == {linescan.SLOW, linescan.COMPLETE, linescan.RESUMED, linescan.UNFINISHED,
                     linescan.SIGNAL, linescan.SLOW_RANGE}


ALPHABET = b" ()=<>-.:0123456789Exabf_[]{}\",?+"


def mutations(lines: list[bytes], n: int, seed: int) -> list[bytes]:
    """``n`` lines made from real ones by cutting, deleting, inserting and swapping bytes."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        line = bytearray(rng.choice(lines))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(4)
            at = rng.randint(0, len(line))
            if op == 0:
                del line[at:]
            elif op == 1 and line:
                del line[min(at, len(line) - 1)]
            elif op == 2:
                line[at:at] = bytes([rng.choice(ALPHABET)])
            elif len(line) > 1:
                i, j = sorted(rng.sample(range(len(line)), 2))
                line[i], line[j] = line[j], line[i]
        out.append(bytes(line))
    return out


# What strace prints before the call, in each of its forms (-f, -t, -tt,
# -ttt, -r, a terminal's "[pid N]"), to put before the fixtures' calls.
PREFIXES = [b"", b"42 ", b"42  10:00:00.123456 ", b"[pid  42] ",
            b"[pid 42] 1700000000.123456 ", b"10:00:00 ", b"     0.000123 "]


def reprefixed_fixture_lines() -> list[bytes]:
    """The fixtures' calls, signals and results behind every prefix (the same lines every run)."""
    general = re.compile(rb"^" + strace_fastpath.LEADERS["general"])
    bodies = set()
    for path in LOGS:
        for line in path.read_bytes().replace(b"\r", b"").split(b"\n"):
            if regex_reading(line, "general")[0] != linescan.SLOW:
                leader = general.match(line)
                assert leader is not None  # every part of it is optional
                bodies.add(line[leader.end():])
    return sorted(prefix + body for prefix in PREFIXES for body in bodies)


@pytest.mark.parametrize("leader", LEADERS)
def test_edited_fixture_lines_read_as_the_regex_reads_them(leader: str) -> None:
    # Most edits make a line slow; enough keep it fast that both readings are tried.
    lines = reprefixed_fixture_lines()
    assert sum(regex_reading(line, leader)[0] != linescan.SLOW for line in lines) > 200
    edited = mutations(lines, 6000, seed=LEADERS.index(leader))
    kinds = {c_reading(line, leader)[0] for line in edited}
    assert {linescan.SLOW, linescan.COMPLETE, linescan.RESUMED, linescan.UNFINISHED,
            linescan.SIGNAL} <= kinds
    bad = [line for line in edited if not same(line, leader)]
    assert bad == []


def test_scan_counts_a_chunk_as_fold_does() -> None:
    # The counts of the fast lines between slow ones, per (pid, name).
    data = (b"7 close(3) = 0 <0.000002>\n"
            b"7 close(4) = -1 EBADF (Bad file descriptor) <0.000001>\n"
            b"8 read(3 <unfinished ...>\n"
            b"7 +++ exited with 0 +++\n"
            b"8 <... read resumed>\"\", 1) = 0\n"
            b"8 --- SIGCHLD {si_signo=SIGCHLD} ---\n")
    lines, items = linescan.scan(data, LEADERS.index("pid"))
    assert lines == 6
    read = [(kind, a, data[b:b + c] if kind == linescan.ENTRY else data[b:c], *counts)
            for kind, a, b, c, *counts in items]
    assert read == [
        # calls, errors, ns, timed, untimed, unfinished, "<unfinished ...>", "resumed>"
        (linescan.ENTRY, 7, b"close", 2, 1, 3000, 2, 0, 0, 0, 0),
        (linescan.ENTRY, 8, b"read", 0, 0, 0, 0, 0, 0, 1, 0),
        (linescan.SLOW_LINE, 3, b"7 +++ exited with 0 +++", 0, 0, 0, 0, 0, 0, 0, 0),
        (linescan.ENTRY, 8, b"read", 1, 0, 0, 0, 1, 0, 0, 1),
    ]


def test_scan_with_more_keys_than_its_table_holds() -> None:
    # Past 2048 (pid, name) keys in one run of fast lines the table is
    # emptied into entries and started again: the counts are the same.
    data = b"".join(b"%d close(3) = 0\n" % (pid % 5000) for pid in range(20000))
    lines, items = linescan.scan(data, LEADERS.index("pid"))
    assert lines == 20000
    total: dict[int, int] = {}
    for item in items:
        assert item[0] == linescan.ENTRY
        total[item[1]] = total.get(item[1], 0) + item[4]
    assert total == dict.fromkeys(range(5000), 4)
    assert len(items) > 5000  # keys came more than once


def test_durations_past_what_64_bits_hold_are_summed_exactly() -> None:
    # Each fits; their sum does not (2^63 ns is 292 years): Python adds the entries.
    data = b"1 pause() = 0 <999999999.5>\n" * 20
    lines, items = linescan.scan(data, LEADERS.index("pid"))
    assert lines == 20 and len(items) > 1
    assert sum(item[6] for item in items) == 20 * 999_999_999_500_000_000
    assert sum(item[4] for item in items) == 20


def test_unknown_scanner_choice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEBENCH_SCAN", "simd")
    with pytest.raises(TracebenchError,
                       match=r"TRACEBENCH_SCAN='simd': expected 'native' or 'python'"):
        strace_fastpath.scan_bytes(b"1 close(3) = 0\n", "pid")
    # An import says so before it starts any worker.
    with pytest.raises(TracebenchError, match=r"TRACEBENCH_SCAN='simd'"):
        read_logs([("x.log", io.StringIO("1 close(3) = 0\n"))])


def test_native_asked_for_but_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linescan, "library_path", lambda: None)
    monkeypatch.setenv("TRACEBENCH_SCAN", "native")
    with pytest.raises(TracebenchError, match="the C line scanner was not built at install"):
        strace_fastpath.scan_bytes(b"1 close(3) = 0\n", "pid")
    monkeypatch.delenv("TRACEBENCH_SCAN")  # unset: the regex takes over
    count, ops = strace_fastpath.scan_bytes(b"1 close(3) = 0\n", "pid")
    assert count == 1 and ops == [strace_fastpath.Segment(0, 1, {(1, "close"): [
        1, 0, 0, 0, 1, 0, 0, 0]})]
    assert extensions.library_path(linescan.__file__, "_no_such_library") is None
