"""The probe programs' side of the real-tool tests (tests/test_runc.py,
tests/test_format_oracles.py): the tools themselves, what errnos.c prints, and
whether what a call got agrees with the action the evaluator said."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from tracebench.policy import Action


def tool(name: str) -> str:
    """The path of a tool the tests run (scripts/bootstrap.sh installs them)."""
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed (scripts/bootstrap.sh installs it)"
    return path


def results(stdout: str) -> dict[int, tuple[int, int]]:
    """errnos's lines "NR RESULT ERRNO": NR -> (result, errno)."""
    seen = {}
    for line in stdout.splitlines():
        nr, ret, err = map(int, line.split())
        seen[nr] = (ret, err)
    return seen


def agrees(action: Action, seen: tuple[int, int], deny_errnos: Sequence[int]) -> bool:
    """Whether a call that got ``seen`` got ``action`` (errno(0) returns 0)."""
    if action.kind == "errno":
        return seen == (-1 if action.value else 0, action.value)
    assert action.allows, action
    # A call that ran fails on its arguments (or returns), never with the
    # errnos the policy denies with (the tests run as root: no EPERM of its own).
    return seen[0] != -1 or seen[1] not in deny_errnos
