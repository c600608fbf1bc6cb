"""The registry of policy file formats.

A format is one module holding a ``FORMAT`` record; adding a format is that
module plus one line in ``FORMATS``.  The CLI's ``--format`` choices and the
round-trip tests are generated from this dict.  Format modules must not import
heavy libraries (pandas, pyseccomp) at module level: the CLI imports this
registry to build its help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracebench.errors import PolicyError
from tracebench.policy.model import Policy


@dataclass(frozen=True)
class Format:
    """One policy file format.

    ``read(text, path)`` returns a Policy or raises PolicyError/ParseError with
    path and line; ``write(policy)`` returns the file's text.  Either may be
    None (read-only or write-only formats).  ``sniff(text)`` says whether a
    file's content looks like this format (for auto-detection).  ``numbers``:
    whether it can name a syscall by its number (``syscall_0xNNN``, a number
    libseccomp has no name for); the others take names only.  ``container``:
    a container runtime loads it, which makes calls of its own after loading
    the filter (``emit --base runc-base`` adds them).
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    read: Callable[[str, str], Policy] | None = None
    write: Callable[[Policy], str] | None = None
    sniff: Callable[[str], bool] | None = None
    numbers: bool = False
    container: bool = False


FORMATS: dict[str, Format] = {
    # one line per format module, e.g.:  oci.FORMAT.name: oci.FORMAT,
    "oci": __import__("tracebench.policy.formats.oci", fromlist=["FORMAT"]).FORMAT,
    "spo": __import__("tracebench.policy.formats.spo", fromlist=["FORMAT"]).FORMAT,
    "beats": __import__("tracebench.policy.formats.beats", fromlist=["FORMAT"]).FORMAT,
    "plain": __import__("tracebench.policy.formats.plain", fromlist=["FORMAT"]).FORMAT,
    "c": __import__("tracebench.policy.formats.c_source", fromlist=["FORMAT"]).FORMAT,
    "python": __import__("tracebench.policy.formats.python_source", fromlist=["FORMAT"]).FORMAT,
    "go": __import__("tracebench.policy.formats.go_source", fromlist=["FORMAT"]).FORMAT,
    "systemd": __import__("tracebench.policy.formats.systemd", fromlist=["FORMAT"]).FORMAT,
    "firecracker": __import__("tracebench.policy.formats.firecracker", fromlist=["FORMAT"]).FORMAT,
    "minijail": __import__("tracebench.policy.formats.minijail", fromlist=["FORMAT"]).FORMAT,
    "firejail": __import__("tracebench.policy.formats.firejail", fromlist=["FORMAT"]).FORMAT,
    "lxc": __import__("tracebench.policy.formats.lxc", fromlist=["FORMAT"]).FORMAT,
}


def readable() -> list[str]:
    return sorted(n for n, f in FORMATS.items() if f.read is not None)


def writable() -> list[str]:
    return sorted(n for n, f in FORMATS.items() if f.write is not None)


def detect(text: str, path: str) -> Format:
    """Pick the format of a policy file: by content first, then by suffix."""
    sniffed = [f for f in FORMATS.values() if f.read is not None and f.sniff and f.sniff(text)]
    if len(sniffed) == 1:
        return sniffed[0]
    by_suffix = [f for f in (sniffed or FORMATS.values())
                 if f.read is not None and path.endswith(f.suffixes)]
    if len(by_suffix) == 1:
        return by_suffix[0]
    candidates = ", ".join(f.name for f in (by_suffix or sniffed)) or "none"
    raise PolicyError(f"cannot tell the policy format (candidates: {candidates}); "
                      "use --policy-format", path=path)
