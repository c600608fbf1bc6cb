"""Firecracker seccompiler JSON filters (read only).

A file maps thread categories (``vmm``, ``api``, ``vcpu``) to one filter
each: ``default_action``, ``filter_action`` and ``filter`` (rules
``{"syscall", "args", "comment"}``).  Every rule gets ``filter_action``; the
same syscall listed several times is an OR of its argument combinations
(docs/seccompiler.md: "or-bound SyscallRule objects"); the ``args`` of one
rule are ANDed.  The meaning is the libseccomp-based seccompiler's
(src/seccompiler/src/types.rs, firecracker-microvm/firecracker):

* a ``dword`` ``eq`` compares the low 32 bits only: seccompiler turns it into
  ``SCMP_CMP_MASKED_EQ`` with mask ``0xffffffff`` (musl leaves garbage in the
  high half of ioctl's request, libseccomp issue 383); every other operator
  compares all 64 bits, ``dword`` or not;
* ``{"masked_eq": M}`` is ``(arg & M) == val``.

Choosing a thread: a file holds several filters and tracebench reads one.
Name it after ``#`` in the path (``x86_64-unknown-linux-musl.json#vmm``);
without it a file with one filter reads that one and a file with several is
an error listing them (fail closed: no filter is picked silently).  The
target architecture is in the file name (``x86_64-...``, ``aarch64-...``;
seccompiler takes it as ``--target-arch``), else the native one, with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.model import Action, Condition, Policy, Rule

_OPS = {"eq", "ne", "lt", "le", "gt", "ge"}
_RULE_KEYS = {"syscall", "args", "comment"}
_ARG_KEYS = {"index", "type", "op", "val", "comment"}
_FILTER_KEYS = {"default_action", "filter_action", "filter"}
_ACTIONS = ("allow", "kill_thread", "kill_process", "log", "trap")
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_SYSCALL_KEY_RE = re.compile(r'"syscall"\s*:')
# seccompiler's TargetArch (types.rs) as it appears in Firecracker's file names.
_TARGETS = ("x86_64", "aarch64", "riscv64")


def split_path(path: str) -> tuple[str, str | None]:
    """``file.json#vmm`` -> (``file.json``, ``vmm``); the CLI opens the first part."""
    base, sep, thread = path.rpartition("#")
    return (base, thread) if sep and base else (path, None)


def _action(value: Any, where: str, path: str, line: int | None) -> Action:
    """seccompiler's SeccompAction: "allow", {"errno": N}, "kill_thread", {"trace": N}..."""
    if isinstance(value, str) and value in _ACTIONS:
        return Action(value)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, data),) = value.items()
        if kind in ("errno", "trace") and isinstance(data, int) and not isinstance(data, bool) \
                and 0 <= data <= 0xFFFF:
            return Action(kind, data)
    raise PolicyError(f"{where}: cannot read action {json.dumps(value)} (one of "
                      f"{', '.join(_ACTIONS)}, {{\"errno\": N}}, {{\"trace\": N}})",
                      path=path, line=line)


def _condition(arg: Any, path: str, line: int | None) -> Condition:
    if not isinstance(arg, dict):
        raise PolicyError(f"argument condition {json.dumps(arg)} is not an object", path=path,
                          line=line)
    unknown = set(arg) - _ARG_KEYS
    missing = {"index", "type", "op", "val"} - set(arg)
    if unknown or missing:
        raise PolicyError(f"argument condition {json.dumps(arg)}: "
                          + (f"unknown keys {sorted(unknown)}" if unknown else
                             f"missing {sorted(missing)}"), path=path, line=line)
    index, kind, op, val = arg["index"], arg["type"], arg["op"], arg["val"]
    if not isinstance(index, int) or not 0 <= index <= 5:
        raise PolicyError(f"argument index {index!r} is not 0..5", path=path, line=line)
    if kind not in ("dword", "qword"):
        raise PolicyError(f"argument type {kind!r} is neither dword nor qword", path=path,
                          line=line)
    if not isinstance(val, int) or isinstance(val, bool) or not 0 <= val <= _U64:
        raise PolicyError(f"value {val!r} is not a 64-bit unsigned integer", path=path,
                          line=line)
    if kind == "dword" and val > _U32:
        raise PolicyError(f"value {val:#x} does not fit a dword", path=path, line=line)
    if isinstance(op, dict) and len(op) == 1 and "masked_eq" in op:
        mask = op["masked_eq"]
        if not isinstance(mask, int) or isinstance(mask, bool) or not 0 <= mask <= _U64:
            raise PolicyError(f"masked_eq mask {mask!r} is not a 64-bit unsigned integer",
                              path=path, line=line)
        return Condition(index, "masked_eq", val, mask)
    if op not in _OPS:
        raise PolicyError(f"comparison {json.dumps(op)} is not one of {sorted(_OPS)} or "
                          '{"masked_eq": MASK}', path=path, line=line)
    if op == "eq" and kind == "dword":
        # types.rs: Dword Eq -> SCMP_CMP_MASKED_EQ(0x00000000FFFFFFFF, val).
        return Condition(index, "masked_eq", val, _U32)
    return Condition(index, op, val)


