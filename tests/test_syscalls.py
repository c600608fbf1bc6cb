"""Syscall names by number: one number at a time and the whole table agree."""

from __future__ import annotations

import itertools

import pytest

from tracebench import syscalls


@pytest.mark.parametrize("arch", ["x86_64", "i386", "x32", "aarch64", "arm"])
def test_name_agrees_with_the_table_in_and_around_the_probed_numbers(arch: str) -> None:
    table = dict(syscalls.table(arch))
    assert len(table) > 300
    around = itertools.chain(range(-3, 1100), range(0x40000000 - 3, 0x40000000 + 1100))
    for nr in around:
        assert syscalls.name(arch, nr) == table.get(nr, f"syscall_{nr:#x}"), nr


def test_known_and_unknown_numbers() -> None:
    # x86_64: `read(0, ...)` is 0; i386: `exit` is 1; x32 numbers carry bit 30.
    assert syscalls.name("x86_64", 0) == "read"
    assert syscalls.name("i386", 1) == "exit"
    assert syscalls.name("x32", 0x40000000) == "read"
    assert syscalls.name("x32", 0) == "syscall_0x0"
    assert syscalls.name("x86_64", 1000) == "syscall_0x3e8"
