"""Profile: what a program was seen to do.

A Profile holds one row per (pid, exe, arch, syscall) with calls, errors and
seconds, the distinct values seen for each syscall's non-pointer arguments
(bounded), and where it came from.  It is built with a ``ProfileBuilder``
(plain dict counters, cheap to update per event) and is immutable after.
Its rows are kept as plain tuples (``Profile.records``); ``Profile.rows`` is
the same rows as a pandas DataFrame, built the first time it is asked for,
so that ``record`` and ``table`` answer without importing pandas (a third
of a second).

File format (``version`` 1), documented in README.md::

    {"format": "tracebench-profile", "version": 1,
     "provenance": {"source": "ptrace", "command": ["ls"], "started": "...",
                    "kernel": "6.1.0", "tracebench": "0.1.0", "files": [],
                    "measured": ["calls", "errors", "seconds"], "notes": [],
                    "runs": 1},
     "rows": [[pid, exe, arch, syscall, calls, errors, seconds, unfinished], ...],
     "args": [[arch, syscall, argno, [values...], complete], ...],
     "partial": [[arch, syscall], ...]}
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tracebench import __version__
from tracebench.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_NAME = "tracebench-profile"
FORMAT_VERSION = 1
COLUMNS = ("pid", "exe", "arch", "syscall", "calls", "errors", "seconds", "unfinished")
# Counted per row.  ``calls`` counts calls that returned, as strace -c does;
# ``unfinished`` counts calls entered that never returned: exit_group(0) = ?
# and calls cut short by the process's death.  strace -c leaves those out of
# its table, but a seccomp filter sees them: an allowlist needs exit_group.
COUNTS = ("calls", "errors", "seconds", "unfinished")
SOURCES = ("ptrace", "strace-log", "strace-summary", "audit", "merge")
MEASURES = ("calls", "errors", "seconds")
# How many distinct values of one argument are kept per syscall before the
# set is marked incomplete (a policy rule on it then stays undecided).
ARG_VALUES_CAP = 64
UNKNOWN_PID = -1

SyscallKey = tuple[str, str]  # (arch, syscall)
# One row, in COLUMNS order: (pid, exe, arch, syscall, calls, errors, seconds, unfinished).
Row = tuple[int, str, str, str, int, int, float, int]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Provenance:
    """Where a Profile came from."""

    source: str
    command: tuple[str, ...] = ()
    started: str = field(default_factory=_now)
    kernel: str = field(default_factory=platform.release)
    tracebench: str = __version__
    files: tuple[str, ...] = ()
    measured: tuple[str, ...] = MEASURES
    notes: tuple[str, ...] = ()
    runs: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "command": list(self.command),
            "started": self.started,
            "kernel": self.kernel,
            "tracebench": self.tracebench,
            "files": list(self.files),
            "measured": list(self.measured),
            "notes": list(self.notes),
            "runs": self.runs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provenance:
        return cls(
            source=str(data["source"]),
            command=tuple(str(c) for c in data.get("command", ())),
            started=str(data.get("started", "")),
            kernel=str(data.get("kernel", "")),
            tracebench=str(data.get("tracebench", "")),
            files=tuple(str(f) for f in data.get("files", ())),
            measured=tuple(str(m) for m in data.get("measured", MEASURES)),
            notes=tuple(str(n) for n in data.get("notes", ())),
            runs=int(data.get("runs", 1)),
        )


@dataclass(frozen=True)
class ArgValues:
    """Distinct values seen for one argument of one syscall.

    ``complete`` is False when more than ARG_VALUES_CAP distinct values were
    seen (only the first ones are kept) or when some calls were seen without
    their arguments: a rule on that argument cannot be judged from the set.
    """

    values: frozenset[int]
    complete: bool = True


class Profile:
    """What a program was seen to do; immutable.  Build one with ProfileBuilder."""

    def __init__(
        self,
        records: Iterable[Sequence[Any]],
        provenance: Provenance,
        args: Mapping[SyscallKey, Mapping[int, ArgValues]] | None = None,
        partial: frozenset[SyscallKey] = frozenset(),
    ) -> None:
        self.records: tuple[Row, ...] = tuple(sorted(map(_row, records)))
        self.provenance = provenance
        self.args: Mapping[SyscallKey, Mapping[int, ArgValues]] = dict(args or {})
        self.partial = partial
        self._frame: pd.DataFrame | None = None

    @property
    def rows(self) -> pd.DataFrame:
        """The rows as a DataFrame (COLUMNS), for pandas group-bys."""
        if self._frame is None:
            self._frame = _frame(self.records, list(COLUMNS))
        return self._frame

    # -- views -------------------------------------------------------------

    def measures(self, what: str) -> bool:
        """Whether ``what`` (calls / errors / seconds) was measured for this profile."""
        return what in self.provenance.measured

    def arches(self) -> list[str]:
        return sorted({r[2] for r in self.records})

    def syscalls(self, arch: str | None = None) -> set[str]:
        """Names of the syscalls made (on ``arch`` if given), returned or not."""
        return {r[3] for r in self.records if arch is None or r[2] == arch}

    def calls(self) -> int:
        """Calls that returned, over every row."""
        return sum(r[4] for r in self.records)

    def totals(self, per_process: bool = False) -> list[tuple[Any, ...]]:
        """The rows summed per (arch, syscall), or per (pid, exe, arch, syscall).

        Sorted tuples: the key, then calls, errors, seconds, unfinished.
        """
        acc: dict[tuple[Any, ...], list[Any]] = {}
        for r in self.records:
            key = r[:4] if per_process else r[2:4]
            have = acc.get(key)
            if have is None:
                acc[key] = list(r[4:])
            else:
                for k in range(4):
                    have[k] += r[4 + k]
        return sorted((*key, *v) for key, v in acc.items())

    def summary(self, per_process: bool = False) -> pd.DataFrame:
        """``totals`` as a DataFrame."""
        return _frame(self.totals(per_process), totals_columns(per_process))

    def processes(self) -> pd.DataFrame:
        """One row per (pid, exe) with its total calls."""
        return self.rows.groupby(["pid", "exe"], as_index=False, sort=True)[["calls"]].sum()

    @property
    def args_left_in_log(self) -> bool:
        """An strace log imported without ``--args``: its values are in the log, not here."""
        return self.provenance.source == "strace-log" and not self.args

    def arg_values(self, arch: str, syscall: str, argno: int) -> ArgValues | None:
        """The values seen for argument ``argno`` of ``syscall``, if recorded."""
        return self.args.get((arch, syscall), {}).get(argno)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return (
            self.provenance == other.provenance
            and self.args == other.args
            and self.partial == other.partial
            and self.records == other.records
        )

    __hash__ = None  # type: ignore[assignment]

    # -- serialisation -----------------------------------------------------

    def to_json(self) -> str:
        rows = [list(r) for r in self.records]
        args = [
            [arch, name, argno, sorted(v.values), v.complete]
            for (arch, name), per_arg in sorted(self.args.items())
            for argno, v in sorted(per_arg.items())
        ]
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "provenance": self.provenance.to_json(),
            "rows": rows,
            "args": args,
            "partial": sorted([list(k) for k in self.partial]),
        }
        # One row per line: stored runs diff well and stay readable.
        parts = []
        for key, value in doc.items():
            if isinstance(value, list):
                body = ",\n  ".join(json.dumps(item) for item in value)
                parts.append(f' "{key}": [\n  {body}\n ]' if value else f' "{key}": []')
            else:
                parts.append(f' "{key}": {json.dumps(value)}')
        return "{\n" + ",\n".join(parts) + "\n}\n"

    @classmethod
    def from_json(cls, text: str, path: str = "<profile>") -> Profile:
        """Load a Profile file; a damaged file or unknown version is a ParseError."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not a tracebench profile: {exc.msg}", path=path,
                             line=exc.lineno) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise ParseError("not a tracebench profile (no \"format\": "
                             f"\"{FORMAT_NAME}\")", path=path)
        if doc.get("version") != FORMAT_VERSION:
            raise ParseError(f"unsupported profile version {doc.get('version')!r} "
                             f"(this tracebench reads version {FORMAT_VERSION})", path=path)
        try:
            prov = Provenance.from_json(doc["provenance"])
            builder = ProfileBuilder(prov)
            for pid, exe, arch, name, calls, errors, seconds, unfinished in doc["rows"]:
                builder.add(str(arch), str(name), pid=int(pid), exe=str(exe), calls=int(calls),
                            errors=int(errors), seconds=float(seconds),
                            unfinished=int(unfinished))
            args: dict[SyscallKey, dict[int, ArgValues]] = {}
            for arch, name, argno, values, complete in doc.get("args", []):
                args.setdefault((str(arch), str(name)), {})[int(argno)] = ArgValues(
                    frozenset(int(v) for v in values), bool(complete))
            partial = frozenset((str(a), str(n)) for a, n in doc.get("partial", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"damaged tracebench profile: {type(exc).__name__}: {exc}",
                             path=path) from None
        return cls(builder.build().records, prov, args, partial)


def totals_columns(per_process: bool = False) -> list[str]:
    """The names of the fields of ``Profile.totals`` tuples, in order."""
    return [*(["pid", "exe"] if per_process else []), "arch", "syscall", *COUNTS]


def _row(r: Sequence[Any]) -> Row:
    """A row with plain Python types; seconds rounded to the nanosecond (what files keep)."""
    pid, exe, arch, name, calls, errors, seconds, unfinished = r
    return (int(pid), str(exe), str(arch), str(name), int(calls), int(errors),
            round(float(seconds), 9), int(unfinished))


def _frame(records: Iterable[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame.from_records(list(records), columns=columns)
    types = {"pid": "int64", "exe": "object", "arch": "object", "syscall": "object",
             "calls": "int64", "errors": "int64", "seconds": "float64", "unfinished": "int64"}
    return frame.astype({c: t for c, t in types.items() if c in columns})


class ProfileBuilder:
    """Accumulates events into a Profile; the cheap, mutable side of the model."""

    def __init__(self, provenance: Provenance, arg_cap: int = ARG_VALUES_CAP) -> None:
        self.provenance = provenance
        self.arg_cap = arg_cap
        # (pid, exe, arch, syscall) -> [calls, errors, seconds, unfinished]
        self._rows: dict[tuple[int, str, str, str], list[float]] = {}
        self._exe: dict[int, str] = {}
        self._args: dict[SyscallKey, dict[int, set[int]]] = {}
        self._incomplete: set[tuple[str, str, int]] = set()

    def add(self, arch: str, syscall: str, *, pid: int = UNKNOWN_PID, exe: str | None = None,
            calls: int = 1, errors: int = 0, seconds: float = 0.0,
            unfinished: int = 0) -> None:
        """Count ``calls`` returned calls (``errors`` of them failed) taking ``seconds``.

        ``exe`` (if given) becomes the pid's executable from this call on.
        ``unfinished`` counts calls entered that never returned (exit_group);
        pass ``calls=0`` when that is all there is to count.
        """
        if exe is not None:
            self._exe[pid] = exe
        self.add_counts(pid, self._exe.get(pid, ""), arch,
                        ((syscall, calls, errors, seconds, unfinished),))

    def add_counts(self, pid: int, exe: str, arch: str,
                   rows: Iterable[tuple[str, int, int, float, int]]) -> None:
        """``add`` for many syscalls of one process image at once:
        (syscall, calls, errors, seconds, unfinished) rows."""
        self._exe[pid] = exe
        table = self._rows
        for name, calls, errors, seconds, unfinished in rows:
            key = (pid, exe, arch, name)
            acc = table.get(key)
            if acc is None:
                table[key] = [calls, errors, seconds, unfinished]
            else:
                acc[0] += calls
                acc[1] += errors
                acc[2] += seconds
                acc[3] += unfinished

    def add_args(self, arch: str, syscall: str, values: Sequence[int | None]) -> None:
        """Record one call's argument values; None marks a pointer or unknown argument."""
        per_arg = self._args.get((arch, syscall))
        if per_arg is None:
            per_arg = self._args[(arch, syscall)] = {}
        for argno, value in enumerate(values):
            if value is not None:
                self._keep(per_arg, arch, syscall, argno, value)

    def add_arg_values(self, arch: str, syscall: str, argno: int, values: Iterable[int],
                       complete: bool = True) -> None:
        """Record values seen for one argument; ``complete=False``: some calls' are missing."""
        for value in values:
            self._keep(self._args.setdefault((arch, syscall), {}), arch, syscall, argno, value)
        if not complete:
            self.mark_args_incomplete(arch, syscall, argno)

    def _keep(self, per_arg: dict[int, set[int]], arch: str, syscall: str, argno: int,
              value: int) -> None:
        # Up to arg_cap distinct values per argument; past that the set is incomplete.
        seen = per_arg.get(argno)
        if seen is None:
            seen = per_arg[argno] = set()
        if value in seen:
            return
        if len(seen) >= self.arg_cap:
            self._incomplete.add((arch, syscall, argno))
            return
        seen.add(value)

    def mark_args_incomplete(self, arch: str, syscall: str, argno: int) -> None:
        """Say that some calls' value of this argument were not recorded."""
        self._incomplete.add((arch, syscall, argno))

    def build(self) -> Profile:
        records = [(*key, *c) for key, c in self._rows.items()]
        args = {
            key: {
                argno: ArgValues(frozenset(vals), (key[0], key[1], argno) not in self._incomplete)
                for argno, vals in per_arg.items()
            }
            for key, per_arg in self._args.items()
        }
        return Profile(records, self.provenance, args)


def merge(profiles: Iterable[Profile], label: str = "") -> Profile:
    """The union of several runs: calls summed, syscalls missing from some runs flagged."""
    import pandas as pd

    runs = list(profiles)
    if not runs:
        raise ValueError("merge needs at least one profile")
    rows = pd.concat([p.rows for p in runs], ignore_index=True)
    rows = rows.groupby(["pid", "exe", "arch", "syscall"], as_index=False, sort=True)[
        list(COUNTS)].sum()
    seen = [{(r[2], r[3]) for r in p.records} for p in runs]
    everywhere = set.intersection(*seen)
    partial = frozenset(set.union(*seen) - everywhere)
    args: dict[SyscallKey, dict[int, ArgValues]] = {}
    for p in runs:
        for key, per_arg in p.args.items():
            slot = args.setdefault(key, {})
            for argno, v in per_arg.items():
                old = slot.get(argno)
                if old is None:
                    slot[argno] = v
                else:
                    union = old.values | v.values
                    slot[argno] = ArgValues(union, old.complete and v.complete)
    # A syscall seen in a run that did not record arguments has values we never saw.
    for p in runs:
        for arch, name in {(r[2], r[3]) for r in p.records}:
            if (arch, name) not in p.args and (arch, name) in args:
                args[(arch, name)] = {n: replace(v, complete=False)
                                      for n, v in args[(arch, name)].items()}
    measured = tuple(m for m in MEASURES if all(p.measures(m) for p in runs))
    prov = Provenance(
        source="merge",
        command=tuple(label for label in [label] if label),
        files=tuple(f for p in runs for f in p.provenance.files),
        measured=measured,
        notes=tuple(f"{p.provenance.source}: {' '.join(p.provenance.command)}" for p in runs),
        runs=sum(p.provenance.runs for p in runs),
    )
    return Profile(rows.itertuples(index=False, name=None), prov, args, partial)
