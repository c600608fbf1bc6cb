"""Importer of strace trace logs: ``strace -f -o LOG``, ``-ff -o PREFIX``, terminal captures.

How each line counts is in ``strace_lines`` (it follows strace 6.1's own -c
accounting).  This module keeps the state that spans lines:

* **Processes.**  Each pid has a life (a new one after ``+++ exited``/``+++
  killed``); a life is a list of epochs, one per executable image and
  personality.  A successful ``execve`` starts a new epoch named after its path
  (``LogReader._set_exe``); the execve call itself counts under the image that
  made it.  A pid created by a successful clone/fork/vfork starts in its
  parent's image and personality (a fork runs the parent's program), even
  when, as strace often prints it, the child's first lines come before the
  parent's ``<... clone resumed> = PID``.  ``+++ superseded by execve in pid N
  +++`` moves thread N's execve to the leader's pid.
* **Unfinished.**  A call entered and never seen returning (``exit_group(0) =
  ?``, ``<detached ...>``, an ``<unfinished ...>`` never resumed before the
  process ends or the log does) is not a call for strace -c, but a seccomp
  filter saw it: it is counted in the Profile's ``unfinished`` column.
* **Personality.**  ``[ Process PID=N runs in 32 bit mode. ]`` makes N's later
  calls i386 (``x32 mode``: x32, ``64 bit mode``: x86_64); strace prints it
  before the first call in the new mode.  A log has no other way to tell:
  ``strace -o LOG PROG`` implies ``--quiet=attach,personality`` (strace.c), so
  trace 32-bit programs with ``-e quiet=none``.  Calls whose name is not a
  syscall of the arch they were counted under are listed in the provenance
  notes.  The first personality is x86_64.
* **Pids.**  From the line (``123  ``, ``[pid 123]``); lines without one
  belong to the pid of the file's ``.PID`` suffix (``strace -ff -o PREFIX``
  writes PREFIX.PID), else to pid -1 (on a terminal strace prints no pid
  while it traces a single process).
* **Seconds** are the sum of the ``-T`` durations.  Without -T they are not
  measured (Provenance.measured has no "seconds").
* **Terminal captures** (strace writing to the same terminal as the program)
  hold the program's own output, strace's messages and call lines cut by both:
  ``write(1, "uid is 0\n", 9uid is 0`` then ``)               = 9``.  The rule:
  a line with a pid or timestamp leader, or starting with ``<... NAME
  resumed>``, ``---``, ``+++`` or ``[ Process``, must read as strace output,
  else it is malformed.  A line starting with ``NAME(`` and no result yet is a
  call cut short: the next lines that do not read as strace output are tried
  as its end (the text that completes it: a result, ``<unfinished ...>`` or
  ``<detached ...>``) and, until one does, are program output.  A cut call
  still waiting when another one is cut, or at the end of the file, is
  malformed.  Every other line is program output: ignored, and counted in
  the provenance notes with examples.  ``strace -o LOG`` files hold strace
  lines only, so there the rule just flags garbage; a program that prints
  lines like ``42 apples`` in a terminal capture needs ``--lenient``.
  strace's own messages (``strace: Process N attached``, also glued inside a
  cut call), ``-e read=/write=`` dumps (`` | 00000  61 62 ...``) and ``-k``
  stack lines (`` > /usr/lib/libc.so.6(...)``) are not data.
* **strace -C** logs end with the summary table.  The table is the authority:
  when the trace lines count exactly the table's calls and errors for every
  syscall, the per-process rows of the trace are kept and the table's seconds
  are added on pid -1 rows with 0 calls (so every per-syscall sum equals the
  table); when they differ (``-e status=``, a log without personality lines,
  a cut log) the table's rows are used alone and the differences are noted.
  Two exceptions, both noted: ``syscall_0xNNN`` numbers beyond strace's own
  table are missing from strace 6.1's -c table (count.c scno_in_range) and
  are kept from the trace; unfinished calls, which no table shows, come from
  the trace.  Trace lines after the table are malformed.

Large logs go through ``strace_fastpath``, which counts the common complete
lines of whole chunks at once (on every core) and hands every other line,
in order and with its line number, to the same exact reader.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from tracebench.parsers import strace_args
from tracebench.parsers.result import ImportResult, LineIssues, provenance
from tracebench.parsers.strace_lines import (
    BAD,
    CLONE_NAMES,
    DECISIVE,
    DETACHED,
    DONE,
    EXEC_NAMES,
    EXIT,
    OTHER,
    PARTIAL,
    PERSONALITY,
    START,
    SUPERSEDED,
    Body,
    exec_path,
    is_continuation,
    is_strace_output,
    leading_int,
    line_kind,
    read_body,
    split_leader,
)
from tracebench.parsers.strace_summary import (
    MODE_ARCH,
    NATIVE_ARCH,
    Section,
    SummaryTables,
    is_table_start,
    measured_by,
)
from tracebench.parsers.streams import chunks
from tracebench.profile import ARG_VALUES_CAP, UNKNOWN_PID, ProfileBuilder, Provenance

_PID_SUFFIX = re.compile(r"\.(\d+)\Z")


class _Cell:
    """An exe or arch value that may only be known later (a child seen before its clone)."""

    __slots__ = ("link", "value")

    def __init__(self, value: str | None = None) -> None:
        self.value = value
        self.link: _Cell | None = None

    def root(self) -> _Cell:
        cell = self
        while cell.value is None and cell.link is not None:
            cell = cell.link
        return cell

    def get(self) -> str | None:
        return self.root().value

    def follow(self, other: _Cell) -> None:
        """Take ``other``'s value (now or once known) if this one is still unknown."""
        if self.value is None and self.link is None and other.root() is not self:
            self.link = other


