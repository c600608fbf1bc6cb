"""Firecracker, firejail and LXC readers on their projects' own files."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest

from tracebench import syscalls
from tracebench.errors import PolicyError
from tracebench.policy.formats import FORMATS, firecracker, firejail, lxc
from tracebench.policy.model import ALLOW, Action, Condition, Policy

FIX = Path(__file__).parent / "fixtures" / "policies-b"
TRAP, KILL, EPERM = Action("trap"), Action("kill_thread"), Action("errno", 1)


def text(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def denied(p: Policy) -> set[str]:
    return {n for r in p.rules if not r.conditions and not r.action.allows for n in r.names}


# --- Firecracker ------------------------------------------------------------------------------

X86 = "firecracker-x86_64-unknown-linux-musl.json"
ARM = "firecracker-aarch64-unknown-linux-musl.json"


@pytest.mark.parametrize(("name", "thread", "rules", "calls", "conditional"), [
    (X86, "vmm", 76, 50, 39), (X86, "api", 36, 31, 14), (X86, "vcpu", 49, 27, 29),
    (ARM, "vmm", 75, 50, 38), (ARM, "api", 36, 31, 14), (ARM, "vcpu", 39, 27, 19),
])
def test_firecracker_threads(name: str, thread: str, rules: int, calls: int,
                             conditional: int) -> None:
    p = firecracker.read(text(name), f"{name}#{thread}")
    assert p.default_action == TRAP
    assert {r.action for r in p.rules} == {ALLOW}
    assert p.arches == (name.split("-")[1],)
    assert len(p.rules) == rules
    assert len({r.names[0] for r in p.rules}) == calls
    assert sum(1 for r in p.rules if r.conditions) == conditional


def test_firecracker_conditions_and_lines() -> None:
    p = firecracker.read(text(X86), X86 + "#vmm")
    mmap = [r for r in p.rules if r.names == ("mmap",)]
    # dword "eq" 50 compares the low 32 bits; {"masked_eq": 4} with val 0
    assert mmap[0].conditions == (Condition(3, "masked_eq", 50, 0xFFFFFFFF),
                                  Condition(2, "masked_eq", 0, 4))
    assert mmap[0].line == 236 and mmap[0].comment == "Used by the VirtIO balloon device"
    accept4 = next(r for r in p.rules if r.names == ("accept4",))
    assert accept4.line == 121
    api = firecracker.read(text(X86), X86 + "#api")
    assert next(r for r in api.rules if r.names == ("accept4",)).line == 803


def test_firecracker_unimplemented_and_thread_choice() -> None:
    for thread in ("vmm", "api", "vcpu"):
        p = firecracker.read(text("firecracker-unimplemented.json"),
                             f"firecracker-unimplemented.json#{thread}")
        assert p.default_action == ALLOW and p.rules == ()
        assert any("no target architecture" in w for w in p.warnings)
    with pytest.raises(PolicyError, match=r"vmm, api, vcpu: choose one as .*#vmm"):
        firecracker.read(text(X86), X86)
    with pytest.raises(PolicyError, match="no filter 'gpu'"):
        firecracker.read(text(X86), X86 + "#gpu")
    assert firecracker.split_path("a/b.json#vcpu") == ("a/b.json", "vcpu")


@pytest.mark.parametrize(("body", "line", "message"), [
    ('{"vmm": {"default_action": "trap", "filter_action": "allow",\n'
     ' "filter": [{"syscall": "read"},\n  {"syscall": "nosuchcall"}]}}', 3, "unknown syscall"),
    ('{"vmm": {"default_action": "trap", "filter_action": "allow",\n'
     ' "filter": [\n  {"syscall": "read", "action": "trap"}]}}', 3, "unknown keys"),
    ('{"vmm": {"default_action": "trap", "filter_action": "allow",\n "filter": [\n'
     '  {"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1},\n'
     '   {"index": 0, "type": "dword", "op": "ne", "val": 2}]}]}}', 3, "EINVAL"),
    ('{"vmm": {"default_action": "trap",\n "filter_action": "allow" "filter": []}}', 2,
     "not JSON"),
    ('{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [\n'
     '  {"syscall": "ioctl", "args": [{"index": 1, "type": "dword", "op": "eq",\n'
     '   "val": 4294967296}]}]}}', 2, "does not fit a dword"),
])
def test_firecracker_malformed(body: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as e:
        firecracker.read(body, "x86_64-bad.json#vmm")
    assert (e.value.path, e.value.line) == ("x86_64-bad.json", line)


def test_firecracker_actions() -> None:
    body = ('{"t": {"default_action": {"errno": 38}, "filter_action": "kill_process", '
            '"filter": [{"syscall": "ptrace"}]}}')
    p = firecracker.read(body, "x86_64.json")
    assert p.default_action == Action("errno", 38) and p.rules[0].action.kind == "kill_process"
    with pytest.raises(PolicyError, match="cannot read action"):
        firecracker.read(body.replace('"kill_process"', '"kill"'), "x86_64.json")
    with pytest.raises(PolicyError, match="EACCES"):
        firecracker.read(body.replace('"kill_process"', '{"errno": 38}'), "x86_64.json")


# --- firejail ---------------------------------------------------------------------------------


def bpf_denied_numbers() -> set[int]:
    """x86-64 syscall numbers firejail 0.9.72's compiled default filter returns ERRNO for."""
    data = (FIX / "firejail-0.9.72-default-filter.bpf").read_bytes()
    insns = [struct.unpack("<HBBI", data[i:i + 8]) for i in range(0, len(data), 8)]
    # 0-2: arch check; 3: load nr; 4-6: x32 numbers -> ERRNO(1); then jeq NR -> ret ERRNO(1)
    assert insns[1][3] == 0xC000003E and (insns[6][0], insns[6][3]) == (6, 0x50001)
    nrs = set()
    for i, (code, jt, _jf, k) in enumerate(insns[7:], 7):
        if code == 0x15:
            target = insns[i + 1 + jt]
            assert (target[0], target[3]) == (6, 0x50001)
            nrs.add(k)
    return nrs


