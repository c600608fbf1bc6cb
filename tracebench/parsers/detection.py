"""Telling the input formats apart from the first lines of a file.

The first line that only one format can contain decides: a kernel audit record
(``type=1326``/``type=SECCOMP``, or any ``type=X msg=audit(...)`` /
``type=N audit(...)`` record of an audit.log or dmesg), an strace summary
table header (``% time     seconds ...``) or an strace trace line.  Lines any
format may hold (blank lines, the traced program's output before an
``strace -c`` table, strace's own messages) are skipped.  So an ``strace -C``
log, whose trace lines come before its table, is a trace log; an
``strace -c`` capture is a summary.
"""

from __future__ import annotations

import re

from tracebench.parsers.strace_lines import DECISIVE, PARTIAL, is_continuation, line_kind
from tracebench.parsers.strace_summary import is_table_start

_AUDIT = re.compile(r"(?:^|[\s:])type=(?:1326|SECCOMP)\b|(?:^|\s)type=\w+ (?:msg=)?audit\(")


def is_audit_record(line: str) -> bool:
    """Whether ``line`` is a kernel audit record (seccomp, or any auditd record)."""
    return _AUDIT.search(line) is not None


def first_kind(head: str) -> str | None:
    """The importer name the first decisive line of ``head`` calls for (None: undecided)."""
    lines = head.split("\n")
    if len(lines) > 1:
        lines.pop()  # the head may end in the middle of a line
    cut_call = False
    for line in lines:
        if not line.strip():
            continue
        kind = line_kind(line)
        if kind in DECISIVE:
            return "strace-log"
        if is_table_start(line):
            return "strace-summary"
        if is_audit_record(line):
            return "audit"
        # A terminal capture may hold nothing but a call cut by the program's
        # output and its end: 'write(1, "uid is 0\n", 9uid is 0' / ')   = 9'.
        if kind == PARTIAL:
            cut_call = True
        elif cut_call and is_continuation(line):
            return "strace-log"
    return None