class _Epoch:
    __slots__ = ("arch", "args", "counts", "exe")

    def __init__(self, exe: _Cell, arch: _Cell) -> None:
        self.exe = exe
        self.arch = arch
        # name -> [calls, errors, ns, unfinished, entries printed as
        # "<unfinished ...>", "<... resumed>" lines]
        self.counts: dict[str, list[int]] = {}
        # With --args: name -> argno -> [distinct values, all of them known]
        self.args: dict[str, dict[int, list[Any]]] = {}


class _Life:
    """One process behind a pid, from its first line to its ``+++`` line."""

    __slots__ = ("alive", "epochs", "pending_exec", "pid")

    def __init__(self, pid: int, exe: _Cell, arch: _Cell) -> None:
        self.pid = pid
        self.epochs = [_Epoch(exe, arch)]
        self.alive = True
        self.pending_exec: str | None = None

    @property
    def now(self) -> _Epoch:
        return self.epochs[-1]


class LogReader:
    """The state machine over the lines of one or more strace logs."""

    def __init__(self, issues: LineIssues, read_args: bool = False) -> None:
        self.issues = issues
        self.read_args = read_args
        # pid -> (name, arguments printed) of its call "<unfinished ...>" (--args)
        self._starts: dict[int, tuple[str, str]] = {}
        self.path = ""
        self.default_pid = UNKNOWN_PID
        self.lives: list[_Life] = []
        self._live: dict[int, _Life] = {}
        self._partial: tuple[int, str, int] | None = None  # pid, body, line number
        self.tables: SummaryTables | None = None
        self.timed = 0      # counted calls that carried a -T duration
        self.untimed = 0    # counted calls that could have and did not
        self.lines = 0

    # -- sources ----------------------------------------------------------

    def begin(self, path: str, default_pid: int) -> None:
        self.path = path
        self.default_pid = default_pid

    def end(self) -> None:
        """End of one source: a call line still cut is malformed; a table must be whole."""
        for pid in list(self._starts):
            self._end_start(pid)
        if self._partial is not None:
            _pid, _body, lineno = self._partial
            self._partial = None
            self.issues.malformed("syscall line without its result (the file ends before "
                                  "the rest of it)", self.path, lineno)
        if self.tables is not None:
            self.tables.finish()

    @property
    def wants_lines(self) -> bool:
        """Whether every line must come through ``line`` (after a -C table began)."""
        return self.tables is not None

    # -- processes --------------------------------------------------------

    def _life(self, pid: int) -> _Life:
        life = self._live.get(pid)
        if life is None or not life.alive:
            life = _Life(pid, _Cell(), _Cell())
            self._live[pid] = life
            self.lives.append(life)
        return life

    def _tally(self, pid: int, name: str, values: Sequence[int]) -> None:
        counts = self._life(pid).now.counts
        acc = counts.get(name)
        if acc is None:
            counts[name] = list(values)
        else:
            for k, v in enumerate(values):
                acc[k] += v

    def _args(self, pid: int, name: str, text: str | None) -> None:
        """Keep the value arguments of one call (``text`` None: not seen)."""
        values = strace_args.call_values(name, text)
        if values is None:
            return
        per_arg = self._life(pid).now.args.setdefault(name, {})
        for argno, v in values.items():
            slot = per_arg.get(argno)
            if slot is None:
                slot = per_arg[argno] = [set(), True]
            if v is None:
                slot[1] = False
            elif v not in slot[0]:
                if len(slot[0]) < ARG_VALUES_CAP:
                    slot[0].add(v)
                else:
                    slot[1] = False

    def _end_start(self, pid: int) -> None:
        # A call never resumed (the process ended inside it, the log was cut):
        # its entry arguments were printed before "<unfinished ...>".
        start = self._starts.pop(pid, None)
        if start is not None:
            self._args(pid, start[0], start[1])

    def segment(self, folded: Mapping[tuple[int | None, str], Sequence[int]]) -> None:
        """Add the counts of lines that change no state.

        ``(pid, name) -> calls, errors, ns, calls with a -T duration, calls
        that could have had one and did not, unfinished, <unfinished ...>
        entries, <... resumed> lines``.
        """
        default = self.default_pid
        for (pid, name), v in folded.items():
            self._tally(default if pid is None else pid, name,
                        (v[0], v[1], v[2], v[5], v[6], v[7]))
            self.timed += v[3]
            self.untimed += v[4]

    def _set_exe(self, pid: int, exe: str) -> None:
        life = self._life(pid)
        life.epochs.append(_Epoch(_Cell(exe), life.now.arch))

    def _set_arch(self, pid: int, arch: str) -> None:
        life = self._life(pid)
        life.epochs.append(_Epoch(life.now.exe, _Cell(arch)))

    def _cloned(self, parent: int, child: int) -> None:
        image = self._life(parent).now
        known = self._live.get(child)
        if known is None or not known.alive:
            life = _Life(child, image.exe, image.arch)
            self._live[child] = life
            self.lives.append(life)
        else:
            # The child's lines came first: its start belongs to the parent's image.
            known.epochs[0].exe.follow(image.exe)
            known.epochs[0].arch.follow(image.arch)

    def _superseded(self, leader: int, thread: int) -> None:
        # "+++ superseded by execve in pid N +++": the thread that called execve
        # becomes the leader's pid; the old leader is gone.
        old = self._live.get(thread)
        current = self._live.get(leader)
        if current is not None:
            current.alive = False
        image = old.now if old is not None else self._life(leader).now
        life = _Life(leader, image.exe, image.arch)
        if old is not None:
            old.alive = False
            life.pending_exec = old.pending_exec
            for name in EXEC_NAMES:
                acc = old.now.counts.get(name)
                if acc is not None and acc[4] > acc[5]:
                    # Its "<... execve resumed>" comes on the leader's pid.
                    acc[4] -= 1
                    life.now.counts[name] = [0, 0, 0, 0, 1, 0]
                    break
        self._live[leader] = life
        self.lives.append(life)

    # -- lines ------------------------------------------------------------

    def line(self, lineno: int, text: str) -> None:
        """Read one line (without its newline)."""
        if self.tables is not None:
            self._table_line(lineno, text)
            return
        pid_text, leader, body = split_leader(text)
        b = read_body(body)
        kind = b.kind
        if kind == OTHER:
            if leader and body.strip():
                self.issues.malformed("no syscall, signal or exit after the pid/timestamp",
                                      self.path, lineno)
            else:
                self._other(lineno, text)
            return
        if kind == BAD:
            self.issues.malformed(b.message, self.path, lineno)
            return
        pid = int(pid_text) if pid_text else self.default_pid
        if kind == PARTIAL:
            if self._partial is not None:
                self.issues.malformed("syscall line without its result (another call line "
                                      "started before its end)", self.path, self._partial[2])
            self._partial = (pid, b.args, lineno)
            return
        self._event(pid, b, lineno)

    def _event(self, pid: int, b: Body, lineno: int) -> None:
        kind = b.kind
        if self.read_args:
            self._event_args(pid, b)
        if kind == DONE:
            resumes = int(b.resumed)
            if not b.counted:
                # "= ?": entered, never returned (exit_group, a process killed).
                self._tally(pid, b.name, (0, 0, 0, 1, 0, resumes))
                return
            self._tally(pid, b.name, (1, int(b.error), b.ns or 0, 0, 0, resumes))
            if b.ns is not None:
                self.timed += 1
            elif b.timeable:
                self.untimed += 1
            if b.error:
                return
            if b.name in EXEC_NAMES:
                life = self._life(pid)
                path = exec_path(b.name, b.args) if not b.resumed else life.pending_exec
                life.pending_exec = None
                self._set_exe(pid, path or "")
            elif b.name in CLONE_NAMES:
                child = leading_int(b.value)
                if child:
                    self._cloned(pid, child)
        elif kind == START:
            self._tally(pid, b.name, (0, 0, 0, 0, 1, 0))
            if b.name in EXEC_NAMES:
                self._life(pid).pending_exec = exec_path(b.name, b.args)
        elif kind == DETACHED:
            self._tally(pid, b.name, (0, 0, 0, 1, 0, int(b.resumed)))
        elif kind == EXIT:
            ended = self._live.get(pid)
            if ended is not None:
                ended.alive = False
        elif kind == SUPERSEDED:
            self._superseded(pid, b.number)
        elif kind == PERSONALITY:
            arch = MODE_ARCH.get(b.value)
            if arch is None:
                self.issues.malformed(f"unknown personality {b.value!r}", self.path, lineno)
            else:
                self._set_arch(b.number, arch)
        # SIGNAL lines count nothing.

    def _event_args(self, pid: int, b: Body) -> None:
        kind = b.kind
        if kind in (DONE, DETACHED):
            text: str | None = b.args if kind == DONE else None
            if b.resumed:
                start = self._starts.pop(pid, None)
                # "rt_sigprocmask(SIG_SETMASK, [],  <unfinished ...>" and
                # "<... rt_sigprocmask resumed>NULL, 8) = 0" make one list.
                text = start[1] + b.args if start is not None and start[0] == b.name else None
            self._args(pid, b.name, text)
        elif kind == START:
            self._end_start(pid)
            self._starts[pid] = (b.name, b.args)
        elif kind == EXIT:
            self._end_start(pid)
        elif kind == SUPERSEDED:
            # The thread's execve resumes on the leader's pid; the leader's own
            # call never will.
            self._end_start(pid)
            moved = self._starts.pop(b.number, None)
            if moved is not None:
                self._starts[pid] = moved

    def _other(self, lineno: int, text: str) -> None:
        if not text.strip() or is_strace_output(text):
            return
        if self._partial is not None:
            pid, body, _start = self._partial
            joined = read_body(body + text)
            if joined.kind in (DONE, START, DETACHED):
                self._partial = None
                self._event(pid, joined, lineno)
                return
            self.issues.ignore(self.path, lineno, text)
            return
        if is_table_start(text):
            self.tables = SummaryTables(self.issues)
            self.tables.feed(self.path, lineno, text)
            return
        if is_continuation(text):
            self.issues.malformed("the end of a syscall line whose start is missing",
                                  self.path, lineno)
            return
        self.issues.ignore(self.path, lineno, text)

    def _table_line(self, lineno: int, text: str) -> None:
        tables = self.tables
        assert tables is not None
        if tables.inside:
            tables.feed(self.path, lineno, text)
            return
        if not text.strip() or tables.feed(self.path, lineno, text):
            return
        kind = line_kind(text)
        if kind in DECISIVE or kind == BAD:
            self.issues.malformed("trace line after the summary table", self.path, lineno)
        elif not is_strace_output(text):
            self.issues.ignore(self.path, lineno, text)

    # -- result -----------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], list[int]]:
        """Calls, errors, ns, unfinished per (arch, syscall) over all processes."""
        out: dict[tuple[str, str], list[int]] = {}
        for life in self.lives:
            for ep in life.epochs:
                arch = ep.arch.get() or NATIVE_ARCH
                for name, c in ep.counts.items():
                    acc = out.setdefault((arch, name), [0, 0, 0, 0])
                    acc[0] += c[0]
                    acc[1] += c[1]
                    acc[2] += c[2]
                    acc[3] += _unfinished(c)
        return out

    def _keys(self) -> set[tuple[str, str]]:
        """Every (arch, syscall) counted."""
        out: set[tuple[str, str]] = set()
        for life in self.lives:
            for ep in life.epochs:
                if ep.counts:
                    arch = ep.arch.get() or NATIVE_ARCH
                    out.update((arch, name) for name in ep.counts)
        return out

    def build(self, paths: Sequence[str], command: Sequence[str]) -> ImportResult:
        notes = self.issues.notes("program output (terminal capture)")
        builder = ProfileBuilder(Provenance("strace-log"))
        sections = self.tables.sections if self.tables is not None else []
        if sections:
            measured = measured_by(sections)
            notes += self._add_with_table(builder, sections)
        else:
            measured = ["calls", "errors"]
            if self.timed:
                measured.append("seconds")
                if self.untimed:
                    notes.append(f"{self.untimed} counted call(s) had no -T duration: "
                                 "their seconds are 0")
            self._add_lives(builder, seconds=True)
        notes += _foreign_names(self._keys())
        builder.provenance = provenance("strace-log", paths, command, measured, notes)
        return self.issues.result(builder.build())

    def _add_lives(self, builder: ProfileBuilder, seconds: bool) -> None:
        for life in self.lives:
            for ep in life.epochs:
                if not ep.counts:
                    continue
                exe = ep.exe.get() or ""
                arch = ep.arch.get() or NATIVE_ARCH
                builder.add_counts(life.pid, exe, arch, (
                    (name, c[0], c[1], c[2] / 1e9 if seconds else 0.0, u)
                    for name, c in ep.counts.items()
                    for u in (_unfinished(c),) if c[0] or u))
                if arch in strace_args.ARCHES:
                    for name, per_arg in ep.args.items():
                        for argno, (values, complete) in per_arg.items():
                            builder.add_arg_values(arch, name, argno, values, complete)

    def _add_with_table(self, builder: ProfileBuilder, sections: Sequence[Section]) -> list[str]:
        table: dict[tuple[str, str], list[float]] = {}
        for s in sections:
            for name, (c, e, sec) in s.rows.items():
                acc = table.setdefault((s.arch, name), [0, 0, 0.0])
                acc[0] += c
                acc[1] += e
                acc[2] += sec
        have = set(measured_by(sections))
        log = self.counts()
        differ = []
        unknown = []
        for key in sorted(set(table) | set(log)):
            t = table.get(key, [0, 0, 0.0])
            lg = log.get(key, [0, 0, 0])
            if key[1].startswith("syscall_0x") and key not in table:
                # strace <= 6.x count_syscall() skips numbers beyond its own
                # table (scno_in_range); later strace counts them.
                unknown.append(key[1])
            elif ("calls" in have and t[0] != lg[0]) or ("errors" in have and t[1] != lg[1]):
                differ.append(f"{key[0]} {key[1]}: trace {lg[0]} calls/{lg[1]} errors, "
                              f"table {int(t[0])}/{int(t[1])}")
        if differ or not log:
            if self.read_args:
                notes = ["--args: argument values not kept (the trace lines are not the "
                         "whole run)"]
            else:
                notes = []
            for (arch, name), (c, e, sec) in table.items():
                builder.add(arch, name, pid=UNKNOWN_PID, exe="", calls=int(c), errors=int(e),
                            seconds=sec)
            for (arch, name), v in log.items():
                if v[3]:  # the table cannot say which calls never returned
                    builder.add(arch, name, pid=UNKNOWN_PID, exe="", calls=0,
                                unfinished=v[3])
            if not log:
                return [*notes, "no trace lines, only a summary table"]
            return [*notes, f"strace -C: the trace lines and the summary table differ on "
                    f"{len(differ)} syscall(s), the table is used: " + "; ".join(differ[:5])]
        self._add_lives(builder, seconds=False)
        if "seconds" in have:
            for (arch, name), (_c, _e, sec) in table.items():
                builder.add(arch, name, pid=UNKNOWN_PID, exe="", calls=0, errors=0,
                            seconds=sec)
        notes = ["strace -C: the trace lines count exactly the summary table"
                 + ("; seconds are the table's, on pid -1 rows with 0 calls"
                    if "seconds" in have else "")]
        if unknown:
            notes.append(f"strace -C: {', '.join(unknown)} counted from the trace lines: "
                         "this strace's summary leaves out syscall numbers beyond its table")
        return notes


