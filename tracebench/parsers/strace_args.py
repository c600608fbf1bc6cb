"""Argument values in an strace log line, as the kernel saw them (``import --args``).

strace prints a call's arguments decoded: ``socket(AF_INET, SOCK_STREAM|
SOCK_CLOEXEC, IPPROTO_TCP)``, ``clone(child_stack=NULL, flags=CLONE_VM|...|
SIGCHLD)``, ``read(3</etc/passwd>, ...)``.  ``call_values`` turns the
*value* arguments of such a call (python-ptrace's prototypes, as ``record``
keeps them) back into the numbers a seccomp filter compares: integer
literals, the names of strace's flag and constant tables (their values from
this machine's x86-64 headers, tracebench/data/strace-constants.json) joined
by ``|``, ``N<<NAME``, ``NULL``; ``-y`` paths and ``-X verbose`` comments
are set aside.

It fails closed: anything else is None, "not known", and makes that
argument's recorded set incomplete (a rule on it then stays undecided), never
a guessed value.  So are negative numbers (``AT_FDCWD``, ``-1``): strace
prints an ``int`` argument's low 32 bits, and whether the register's upper
half held zeros or the sign is not in the log, while seccomp compares all 64
bits.  Only x86_64 calls are read: the constants are x86-64's, and on i386 a
64-bit argument takes two registers where strace prints one.
"""

from __future__ import annotations

import functools
import json
import re
from importlib.resources import files

from tracebench.tracer import prototypes

ARCHES = frozenset({"x86_64"})
DATA_FILE = "strace-constants.json"
# Calls strace prints with named arguments, in its own order (src/clone.c:
# "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|...|SIGCHLD,
# child_tidptr=0x7f...)"); the positions are x86-64's clone(flags, newsp,
# parent_tid, child_tid, tls).
NAMED = {"clone": {"flags": 0, "child_stack": 1, "parent_tid": 2, "child_tidptr": 3,
                   "tls": 4}}
_TOP_BIT = 1 << 63
_NAMED_ARG = re.compile(r"([a-z_]+)=(.*)", re.S)
_DECORATED = re.compile(r"(\d+)<.*>", re.S)  # -y "3</dev/null>", -Y "1234<sh>"
_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_OCTAL = re.compile(r"0[0-7]*")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|/\*.*?\*/|/\*|"|[()\[\]{},]', re.S)


@functools.lru_cache(maxsize=1)
def constants() -> dict[str, int]:
    """Name -> value of the names strace prints (x86-64 headers)."""
    doc = json.loads(files("tracebench.data").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    return {str(k): int(v) for k, v in doc["x86_64"].items()}


def split(args: str) -> list[str] | None:
    """The top-level arguments of an strace argument list; None if it does not balance."""
    out: list[str] = []
    stack: list[str] = []
    start = 0
    # Only the tokens that matter are visited: strings and comments whole
    # (a comma inside them separates nothing), brackets and commas.
    for m in _TOKENS.finditer(args):
        tok = m.group()
        c = tok[0]
        if c in {'"', "/"}:
            if len(tok) == 1 or tok == "/*":  # an unterminated string or comment
                return None
        elif c in _CLOSE:
            stack.append(_CLOSE[c])
        elif c == ",":
            if not stack:
                out.append(args[start:m.start()].strip())
                start = m.end()
        elif not stack or stack.pop() != c:
            return None
    if stack:
        return None
    last = args[start:].strip()
    if last or out:
        out.append(last)
    return out


@functools.lru_cache(maxsize=8192)
def value(text: str) -> int | None:
    """The number an argument's printed form stands for, or None if it does not say."""
    t = text.strip()
    if t.endswith("*/"):  # -X verbose "0x80002 /* O_RDWR|O_CLOEXEC */", "0x2 /* F_??? */"
        t = t[:t.find("/*")].rstrip()
    m = _DECORATED.fullmatch(t)
    if m is not None:
        t = m.group(1)
    if t == "NULL":
        return 0
    total = 0
    for term in t.split("|"):
        v = _term(term.strip())
        if v is None:
            return None
        total |= v
    return total


def _term(t: str) -> int | None:
    if "<<" in t:
        left, _, right = t.partition("<<")
        a, b = _term(left.strip()), _term(right.strip())
        if a is None or b is None or b > 63 or a << b >= _TOP_BIT:
            return None
        return a << b
    if _HEX.fullmatch(t):
        v = int(t, 16)
    elif _OCTAL.fullmatch(t):
        v = int(t, 8)
    elif _DECIMAL.fullmatch(t):
        v = int(t)
    elif _NAME.fullmatch(t):
        found = constants().get(t)
        if found is None:
            return None
        v = found
    else:
        return None
    # A negative constant (AT_FDCWD) cast to unsigned long, or a value past
    # 63 bits: which of its upper bits the register held is not known.
    return v if v < _TOP_BIT else None


_value_arguments = functools.lru_cache(maxsize=1024)(prototypes.value_arguments)


def call_values(name: str, args: str | None) -> dict[int, int | None] | None:
    """The value arguments of one x86_64 call: position -> value (None: not known).

    ``args`` is the text between the call's parentheses (None: not seen).
    None when the syscall's prototype is unknown (nothing is kept for it).
    """
    positions = _value_arguments(name)
    if positions is None:
        return None
    out: dict[int, int | None] = dict.fromkeys(positions)
    parts = split(args) if args is not None else None
    if not parts:
        return out
    named = NAMED.get(name)
    for i, part in enumerate(parts):
        m = _NAMED_ARG.fullmatch(part)
        if named is not None:
            if m is None:  # an unnamed argument where strace names them all
                return dict.fromkeys(positions)
            pos = named.get(m.group(1))
            text = m.group(2)
        elif m is not None:  # a named argument of a call whose names are not known here
            return dict.fromkeys(positions)
        else:
            pos, text = i, part
        if pos is not None and pos in out:
            out[pos] = value(text)
    return out
