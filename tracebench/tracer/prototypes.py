"""Which arguments of a syscall are values (worth recording) and which are pointers.

The prototypes are python-ptrace's (``ptrace.syscall.prototypes``, from the
kernel's include/linux/syscalls.h).  A pointer's value is an address that
changes from run to run and says nothing a seccomp rule could use, so only
the other arguments' values are kept.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

# Types in the prototypes that are pointers without a '*' in their spelling.
_POINTER_TYPEDEFS = frozenset({
    "__sighandler_t", "cap_user_data_t", "const cap_user_data_t", "cap_user_header_t",
    "int[2]",  # pipe(int fildes[2]): the array decays to a pointer
})


def _table() -> Any:
    """python-ptrace's ``ptrace.syscall.prototypes`` module, loaded without its package.

    Importing it the usual way first runs ``ptrace.syscall``'s ``__init__``,
    which imports python-ptrace's whole argument decoder (socket, ctypes
    structures...): 8-10 ms against 1-2 ms for the table alone (timed in
    ``record``'s process, its other imports done), spent while the traced
    program waits for its first new syscall to be counted.  The table is a
    plain module without imports, so it is executed on its own (from
    python-ptrace's compiled file); should that ever fail, the usual import
    is used.
    """
    loaded = sys.modules.get("ptrace.syscall.prototypes")
    if loaded is not None:
        return loaded
    import importlib.util

    import ptrace

    path = os.path.join(os.path.dirname(ptrace.__file__), "syscall", "prototypes.py")
    # A name outside any package: a relative import in the file would fail
    # (ImportError) instead of looking inside tracebench.
    spec = importlib.util.spec_from_file_location("_tracebench_ptrace_prototypes", path)
    try:
        if spec is None or spec.loader is None:
            raise ImportError(path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError, SyntaxError):
        import ptrace.syscall.prototypes as usual

        return usual
    return module


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, tuple[str, ...]]:
    table = _table()
    out: dict[str, tuple[str, ...]] = {}
    for name, (_restype, args) in table.SYSCALL_PROTOTYPES.items():
        out[name] = tuple(str(t) for t, _n in args)
    # ALIASES maps a prototype's name to the names it goes by on some
    # architectures ("mmap_pgoff": ("mmap", "mmap2")).
    for name, aliases in table.ALIASES.items():
        if name in out:
            for alias in aliases:
                out.setdefault(alias, out[name])
    return out


def value_arguments(name: str) -> tuple[int, ...] | None:
    """Positions of the non-pointer arguments of ``name``; None if its prototype is unknown."""
    types = _prototypes().get(name)
    if types is None:
        return None
    return tuple(i for i, t in enumerate(types) if "*" not in t and t not in _POINTER_TYPEDEFS)