def _unfinished(c: Sequence[int]) -> int:
    # "= ?" and "<detached ...>" calls, plus entries never resumed.
    return c[3] + max(0, c[4] - c[5])


def _foreign_names(keys: Iterable[tuple[str, str]]) -> list[str]:
    from tracebench import syscalls

    by_arch: dict[str, list[str]] = {}
    for arch, name in keys:
        if name.startswith("syscall_0x"):
            continue
        try:
            known = syscalls.names(arch)
        except (KeyError, ValueError):
            continue
        if name not in known:
            by_arch.setdefault(arch, []).append(name)
    return [f"not {arch} syscalls: {', '.join(sorted(names))} (a 32-bit program traced "
            "without personality messages? strace -o implies --quiet=personality; use "
            "-e quiet=none)" for arch, names in sorted(by_arch.items())]


def source_pid(path: str) -> int:
    """The pid of an ``strace -ff -o PREFIX`` file (PREFIX.PID), else -1."""
    m = _PID_SUFFIX.search(path)
    return int(m.group(1)) if m else UNKNOWN_PID


def _ordered(sources: Sequence[tuple[str, IO[str]]]) -> list[tuple[str, IO[str]]]:
    # -ff files in pid order: parents usually come first, so children find
    # their parent's image already known (the other order is handled too).
    if len(sources) > 1 and all(_PID_SUFFIX.search(p) for p, _ in sources):
        return sorted(sources, key=lambda s: source_pid(s[0]))
    return list(sources)


