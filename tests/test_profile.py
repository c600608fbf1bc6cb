"""Profile model: building, aggregation, JSON round trip, damaged files, merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracebench.errors import ParseError
from tracebench.profile import (
    ARG_VALUES_CAP,
    Profile,
    ProfileBuilder,
    Provenance,
    merge,
)

PROV = Provenance("ptrace", ("demo",), started="2026-01-01T00:00:00+00:00", kernel="6.1.0")


def sample() -> Profile:
    b = ProfileBuilder(PROV)
    b.add("x86_64", "openat", pid=10, exe="/bin/sh", calls=3, errors=1, seconds=0.25)
    b.add("x86_64", "read", pid=10, calls=2)
    # execve: this and later calls belong to the new image
    b.add("x86_64", "read", pid=10, exe="/bin/ls", calls=5, seconds=0.5)
    b.add("i386", "read", pid=11, exe="/opt/app32", calls=1)
    b.add_args("x86_64", "openat", [0xFFFFFF9C, None, 0o2000000])
    return b.build()


def test_rows_are_split_by_executable_image() -> None:
    p = sample()
    got = sorted((r.pid, r.exe, r.arch, r.syscall, r.calls) for r in p.rows.itertuples())
    assert got == [
        (10, "/bin/ls", "x86_64", "read", 5),
        (10, "/bin/sh", "x86_64", "openat", 3),
        (10, "/bin/sh", "x86_64", "read", 2),
        (11, "/opt/app32", "i386", "read", 1),
    ]


def test_summary_groups_by_arch_and_syscall() -> None:
    s = sample().summary()
    got = {(r.arch, r.syscall): (r.calls, r.errors, r.seconds) for r in s.itertuples()}
    assert got == {
        ("i386", "read"): (1, 0, 0.0),
        ("x86_64", "openat"): (3, 1, 0.25),
        ("x86_64", "read"): (7, 0, 0.5),
    }


def test_json_round_trip_is_lossless() -> None:
    p = sample()
    text = p.to_json()
    q = Profile.from_json(text)
    assert q == p
    assert q.arg_values("x86_64", "openat", 0) is not None
    assert q.arg_values("x86_64", "openat", 0).values == {0xFFFFFF9C}  # type: ignore[union-attr]
    assert q.arg_values("x86_64", "openat", 1) is None


def test_arg_values_are_capped_and_marked_incomplete() -> None:
    b = ProfileBuilder(PROV)
    for v in range(ARG_VALUES_CAP + 5):
        b.add_args("x86_64", "close", [v])
    p = b.build()
    vals = p.arg_values("x86_64", "close", 0)
    assert vals is not None
    assert len(vals.values) == ARG_VALUES_CAP
    assert vals.complete is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a tracebench profile"),
        ('{"format": "something-else"}', "not a tracebench profile"),
        ('{"format": "tracebench-profile", "version": 99}', "unsupported profile version 99"),
        ('{"format": "tracebench-profile", "version": 1, "provenance": {"source": "x"}, '
         '"rows": [[1, 2]]}', "damaged tracebench profile"),
    ],
)
def test_damaged_or_unknown_files_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        Profile.from_json(text, path="run.json")
    assert str(err.value).startswith("run.json")
    assert message in str(err.value)


def test_merge_sums_calls_and_flags_partial_syscalls() -> None:
    a = ProfileBuilder(Provenance("ptrace", ("a",)))
    a.add("x86_64", "read", calls=2)
    a.add("x86_64", "write", calls=1)
    a.add_args("x86_64", "read", [0])
    b = ProfileBuilder(Provenance("strace-log", ("b",), measured=("calls", "errors")))
    b.add("x86_64", "read", calls=3, errors=1)
    b.add("x86_64", "mmap", calls=4)
    m = merge([a.build(), b.build()], label="both")
    got = {(r.syscall): (r.calls, r.errors) for r in m.summary().itertuples()}
    assert got == {"read": (5, 1), "write": (1, 0), "mmap": (4, 0)}
    assert m.partial == {("x86_64", "write"), ("x86_64", "mmap")}
    # b saw read without recording arguments: the value set can't be complete.
    vals = m.arg_values("x86_64", "read", 0)
    assert vals is not None and vals.complete is False
    assert m.provenance.measured == ("calls", "errors")
    assert m.provenance.runs == 2
    assert json.loads(m.to_json())["partial"] == [["x86_64", "mmap"], ["x86_64", "write"]]


def test_unfinished_calls_count_as_made_but_not_in_the_table() -> None:
    from tracebench import render

    b = ProfileBuilder(PROV)
    b.add("x86_64", "write", pid=1, calls=1)
    # exit_group(0) = ?  -- entered, never returned: strace -c leaves it out.
    b.add("x86_64", "exit_group", pid=1, calls=0, unfinished=1)
    p = b.build()
    assert p.syscalls() == {"write", "exit_group"}
    assert "exit_group" not in render.summary_table(p)
    assert Profile.from_json(p.to_json()) == p


def test_totals_sum_rows_per_syscall_and_per_process() -> None:
    p = sample()
    assert p.totals() == [
        ("i386", "read", 1, 0, 0.0, 0),
        ("x86_64", "openat", 3, 1, 0.25, 0),
        ("x86_64", "read", 7, 0, 0.5, 0),
    ]
    assert p.totals(per_process=True)[1:3] == [
        (10, "/bin/sh", "x86_64", "openat", 3, 1, 0.25, 0),
        (10, "/bin/sh", "x86_64", "read", 2, 0, 0.0, 0),
    ]
    # The DataFrame view says the same.
    frame = p.summary()
    assert [tuple(r) for r in frame.itertuples(index=False)] == p.totals()
    assert p.calls() == 11


def test_add_counts_is_add_for_many_syscalls_of_one_image() -> None:
    one, many = ProfileBuilder(PROV), ProfileBuilder(PROV)
    one.add("x86_64", "read", pid=7, exe="/bin/cat", calls=4, errors=1, seconds=0.5)
    one.add("x86_64", "exit_group", pid=7, calls=0, unfinished=1)
    one.add("x86_64", "read", pid=7, calls=1)
    many.add_counts(7, "/bin/cat", "x86_64", [("read", 4, 1, 0.5, 0),
                                              ("exit_group", 0, 0, 0.0, 1)])
    many.add_counts(7, "/bin/cat", "x86_64", [("read", 1, 0, 0.0, 0)])
    assert one.build() == many.build()


def test_record_table_and_store_path_does_not_import_pandas(tmp_path: Path) -> None:
    # pandas takes a third of a second to import: record and table must not need it.
    code = (
        "import sys\n"
        "from tracebench.profile import Profile\n"
        "from tracebench import render\n"
        "from pathlib import Path\n"
        "from tracebench.store import Store\n"
        f"text = open({str(tmp_path / 'p.json')!r}).read()\n"
        "p = Profile.from_json(text)\n"
        "out = render.summary_table(p) + render.summary(p, 'json') + render.summary(p, 'csv')\n"
        f"Store(Path({str(tmp_path / 'store')!r})).add(p, 'x')\n"
        "assert 'total' in out\n"
        "print('pandas' in sys.modules)\n"
    )
    (tmp_path / "p.json").write_text(sample().to_json())
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert got.stdout.strip() == "False"
