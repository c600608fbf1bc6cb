"""Renderers: a Profile (or a run list, a diff) as text for people or machines.

The ``strace -c`` table is printed with strace's own printf formats (count.c)
so the two can be compared line by line:

    % time     seconds  usecs/call     calls    errors syscall
    ------ ----------- ----------- --------- --------- ----------------
     26.17    0.000503          16        30           mmap
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracebench import syscalls

if TYPE_CHECKING:
    from tracebench.diff import DiffResult
    from tracebench.profile import Profile
    from tracebench.sandbox import CheckResult

SORT_KEYS = ("time", "calls", "errors", "name", "nothing")
OUTPUT_FORMATS = ("table", "json", "csv")
_DASHES = "------ ----------- ----------- --------- --------- ----------------"
_HEADER = "% time     seconds  usecs/call     calls    errors syscall"
# strace names the second and later personalities this way (count.c).
_MODE_TITLE = {"i386": "32 bit mode", "x32": "x32 mode"}


def _nr(arch: str, name: str) -> int:
    try:
        nr = syscalls.number(arch, name)
    except KeyError:
        nr = None
    return nr if nr is not None else 1 << 31


def _sorted(rows: Sequence[tuple[str, int, int, float]], arch: str,
            sort: str) -> list[tuple[str, int, int, float]]:
    """(syscall, calls, errors, seconds) in strace's order for ``-S sort``."""
    items = list(rows)
    # strace sorts with a stable sort over syscall numbers, so ties stay in
    # number order: "close" (3) before "openat" (257) at equal calls.
    items.sort(key=lambda r: _nr(arch, r[0]))
    if sort == "time":
        items.sort(key=lambda r: -r[3])
    elif sort == "calls":
        items.sort(key=lambda r: -r[1])
    elif sort == "errors":
        items.sort(key=lambda r: -r[2])
    elif sort == "name":
        items.sort(key=lambda r: r[0])
    return items


def _strace_table(rows: Sequence[tuple[str, int, int, float]], arch: str, sort: str,
                  timed: bool, errors: bool) -> str:
    """One personality's table from its (syscall, calls, errors, seconds) rows."""
    # Calls that never returned (exit_group) are not in strace's table.
    rows = [r for r in rows if r[1] > 0]
    total_s = sum(r[3] for r in rows)
    total_calls = sum(r[1] for r in rows)
    total_err = sum(r[2] for r in rows)
    out = [_HEADER, _DASHES]

    def line(pct: float, secs: float, calls: int, errs: int, name: str) -> str:
        usecs = int(secs * 1e6 / calls) if calls else 0
        secs_s = f"{secs:11.6f}" if timed else f"{'-':>11}"
        pct_s = f"{pct:6.2f}" if timed else f"{'-':>6}"
        usecs_s = f"{usecs:11d}" if timed else f"{'-':>11}"
        errs_s = (f"{errs:9d}" if errs else " " * 9) if errors else f"{'-':>9}"
        return f"{pct_s} {secs_s} {usecs_s} {calls:9d} {errs_s} {name}"

    for name, calls, errs, secs in _sorted(rows, arch, sort):
        pct = 100.0 * secs / total_s if total_s else 0.0
        out.append(line(pct, secs, calls, errs, name))
    out.append(_DASHES)
    out.append(line(100.0, total_s, total_calls, total_err, "total"))
    return "\n".join(out) + "\n"


def summary_table(profile: Profile, *, sort: str = "time", per_process: bool = False) -> str:
    """The ``strace -c`` table: native arch first, then each other personality."""
    timed = profile.measures("seconds")
    errors = profile.measures("errors")
    parts: list[str] = []
    if not (timed and errors):
        missing = [m for m in ("errors", "seconds") if not profile.measures(m)]
        parts.append(f"(not measured in this run: {', '.join(missing)}; shown as -)\n")
    # (title, [(arch, syscall, calls, errors, seconds)]) per process, or one group.
    groups: dict[tuple[int, str] | None, list[tuple[str, str, int, int, float]]] = {}
    for t in profile.totals(per_process=per_process):
        key, row = ((t[0], t[1]), t[2:7]) if per_process else (None, t[:5])
        groups.setdefault(key, []).append(row)
    native = syscalls.native_arch()
    for key, rows in groups.items():
        if key is not None:
            parts.append(f"Process {key[0]} ({key[1] or 'unknown executable'}):\n")
        arches = sorted({r[0] for r in rows}, key=lambda a: (a != native, a))
        for i, arch in enumerate(arches):
            if i or arch != native:
                parts.append(f"System call usage summary for {_MODE_TITLE.get(arch, arch)}:\n")
            parts.append(_strace_table([r[1:] for r in rows if r[0] == arch], arch, sort,
                                       timed, errors))
    if not groups:
        parts.append("(no system calls recorded)\n")
    if profile.partial:
        names = ", ".join(f"{n} ({a})" for a, n in sorted(profile.partial))
        parts.append(f"seen in only some of the {profile.provenance.runs} merged runs: "
                     f"{names}\n")
    return "".join(parts)


def summary_records(profile: Profile, *, per_process: bool = False) -> list[dict[str, Any]]:
    """The table's rows as plain records (for JSON and CSV)."""
    from tracebench.profile import totals_columns

    fields = totals_columns(per_process)
    rows = [dict(zip(fields, t, strict=True)) for t in profile.totals(per_process=per_process)]
    totals: dict[str, float] = {}
    for r in rows:
        totals[r["arch"]] = totals.get(r["arch"], 0.0) + r["seconds"]
    for rec in rows:
        total = totals[rec["arch"]]
        if profile.measures("seconds"):
            rec["percent_time"] = round(100.0 * rec["seconds"] / total, 2) if total else 0.0
            rec["usecs_per_call"] = int(rec["seconds"] * 1e6 / rec["calls"]) if rec["calls"] else 0
        else:
            rec["seconds"] = None
        if not profile.measures("errors"):
            rec["errors"] = None
    return rows


