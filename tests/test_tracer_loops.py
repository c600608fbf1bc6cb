"""The recorder's two loops: the C loop is built, chosen, and counts like the Python one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from programs.tracer_programs import build

from tracebench.errors import TraceError
from tracebench.tracer import native, record
from tracebench.tracer.recorder import Recorder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def progs() -> dict[str, str]:
    return build()


def test_the_install_built_the_c_loop() -> None:
    # scripts/bootstrap.sh installs a compiler before the package: on the
    # machines the tests run on, the optional build must have happened.
    path = native.library_path()
    assert path is not None and path.name.startswith("_hotloop")


def _forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("the other loop ran")
    for name in names:
        monkeypatch.setattr(Recorder, name, refuse)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("program", ["threads", "forkexec", "args"])
def test_native_is_the_default_and_counts_like_python(
        mode: str, program: str, progs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [progs[program]]
    monkeypatch.delenv("TRACEBENCH_LOOP", raising=False)
    with monkeypatch.context() as m:
        _forbid(m, "_loop_full", "_loop_fast")
        c_run = record(argv, mode=mode).profile
    monkeypatch.setenv("TRACEBENCH_LOOP", "python")
    with monkeypatch.context() as m:
        _forbid(m, "_loop_native")
        py_run = record(argv, mode=mode).profile
    cols = ["pid", "exe", "arch", "syscall", "calls", "errors", "unfinished"]
    # pids differ between the runs; everything else is the same program's.
    strip = [(r[1:]) for r in c_run.rows[cols].itertuples(index=False)]
    assert sorted(map(tuple, strip)) == sorted(
        tuple(r[1:]) for r in py_run.rows[cols].itertuples(index=False))
    assert c_run.calls() == py_run.calls()
    # Argument values: the same arguments, equally complete; the values of
    # pids and addresses differ between runs, the ones args.c chose do not.
    def shape(p: Any) -> set[tuple[Any, ...]]:
        return {(key, n, v.complete) for key, per in p.args.items() for n, v in per.items()}
    assert shape(c_run) == shape(py_run)
    for name, n in (("lseek", 1), ("lseek", 2), ("fcntl", 1), ("close", 0)):
        assert c_run.arg_values("x86_64", name, n) == py_run.arg_values("x86_64", name, n)


def test_unknown_loop_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setenv("TRACEBENCH_LOOP", "turbo")
    with pytest.raises(TraceError, match=r"TRACEBENCH_LOOP='turbo': expected 'native' or 'python'"):
        record(["/bin/touch", str(marker)])
    assert not marker.exists()


def test_native_asked_for_but_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEBENCH_LOOP", "native")
    monkeypatch.setattr(native, "library_path", lambda: None)
    with pytest.raises(TraceError, match="the C loop was not built at install"):
        record(["/bin/true"])
    # Unset, the Python loop takes over.
    monkeypatch.delenv("TRACEBENCH_LOOP")
    assert record(["/bin/true"]).exit_status == 0
