"""Importer of ``strace -c`` / ``-C`` / ``-w -c`` / ``-S`` / ``-U`` summary tables.

A table, as strace 4.x to 6.x print it (src/count.c, call_summary_pers)::

    % time     seconds  usecs/call     calls    errors syscall
    ------ ----------- ----------- --------- --------- ----------------
     20.92    0.000050          50         1           munmap
      0.00    0.000000           0         1         1 access
    ------ ----------- ----------- --------- --------- ----------------
    100.00    0.000239                    53         2 total

* Columns are found by their header names, so ``-U``/``--summary-columns``
  tables with renamed or reordered columns (``calls syscall``, ``shortest``,
  ``longest``, ``wall-total``...) read the same way.
* The errors cell is blank when 0 (``%.0`` format); strace <= 4.26 leaves the
  total row's usecs/call blank.  Cells are matched to columns by the divider's
  column ends (numbers are right-aligned); when a number overflowed its column
  (strace 4.x fixed widths) they are matched by count instead.
* ``-S`` changes the row order: nothing here relies on it.
* A second table follows ``System call usage summary for 32 bit mode:``
  (i386) or ``... x32 mode:`` (x32); a table without that line is the native
  personality, x86_64.
* Lines before (and between, and after) tables are the traced program's own
  output or strace's attach/detach messages: they are ignored and counted in
  the provenance notes.  Inside a table every line must be a row: anything
  else is malformed.  The total row must equal the sum of the rows (calls and
  errors exactly, seconds within the rounding of the printed rows).
* A decimal comma (``47,58    0,000619``, strace run under such a locale) is
  read as a decimal point.

Each table row becomes one Profile row with pid -1 (a summary has no
processes).  Provenance.measured lists calls / errors / seconds only when the
table had those columns (seconds: ``seconds`` or ``wall-total``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import IO

from tracebench.parsers.result import ImportResult, LineIssues, provenance
from tracebench.parsers.streams import numbered_lines
from tracebench.profile import MEASURES, UNKNOWN_PID, ProfileBuilder, Provenance

NATIVE_ARCH = "x86_64"
# strace's personality_names on x86_64 ("64 bit", "32 bit", "x32").
MODE_ARCH = {"64 bit": "x86_64", "32 bit": "i386", "x32": "x32"}

# Header text of each column (count.c cdesc[].s) -> our key.
_HEADER = {
    "%time": "percent", "seconds": "seconds", "usecs/call": "usecs", "calls": "calls",
    "errors": "errors", "syscall": "syscall", "shortest": "min", "longest": "max",
    "wall-total": "wall_total", "wall-min": "wall_min", "wall-max": "wall_max",
    "wall-avg": "wall_avg",
}
_INT_COLUMNS = frozenset({"calls", "errors", "usecs", "wall_avg"})
_SECTION = re.compile(r"System call usage summary for (.+) mode:")
_DIVIDER = re.compile(r"-+(?: -+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_TOKEN = re.compile(r"\S+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# One printed row is rounded to 6 decimals: the total may differ from the sum
# of the printed rows by half a microsecond per row.
_ROUNDING = 0.5e-6


def header_columns(line: str) -> list[str] | None:
    """The column keys of a table header line, or None if ``line`` is not one."""
    tokens = line.replace("% time", "%time").split()
    if len(tokens) < 2 or "syscall" not in tokens or any(t not in _HEADER for t in tokens):
        return None
    keys = [_HEADER[t] for t in tokens]
    return keys if len(set(keys)) == len(keys) else None


def section_arch(line: str) -> str | None:
    """The arch named by a ``System call usage summary for X mode:`` line (or None)."""
    m = _SECTION.fullmatch(line.strip())
    if m is None:
        return None
    return MODE_ARCH.get(m.group(1), "?" + m.group(1))


def is_table_start(line: str) -> bool:
    """Whether ``line`` opens a summary table (header or personality section line)."""
    return header_columns(line) is not None or section_arch(line) is not None


@dataclass
class Section:
    """One parsed table: the rows of one personality."""

    arch: str
    columns: list[str]
    rows: dict[str, list[float]] = field(default_factory=dict)  # name -> [calls, errors, s]

    def measured(self) -> set[str]:
        out: set[str] = {m for m in ("calls", "errors") if m in self.columns}
        if "seconds" in self.columns or "wall_total" in self.columns:
            out.add("seconds")
        return out


_OUTSIDE, _WANT_HEADER, _WANT_DIVIDER, _ROWS, _WANT_TOTAL = range(5)


class SummaryTables:
    """Line-fed reader of the summary tables in a text (see the module docstring)."""

    def __init__(self, issues: LineIssues) -> None:
        self.issues = issues
        self.sections: list[Section] = []
        self._state = _OUTSIDE
        self._arch = NATIVE_ARCH
        self._section: Section | None = None
        self._spans: list[tuple[int, int]] = []
        self._last: tuple[str, int] = ("", 0)

    @property
    def last_line(self) -> int:
        """The number of the last line read (0 before any)."""
        return self._last[1]

    @property
    def inside(self) -> bool:
        """Whether a table has started and not yet reached its total row."""
        return self._state != _OUTSIDE

    def feed(self, path: str, lineno: int, line: str) -> bool:
        """Read one line; False if it is outside any table (the caller decides what it is)."""
        self._last = (path, lineno)
        state = self._state
        if state == _OUTSIDE:
            arch = section_arch(line)
            if arch is not None:
                self._open_section(path, lineno, arch)
                return True
            columns = header_columns(line)
            if columns is None:
                return False
            self._start(columns, NATIVE_ARCH)
            return True
        if not line.strip():
            self.issues.malformed("blank line inside a summary table", path, lineno)
            return True
        if state == _WANT_HEADER:
            columns = header_columns(line)
            if columns is None:
                self.issues.malformed("expected the summary table's header line", path, lineno)
                return True
            self._start(columns, self._arch)
        elif state == _WANT_DIVIDER:
            self._divider(path, lineno, line)
        elif state in (_ROWS, _WANT_TOTAL):
            if _DIVIDER.fullmatch(line.strip()):
                if state == _ROWS:
                    self._state = _WANT_TOTAL
                else:
                    self.issues.malformed("second divider: expected the total row", path, lineno)
            else:
                self._row(path, lineno, line, total=state == _WANT_TOTAL)
        return True

    def finish(self) -> None:
        """End of input: a table cut before its total row is malformed."""
        if self._state != _OUTSIDE:
            path, lineno = self._last
            self.issues.malformed("the summary table ends without its total row", path, lineno)
            self._close()

    # -- states ------------------------------------------------------------

    def _open_section(self, path: str, lineno: int, arch: str) -> None:
        if arch.startswith("?"):
            self.issues.malformed(f"unknown personality {arch[1:]!r} in the summary", path,
                                  lineno)
        self._arch = arch.lstrip("?")
        self._state = _WANT_HEADER

    def _start(self, columns: list[str], arch: str) -> None:
        self._section = Section(arch, columns)
        self._state = _WANT_DIVIDER

    def _divider(self, path: str, lineno: int, line: str) -> None:
        assert self._section is not None
        spans = [m.span() for m in re.finditer(r"-+", line)]
        if not _DIVIDER.fullmatch(line.strip()) or len(spans) != len(self._section.columns):
            self.issues.malformed(
                f"expected a divider of {len(self._section.columns)} dashed columns", path,
                lineno)
            spans = []
        self._spans = spans
        self._state = _ROWS

    def _close(self) -> None:
        if self._section is not None:
            self.sections.append(self._section)
        self._section = None
        self._state = _OUTSIDE
        self._arch = NATIVE_ARCH

    def _row(self, path: str, lineno: int, line: str, total: bool) -> None:
        section = self._section
        assert section is not None
        tokens = [(m.group(), m.end()) for m in _TOKEN.finditer(line)]
        names = [i for i, (t, _) in enumerate(tokens) if not _NUMBER.fullmatch(t)]
        if len(names) != 1 or not _NAME.fullmatch(tokens[names[0]][0]):
            self.issues.malformed("not a summary table row", path, lineno)
            return
        name = tokens[names[0]][0]
        if total != (name == "total"):
            what = "the total row" if total else "a syscall row"
            self.issues.malformed(f"expected {what}, got {name!r}", path, lineno)
            if total:
                self._close()
            return
        at = section.columns.index("syscall")
        candidates = self._assign(tokens[:names[0]], list(range(at)), total)
        right = self._assign(tokens[names[0] + 1:],
                             list(range(at + 1, len(section.columns))), total)
        cells = [{**a, **b} for a in candidates for b in right]
        values: list[dict[str, float]] = []
        for cell in cells:
            try:
                values.append(self._values(section, cell))
            except ValueError:
                continue
        if not values:
            self.issues.malformed("cannot match this row's cells to the table's columns",
                                  path, lineno)
            if total:
                self._close()
            return
        if not total:
            acc = section.rows.setdefault(name, [0, 0, 0.0])
            acc[0] += values[0].get("calls", 0)
            acc[1] += values[0].get("errors", 0)
            acc[2] += values[0].get("seconds", 0.0)
            return
        problem = ""
        for v in values:
            problem = self._check_total(section, v)
            if not problem:
                break
        if problem:
            self.issues.malformed(problem, path, lineno)
        self._close()

    def _assign(self, tokens: list[tuple[str, int]], columns: list[int],
                total: bool) -> list[dict[int, str]]:
        """Possible maps column -> cell text of one side of the name column."""
        if len(tokens) == len(columns):
            return [{c: t for c, (t, _) in zip(columns, tokens, strict=True)}]
        if len(tokens) > len(columns) or not self._section:
            return []
        keys = self._section.columns
        blankable = [c for c in columns
                     if keys[c] == "errors" or (total and keys[c] in ("usecs", "wall_avg"))]
        # Aligned output: a right-aligned number ends where its column ends.
        if self._spans:
            ends = {self._spans[c][1]: c for c in columns}
            placed = [ends.get(end, -1) for _, end in tokens]
            if -1 not in placed and placed == sorted(set(placed)) \
                    and set(columns) - set(placed) <= set(blankable):
                return [{c: t for c, (t, _) in zip(placed, tokens, strict=True)}]
        # Misaligned (a number overflowed its column): try every blank choice.
        need = len(columns) - len(tokens)
        out: list[dict[int, str]] = []
        for blanks in combinations(blankable, need):
            kept = [c for c in columns if c not in blanks]
            out.append({c: t for c, (t, _) in zip(kept, tokens, strict=True)})
        return out

    @staticmethod
    def _values(section: Section, cell: dict[int, str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for c, text in cell.items():
            key = section.columns[c]
            if key in _INT_COLUMNS:
                if not text.isdigit():
                    raise ValueError(text)
                out[key] = int(text)
            else:
                out[key] = float(text.replace(",", "."))
        if "seconds" not in out and "wall_total" in out:
            out["seconds"] = out["wall_total"]
        return out

    @staticmethod
    def _check_total(section: Section, total: dict[str, float]) -> str:
        rows = section.rows.values()
        calls = sum(int(r[0]) for r in rows)
        errors = sum(int(r[1]) for r in rows)
        seconds = sum(r[2] for r in rows)
        if "calls" in section.columns and total.get("calls", 0) != calls:
            return f"total row says {int(total.get('calls', 0))} calls, the rows add up to {calls}"
        if "errors" in section.columns and total.get("errors", 0) != errors:
            return (f"total row says {int(total.get('errors', 0))} errors, "
                    f"the rows add up to {errors}")
        if "seconds" in total and abs(total["seconds"] - seconds) > _ROUNDING * (len(rows) + 1):
            return (f"total row says {total['seconds']:.6f} seconds, "
                    f"the rows add up to {seconds:.6f}")
        return ""


def add_sections(builder: ProfileBuilder, sections: Sequence[Section]) -> None:
    """Add every row of ``sections`` to ``builder`` (pid -1: a table has no processes)."""
    for section in sections:
        for name, (calls, errors, seconds) in section.rows.items():
            builder.add(section.arch, name, pid=UNKNOWN_PID, exe="", calls=int(calls),
                        errors=int(errors), seconds=seconds)


def measured_by(sections: Sequence[Section]) -> list[str]:
    """The measures every one of ``sections`` had (all three when there is none)."""
    have = set(MEASURES)
    for s in sections:
        have &= s.measured()
    return [m for m in MEASURES if m in have]


def parse(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
          command: Sequence[str] = ()) -> ImportResult:
    """Read the summary tables of ``sources`` (path, text stream) into one Profile."""
    issues = LineIssues(lenient)
    sections: list[Section] = []
    for path, stream in sources:
        tables = SummaryTables(issues)
        for lineno, line in numbered_lines(stream, path):
            if not tables.feed(path, lineno, line) and line.strip():
                issues.ignore(path, lineno, line)
        tables.finish()
        if not tables.sections:
            issues.malformed("no strace summary table (% time ... syscall) found", path,
                             tables.last_line or 1)
        sections.extend(tables.sections)
    measured = measured_by(sections)
    notes = issues.notes("text outside the tables (program output, strace messages)")
    builder = ProfileBuilder(Provenance("strace-summary"))
    add_sections(builder, sections)
    builder.provenance = provenance("strace-summary", [p for p, _ in sources], command,
                                    measured, notes)
    return issues.result(builder.build())