def summary(profile: Profile, fmt: str, *, sort: str = "time", per_process: bool = False) -> str:
    """Render a Profile's summary as ``table``, ``json`` or ``csv``."""
    if fmt == "table":
        return summary_table(profile, sort=sort, per_process=per_process)
    records = summary_records(profile, per_process=per_process)
    if fmt == "json":
        doc = {"provenance": profile.provenance.to_json(), "syscalls": records}
        return json.dumps(doc, indent=2) + "\n"
    return to_csv(records)


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    import csv  # only the csv output needs it; record and table do not

    buf = io.StringIO()
    if records:
        writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return buf.getvalue()


def grid(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain table for people (tabulate's 'simple' style)."""
    from tabulate import tabulate

    return tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True) + "\n"


def markdown(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    from tabulate import tabulate

    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True) + "\n"


DIFF_FORMATS = ("table", "json", "markdown")


def _rule_ref(u: Any) -> str:
    if u.stub is not None:
        return "runc's ENOSYS stub"
    if u.rule_index is None:
        return "default action"
    return f"rule {u.rule_index + 1}" + (f" (line {u.rule_line})" if u.rule_line else "")


def diff_records(result: DiffResult) -> dict[str, Any]:
    """A diff as plain data (the JSON output)."""
    return {
        "policy": result.policy_name,
        "default_action": str(result.default_action),
        "breaks": result.breaks,
        "notes": list(result.notes),
        "arches": [
            {
                "arch": a.arch,
                "covered": a.covered,
                "used": [
                    {"syscall": u.name, "calls": u.calls, "verdict": u.verdict,
                     "action": str(u.action),
                     "rule": None if u.rule_index is None else u.rule_index + 1,
                     "line": u.rule_line, "runc_stub": u.stub is not None,
                     "detail": u.detail}
                    for u in a.used
                ],
                "unused_allowed": list(a.unused_allowed),
            }
            for a in result.arches
        ],
    }


def diff_report(result: DiffResult, fmt: str) -> str:
    """Render a diff as ``table`` (people), ``markdown`` (PR comments) or ``json``."""
    from tracebench.diff import ALLOWED, DENIED, SOME_DENIED, UNDECIDED

    if fmt == "json":
        return json.dumps(diff_records(result), indent=2) + "\n"
    table = markdown if fmt == "markdown" else grid
    h = "## " if fmt == "markdown" else ""
    out: list[str] = []
    for a in result.arches:
        denied = [u for u in a.used if u.verdict in (DENIED, SOME_DENIED)]
        undecided = a.by_verdict(UNDECIDED)
        allowed = a.by_verdict(ALLOWED)
        enosys = [u for u in denied if u.enosys]
        of_which = f" ({len(enosys)} with ENOSYS)" if enosys else ""
        out.append(f"{h}{a.arch}: {len(a.used)} syscalls used, {len(denied)} denied{of_which}, "
                   f"{len(undecided)} undecided, {len(allowed)} allowed; "
                   f"{len(a.unused_allowed)} allowed but never used\n")
        for heading, rows in (
                ("Used but denied (the program would break)",
                 [u for u in denied if not u.enosys]),
                # clone3 under Docker's default: glibc then makes threads with clone.
                ("Used but denied with ENOSYS (breaks only a caller that does not fall "
                 "back to an older call)", enosys)):
            if rows:
                out.append(f"\n{heading}:\n")
                out.append(table([(u.name, u.calls, str(u.action), _rule_ref(u), u.detail)
                                  for u in rows],
                                 ["syscall", "calls", "action", "decided by", "detail"]))
        if undecided:
            out.append("\nUndecided (argument-conditioned rules, arguments not recorded):\n")
            out.append(table([(u.name, u.calls, str(u.action), _rule_ref(u), u.detail)
                              for u in undecided],
                             ["syscall", "calls", "worst action", "decided by", "detail"]))
        if a.unused_allowed:
            out.append("\nAllowed but never used (attack surface):\n")
            out.append(_wrap(a.unused_allowed) + "\n")
        out.append("\n")
    for note in result.notes:
        out.append(f"note: {note}\n")
    verdict = "nothing the program used is denied"
    if result.breaks:
        verdict = "the program uses syscalls this policy denies"
        if all(u.enosys for a in result.arches for u in a.used
               if u.verdict in (DENIED, SOME_DENIED)):
            verdict += ", all with ENOSYS"
    out.append(f"{verdict} (policy {result.policy_name or 'given'}, default "
               f"{result.default_action})\n")
    return "".join(out)


def _wrap(names: Sequence[str], width: int = 78) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(" ".join(names), width=width))


def check_report(result: CheckResult, pfc: bool) -> str:
    """``tracebench check``: sizes and warnings, optionally libseccomp's PFC."""
    rows = [(arch, result.rules_per_arch.get(arch, 0), result.bpf_instructions.get(arch, 0))
            for arch in result.arches]
    out = [grid(rows, ["arch", "libseccomp rules", "BPF instructions"])]
    out.append(f"total: {result.rule_count} rules, {result.total_instructions} BPF instructions "
               f"in the loaded program ({'loadable' if result.loadable else 'TOO LARGE'})\n")
    out.extend(f"warning: {w}\n" for w in result.warnings)
    if pfc:
        out.append("\n" + result.pfc)
    return "".join(out)
