"""Fast counting of strace logs: whole chunks at once, on every core.

The exact reader (strace_lines, LogReader.line) reads about 9 MB/s; a 1 GB
``strace -f -tt -T`` log needs 100 MB/s.  So a chunk (8 MiB of whole lines,
as bytes) is read by one compiled regex whose ``findall`` returns, for every
line, either the few fields that count (pid, syscall name, error flag, -T
duration) or the whole line.  ``collections.Counter`` then counts the
identical field tuples of each run of such lines in C, and only the distinct
tuples are folded in Python.  Where the C line scanner was built at install
(linescan.c, about ten times faster) it reads the chunk instead, line by line
exactly as the regex does (tests/test_parsers_linescan.py checks it line by
line), and counts the runs itself; ``TRACEBENCH_SCAN`` chooses.

The regex accepts only the plain shapes (a subset of what ``strace_lines``
reads, with the same reading):

    123   13:53:26.884089 arch_prctl(ARCH_SET_FS, 0x7fbb38e89740) = 0 <0.000008>
    [pid   123] <... wait4 resumed>NULL, 0, NULL) = 8194
    8193  close(-1)                         = -1 EBADF (Bad file descriptor)
    8192  futex(0x7f98f7738990, FUTEX_WAIT_BITSET ... <unfinished ...>
    8192  --- SIGCHLD {si_signo=SIGCHLD, ...} ---

Its result part holds no parentheses except around the error text or the
auxiliary string, so the ``) = `` it finds is the rightmost one, as in the
exact reader; its leader (the pid and timestamp forms, LEADERS) is the one of
the log at hand, picked from its first 64 KiB, because a general one costs a
sixth more.  Every other line goes through the exact reader: in the worker,
when what it says does not depend on its place (``= ? <unavailable>``, an
unfinished clone...), else -- execve, clone/fork results, exits, personality
changes, cut lines, program output, malformed lines -- in this process, in
order and with its line number (``LogReader.line``).  Counts between two such
lines do not depend on their order, so the result is the same as reading
every line exactly (tests/test_parsers_strace_fastpath.py checks it on every
fixture, with every leader).

Where the stream is a regular UTF-8 file read from its start, its chunks are
read straight from the file descriptor (``os.pread``) by forked worker
processes, one per core, so this process does little but apply their results
in file order; memory stays bounded (at most 2 chunks per worker in flight).
Otherwise (a pipe, a StringIO) chunks of text are read from the stream and
scanned here.  The byte path checks that every chunk is UTF-8 and turns
``\\r\\n`` and ``\\r`` into ``\\n``, as reading the text stream would.
"""

from __future__ import annotations

import codecs
import functools
import gc
import multiprocessing
import multiprocessing.context
import os
import re
import stat
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import compress
from operator import itemgetter
from typing import IO, TYPE_CHECKING, NamedTuple

from tracebench.errors import ParseError
from tracebench.parsers import linescan
from tracebench.parsers.strace_lines import (
    CLONE_NAMES,
    DETACHED,
    DONE,
    EXEC_NAMES,
    SIGNAL,
    START,
    read_body,
    split_leader,
)
from tracebench.parsers.streams import MAX_LINE_CHARS, chunks

if TYPE_CHECKING:
    from tracebench.parsers.strace_log import LogReader

_NAME = rb"[A-Za-z_][A-Za-z0-9_]*+"
# execve, clone, fork... change a process's image or make one: never counted here.
_PLAIN = rb"(?!execve|clone|v?fork)" + _NAME
_BODY = (
    rb"(?:(" + _PLAIN + rb")\([^\n]*+(?<= <unfinished \.\.\.>)"
    + rb"|(?:<\.\.\. (" + _PLAIN + rb") resumed>|(" + _PLAIN + rb")\()[^\n]*\) += "
    + rb"(?:-\d++ (E)[A-Z0-9_]++ \([^()\n]*+\)|(?:0x[0-9a-f]++|\d++)(?:<[^<>()\n]*+>)?)"
    + rb"(?: \([^()\n]*+\))*+(?: <(\d++\.\d++)>)?"
    + rb"|--- [^\n]* ---"
    + rb")\n|([^\n]*\n)")
