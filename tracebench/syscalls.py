"""Architectures and syscall names/numbers, resolved through libseccomp.

This is the only module that asks libseccomp for names and numbers: tracebench
never carries a syscall table of its own.  Architectures are named the way
``uname -m`` and strace name them (``x86_64``, ``i386``, ``x32``, ``aarch64``,
``arm``...); ``arch_of`` also accepts libseccomp's and Docker's spellings
(``x86``, ``SCMP_ARCH_X86``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

# libseccomp's pseudo numbers start here: resolving a name that exists only on
# other architectures gives a number below -1 (socketcall on x86_64: -10060).
_UNKNOWN = -1

# AUDIT_ARCH_* values (linux/audit.h); these are also libseccomp's arch tokens
# and what PTRACE_GET_SYSCALL_INFO and seccomp_data.arch report.
_EM_386, _EM_X86_64, _EM_ARM, _EM_AARCH64 = 3, 62, 40, 183
_EM_MIPS, _EM_PPC, _EM_PPC64, _EM_S390, _EM_RISCV = 8, 20, 21, 22, 243
_64BIT, _LE, _N32 = 0x80000000, 0x40000000, 0x20000000

AUDIT_ARCH: Mapping[str, int] = {
    "x86_64": _EM_X86_64 | _64BIT | _LE,
    "i386": _EM_386 | _LE,
    "x32": _EM_X86_64 | _LE,
    "aarch64": _EM_AARCH64 | _64BIT | _LE,
    "arm": _EM_ARM | _LE,
    "mips": _EM_MIPS,
    "mipsel": _EM_MIPS | _LE,
    "mips64": _EM_MIPS | _64BIT,
    "mipsel64": _EM_MIPS | _64BIT | _LE,
    "mips64n32": _EM_MIPS | _64BIT | _N32,
    "mipsel64n32": _EM_MIPS | _64BIT | _LE | _N32,
    "ppc": _EM_PPC,
    "ppc64": _EM_PPC64 | _64BIT,
    "ppc64le": _EM_PPC64 | _64BIT | _LE,
    "s390": _EM_S390,
    "s390x": _EM_S390 | _64BIT,
    "riscv64": _EM_RISCV | _64BIT | _LE,
}
ARCH_BY_AUDIT: Mapping[int, str] = {v: k for k, v in AUDIT_ARCH.items()}

# Other spellings of the same architectures: libseccomp's (x86), Docker's
# (SCMP_ARCH_X86_64), audit's (i686 via uname on 32-bit hosts), Go's (amd64).
_ALIASES: Mapping[str, str] = {
    "x86": "i386",
    "i686": "i386",
    "i586": "i386",
    "386": "i386",
    "amd64": "x86_64",
    "x86-64": "x86_64",
    "arm64": "aarch64",
    "armv7l": "arm",
    "mips64el": "mipsel64",
    "mips64eln32": "mipsel64n32",
    "mipsel64n32": "mipsel64n32",
}

# Syscall numbers are probed up to this bound (x32 numbers carry bit 30).
_MAX_NR = 1024
_X32_SYSCALL_BIT = 0x40000000


class UnknownArchError(ValueError):
    """An architecture name tracebench (libseccomp) does not know."""


def arch_of(name: str) -> str:
    """Return the canonical architecture name for any common spelling."""
    key = name.strip().lower()
    key = key.removeprefix("scmp_arch_").removeprefix("audit_arch_")
    key = _ALIASES.get(key, key)
    if key not in AUDIT_ARCH:
        raise UnknownArchError(f"unknown architecture {name!r}")
    return key


def native_arch() -> str:
    """The architecture of this machine, as libseccomp sees it."""
    import pyseccomp

    return ARCH_BY_AUDIT[pyseccomp.system_arch()]


def _resolve_name(arch: str, name: str) -> int:
    import pyseccomp

    return int(pyseccomp.resolve_syscall(AUDIT_ARCH[arch], name))


def number(arch: str, name: str) -> int | None:
    """The syscall number of ``name`` on ``arch``, or None if it does not exist there."""
    if name.startswith("syscall_0x"):
        return int(name[len("syscall_0x") :], 16)
    nr = _resolve_name(arch, name)
    if nr >= 0:
        return nr
    # libseccomp resolves i386's direct socket calls to socketcall pseudo
    # numbers ("socket" -> -101) although the kernel has them (socket is 359
    # since Linux 4.3) and it names them when asked by number.
    return names(arch).get(name)


def is_known_anywhere(name: str) -> bool:
    """Whether libseccomp knows ``name`` on at least one architecture."""
    # A name that exists on other architectures only resolves to a pseudo
    # number below -1; only a name unknown everywhere gives -1.
    return _resolve_name("x86_64", name) != _UNKNOWN


@functools.cache
def _resolve_number(arch: str, nr: int) -> str | None:
    """libseccomp's name for ``nr`` on ``arch``, or None when it has none."""
    import pyseccomp

    try:
        return str(pyseccomp.resolve_syscall(AUDIT_ARCH[arch], nr).decode())
    except ValueError:
        return None


def _numbers(arch: str) -> range:
    """The syscall numbers probed on ``arch`` (x32's carry bit 30)."""
    base = _X32_SYSCALL_BIT if arch == "x32" else 0
    return range(base, base + _MAX_NR)


@functools.cache
def table(arch: str) -> Mapping[int, str]:
    """All syscall numbers libseccomp knows on ``arch``, mapped to names."""
    return {nr: found for nr in _numbers(arch) if (found := _resolve_number(arch, nr)) is not None}


@functools.cache
def names(arch: str) -> Mapping[str, int]:
    """All syscall names libseccomp knows on ``arch``, mapped to numbers."""
    return {name: nr for nr, name in table(arch).items()}


def name(arch: str, nr: int) -> str:
    """The name of syscall ``nr`` on ``arch``; ``syscall_0xNNN`` when unknown (as strace)."""
    # One number at a time: the recorder names a few dozen calls, and the
    # whole table (1024 probes) took about 5 ms of every `record`.
    found = _resolve_number(arch, nr) if nr in _numbers(arch) else None
    return found if found is not None else f"syscall_{nr:#x}"


# The architectures one machine can run, by its native architecture: what
# Docker's archMap lists as subArchitectures (moby/profiles seccomp).
FAMILIES: Mapping[str, tuple[str, ...]] = {
    "x86_64": ("x86_64", "i386", "x32"),
    "aarch64": ("aarch64", "arm"),
    "mips64": ("mips64", "mips", "mips64n32"),
    "mips64n32": ("mips64n32", "mips", "mips64"),
    "mipsel64": ("mipsel64", "mipsel", "mipsel64n32"),
    "mipsel64n32": ("mipsel64n32", "mipsel", "mipsel64"),
    "s390x": ("s390x", "s390"),
}


def family(arch: str) -> tuple[str, ...]:
    """Architectures a machine whose native architecture is ``arch`` can run."""
    return FAMILIES.get(arch, (arch,))
