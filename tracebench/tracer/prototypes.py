"""Which arguments of a syscall are values (worth recording) and which are pointers.

The prototypes are python-ptrace's (``ptrace.syscall.prototypes``, from the
kernel's include/linux/syscalls.h).  A pointer's value is an address that
changes from run to run and says nothing a seccomp rule could use, so only
the other arguments' values are kept.
"""

from __future__ import annotations

import functools
from typing import Any

# Types in the prototypes that are pointers without a '*' in their spelling.
_POINTER_TYPEDEFS = frozenset({
    "__sighandler_t", "cap_user_data_t", "const cap_user_data_t", "cap_user_header_t",
    "int[2]",  # pipe(int fildes[2]): the array decays to a pointer
})


def _prototypes_module() -> Any:
    """python-ptrace's ``ptrace.syscall.prototypes``, loaded without the package around it.

    The module is plain data and imports nothing, but ``import
    ptrace.syscall.prototypes`` runs ``ptrace/syscall/__init__.py`` first,
    which imports python-ptrace's whole syscall decoder (socket, uuid, the
    socketcall structures: 6-7 ms, measured with ``python -X importtime``),
    and the recorder asks for the prototypes at the program's first execve,
    while the program waits.  So the file is found in the package's directory
    and run alone (from its cached bytecode); the usual import is the fallback.
    """
    import importlib.machinery
    import importlib.util
    import sys

    loaded = sys.modules.get("ptrace.syscall.prototypes")
    if loaded is not None:
        return loaded
    try:
        # find_spec of a subpackage imports its parent (ptrace, which the
        # tracer has imported already) but does not run the subpackage.
        package = importlib.util.find_spec("ptrace.syscall")
        where = package.submodule_search_locations if package is not None else None
        spec = importlib.machinery.PathFinder.find_spec("prototypes", list(where or ()))
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    except ImportError:
        pass
    import ptrace.syscall.prototypes

    return ptrace.syscall.prototypes


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, tuple[str, ...]]:
    module = _prototypes_module()
    prototypes: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = module.SYSCALL_PROTOTYPES
    aliases: dict[str, tuple[str, ...]] = module.ALIASES
    out: dict[str, tuple[str, ...]] = {}
    for name, (_restype, args) in prototypes.items():
        out[name] = tuple(str(t) for t, _n in args)
    # ALIASES maps a prototype's name to the names it goes by on some
    # architectures ("mmap_pgoff": ("mmap", "mmap2")).
    for name, names in aliases.items():
        if name in out:
            for alias in names:
                out.setdefault(alias, out[name])
    return out


def value_arguments(name: str) -> tuple[int, ...] | None:
    """Positions of the non-pointer arguments of ``name``; None if its prototype is unknown."""
    types = _prototypes().get(name)
    if types is None:
        return None
    return tuple(i for i, t in enumerate(types) if "*" not in t and t not in _POINTER_TYPEDEFS)
