"""systemd SystemCallFilter= reader and writer, on real unit files and systemd's own data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tracebench import syscalls
from tracebench.errors import PolicyError
from tracebench.policy.formats import FORMATS, systemd
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule

FIX = Path(__file__).parent / "fixtures" / "policies-b"


def text(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def fixture_groups() -> dict[str, list[str]]:
    """Group expansion from the shared fixture JSON (an independent transcription)."""
    doc = json.loads(text("systemd-252-syscall-groups.json"))["groups"]

    def walk(g: str) -> list[str]:
        out = list(doc[g]["syscalls"])
        for sub in doc[g]["includes_groups"]:
            out.extend(walk(sub))
        return out

    return {g: walk(g) for g in doc}


def allowed(p: Policy) -> set[str]:
    return {n for r in p.rules if r.action == ALLOW for n in r.names}


def normal(p: Policy) -> Policy:
    return dataclasses.replace(p, warnings=(), name="")


def test_data_file_is_systemd_analyze_output_of_systemd_252() -> None:
    parsed = systemd.parse_analyze_output(text("systemd-252-syscall-filter-groups.txt"))
    assert {g: tuple(v["members"]) for g, v in parsed.items()} == dict(systemd.groups())
    assert len(parsed) == 29
    # nested groups stay "@name" members: "    @clock" under @privileged
    assert systemd.groups()["@privileged"][:6] == ("@chown", "@clock", "@module", "@raw-io",
                                                   "@reboot", "@swap")
    expected = fixture_groups()
    assert all(sorted(systemd.expand(g)) == sorted(expected[g]) for g in expected)


def test_timesyncd_unit() -> None:
    # SystemCallArchitectures=native / SystemCallErrorNumber=EPERM /
    # SystemCallFilter=@system-service @clock
    p = systemd.read(text("systemd-timesyncd.service"), "systemd-timesyncd.service")
    g = fixture_groups()
    names = set(g["@system-service"]) | set(g["@clock"]) | set(g["@default"])
    known = {n for n in names if syscalls.is_known_anywhere(n)}
    assert p.default_action == Action("errno", 1)
    assert p.arches == ("x86_64",)
    assert len(p.rules) == 1 and p.rules[0].action == ALLOW
    assert allowed(p) == known
    assert len(known) == 380
    assert {"settimeofday", "clock_adjtime", "read", "execve"} <= allowed(p)
    assert "sethostname" not in allowed(p) and "mount" not in allowed(p)
    # in @default but unknown to libseccomp 2.5.4: systemd skips them too
    assert p.dropped == ("riscv_hwprobe", "uretprobe")


def test_hostnamed_and_fstrim_units() -> None:
    host = systemd.read(text("systemd-hostnamed.service"), "systemd-hostnamed.service")
    assert "sethostname" in allowed(host) and "settimeofday" not in allowed(host)
    # fstrim.service: no SystemCallErrorNumber= (SIGSYS), no SystemCallArchitectures=
    fstrim = systemd.read(text("fstrim.service"), "fstrim.service")
    assert fstrim.default_action == Action("kill_process")
    assert fstrim.arches == ("x86_64", "i386", "x32")
    assert len(allowed(fstrim)) == 374


ISSUE_18916 = """\
[Service]
ExecStart=/bin/uname
SystemCallErrorNumber=EUCLEAN
SystemCallFilter=@system-service
SystemCallFilter=~uname:EBADF
"""


def test_errno_of_a_later_deny_directive_wins_systemd_248_and_later() -> None:
    # The reproducer of systemd issue 18916; fixed by PR 18921 (v248): uname
    # gets EBADF, everything outside the allow list EUCLEAN.
    p = systemd.read(ISSUE_18916, "uname.service")
    assert p.default_action == Action("errno", 117)
    assert Rule(("uname",), Action("errno", 9)) in p.rules
    assert "uname" not in allowed(p)
    deny = systemd.read("SystemCallFilter=~@mount uname:EPERM\nSystemCallFilter=~uname:EACCES\n",
                        "x.conf")
    assert deny.default_action == ALLOW
    assert Rule(("uname",), Action("errno", 13)) in deny.rules
    assert Rule(tuple(sorted(n for n in fixture_groups()["@mount"])), Action("kill_process")) \
        in deny.rules


def test_first_assignment_sets_the_mode_later_ones_add_or_remove() -> None:
    # systemd.exec(5): "started with an allow list rule for read() and write(),
    # and right after it add a deny list rule for write(), then write() will be
    # removed from the set".
    p = systemd.read("SystemCallFilter=read write\nSystemCallFilter=~write\n", "x.conf")
    assert "read" in allowed(p) and "write" not in allowed(p)
    assert "exit_group" in allowed(p)  # @default comes with every allow list
    reset = systemd.read("SystemCallFilter=~@mount\nSystemCallFilter=\nSystemCallFilter=read\n",
                         "x.conf")
    assert reset.default_action == Action("kill_process") and "mount" not in allowed(reset)
    dropins = systemd.read_units([("[Service]\nSystemCallFilter=@system-service\n", "a.service"),
                                  ("[Service]\nSystemCallFilter=~@resources\n", "override.conf")],
                                 native="x86_64")
    assert "sched_setattr" not in allowed(dropins) and "read" in allowed(dropins)


def test_unknown_names_never_widen_the_filter() -> None:
    p = systemd.read("SystemCallFilter=read bogus_call\n", "x.conf")
    assert "bogus_call" in p.dropped and any("bogus_call" in w for w in p.warnings)
    with pytest.raises(PolicyError) as e:
        systemd.read("[Service]\nSystemCallFilter=~mount bogus_call\n", "u.service")
    assert (e.value.path, e.value.line) == ("u.service", 2)
    with pytest.raises(PolicyError) as e:
        systemd.read("SystemCallFilter=~@no-such-group\n", "u.service")
    assert e.value.line == 1


def test_files_systemd_would_not_load_as_written() -> None:
    cases = {
        # libseccomp refuses a rule whose action is the default one (EACCES)
        "SystemCallFilter=read\nSystemCallFilter=~uname:kill\n": 2,
        "[Unit]\nSystemCallFilter=read\n": 2,
        "[Service]\nthis is not an assignment\n": 2,
        "[Service\n": 1,
        "SystemCallFilter=~mount:ENOTANERRNO\n": 1,
    }
    for body, line in cases.items():
        with pytest.raises(PolicyError) as e:
            systemd.read(body, "bad.service")
        assert e.value.line == line, body


def test_group_data_files_are_not_policies() -> None:
    for name in ("systemd-252-syscall-filter-groups.txt", "systemd-252-syscall-groups.json"):
        with pytest.raises(PolicyError) as e:
            systemd.read(text(name), name)
        assert (e.value.path, e.value.line) == (name, 1)


@pytest.mark.parametrize("name", ["systemd-timesyncd.service", "systemd-hostnamed.service",
                                  "fstrim.service"])
def test_round_trip_real_units(name: str) -> None:
    p = systemd.read(text(name), name)
    assert normal(systemd.read(systemd.write(p), "written.conf")) == normal(p)


def test_round_trip_errno_and_deny_lists() -> None:
    for body in (ISSUE_18916, "SystemCallFilter=~@mount uname:EPERM ptrace:kill\n",
                 "SystemCallFilter=read write\nSystemCallFilter=~getpid\n"):
        p = systemd.read(body, "x.conf")
        assert normal(systemd.read(systemd.write(p), "w.conf")) == normal(p), body


def test_writer_output_for_an_emitted_allowlist() -> None:
    p = Policy(Action("errno", 1), (Rule(("read", "write", "openat"), ALLOW),), ("x86_64",))
    out = systemd.write(p)
    lines = out.splitlines()
    assert lines[1:5] == ["[Service]", "SystemCallArchitectures=native",
                          "SystemCallErrorNumber=EPERM", "SystemCallFilter=openat read write"]
    # @default is implicit in an allow list: what the policy does not allow is taken back
    assert any(line.startswith("SystemCallFilter=~") and "getpid" in line for line in lines)
    back = systemd.read(out, "w.conf")
    assert allowed(back) == {"read", "write", "openat"}


def test_writer_refuses_what_systemd_cannot_say() -> None:
    cond = Policy(Action("kill_process"), (Rule(("socket",), ALLOW, (Condition(0, "eq", 1),),
                                                line=7),))
    with pytest.raises(PolicyError, match=r"argument conditions.*line 7"):
        systemd.write(cond)
    with pytest.raises(PolicyError, match="default action trap"):
        systemd.write(Policy(Action("trap"), (Rule(("read",), ALLOW),)))
    with pytest.raises(PolicyError, match="log"):
        systemd.write(Policy(ALLOW, (Rule(("read",), Action("log")),)))


def test_registered_and_sniffed() -> None:
    assert FORMATS["systemd"] is systemd.FORMAT
    assert systemd.sniff(text("fstrim.service"))
    assert not systemd.sniff(text("minijail-cat.policy"))