def test_firejail_default_group_is_firejails_compiled_filter() -> None:
    # "seccomp !chroot": the default list (@default-nodebuggers) but chroot
    p = firejail.read(text("firejail-Viber.profile"), "Viber.profile")
    assert p.default_action == ALLOW and p.arches == ("x86_64",)
    assert len(p.rules) == 1 and p.rules[0].action == EPERM and p.rules[0].line == 31
    x86 = {syscalls.number("x86_64", n) for n in denied(p)} - {None}
    assert x86 == bpf_denied_numbers() - {syscalls.number("x86_64", "chroot")}
    assert len(x86) == 70
    # the typo of the installed syscalls.txt is not in firejail's code
    assert {"set_mempolicy", "vmsplice"} <= denied(p)
    assert p.dropped == ("ni_syscall", "s390_mmio_read", "s390_mmio_write")


def test_firejail_group_data_against_the_installed_list() -> None:
    doc = {}
    for line in text("firejail-0.9.72-syscalls-groups.txt").splitlines():
        if line.startswith("@") and "=" in line:
            group, members = line.split("=", 1)
            doc[group] = members.split(",")
    data = firejail.groups()
    assert set(doc) == set(data) and len(data) == 29
    differ = {g for g in doc if list(data[g]) != doc[g]}
    assert differ == {"@default"}
    fixed = [m for m in doc["@default"] if m != "set_mempolicyvmsplice"]
    assert sorted(data["@default"]) == sorted([*fixed, "set_mempolicy", "vmsplice"])