# What strace prints before the call, per kind of log (groups: pid, [pid N]).
# A log uses one kind throughout (strace's options do not change mid-run), and
# a leader cheaper to match than the general one is a good part of the speed.
# A line that does not fit its log's leader is read exactly.
# A timestamp has a ':' or '.' (a bare number there is read as a pid, as strace_lines does).
_TIME = rb"\d++[:.][\d:.]*+ "
LEADERS: dict[str, bytes] = {
    "pid": rb"(\d++) +()",                                  # strace -f -o LOG
    "pid-time": rb"(\d++) +()" + _TIME,                     # ... with -t/-tt/-ttt/-r
    "none": rb"()()",                                         # strace PROG, -ff files
    "none-time": rb"()()(?: ++\d++\.\d++ |" + _TIME + rb")",  # (-r pads with spaces)
    "bracket": rb"()(?:\[pid +(\d++)\] )?",                  # strace -f on a terminal
    "bracket-time": rb"()(?:\[pid +(\d++)\] )?" + _TIME,
    "general": rb"(?:(\d++) +|\[pid +(\d++)\] )?(?:" + _TIME + rb")?",
}


@functools.cache
def pattern(leader: str) -> re.Pattern[bytes]:
    """The fast regex for logs whose lines start with LEADERS[leader]."""
    return re.compile(rb"^" + LEADERS[leader] + _BODY, re.M)


def pick_leader(sample: bytes) -> str:
    """The leader that lets the most lines of ``sample`` (a log's start) be counted fast."""
    sample = sample[:sample.rfind(b"\n") + 1]
    best, most = "general", -1
    for name in LEADERS:  # the specific ones first: on a tie they are cheaper
        fast = sum(1 for row in pattern(name).findall(sample) if not row[_SLOW])
        if fast > most:
            best, most = name, fast
    return best


_SLOW = 7

CHUNK_BYTES = 8 << 20
# Below this many bytes a file is read in this process (starting workers costs more).
POOL_MIN_BYTES = 32 << 20

Folded = dict[tuple[int | None, str], list[int]]


class Segment(NamedTuple):
    """Lines ``[start, end)`` of a chunk, counted: (pid, name) -> counts (see _fold)."""

    start: int
    end: int
    counts: Folded


class Exact(NamedTuple):
    """Line ``line`` (0-based) of a chunk, for the exact reader."""

    line: int
    text: str


class NotText(NamedTuple):
    """Line ``line`` (0-based) of a chunk is not UTF-8."""

    line: int
    message: str


Op = Segment | Exact | NotText
Scanned = tuple[int, list[Op]]


# -T durations already turned into nanoseconds, kept across segments and
# chunks: a worker meets the same few thousand durations ("<0.000012>") again
# and again.  Bounded: cleared when it grows past _NS_MAX.
_NS: dict[bytes, int] = {}
_NS_MAX = 1 << 16


def _fold(rows: Sequence[tuple[bytes, ...]], extra: Folded) -> Folded:
    """Counts of fast-read ``rows`` plus ``extra`` (from exactly read lines in between).

    ``(pid, name) -> [calls, errors, ns, calls with a -T duration, calls
    without, unfinished, "<unfinished ...>" entries, "<... resumed>" lines]``.
    """
    raw: dict[tuple[bytes, bytes], list[int]] = {}
    ns_of = _NS
    if len(ns_of) > _NS_MAX:
        ns_of.clear()
    for (pid, bpid, uname, rname, cname, err, dur, _slow), n in Counter(rows).items():
        # The most common line first: a call and its result on one line.
        name = cname or rname or uname
        if not name:
            continue  # a signal or an exactly read line
        key = (pid or bpid, name)
        acc = raw.get(key)
        if acc is None:
            acc = raw[key] = [0, 0, 0, 0, 0, 0, 0, 0]
        if uname:
            acc[6] += n
            continue
        if rname:
            acc[7] += n
        acc[0] += n
        if err:
            acc[1] += n
        if dur:
            ns = ns_of.get(dur)
            if ns is None:
                sec, frac = dur.split(b".")
                ns = ns_of[dur] = int(sec) * 1_000_000_000 + int(frac[:9].ljust(9, b"0"))
            acc[2] += n * ns
            acc[3] += n
        else:
            acc[4] += n
    out: Folded = {(int(pid) if pid else None, name.decode()): acc
                   for (pid, name), acc in raw.items()}
    for at, more in extra.items():
        _add(out, at, more)
    return out


def _add(folded: Folded, key: tuple[int | None, str], counts: list[int]) -> None:
    """Add ``counts`` (taken over, not copied) to those of ``key``."""
    have = folded.get(key)
    if have is None:
        folded[key] = counts
    else:
        for k in range(8):
            have[k] += counts[k]


