"""The policies shipped in ``tracebench/policies/``, found by short name (``docker-default``)."""

from __future__ import annotations

from pathlib import Path

# Package data, so a wheel carries them as an editable install does; see
# policies/SOURCES.md for where each file came from.
POLICY_DIR = Path(__file__).resolve().parent / "policies"


def names() -> list[str]:
    """Short names of the shipped policies."""
    if not POLICY_DIR.is_dir():
        return []
    return sorted(p.stem for p in POLICY_DIR.iterdir() if p.suffix in (".json", ".txt", ".yaml"))


def find(ref: str) -> Path | None:
    """The shipped policy file named ``ref`` (its short name), if there is one."""
    if "/" in ref or "." in ref:
        return None
    for p in sorted(POLICY_DIR.glob(f"{ref}.*")) if POLICY_DIR.is_dir() else []:
        if p.stem == ref and p.suffix != ".md":
            return p
    return None
