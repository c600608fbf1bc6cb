"""The run store and the commands around it (runs, table, export, merge)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracebench.cli import main
from tracebench.errors import StoreError
from tracebench.profile import Profile, ProfileBuilder, Provenance
from tracebench.store import Store


def profile(name: str, calls: int) -> Profile:
    b = ProfileBuilder(Provenance("ptrace", (name,), started="2026-01-01T00:00:00+00:00"))
    b.add("x86_64", "read", pid=1, exe=f"/bin/{name}", calls=calls)
    b.add("x86_64", name, pid=1, calls=1, errors=1)
    return b.build()


def test_store_ids_labels_latest(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    assert store.runs() == []
    a = store.add(profile("getpid", 2), "first", exit_status=0)
    b = store.add(profile("getppid", 3), "second", exit_status=3)
    assert (a.id, b.id) == (1, 2)
    assert [r.label for r in store.runs()] == ["first", "second"]
    assert store.load(None)[0].id == 2
    assert store.load("latest")[0].label == "second"
    assert store.load("1")[1] == profile("getpid", 2)
    assert store.load("second")[0].exit_status == 3
    # A reused label names its newest run.
    c = store.add(profile("gettid", 4), "first")
    assert store.load("first")[0].id == c.id
    with pytest.raises(StoreError, match="no run with id 9"):
        store.load("9")
    with pytest.raises(StoreError, match="no run with id or label 'nope'"):
        store.load("nope")


def test_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no runs stored yet"):
        Store(tmp_path).load(None)


def test_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "runs.db").write_text("this is not sqlite")
    with pytest.raises(StoreError, match="cannot use run store"):
        Store(tmp_path).runs()


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    store = Store(tmp_path / ".tracebench")
    store.add(profile("getpid", 2), "one")
    store.add(profile("getppid", 5), "two")
    return tmp_path / ".tracebench"


def test_cli_runs_table_export_merge(stored: Path, tmp_path: Path) -> None:
    r = CliRunner()
    env = {"TRACEBENCH_STORE": str(stored)}
    out = r.invoke(main, ["runs"], env=env)
    assert out.exit_code == 0, out.output
    assert "one" in out.output and "two" in out.output
    out = r.invoke(main, ["runs", "--format", "json"], env=env)
    assert [x["label"] for x in json.loads(out.output)] == ["one", "two"]

    out = r.invoke(main, ["table", "one", "-S", "calls"], env=env)
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[2].split() == ["0.00", "0.000000", "0", "2", "read"]
    assert lines[-1].split()[-3:] == ["3", "1", "total"]

    exported = tmp_path / "one.json"
    out = r.invoke(main, ["export", "one", "-o", str(exported)], env=env)
    assert out.exit_code == 0
    assert Profile.from_json(exported.read_text()) == profile("getpid", 2)
    # A JSON file is accepted wherever a run is.
    out = r.invoke(main, ["table", str(exported), "--format", "json"], env=env)
    assert {s["syscall"] for s in json.loads(out.output)["syscalls"]} == {"read", "getpid"}

    out = r.invoke(main, ["merge", "one", "two", "--label", "both"], env=env)
    assert out.exit_code == 0, out.output
    assert "2 seen in only some runs" in out.output
    out = r.invoke(main, ["table", "both"], env=env)
    assert out.output.splitlines()[-1] == \
        "seen in only some of the 2 merged runs: getpid (x86_64), getppid (x86_64)"
    out = r.invoke(main, ["table", "both", "--format", "csv"], env=env)
    assert "x86_64,read,7,0" in out.output


def test_cli_errors_are_one_line(stored: Path, tmp_path: Path) -> None:
    r = CliRunner()
    env = {"TRACEBENCH_STORE": str(stored)}
    out = r.invoke(main, ["table", "nope"], env=env)
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and "no run with id or label 'nope'" in out.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "tracebench-profile", "version": 7}')
    out = r.invoke(main, ["table", str(bad)], env=env)
    assert out.exit_code == 2
    assert out.output == f"tracebench: {bad}: unsupported profile version 7 " \
                         "(this tracebench reads version 1)\n"


def test_console_script_and_module_entry_point(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("tracebench")
    for argv in ([str(exe), "--version"], [sys.executable, "-m", "tracebench", "--version"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=True,
                             env={**os.environ, "TRACEBENCH_STORE": str(tmp_path)})
        assert out.stdout.strip() == "tracebench, version 0.1.0"