def read_logs(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
              command: Sequence[str] = (), args: bool = False, fast: bool = True,
              workers: int | None = None, chunk_chars: int | None = None,
              leader: str | None = None) -> ImportResult:
    """``parse`` with its speed knobs: ``fast=False`` reads every line exactly (as
    ``args`` does: the fast path does not look at arguments); ``workers``,
    ``chunk_chars`` and ``leader`` (strace_fastpath.LEADERS) tune the fast path."""
    issues = LineIssues(lenient)
    reader = LogReader(issues, read_args=args)
    fast = fast and not args
    ordered = _ordered(sources)
    # The reader's counters hold no reference cycles, and a big log makes
    # millions of them: the cyclic collector would walk them all again and
    # again for nothing (a quarter of this process's time on a 1 GB log).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _read_all(reader, ordered, fast, workers, chunk_chars, leader)
        return reader.build([p for p, _ in ordered], command)
    finally:
        if collecting:
            gc.enable()


def _read_all(reader: LogReader, ordered: Sequence[tuple[str, IO[str]]], fast: bool,
              workers: int | None, chunk_chars: int | None, leader: str | None) -> None:
    from tracebench.parsers import strace_fastpath

    for path, stream in ordered:
        reader.begin(path, source_pid(path))
        if fast:
            strace_fastpath.run(reader, stream, path, workers=workers, chunk=chunk_chars,
                                leader=leader)
        else:
            lineno = 0
            for piece in chunks(stream, path, chunk_chars) if chunk_chars else chunks(stream,
                                                                                      path):
                lines = piece.split("\n")
                if piece.endswith("\n"):
                    lines.pop()
                for text in lines:
                    lineno += 1
                    reader.line(lineno, text)
        reader.end()


def parse(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
          command: Sequence[str] = (), args: bool = False) -> ImportResult:
    """Read strace -f / -ff / -C logs ``(path, text stream)`` into one Profile;
    with ``args``, the value arguments' values too (``strace_args``)."""
    return read_logs(sources, lenient=lenient, command=command, args=args)
