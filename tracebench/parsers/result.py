"""What an import returns, and the bookkeeping of lines it could not use.

``ImportResult`` is the one value an importer hands back.  ``LineIssues``
decides what a malformed line does (a ParseError, or with ``lenient`` a counted
skip with a few examples) and keeps count of lines that are deliberately not
data (program output, elisions), so nothing is dropped without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracebench.errors import ParseError
from tracebench.profile import Profile, Provenance

EXAMPLES = 5
_EXAMPLE_CHARS = 80


@dataclass(frozen=True)
class ImportResult:
    """A Profile plus the malformed lines that ``lenient`` skipped."""

    profile: Profile
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()


def shorten(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


class LineIssues:
    """Malformed lines (raise or skip) and ignored non-data lines of one import."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.skipped = 0
        self.examples: list[str] = []
        self.ignored = 0
        self.ignored_examples: list[str] = []

    def malformed(self, message: str, path: str, line: int) -> None:
        """A line that breaks the format: ParseError, or counted and skipped if lenient."""
        err = ParseError(message, path=path, line=line)
        if not self.lenient:
            raise err
        self.skipped += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(str(err))

    def ignore(self, path: str, line: int, text: str) -> None:
        """A line that is not data by design (e.g. the traced program's own output)."""
        self.ignored += 1
        if len(self.ignored_examples) < 3:
            self.ignored_examples.append(f"{path}:{line}: {shorten(text.strip(), 40)!r}")

    def notes(self, what: str) -> list[str]:
        """The provenance notes about ignored lines (``what`` names them)."""
        if not self.ignored:
            return []
        return [f"{self.ignored} line(s) of {what} ignored, e.g. "
                + "; ".join(self.ignored_examples)]

    def result(self, profile: Profile) -> ImportResult:
        return ImportResult(profile, self.skipped, tuple(self.examples))


def provenance(source: str, paths: Sequence[str], command: Sequence[str],
               measured: Sequence[str], notes: Sequence[str]) -> Provenance:
    """Provenance of an imported profile (the traced kernel is not known: empty)."""
    return Provenance(source=source, command=tuple(command), kernel="",
                      files=tuple(paths), measured=tuple(measured), notes=tuple(notes))
