"""The exact reading of one strace trace line (strace -f / -ff / -t / -T / -y ...).

``split_leader`` takes off what strace prints before the syscall
(src/strace.c printleader): the pid (``123  `` with -o, ``[pid   123]`` on a
terminal, either with ``<comm>`` under --decode-pids=comm), an SELinux context,
the -t/-tt/-ttt timestamp, the -r relative time (``(+ 0.000012)`` with -t),
the -n syscall number and the -i instruction pointer.

``read_body`` classifies what follows, counting the way strace -c counts
(src/syscall.c syscall_exiting_trace, src/count.c count_syscall in strace 6.1):

* a call is counted when its exit is printed, so an ``<unfinished ...>`` line
  counts nothing and the ``<... NAME resumed>`` line that completes it counts
  one call of NAME;
* ``= ?`` alone is a process that died inside the call (print_event_exit:
  ``exit_group(0) = ?``): strace never saw the exit and does not count it;
  ``= ?`` followed by anything (``<0.000012>``, `` (INJECTED)``) was printed
  at the exit and counts;
* ``= ? <unavailable>`` (the registers could not be read at the exit)
  counts, without an error (strace 6.1 counts an error there when the same
  thread's previous call failed: its u_error is left over from that call);
* an error is ``= -N ENAME (...)``, ``= -N (errno N)`` (print_err_ret) or
  ``= ? ERESTART*`` (the four ERESTART codes strace prints as ``?``); these
  are exactly the exits with u_error != 0 that count_syscall counts as errors;
  ``(INJECTED)`` results count like real ones, as strace -c does;
* ``<detached ...>``: strace let go of the process inside the call: not counted;
* calls that were entered and never seen returning (``= ?``, ``<detached ...>``,
  an ``<unfinished ...>`` never resumed) are not calls for strace -c, but a
  seccomp filter saw them: the Profile counts them as ``unfinished``;
* a line with no result at all is *partial*: on a terminal, the traced
  program's output (``write(1, "hi\\n", 3hi``) or strace's own message
  (``clone(strace: Process 5245 attached``) cut it, and the rest of the call
  follows on a later line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
EXEC_NAMES = frozenset({"execve", "execveat"})
CLONE_NAMES = frozenset({"clone", "clone2", "clone3", "fork", "vfork"})

_LEADER = re.compile(
    r"(?:(?P<pid>\d+)(?:<[^<>\n]*>)? +|\[pid +(?P<bpid>\d+)(?:<[^<>\n]*>)?\] +)?"
    r"(?:\[[^\]\s]*:[^\]\s]*\] +)?"                        # --secontext
    r"(?:\d[\d:.]* +)?"                                   # -t -tt -ttt
    r"(?:\(\+ *\d+(?:\.\d+)? *\) +| *\d+\.\d+ +)?"        # -r
    r"(?:\[ *\d+\] +)?"                                   # -n
    r"(?:\[(?:[0-9a-f]{8}|[0-9a-f]{16}|\?{8}|\?{16})\] +)?"  # -i
)
_CALL = re.compile(rf"({NAME})\(")
_RESUMED = re.compile(rf"<\.\.\. ({NAME}) resumed>")
# The result is after the rightmost ") = " (strace pads with spaces to column 40).
_RESULT = re.compile(r"(.*)\) += (.*)", re.S)
_DURATION = re.compile(r" <(\d+)(?:\.(\d+))?>\Z")
_ERRNO = re.compile(r"-\d+ (?:E[A-Z0-9_]+ \(|\(errno \d+\))")
_VALUE = re.compile(r"(?:-?\d+|0x[0-9a-fA-F]+)(?=[\s<(]|\Z)")
_EXIT = re.compile(r"\+\+\+ (?:exited with -?\d+|killed by \S+(?: \(core dumped\))?"
                   r"|superseded by execve in pid (\d+)) \+\+\+")
_PERSONALITY = re.compile(r"\[ Process PID=(\d+) runs in (.+) mode\. \]")
_CONTINUATION = re.compile(r"\) += |\s*<(?:unfinished|detached) \.\.\.>\Z")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a",
                   "b": "\b", "e": "\x1b"}

# Kinds of line bodies.
DONE = "done"              # a call's exit: counts (or not, for "= ?")
START = "start"            # NAME(... <unfinished ...>
DETACHED = "detached"      # ... <detached ...>
PARTIAL = "partial"        # a call line cut before its result (args: the line so far)
SIGNAL = "signal"          # --- SIGCHLD {...} ---
EXIT = "exit"              # +++ exited with 0 +++ / +++ killed by SIGKILL +++
SUPERSEDED = "superseded"  # +++ superseded by execve in pid N +++
PERSONALITY = "personality"  # [ Process PID=N runs in 32 bit mode. ]
BAD = "bad"                # looks like strace's but cannot be read
OTHER = "other"            # not an strace event line


@dataclass(frozen=True)
class Body:
    """What one line (after its leader) says."""

    kind: str
    name: str = ""
    args: str = ""
    value: str = ""
    counted: bool = False      # the exit was seen: a call strace -c counts
    error: bool = False
    resumed: bool = False      # a "<... NAME resumed>" line
    ns: int | None = None      # -T duration in nanoseconds, when printed
    timeable: bool = False     # whether -T would have printed a duration here
    number: int = 0            # the pid of SUPERSEDED / PERSONALITY lines
    message: str = ""          # why a BAD line is bad


def duration_ns(seconds: str, fraction: str) -> int:
    """Nanoseconds of a -T duration ``<seconds.fraction>`` (any precision up to ns)."""
    return int(seconds) * 1_000_000_000 + (int(fraction[:9].ljust(9, "0")) if fraction else 0)


def split_leader(line: str) -> tuple[str | None, bool, str]:
    """``(pid text or None, whether a leader was there, the rest of the line)``."""
    m = _LEADER.match(line)
    assert m is not None  # every part is optional
    return m.group("pid") or m.group("bpid"), m.end() > 0, line[m.end():]


def _result(name: str, args: str, res: str, resumed: bool) -> Body:
    ns: int | None = None
    m = _DURATION.search(res)
    if m is not None:
        ns = duration_ns(m.group(1), m.group(2) or "")
        res = res[:m.start()]
    if res == "?":
        # print_event_exit: the process died inside the call (no -T there).
        # The same "= ?" printed at a real exit (RVAL_NONE) carries -T.
        return Body(DONE, name, args, res, counted=ns is not None, ns=ns, timeable=True,
                    resumed=resumed)
    if res.startswith("? "):
        tail = res[2:]
        if tail.startswith("<unavailable>"):
            return Body(DONE, name, args, res, counted=True, resumed=resumed)
        return Body(DONE, name, args, res, counted=True, error=tail.startswith("ERESTART"),
                    ns=ns, timeable=True, resumed=resumed)
    if _ERRNO.match(res):
        return Body(DONE, name, args, res, counted=True, error=True, ns=ns, timeable=True,
                    resumed=resumed)
    if _VALUE.match(res):
        return Body(DONE, name, args, res, counted=True, ns=ns, timeable=True, resumed=resumed)
    return Body(BAD, name, message=f"unrecognised return value {res[:40]!r}")


def _call(name: str, rest: str, resumed: bool) -> Body:
    if rest.endswith(" <unfinished ...>"):
        if resumed:
            return Body(BAD, name, message="a resumed call cannot be unfinished again")
        return Body(START, name, rest[:-len(" <unfinished ...>")])
    if rest.endswith("<detached ...>"):
        return Body(DETACHED, name, resumed=resumed)
    m = _RESULT.fullmatch(rest)
    if m is None:
        return Body(PARTIAL, name)
    return _result(name, m.group(1), m.group(2), resumed)


def read_body(body: str) -> Body:
    """Classify the text after a line's leader (see the module docstring)."""
    if body.startswith("<... "):
        m = _RESUMED.match(body)
        if m is None:
            return Body(BAD, message="malformed '<... NAME resumed>'")
        out = _call(m.group(1), body[m.end():], resumed=True)
    else:
        m = _CALL.match(body)
        if m is None:
            return _other_event(body)
        out = _call(m.group(1), body[m.end():], resumed=False)
    if out.kind in (PARTIAL, BAD):
        # strace's own message glued to a call cut short on a terminal:
        # "clone(strace: Process 5245 attached", "nanosleep(..., ^Cstrace: ...".
        cut = body.find("strace: ")
        if cut > 0:
            before = read_body(body[:cut])
            if before.kind == PARTIAL:
                return before
        if out.kind == PARTIAL:
            return Body(PARTIAL, out.name, body)  # args: the text so far, to join
    return out