def _merge(text: str, extra: Folded) -> bool:
    """Add a line whose effect does not depend on its order to ``extra``; False if it does."""
    pid_text, _leader, body = split_leader(text)
    b = read_body(body)
    kind = b.kind
    if kind == SIGNAL:
        return True
    if kind not in (DONE, START, DETACHED) or b.name in EXEC_NAMES or (
            kind == DONE and b.counted and b.name in CLONE_NAMES):
        return False
    acc = extra.setdefault((int(pid_text) if pid_text else None, b.name),
                           [0, 0, 0, 0, 0, 0, 0, 0])
    if kind == START:
        acc[6] += 1
        return True
    acc[7] += b.resumed
    if kind == DETACHED or not b.counted:
        acc[5] += 1
        return True
    acc[0] += 1
    acc[1] += b.error
    if b.ns is not None:
        acc[2] += b.ns
        acc[3] += 1
    elif b.timeable:
        acc[4] += 1
    return True


def scan_bytes(data: bytes, leader: str = "general") -> Scanned:
    """The line count and ops of a chunk of whole lines: counted runs, and exact lines."""
    if not data.endswith(b"\n"):
        data += b"\n"
    if linescan.wanted():
        return _scan_native(data, leader)
    return _scan_regex(data, leader)


_LEADER_INDEX = {name: k for k, name in enumerate(LEADERS)}


def _scan_native(data: bytes, leader: str) -> Scanned:
    # The C scanner counts the fast lines between two slow ones; here, as
    # below, a slow line either merges into the counts or ends a segment.
    lines, items = linescan.scan(data, _LEADER_INDEX[leader])
    ops: list[Op] = []
    start = 0
    counts: Folded = {}
    names: dict[bytes, str] = {}
    for kind, a, b, c, *more in items:
        if kind == linescan.ENTRY:
            raw = data[b:b + c]
            name = names.get(raw)
            if name is None:
                name = names[raw] = raw.decode()
            _add(counts, (a if a >= 0 else None, name), more)
            continue
        text = data[b:c].decode()
        if _merge(text, counts):
            continue
        if a > start:
            ops.append(Segment(start, a, counts))
        ops.append(Exact(a, text))
        start = a + 1
        counts = {}
    if lines > start:
        ops.append(Segment(start, lines, counts))
    return lines, ops


def _scan_regex(data: bytes, leader: str) -> Scanned:
    rows = pattern(leader).findall(data)
    ops: list[Op] = []
    start = 0
    extra: Folded = {}
    for i in compress(range(len(rows)), map(itemgetter(_SLOW), rows)):
        text = rows[i][_SLOW][:-1].decode()
        if _merge(text, extra):
            continue
        if i > start:
            ops.append(Segment(start, i, _fold(rows[start:i], extra)))
        ops.append(Exact(i, text))
        start = i + 1
        extra = {}
    if len(rows) > start:
        ops.append(Segment(start, len(rows), _fold(rows[start:], extra)))
    return len(rows), ops


def scan_text(piece: str, leader: str) -> Scanned:
    """``scan_bytes`` of a chunk of text."""
    return scan_bytes(piece.encode(), leader)


def scan_file(fd: int, start: int, end: int, leader: str) -> Scanned:
    """``scan_data`` of bytes ``[start, end)`` of an open file."""
    return scan_data(os.pread(fd, end - start, start), leader)


def scan_data(data: bytes, leader: str) -> Scanned:
    """``scan_bytes`` of raw file bytes, read as a UTF-8 text stream would read them."""
    try:
        # strace escapes what is not printable, so chunks are nearly always
        # ASCII, which is checked far faster than decoding them is.
        if not data.isascii():
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, [
            NotText(data.count(b"\n", 0, exc.start), f"not UTF-8 text ({exc.reason})")]
    return scan_bytes(_newlines(data), leader)