def test_firejail_drop_list_with_a_duplicate() -> None:
    p = firejail.read(text("firejail-dnscrypt-proxy.profile"), "dnscrypt-proxy.profile")
    drop = p.rules[0]
    assert drop.action == EPERM and drop.line == 41 and len(drop.names) == 43
    assert any("perf_event_open is listed twice" in w for w in p.warnings)
    assert any("i386 calls are not filtered" in w for w in p.warnings)
    # memory-deny-write-execute (line 53) and restrict-namespaces (line 54)
    extra = Counter((r.names[0], r.line) for r in p.rules[1:])
    assert extra[("mmap", 53)] == 1 and extra[("memfd_create", 53)] == 1
    assert extra[("unshare", 54)] == 8 and extra[("clone", 54)] == 7
    assert extra[("setns", 54)] == 9
    assert next(r for r in p.rules if r.names == ("clone3",)).action == Action("errno", 38)
    mmap = next(r for r in p.rules if r.names == ("mmap",))
    assert mmap.conditions == (Condition(2, "masked_eq", 6, 6),)


def test_firejail_drop_groups() -> None:
    p = firejail.read(text("firejail-spectre-meltdown-checker.profile"), "s.profile")
    groups = firejail.groups()
    expect = {m for g in ("@clock", "@cpu-emulation", "@module", "@obsolete", "@reboot",
                          "@resources", "@swap") for m in groups[g]}
    assert set(p.rules[0].names) == expect and len(expect) == 54


def test_firejail_keep_and_unknown_names() -> None:
    keep = firejail.read("seccomp.keep read,write,mmap,bogus_call\nmemory-deny-write-execute\n",
                         "k.profile")
    assert keep.default_action == EPERM
    assert set(keep.rules[0].names) == {"read", "write", "execve", "execveat", "prctl"}
    assert [r.conditions for r in keep.rules if r.names == ("mmap",)] == [
        (Condition(2, "masked_eq", 0, 2),), (Condition(2, "masked_eq", 0, 4),)]
    assert keep.dropped == ("bogus_call",)
    with pytest.raises(PolicyError, match="bogus_call") as e:
        firejail.read("caps.drop all\nseccomp.drop mount,bogus_call\n", "d.profile")
    assert e.value.line == 2
    with pytest.raises(PolicyError, match="unknown syscall group @nope") as e:
        firejail.read("seccomp.drop @nope\n", "d.profile")
    assert e.value.line == 1
    with pytest.raises(PolicyError, match="no seccomp"):
        firejail.read("caps.drop all\n", "d.profile")
    errs = firejail.read("seccomp-error-action kill\nseccomp.drop mount,umount2:EACCES\n", "e")
    assert {(r.names, r.action) for r in errs.rules} == {
        (("mount",), KILL), (("umount2",), Action("errno", 13))}


# --- LXC --------------------------------------------------------------------------------------


def test_lxc_v2_denylist_with_reject_force_umount() -> None:
    p = lxc.read(text("lxc-common.seccomp"), "common.seccomp")
    assert p.default_action == ALLOW and p.arches == ("x86_64", "i386", "x32")
    assert [(r.names[0], r.action, r.line) for r in p.rules] == [
        ("umount2", Action("errno", 13), 3), ("kexec_load", EPERM, 5),
        ("open_by_handle_at", EPERM, 6), ("init_module", EPERM, 7),
        ("finit_module", EPERM, 8), ("delete_module", EPERM, 9)]
    assert p.rules[0].conditions == (Condition(1, "masked_eq", 1, 1),)  # MNT_FORCE
    older = lxc.read(text("lxc-ubuntu.priv.seccomp"), "ubuntu.priv.seccomp")  # "blacklist"
    assert [r.names for r in older.rules] == [r.names for r in p.rules[1:]]


