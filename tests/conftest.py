"""Fixtures shared by the recorder's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["native", "python"])
def each_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs once with the recorder's C loop and once with its Python loop.

    TRACEBENCH_LOOP is set in the environment, so a ``tracebench record`` the
    test starts as a process uses the same loop.
    """
    loop: str = request.param
    monkeypatch.setenv("TRACEBENCH_LOOP", loop)
    return loop


@pytest.fixture(params=["native", "python"])
def each_scan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs once with the import's C line scanner and once with its regex.

    TRACEBENCH_SCAN is set in the environment, so the worker processes the
    import forks (or spawns) use the same scanner.
    """
    scan: str = request.param
    monkeypatch.setenv("TRACEBENCH_SCAN", scan)
    return scan