def _newlines(data: bytes) -> bytes:
    # A text stream turns \r\n and \r into \n (universal newlines).
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def default_workers() -> int:
    """How many worker processes to use: one per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    # fork starts at once, needs no importable __main__ and shares the open
    # file descriptor; it is only safe while this process has a single thread.
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _regular_file(stream: IO[str]) -> tuple[int, int] | None:
    """(fd, size) when ``stream`` is a regular UTF-8 file read from its start, else None."""
    try:
        fd = stream.fileno()
        if not stream.seekable() or stream.tell() != 0:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str) or codecs.lookup(encoding).name != "utf-8":
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    return fd, info.st_size


def _ranges(fd: int, size: int, path: str, chunk: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``[start, end)`` byte ranges of whole lines, about ``chunk`` bytes each."""
    start = 0
    while start < size:
        end = start + chunk
        if end >= size:
            yield start, size
            return
        probe = end - 1
        while True:
            window = os.pread(fd, 1 << 16, probe)
            nl = window.find(b"\n")
            if nl >= 0:
                end = probe + nl + 1
                break
            probe += len(window)
            if not window or probe >= size:
                end = size
                break
            if probe - start > MAX_LINE_CHARS:
                raise ParseError(f"line longer than {MAX_LINE_CHARS} bytes (not a text log?)",
                                 path=path)
        yield start, end
        start = end


def _in_order(jobs: Iterator[tuple[Callable[..., Scanned], tuple[object, ...]]],
              workers: int, context: multiprocessing.context.BaseContext | None = None
              ) -> Iterator[Scanned]:
    """Results of ``fn(*args)`` for each job, in order, ``workers`` processes at a time."""
    if workers < 2:
        for fn, args in jobs:
            yield fn(*args)
        return
    pending: deque[Future[Scanned]] = deque()
    # Workers make a tuple per line and no cycles: no cyclic collection there.
    with ProcessPoolExecutor(workers, mp_context=context or _context(),
                             initializer=gc.disable) as pool:
        try:
            for fn, args in jobs:
                pending.append(pool.submit(fn, *args))
                while len(pending) > 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def run(reader: LogReader, stream: IO[str], path: str, *, workers: int | None = None,
        chunk: int | None = None, leader: str | None = None) -> None:
    """Feed one source to ``reader``: counted runs in bulk, other lines one by one.

    ``leader`` forces the leader pattern (LEADERS) instead of picking it from
    the first 64 KiB.
    """
    linescan.wanted()  # refuses a wrong TRACEBENCH_SCAN before any worker starts
    nworkers = default_workers() if workers is None else workers
    context = _context()
    file = _regular_file(stream)
    texts: dict[int, str] = {}     # text chunks still to apply (text streams)
    spans: dict[int, tuple[int, int]] = {}  # byte ranges still to apply (files)
    jobs: Iterator[tuple[Callable[..., Scanned], tuple[object, ...]]]
    if file is not None:
        fd, size = file
        if size < POOL_MIN_BYTES:
            nworkers = 1
        lead = leader or pick_leader(_newlines(os.pread(fd, 1 << 16, 0)))

        # Forked workers share the descriptor; spawned ones get the bytes.
        shared = nworkers < 2 or context.get_start_method() == "fork"

        def file_jobs() -> Iterator[tuple[Callable[..., Scanned], tuple[object, ...]]]:
            for k, (a, b) in enumerate(_ranges(fd, size, path, chunk or CHUNK_BYTES)):
                spans[k] = (a, b)
                if shared:
                    yield scan_file, (fd, a, b, lead)
                else:
                    yield scan_data, (os.pread(fd, b - a, a), lead)

        jobs = file_jobs()
    else:
        def text_jobs() -> Iterator[tuple[Callable[..., Scanned], tuple[object, ...]]]:
            lead = leader
            for k, piece in enumerate(chunks(stream, path, chunk) if chunk
                                      else chunks(stream, path)):
                texts[k] = piece
                if lead is None:
                    lead = pick_leader(piece[:1 << 16].encode())
                yield scan_text, (piece, lead)

        jobs = text_jobs()
        nworkers = 1

    def text_of(k: int) -> str:
        if k in texts:
            return texts[k]
        a, b = spans[k]
        data = os.pread(file[0], b - a, a) if file else b""
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode()

    base = 0
    for k, (count, ops) in enumerate(_in_order(jobs, nworkers, context)):
        lines: list[str] | None = None
        for op in ops:
            if isinstance(op, Exact):
                reader.line(base + op.line + 1, op.text)
            elif isinstance(op, NotText):
                raise ParseError(op.message, path=path, line=base + op.line + 1)
            elif reader.wants_lines:
                # After a -C table began, every line must be read exactly.
                if lines is None:
                    lines = text_of(k).split("\n")
                for i in range(op.start, op.end):
                    reader.line(base + i + 1, lines[i])
            else:
                reader.segment(op.counts)
        texts.pop(k, None)
        spans.pop(k, None)
        base += count
