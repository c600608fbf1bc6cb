"""Importers of existing traces: strace -c tables, strace -f/-ff logs, seccomp audit records.

Every importer is an ``Importer`` record in ``IMPORTERS``; the CLI's
``--format`` choices come from that dict and ``detect`` picks one from the
first bytes of a file.  ``parse`` takes the already opened text streams with
their display paths (several for the ``strace -ff -o PREFIX`` files of one run),
reads them in bounded chunks and returns an ``ImportResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

from tracebench.errors import ParseError
from tracebench.parsers.result import ImportResult

__all__ = ["IMPORTERS", "ImportResult", "Importer", "detect"]


class ParseFunction(Protocol):
    def __call__(self, sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
                 command: Sequence[str] = (), args: bool = False) -> ImportResult: ...


@dataclass(frozen=True)
class Importer:
    """One input format: how to recognise it and how to read it."""

    name: str
    description: str
    sniff: Callable[[str], bool]
    parse: ParseFunction


def _no_args(kind: str, sources: Sequence[tuple[str, IO[str]]]) -> None:
    raise ParseError(f"{kind} hold no argument values (only strace -f logs do)",
                     path=sources[0][0] if sources else None)


def _summary(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
             command: Sequence[str] = (), args: bool = False) -> ImportResult:
    from tracebench.parsers import strace_summary

    if args:
        _no_args("strace -c tables", sources)
    return strace_summary.parse(sources, lenient=lenient, command=command)


def _log(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
         command: Sequence[str] = (), args: bool = False) -> ImportResult:
    from tracebench.parsers import strace_log

    return strace_log.parse(sources, lenient=lenient, command=command, args=args)


def _audit(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
           command: Sequence[str] = (), args: bool = False) -> ImportResult:
    from tracebench.parsers import audit

    if args:
        _no_args("seccomp audit records", sources)
    return audit.parse(sources, lenient=lenient, command=command)


def _sniffer(name: str) -> Callable[[str], bool]:
    def sniff(head: str) -> bool:
        from tracebench.parsers.detection import first_kind

        return first_kind(head) == name

    sniff.__doc__ = f"Whether the start of a file is {name} input."
    return sniff


IMPORTERS: dict[str, Importer] = {
    imp.name: imp
    for imp in (
        Importer("strace-summary", "strace -c / -w -c / -S / -U summary tables "
                 "(one per personality)", _sniffer("strace-summary"), _summary),
        Importer("strace-log", "strace -f / -ff trace logs, terminal captures, "
                 "-C logs (trace then table)", _sniffer("strace-log"), _log),
        Importer("audit", "kernel seccomp audit records (type=1326 / type=SECCOMP) "
                 "from dmesg, syslog or audit.log", _sniffer("audit"), _audit),
    )
}


def detect(head: str, path: str = "<input>") -> Importer:
    """The importer for a file whose first characters are ``head``."""
    from tracebench.parsers.detection import first_kind

    kind = first_kind(head)
    if kind is None:
        raise ParseError("cannot tell the input format (no strace trace line, strace -c "
                         "table or seccomp audit record near the start); use --format",
                         path=path)
    return IMPORTERS[kind]
