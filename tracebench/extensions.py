"""The optional C libraries built at install (setup.py), each chosen over its Python twin.

Each library is plain C loaded with ctypes, next to the Python module that
loads it: the recorder's per-stop loop (tracer/hotloop.c, ``TRACEBENCH_LOOP``)
and the strace log line scanner (parsers/linescan.c, ``TRACEBENCH_SCAN``).
An environment variable chooses: ``native`` (the C one; an error if it was
not built), ``python`` (the pure-Python one), or unset (the C one when it
was built, else the Python one).  Both read the same way; the tests run
through both.
"""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

from tracebench.errors import TracebenchError


def library_path(module_file: str, name: str) -> Path | None:
    """Where the built library ``name`` beside ``module_file`` is, or None when it was not built."""
    here = Path(module_file).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / (name + suffix)
        if path.exists():
            return path
    return None


def wanted(variable: str, path: Path | None, what: str,
           error: type[TracebenchError] = TracebenchError) -> bool:
    """Whether to use the C library at ``path`` (None: not built), as ``variable`` says."""
    choice = os.environ.get(variable, "")
    if choice == "python":
        return False
    if choice not in ("", "native"):
        raise error(f"{variable}={choice!r}: expected 'native' or 'python'")
    if path is None:
        if choice == "native":
            raise error(f"{variable}=native: {what} was not built at install "
                        "(reinstall with a C compiler present)")
        return False
    return True
