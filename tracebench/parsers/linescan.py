"""The C line scanner of the import fast path (linescan.c), loaded with ctypes.

It reads a chunk of strace log lines as strace_fastpath's regex does and
counts the fast ones in C; ``TRACEBENCH_SCAN`` chooses it or the regex (see
tracebench.extensions).
"""

from __future__ import annotations

import ctypes
import functools
import struct
from pathlib import Path
from typing import Any

from tracebench import extensions

# Line kinds (linescan.c).
SLOW, COMPLETE, RESUMED, UNFINISHED, SIGNAL, SLOW_RANGE = range(6)
# Item kinds of scan().
ENTRY, SLOW_LINE = 0, 1
_ITEM = struct.Struct("12q")


def library_path() -> Path | None:
    """Where the built scanner is, or None when it was not built."""
    return extensions.library_path(__file__, "_linescan")


def wanted() -> bool:
    """Whether the importer should use the C scanner (``TRACEBENCH_SCAN``)."""
    return extensions.wanted("TRACEBENCH_SCAN", library_path(), "the C line scanner")


@functools.cache
def _load() -> Any:
    path = library_path()
    if path is None:  # wanted() said so first
        raise RuntimeError("the C line scanner was not built")
    lib = ctypes.CDLL(str(path))
    i64p = ctypes.POINTER(ctypes.c_int64)
    lib.tb_scan.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_int,
                            ctypes.POINTER(i64p), ctypes.POINTER(ctypes.c_long)]
    lib.tb_scan.restype = ctypes.c_long
    lib.tb_scan_free.argtypes = [i64p]
    lib.tb_scan_free.restype = None
    lib.tb_scan_one.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_int, i64p]
    lib.tb_scan_one.restype = ctypes.c_int
    return lib


def scan(data: bytes, leader: int) -> tuple[int, list[tuple[int, ...]]]:
    """The line count of ``data`` and its items, in order.

    ``(ENTRY, pid or -1, name offset, name length, 8 counts)``: the counts of
    one (pid, syscall) over the fast lines since the last slow line (as
    strace_fastpath._fold counts them; a key may come twice);
    ``(SLOW_LINE, line index, start, end, 0...)``: a line to read exactly.
    ``leader`` is the index of the leader in strace_fastpath.LEADERS.
    """
    lib = _load()
    items = ctypes.POINTER(ctypes.c_int64)()
    n = ctypes.c_long()
    lines = lib.tb_scan(data, len(data), leader, ctypes.byref(items), ctypes.byref(n))
    if lines < 0:
        raise MemoryError("the C line scanner")
    try:
        raw = ctypes.string_at(items, n.value * _ITEM.size) if n.value else b""
    finally:
        lib.tb_scan_free(items)
    return lines, list(_ITEM.iter_unpack(raw))


def scan_one(line: bytes, leader: int) -> tuple[int, int, bytes, int, int]:
    """One line's (kind, pid or -1, name, error, ns or -1), for the tests."""
    out = (ctypes.c_int64 * 5)()
    kind = _load().tb_scan_one(line, len(line), leader, out)
    return kind, out[0], line[out[1]:out[1] + out[2]], out[3], out[4]