def _rule_lines(text: str) -> list[int]:
    """The line of every ``"syscall":`` key, in document order (json keeps no positions)."""
    return [text.count("\n", 0, m.start()) + 1 for m in _SYSCALL_KEY_RE.finditer(text)]


def _target(path: str) -> str | None:
    stem = PurePath(path).name
    for target in _TARGETS:
        if re.search(rf"(^|[^a-z0-9]){target}([^a-z0-9]|$)", stem):
            return target
    return None


def read_filter(text: str, path: str, thread: str | None = None,
                arch: str | None = None) -> Policy:
    """Read one thread's filter from a seccompiler JSON file.

    ``thread`` picks the filter (required when the file holds several);
    ``arch`` overrides the architecture taken from the file name.
    """
    from tracebench import syscalls

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PolicyError(f"not JSON: {e.msg}", path=path, line=e.lineno) from None
    if not isinstance(doc, dict) or not doc:
        raise PolicyError("expected an object mapping thread names to filters", path=path,
                          line=1)
    if thread is None:
        if len(doc) != 1:
            raise PolicyError(f"the file holds filters for {', '.join(doc)}: choose one as "
                              f"{path}#{next(iter(doc))}", path=path)
        thread = next(iter(doc))
    if thread not in doc:
        raise PolicyError(f"no filter {thread!r} (the file has {', '.join(doc)})", path=path)
    lines = _rule_lines(text)
    total = sum(len(f.get("filter", [])) for f in doc.values()
                if isinstance(f, dict) and isinstance(f.get("filter"), list))
    offset = 0
    for name, filt in doc.items():
        if name == thread:
            break
        if isinstance(filt, dict) and isinstance(filt.get("filter"), list):
            offset += len(filt["filter"])
    line_of: Mapping[int, int] = ({i: lines[offset + i] for i in range(len(lines) - offset)}
                                  if len(lines) == total else {})
    filt = doc[thread]
    if not isinstance(filt, dict) or set(filt) != _FILTER_KEYS:
        raise PolicyError(f"filter {thread!r} must have exactly the keys "
                          f"{', '.join(sorted(_FILTER_KEYS))}", path=path)
    warnings = []
    target = arch or _target(path)
    if target is None:
        target = syscalls.native_arch()
        warnings.append(f"{path}: no target architecture in the file name; read for {target}")
    target = syscalls.arch_of(target)
    default = _action(filt["default_action"], f"{thread}.default_action", path, None)
    matched = _action(filt["filter_action"], f"{thread}.filter_action", path, None)
    if not isinstance(filt["filter"], list):
        raise PolicyError(f"{thread}.filter is not a list", path=path)
    if filt["filter"] and matched == default:
        raise PolicyError(f"{thread}: filter_action {matched} equals default_action; libseccomp "
                          "refuses such rules (EACCES) and seccompiler fails", path=path)
    rules = []
    for i, entry in enumerate(filt["filter"]):
        line = line_of.get(i)
        if not isinstance(entry, dict) or "syscall" not in entry:
            raise PolicyError(f"{thread}.filter[{i}] has no \"syscall\"", path=path, line=line)
        unknown = set(entry) - _RULE_KEYS
        if unknown:
            # seccompiler's serde would skip them; a per-rule "action" would
            # then be silently replaced by filter_action.
            raise PolicyError(f"{thread}.filter[{i}]: unknown keys {sorted(unknown)} (a rule "
                              "has only syscall, args, comment; its action is filter_action)",
                              path=path, line=line)
        call = entry["syscall"]
        if not isinstance(call, str) or syscalls.number(target, call) is None:
            raise PolicyError(f"unknown syscall {call!r} for {target} (seccompiler fails)",
                              path=path, line=line)
        args = entry.get("args") or []
        if not isinstance(args, list):
            raise PolicyError(f"{call}: args is not a list", path=path, line=line)
        conditions = tuple(_condition(a, path, line) for a in args)
        indexes = [c.arg for c in conditions]
        if len(set(indexes)) != len(indexes):
            raise PolicyError(f"{call}: two comparisons of the same argument in one rule "
                              "(libseccomp refuses them: EINVAL)", path=path, line=line)
        comment = entry.get("comment", "")
        rules.append(Rule((call,), matched, conditions, comment=str(comment), line=line))
    return Policy(default, tuple(rules), (target,), f"{PurePath(path).name}#{thread}",
                  (), tuple(warnings))


def read(text: str, path: str) -> Policy:
    """Read ``path`` (``file.json#thread`` picks a thread; see the module doc)."""
    base, thread = split_path(path)
    return read_filter(text, base, thread)


def sniff(text: str) -> bool:
    """A JSON object whose filters have ``filter_action``."""
    head = text.lstrip()[:1]
    return head == "{" and '"filter_action"' in text and '"default_action"' in text


FORMAT = Format(
    name="firecracker",
    description="Firecracker seccompiler JSON (one thread's filter: file.json#vmm)",
    suffixes=(".json",),
    read=read,
    write=None,
    sniff=sniff,
)
