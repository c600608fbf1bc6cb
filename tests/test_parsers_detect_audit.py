"""The importer registry, format detection, and the seccomp audit record importer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tracebench.errors import ParseError
from tracebench.parsers import IMPORTERS, ImportResult, detect

FIX = Path(__file__).parent / "fixtures" / "strace"
AUDIT = FIX / "audit"


def head(path: Path) -> str:
    return path.read_text()[:65536]


def test_registry() -> None:
    assert sorted(IMPORTERS) == ["audit", "strace-log", "strace-summary"]
    for name, imp in IMPORTERS.items():
        assert imp.name == name
        assert imp.description


@pytest.mark.parametrize(("name", "kind"), [
    ("stp-f-tt-T-unfinished-resumed.log", "strace-log"),
    ("strace-manpage-examples.log", "strace-log"),
    ("strace-tests/unix-pair-send-recv.expected", "strace-log"),
    ("strace61/forks-f-C.log", "strace-log"),          # -C: trace lines first
    ("strace61/tty-f-C-terminal.txt", "strace-log"),
    ("strace61/ff/forks.22054", "strace-log"),
    ("little-book/run-command-as-other-user-2.txt", "strace-log"),  # only a cut call
    ("little-book/show-statistics-of-system-calls-1.txt", "strace-summary"),  # after "project"
    ("strace61/forks-c-U-reordered.txt", "strace-summary"),
    ("strace61/personality-c-U-name-calls.txt", "strace-summary"),
    ("audit/spo-enricher-seccomp-audit-lines.log", "audit"),
    ("audit/k8s-website-seccomp-tutorial-syslog-SCMP_ACT_LOG.log", "audit"),
    ("audit/go-libaudit-test3-raw-audit.log", "audit"),   # SYSCALL records before SECCOMP
])
def test_detect(name: str, kind: str) -> None:
    imp = detect(head(FIX / name), name)
    assert imp.name == kind
    assert imp.sniff(head(FIX / name))
    assert [n for n, i in IMPORTERS.items() if i.sniff(head(FIX / name))] == [kind]


@pytest.mark.parametrize("name", ["little-book/show-help-message-and-version-2.txt",
                                  "little-book/detach-strace-and-tracee-processes-1.txt"])
def test_undecidable(name: str) -> None:
    # "strace -V" output; "strace: Process 19816 attached" and an elision
    with pytest.raises(ParseError) as exc:
        detect(head(FIX / name), name)
    assert exc.value.path == name
    assert "cannot tell the input format" in exc.value.message


def read_audit(*paths: Path, lenient: bool = False) -> ImportResult:
    return IMPORTERS["audit"].parse([(str(p), io.StringIO(p.read_text())) for p in paths],
                                    lenient=lenient)


def per_process(r: ImportResult) -> dict[tuple[int, str, str, str], int]:
    return {(int(x["pid"]), x["exe"], x["arch"], x["syscall"]): int(x["calls"])
            for x in r.profile.summary(per_process=True).to_dict("records")}


def test_three_shapes_of_seccomp_records() -> None:
    # dmesg "audit: type=1326", syslog "... kernel: [ 270.85] audit: type=1326",
    # auditd "type=SECCOMP msg=audit(...)" with enriched fields glued on.
    r = read_audit(AUDIT / "spo-enricher-seccomp-audit-lines.log")
    assert per_process(r) == {
        (615549, "/bin/busybox", "x86_64", "write"): 1,          # syscall=1
        (4709, "/bin/busybox", "x86_64", "rt_sigaction"): 1,     # syscall=13
        (2039886, "/bin/ls", "x86_64", "close"): 1,              # syscall=3 (SYSCALL=close)
        (72503, "/bin/dash", "x86_64", "clone"): 1,              # syscall=56 (SYSCALL=clone)
        (3109464, "/bin/busybox", "x86_64", "read"): 1,          # syscall=0
    }
    assert r.profile.provenance.measured == ("calls",)
    assert r.profile.provenance.source == "audit"


def test_syslog_log_action_records() -> None:
    r = read_audit(AUDIT / "k8s-website-seccomp-tutorial-syslog-SCMP_ACT_LOG.log")
    got = {k[3]: v for k, v in per_process(r).items()}
    # syscall=51 54 202 288 0 270 270 202
    assert got == {"getsockname": 1, "setsockopt": 1, "futex": 2, "accept4": 1, "read": 1,
                   "pselect6": 2}
    assert set(r.profile.rows.exe) == {"/http-echo"}


def test_i386_record_in_an_audit_log_matches_go_libaudit() -> None:
    r = read_audit(AUDIT / "go-libaudit-test3-raw-audit.log")
    golden = json.loads((AUDIT / "go-libaudit-test3-parsed.golden.json").read_text())
    (seccomp,) = [e for e in golden if e["record_type"] == "seccomp"]
    data = seccomp["data"]
    assert per_process(r) == {(int(data["pid"]), data["exe"], data["arch"], data["syscall"]): 1}
    assert (data["arch"], data["syscall"]) == ("i386", "getpgid")  # arch=40000003 syscall=132
    assert r.profile.provenance.notes == (
        "16 audit record(s) of other types (SYSCALL, AVC, ...) ignored",)


def test_malformed_and_other_records() -> None:
    path = AUDIT / "spo-enricher-non-seccomp-and-malformed-audit-lines.log"
    with pytest.raises(ParseError) as exc:
        read_audit(path)
    # line 2: "type=1326 syscall=1" has no arch=
    assert (exc.value.line, exc.value.message) == (
        2, "seccomp audit record without arch= and syscall= numbers")
    r = read_audit(path, lenient=True)
    assert r.skipped == 1
    # The three type=1326 records with syscall=0 (uid=invalid does not matter here).
    assert per_process(r) == {(3109464, "/bin/busybox", "x86_64", "read"): 3}
    assert r.profile.provenance.notes == (
        "5 audit record(s) of other types (SYSCALL, AVC, ...) ignored",)


def test_no_seccomp_record() -> None:
    with pytest.raises(ParseError) as exc:
        IMPORTERS["audit"].parse([("syslog", io.StringIO("Jul  6 host kernel: hello\n"))])
    assert str(exc.value) == \
        "syslog:1: no seccomp audit record (type=1326 / type=SECCOMP) found"


def test_x32_and_hex_encoded_exe() -> None:
    # An x32 call is reported with AUDIT_ARCH_X86_64 and bit 30 set in its number;
    # auditd writes an exe with a space as hex.
    exe = b"/opt/my app".hex().upper()
    line = (f"type=SECCOMP msg=audit(1.0:1): pid=7 comm=\"a\" exe={exe} sig=0 "
            f"arch=c000003e syscall={0x40000000 + 39} compat=0 ip=0x1 code=0x7ffc0000\n")
    r = IMPORTERS["audit"].parse([("a.log", io.StringIO(line))])
    assert per_process(r) == {(7, "/opt/my app", "x32", "getpid"): 1}