def test_lxc_v2_allowlist_trap_sections() -> None:
    p = lxc.read(text("lxc-example-seccomp-v2.conf"), "seccomp-v2.conf")
    assert p.default_action == TRAP
    assert [r.names[0] for r in p.rules] == ["open", "close", "read", "write", "mount",
                                             "umount2"] * 2
    assert [r.line for r in p.rules][:2] == [8, 9]
    assert any("every ABI" in w for w in p.warnings)
    deny = lxc.read(text("lxc-example-seccomp-v2-denylist.conf"), "d.conf")
    assert [(r.names, r.action, r.line) for r in deny.rules] == [
        (("mknod",), Action("errno", 0), 8)]


def test_lxc_v1_numbers() -> None:
    p = lxc.read(text("lxc-example-seccomp-v1.conf"), "seccomp-v1.conf")
    assert p.default_action == KILL and p.arches == ("x86_64",)
    assert len(p.rules) == 301 + 56
    assert p.rules[0].names == ("read",) and p.rules[59].names == ("execve",)
    assert p.rules[301].names == ("syscall_0x400",) and p.rules[301].line == 304


def test_lxc_arguments_and_host() -> None:
    body = "2\nallowlist\nopen errno 1 [1,0x3,&=,0x3]\nwrite allow [0,2,<=][1,0,!=]\n[arm]\nx\n"
    p = lxc.read(body, "a.seccomp")
    assert p.rules[0].conditions == (Condition(1, "masked_eq", 3, 3),)
    assert p.rules[1].conditions == (Condition(0, "le", 2), Condition(1, "ne", 0))
    assert len(p.rules) == 2  # the [arm] section is not read on x86-64
    blanks = lxc.read("2\ndenylist\n   \n  # note\nmount\n", "b.seccomp")
    assert [(r.names, r.line) for r in blanks.rules] == [(("mount",), 5)]
    arm = lxc.read_config("2\nallowlist\n[arm]\nopen\n[x86_64]\nread\n", "a", host="aarch64")
    assert [r.names for r in arm.rules] == [("open",)] and arm.arches == ("aarch64", "arm")


@pytest.mark.parametrize(("body", "line", "message"), [
    ("3\nallowlist\n", 1, "version 1 or 2"),
    ("2\ngraylist\n", 2, "bad seccomp policy style"),
    ("1\ndenylist\n1\n", 2, "must be an 'allowlist'"),
    ("1\nallowlist\n0\nread\n", 4, "syscall numbers"),
    ("2\ndenylist\nmount\nbogus_call\n", 4, "unknown syscall 'bogus_call'"),
    ("2\ndenylist\n[x86_64] \nmount\n", 3, "unsupported architecture"),
    ("2\nallowlist\nread kill\n", 3, "default action"),
    ("2\nallowlist trap\nread\nwrite frobnicate\n", 4, "unrecognized seccomp action"),
    ("2\ndenylist\n  mount\n", 3, "unrecognized seccomp action 'mount'"),
    ("2\nallowlist\nopen kill [0,1,==] # no\n", 3, "cannot read argument"),
])
def test_lxc_malformed(body: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as e:
        lxc.read(body, "bad.seccomp")
    assert (e.value.path, e.value.line) == ("bad.seccomp", line)


# --- registry ---------------------------------------------------------------------------------


def test_registered_and_sniffed() -> None:
    mine = {"firecracker": firecracker, "firejail": firejail, "lxc": lxc}
    files = {"firecracker": [X86, ARM, "firecracker-unimplemented.json"],
             "firejail": ["firejail-Viber.profile", "firejail-dnscrypt-proxy.profile",
                          "firejail-spectre-meltdown-checker.profile"],
             "lxc": ["lxc-common.seccomp", "lxc-ubuntu.priv.seccomp",
                     "lxc-example-seccomp-v1.conf", "lxc-example-seccomp-v2.conf",
                     "lxc-example-seccomp-v2-denylist.conf"]}
    for fmt, module in mine.items():
        assert FORMATS[fmt] is module.FORMAT and module.FORMAT.write is None
        for name in files[fmt]:
            assert [f for f, m in mine.items() if m.sniff(text(name))] == [fmt], name
