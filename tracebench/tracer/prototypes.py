"""Which arguments of a syscall are values (worth recording) and which are pointers.

The prototypes are python-ptrace's (``ptrace.syscall.prototypes``, from the
kernel's include/linux/syscalls.h).  A pointer's value is an address that
changes from run to run and says nothing a seccomp rule could use, so only
the other arguments' values are kept.
"""

from __future__ import annotations

import functools

# Types in the prototypes that are pointers without a '*' in their spelling.
_POINTER_TYPEDEFS = frozenset({
    "__sighandler_t", "cap_user_data_t", "const cap_user_data_t", "cap_user_header_t",
    "int[2]",  # pipe(int fildes[2]): the array decays to a pointer
})


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, tuple[str, ...]]:
    from ptrace.syscall.prototypes import ALIASES, SYSCALL_PROTOTYPES

    out: dict[str, tuple[str, ...]] = {}
    for name, (_restype, args) in SYSCALL_PROTOTYPES.items():
        out[name] = tuple(str(t) for t, _n in args)
    # ALIASES maps a prototype's name to the names it goes by on some
    # architectures ("mmap_pgoff": ("mmap", "mmap2")).
    for name, aliases in ALIASES.items():
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
