"""Reading the user's text streams in bounded pieces of whole lines.

The importers never read a whole file: they take pieces of a few MiB that end
at a newline (``chunks``) or single numbered lines (``numbered_lines``).  A
stream that is not UTF-8, or a "line" longer than MAX_LINE_CHARS (a binary
file), is a ParseError naming the file and the line reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from tracebench.errors import ParseError

CHUNK_CHARS = 4 << 20
# No real strace/audit line comes near this; a longer one means binary input,
# and refusing it keeps memory bounded.
MAX_LINE_CHARS = 64 << 20


def chunks(stream: IO[str], path: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Yield consecutive pieces of ``stream`` that each end with a newline.

    Only the last piece may lack its final newline.  Joined, the pieces are
    exactly the stream's text.
    """
    carry = ""
    lines_done = 0
    while True:
        try:
            block = stream.read(size)
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text at or after this line ({exc.reason})",
                             path=path, line=lines_done + 1) from None
        if not block:
            if carry:
                yield carry
            return
        data = carry + block if carry else block
        cut = data.rfind("\n")
        if cut < 0:
            carry = data
            if len(carry) > MAX_LINE_CHARS:
                raise ParseError(f"line longer than {MAX_LINE_CHARS} characters "
                                 "(not a text log?)", path=path, line=lines_done + 1)
            continue
        carry = data[cut + 1:]
        piece = data[:cut + 1]
        lines_done += piece.count("\n")
        yield piece


def numbered_lines(stream: IO[str], path: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line without its newline)`` for every line of ``stream``."""
    lineno = 0
    for piece in chunks(stream, path):
        lines = piece.split("\n")
        if piece.endswith("\n"):
            lines.pop()
        for line in lines:
            lineno += 1
            yield lineno, line
