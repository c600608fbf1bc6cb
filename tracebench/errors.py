"""The one error type every layer below the CLI raises.

An error names where it happened (file and line, or the argument) so the CLI
can print it on one line: ``policy.json:12: unknown syscall 'bogus'``.
"""

from __future__ import annotations


class TracebenchError(Exception):
    """A user-facing error, with the file and line it is about when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"

    def at(self, path: str | None = None, line: int | None = None) -> TracebenchError:
        """Return the same error with a location filled in where it was missing."""
        return type(self)(
            self.message,
            path=self.path if self.path is not None else path,
            line=self.line if self.line is not None else line,
        )


class ParseError(TracebenchError):
    """Input that does not have the shape its format requires."""


class PolicyError(TracebenchError):
    """A policy that cannot be understood fully (and so is never loaded)."""


class StoreError(TracebenchError):
    """A run that is not in the store, or a store that cannot be read."""


class TraceError(TracebenchError):
    """A program that cannot be started, attached to or traced."""
