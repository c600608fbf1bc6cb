"""Importer of kernel seccomp audit records (SECCOMP_RET_LOG, KILL, ERRNO... denials).

The kernel's audit_seccomp() writes one record per filtered call, which
reaches the user in three shapes::

    audit: type=1326 audit(1611996299.149:466250): auid=4294967295 ... pid=615549
        comm="sh" exe="/bin/busybox" sig=0 arch=c000003e syscall=1 compat=0 ...
    Jul  8 10:31:23 host kernel: [  270.853767] audit: type=1326 audit(...): ...
    type=SECCOMP msg=audit(1613596317.899:6461): ... arch=c000003e syscall=3 ...

(dmesg, syslog, auditd's audit.log).  Each record counts as one call of the
syscall ``syscall=`` names on the architecture ``arch=`` names (an AUDIT_ARCH_*
value, resolved with libseccomp through tracebench.syscalls; an x86_64 number
with bit 30 set is an x32 call).  ``pid=`` and ``exe=`` give the process (auditd
hex-encodes an exe with spaces).  A record does not say whether the call
failed or how long it took: only calls are measured.  Other audit records
(SYSCALL, AVC, AppArmor's 1400...) and other log lines are ignored and
counted in the notes; a seccomp record without ``arch=`` or ``syscall=`` is
malformed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import IO

from tracebench.parsers.detection import is_audit_record
from tracebench.parsers.result import ImportResult, LineIssues, provenance
from tracebench.parsers.streams import numbered_lines
from tracebench.profile import UNKNOWN_PID, ProfileBuilder, Provenance

_SECCOMP = re.compile(r"(?:^|[\s:])type=(?:1326|SECCOMP)\b")
_FIELD = re.compile(r'(\w+)=("[^"]*"|[^\s"\x1d]+)')
_X32_SYSCALL_BIT = 0x40000000


def _exe(value: str) -> str:
    if value.startswith('"'):
        return value.strip('"')
    if len(value) % 2 == 0 and re.fullmatch(r"[0-9A-F]+", value):
        # auditd writes untrusted strings with spaces etc. as hex.
        return bytes.fromhex(value).decode("utf-8", "backslashreplace")
    return value


def parse(sources: Sequence[tuple[str, IO[str]]], *, lenient: bool = False,
          command: Sequence[str] = ()) -> ImportResult:
    """Count the seccomp audit records of ``sources`` (path, text stream)."""
    from tracebench import syscalls

    issues = LineIssues(lenient)
    builder = ProfileBuilder(Provenance("audit"))
    others = 0
    for path, stream in sources:
        records = 0
        lineno = 0
        for lineno, line in numbered_lines(stream, path):
            m = _SECCOMP.search(line)
            if m is None:
                if is_audit_record(line):
                    others += 1
                elif line.strip():
                    issues.ignore(path, lineno, line)
                continue
            fields: dict[str, str] = {}
            for key, value in _FIELD.findall(line[m.end():]):
                fields.setdefault(key, value)
            arch_text = fields.get("arch", "")
            nr_text = fields.get("syscall", "")
            if not re.fullmatch(r"[0-9a-fA-F]+", arch_text) or not nr_text.isdigit():
                issues.malformed("seccomp audit record without arch= and syscall= numbers",
                                 path, lineno)
                continue
            arch = syscalls.ARCH_BY_AUDIT.get(int(arch_text, 16))
            if arch is None:
                issues.malformed(f"unknown audit architecture arch={arch_text}", path, lineno)
                continue
            nr = int(nr_text)
            if arch == "x86_64" and nr & _X32_SYSCALL_BIT:
                arch = "x32"
            pid_text = fields.get("pid", "")
            pid = int(pid_text) if pid_text.isdigit() else UNKNOWN_PID
            exe = _exe(fields["exe"]) if "exe" in fields else None
            builder.add(arch, syscalls.name(arch, nr), pid=pid, exe=exe, calls=1)
            records += 1
        if not records:
            issues.malformed("no seccomp audit record (type=1326 / type=SECCOMP) found",
                             path, max(lineno, 1))
    notes = issues.notes("text that is not an audit record")
    if others:
        notes.append(f"{others} audit record(s) of other types (SYSCALL, AVC, ...) ignored")
    builder.provenance = provenance("audit", [p for p, _ in sources], command, ["calls"],
                                    notes)
    return issues.result(builder.build())