def _other_event(body: str) -> Body:
    if body.startswith("--- "):
        if body.endswith(" ---"):
            return Body(SIGNAL)
        return Body(BAD, message="signal line without its closing '---'")
    if body.startswith("+++ "):
        m = _EXIT.fullmatch(body)
        if m is None:
            return Body(BAD, message="unrecognised '+++ ... +++' line")
        if m.group(1):
            return Body(SUPERSEDED, number=int(m.group(1)))
        return Body(EXIT)
    if body.startswith("[ Process PID="):
        m = _PERSONALITY.fullmatch(body)
        if m is None:
            return Body(BAD, message="unrecognised personality line")
        return Body(PERSONALITY, value=m.group(2), number=int(m.group(1)))
    return Body(OTHER)


# Kinds that only strace prints: one of them decides that a text is a trace log.
DECISIVE = frozenset({DONE, START, DETACHED, SIGNAL, EXIT, SUPERSEDED, PERSONALITY})


def line_kind(line: str) -> str:
    """The kind of a whole line; a leader (pid, timestamp) before a non-event is BAD."""
    _pid, leader, body = split_leader(line)
    kind = read_body(body).kind
    return BAD if kind == OTHER and leader else kind


def is_continuation(line: str) -> bool:
    """Whether ``line`` looks like the second half of a partial call line."""
    return _CONTINUATION.match(line) is not None


def is_strace_output(line: str) -> bool:
    """strace's own non-event lines: messages, -e read/write= dumps, -k stack frames."""
    return line.startswith(("strace: ", "^Cstrace: ", " | ", " > "))


def exec_path(name: str, args: str) -> str | None:
    """The program path of an execve/execveat call from its arguments (None if not shown)."""
    if name == "execveat":
        comma = args.find(", ")
        if comma < 0:
            return None
        args = args[comma + 2:]
    m = _STRING.match(args)
    if m is None:
        return None
    return unescape(m.group(1))


def unescape(text: str) -> str:
    """Undo strace's C-style string quoting (``\\n``, ``\\33``, ``\\x1b``, ``\\"``)."""
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode()
        esc = m.group(1)
        if esc[0] == "x" and len(esc) > 1:
            out.append(int(esc[1:], 16))
        elif esc[0] in "01234567":
            out.append(int(esc, 8) & 0xFF)
        else:
            out += _SIMPLE_ESCAPES.get(esc, esc).encode()
        pos = m.end()
    out += text[pos:].encode()
    return out.decode("utf-8", "backslashreplace")


def leading_int(value: str) -> int | None:
    """The number a return value starts with (``8193<comm>`` -> 8193)."""
    m = re.match(r"\d+", value)
    return int(m.group()) if m else None
