"""strace -f / -ff / terminal-capture logs: golden counts of real logs, malformed lines.

Every expected number below can be checked by counting lines of the fixture
(tests/fixtures/strace, see SOURCES.md): a call counts when its exit is
printed ("= 0", "= -1 ENOENT ...", "<... X resumed> ... = N"), "= ?" and
"<detached ...>" calls are "unfinished", like strace -c counts them (src/count.c).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tracebench.errors import ParseError
from tracebench.parsers import ImportResult
from tracebench.parsers.strace_log import parse, source_pid

FIX = Path(__file__).parent / "fixtures" / "strace"


def read(*names: str, lenient: bool = False) -> ImportResult:
    paths = [FIX / n for n in names]
    return parse([(str(p), io.StringIO(p.read_text())) for p in paths], lenient=lenient)


def read_text(text: str, path: str = "log", lenient: bool = False) -> ImportResult:
    return parse([(path, io.StringIO(text))], lenient=lenient)


def per_syscall(result: ImportResult) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(arch, syscall) -> (calls, errors, unfinished)."""
    s = result.profile.summary()
    return {(r["arch"], r["syscall"]): (int(r["calls"]), int(r["errors"]), int(r["unfinished"]))
            for r in s.to_dict("records")}


def plain(result: ImportResult) -> dict[str, tuple[int, int, int]]:
    """syscall -> (calls, errors, unfinished), for logs of one arch."""
    return {name: v for (_arch, name), v in per_syscall(result).items()}


def per_process(result: ImportResult) -> dict[tuple[int, str, str], tuple[int, int, int]]:
    s = result.profile.summary(per_process=True)
    return {(int(r["pid"]), r["exe"], r["syscall"]):
            (int(r["calls"]), int(r["errors"]), int(r["unfinished"]))
            for r in s.to_dict("records")}


# -- real logs of other projects ---------------------------------------------------


def test_bracketed_and_padded_pid_prefixes() -> None:
    # [pid 27369] execve(...) = 0  /  [pid   123] execve(...) = 0
    r = read("stp-f-bracket-pid-prefix.log")
    assert per_process(r) == {(27369, "", "execve"): (1, 0, 0), (123, "", "execve"): (1, 0, 0)}
    assert r.profile.provenance.measured == ("calls", "errors")  # no -T


def test_process_tree_execs_clones_and_exits() -> None:
    r = read("stp-f-process-tree-wait4-sigchld.log")
    # 6 execve lines "= 0", 6 arch_prctl, 4 clone, 4 "<... wait4 resumed> ... = N",
    # 5 "exit_group(0) = ?" (never returned: not calls, unfinished).
    assert plain(r) == {"execve": (6, 0, 0), "arch_prctl": (6, 0, 0), "clone": (4, 0, 0),
                        "wait4": (4, 0, 0), "exit_group": (0, 0, 5)}
    rows = per_process(r)
    # A fork child runs its parent's image until its own execve ...
    assert rows[(29902, "/tmp/test.sh", "execve")] == (1, 0, 0)
    # ... then the new one (the execve itself belongs to the image that made it).
    assert rows[(29902, "/tmp/child.sh", "clone")] == (1, 0, 0)
    assert rows[(29902, "/tmp/child.sh", "execve")] == (1, 0, 0)
    assert rows[(29902, "/tmp/another.sh", "exit_group")] == (0, 0, 1)
    assert rows[(29904, "/tmp/another.sh", "execve")] == (1, 0, 0)
    assert rows[(29904, "/bin/true", "exit_group")] == (0, 0, 1)
    assert rows[(29900, "", "execve")] == (1, 0, 0)  # the first image is not known


def test_resumed_call_with_unavailable_result_counts() -> None:
    # futex( <unfinished ...> / <... futex resumed>) = ? <unavailable>
    assert plain(read("stp-f-t-resumed-unavailable.log")) == {"futex": (1, 0, 0)}


def test_child_lines_before_the_parents_clone_returns() -> None:
    r = read("stp-f-tt-T-unfinished-resumed.log")
    rows = per_process(r)
    # 27370's execve is printed before "27369 <... clone resumed> ... = 27370": it
    # still ran 27369's image, bin/test.
    assert rows[(27370, "bin/test", "execve")] == (1, 0, 0)
    assert rows[(27370, "/bin/sh", "exit_group")] == (0, 0, 1)
    assert rows[(27369, "bin/test", "clone")] == (1, 0, 0)
    # -T: seconds are the sum of the <...> durations.
    secs = {x["syscall"]: x["seconds"] for x in r.profile.summary().to_dict("records")}
    assert secs["execve"] == pytest.approx(0.000832 + 0.000132, abs=1e-12)
    assert secs["clone"] == pytest.approx(0.001466, abs=1e-12)
    assert r.profile.provenance.measured == ("calls", "errors", "seconds")
    assert r.profile.provenance.notes == ()  # "strace: Process 27369 attached" is no data


def test_vfork_and_long_execve_split_across_lines() -> None:
    r = read("stp-f-t-vfork-execve-long-argv-unfinished.log")
    assert per_process(r) == {(230473, "", "vfork"): (1, 0, 0),
                              (230474, "", "execve"): (1, 0, 0)}
    # The execve path comes from its "<unfinished ...>" line.
    assert [lf for lf in r.profile.rows.exe] == ["", ""]  # calls made before the exec
    assert r.skipped == 0


def test_manpage_examples() -> None:
    r = read("strace-manpage-examples.log")
    assert plain(r) == {
        "open": (3, 1, 0), "lstat": (2, 1, 0), "read": (3, 1, 0),  # ERESTARTSYS is an error
        "rt_sigreturn": (1, 0, 0), "getgroups": (1, 0, 0), "sigprocmask": (2, 0, 0),
        "syscall_0xbad": (1, 1, 0), "select": (2, 0, 0), "clock_gettime": (2, 0, 0),
        "sigsuspend": (0, 0, 1),  # sigsuspend([] <unfinished ...> then +++ killed
    }
    pids = {int(p) for p in r.profile.rows.pid}
    assert pids == {-1, 28772, 28779}
    # sigprocmask/sigsuspend are not x86_64 names: said, not hidden.
    assert any("not x86_64 syscalls: sigprocmask, sigsuspend" in n
               for n in r.profile.provenance.notes)


def test_tricky_lines() -> None:
    r = read("strace-parse-rs-tricky-lines.log")
    rows = per_process(r)
    assert rows[(15873, "", "poll")] == (1, 1, 0)  # = ? ERESTART_RESTARTBLOCK
    assert rows[(-1, "", "write")] == (1, 0, 0)   # write(2, "\33(B\33[m", 6) = 6
    assert rows[(-1, "", "epoll_wait")] == (1, 0, 0)
    assert rows[(2064, "", "set_robust_list")] == (1, 0, 0)  # "2064  1560918200.817883 <..."
    # The pid-less "set_robust_list(... <unfinished ...>" is never resumed on its pid.
    assert rows[(-1, "", "set_robust_list")] == (0, 0, 1)
    secs = {(x["pid"], x["syscall"]): x["seconds"]
            for x in r.profile.summary(True).to_dict("records")}
    assert secs[(15873, "poll")] == pytest.approx(0.380816, abs=1e-12)
    assert secs[(2064, "set_robust_list")] == pytest.approx(0.000155, abs=1e-12)
    # One counted call (the write) has no -T duration: said in the notes.
    assert "1 counted call(s) had no -T duration: their seconds are 0" in \
        r.profile.provenance.notes


@pytest.mark.parametrize(("name", "expected"), [
    ("eventfd", {"eventfd2": (1, 0, 0)}),
    # exit_group(42) = -1 ENOSYS (...) (INJECTED) / exit(42) = ?
    ("qual_fault-exit_group", {"exit_group": (1, 1, 0), "exit": (0, 0, 1)}),
    ("qual_inject-error-signal", {"chdir": (1, 1, 0), "exit_group": (0, 0, 1)}),
    ("qual_inject-signal", {"chdir": (1, 0, 0), "exit_group": (0, 0, 1)}),
    ("sigaltstack", {"sigaltstack": (1, 0, 0)}),
    # execve("../sleep", ["../sleep", "0"], NULL <detached ...>
    ("status-detached", {"execve": (0, 0, 1)}),
    ("strace-ff", {"exit_group": (0, 0, 1)}),
    ("umovestr", {"chdir": (1, 0, 0)}),
    # " | 00000  61 62 ..." hexdump lines of -e write=/read= are strace's, not data
    ("unix-pair-send-recv", {"send": (2, 0, 0), "recv": (3, 1, 0)}),
])
def test_strace_test_suite_expected_outputs(name: str, expected: dict[str, tuple[int, int, int]]
                                           ) -> None:
    r = read(f"strace-tests/{name}.expected")
    assert plain(r) == expected
    assert r.skipped == 0
    assert r.profile.provenance.notes == () or name == "unix-pair-send-recv"


# -- little-book: real strace 4.26 sessions (terminal captures, elided) ----------


LB = "little-book/"


@pytest.mark.parametrize(("name", "expected"), [
    # write(1, "HG enviromental variable value i"..., 38HG enviromental variable ...
    # ) = 38        (the program's output cut strace's line)
    ("change-environment-variables-values-1.txt", {"write": (1, 0, 0)}),
    ("run-command-as-other-user-2.txt", {"write": (1, 0, 0), "exit_group": (0, 0, 1)}),
    # nanosleep(..., ^Cstrace: Process 444 detached / " <detached ...>"
    ("suppress-attach-detach-exit-status-messages-1.txt",
     {"restart_syscall": (1, 0, 0), "nanosleep": (2, 0, 1)}),
    ("suppress-attach-detach-exit-status-messages-2.txt",
     {"restart_syscall": (1, 0, 0), "nanosleep": (2, 0, 1)}),
    # -i: [00007f08c925a98b] execve(...)
    ("print-instruction-pointer-1.txt",
     {"execve": (1, 0, 0), "brk": (1, 0, 0), "arch_prctl": (1, 1, 0), "access": (1, 1, 0),
      "openat": (1, 0, 0), "fstat": (1, 0, 0)}),
    # -k stack lines " > /usr/lib/libc-2.28.so(execve+0xb) [0xc898b]"
    ("print-stack-trace-of-every-system-call-1.txt", {"execve": (1, 0, 0), "brk": (1, 0, 0)}),
    # -yy: fstat(1</dev/pts/1<char 136:1>>, ...), socket(...) = 3<NETLINK:[29833]>
    ("show-file-descriptor-related-information-4.txt",
     {"socket": (1, 0, 0), "setsockopt": (1, 0, 0), "fstat": (1, 0, 0)}),
    ("show-timestamp-of-system-call-1.txt", {"execve": (1, 0, 0), "brk": (1, 0, 0)}),
    ("show-timestamp-of-system-call-3.txt", {"execve": (1, 0, 0), "brk": (1, 0, 0)}),
    # -e inject: "= -1 EPERM (Operation not permitted) (INJECTED)", "= 0 (INJECTED)",
    # +++ killed by SIGSEGV (core dumped) +++ then the shell's "Segmentation fault"
    ("customize-tracing-event-behavior-11.txt", {"read": (1, 1, 0), "close": (1, 0, 0)}),
    ("customize-tracing-event-behavior-12.txt", {"arch_prctl": (1, 0, 0)}),
    ("customize-tracing-event-behavior-13.txt", {"read": (1, 0, 0)}),
    ("customize-tracing-event-behavior-8.txt",
     {"restart_syscall": (1, 0, 0), "nanosleep": (2, 1, 0)}),
    # execve(...) /* 0 vars */strace: Process 8287 detached / " <detached ...>"
    ("detach-process-on-execve-syscall-1.txt",
     {"execve": (1, 0, 1), "munmap": (1, 0, 0)}),
])
def test_little_book_sessions(name: str, expected: dict[str, tuple[int, int, int]]) -> None:
    r = read(LB + name)
    assert plain(r) == expected
    assert r.skipped == 0


def test_little_book_program_output_is_noted() -> None:
    r = read(LB + "customize-tracing-event-behavior-13.txt")
    (note,) = r.profile.provenance.notes
    # "# strace -e inject=...", "......", "Segmentation fault (core dumped)"
    assert note.startswith("3 line(s) of program output (terminal capture) ignored")
    assert "'Segmentation fault (core dumped)'" in note


def test_little_book_fork_capture_pids() -> None:
    # Lines have no pid until the fork ("[pid  5086] nanosleep(...").
    r = read(LB + "trace-child-processes-2.txt")
    rows = per_process(r)
    assert rows[(-1, "./fork", "clone")] == (1, 0, 0)
    assert rows[(-1, "./fork", "mmap")] == (7, 0, 0)
    # cloned by the pid-less process; its second nanosleep is cut by the "......" elision
    assert rows[(5087, "./fork", "nanosleep")] == (1, 0, 1)
    assert rows[(5086, "", "nanosleep")] == (1, 0, 1)
    assert sum(c for c, _e, _u in rows.values()) == 33


def test_little_book_clone_cut_by_attach_message() -> None:
    # [pid  5240] clone(strace: Process 5245 attached
    # child_stack=NULL, flags=..., child_tidptr=0x7f6dd132b9d0) = 5246
    r = read(LB + "trace-child-processes-3.txt")
    rows = per_process(r)
    assert rows[(5240, "", "clone")] == (1, 0, 0)
    assert rows[(5240, "", "futex")] == (2, 1, 0)
    assert rows[(5246, "", "set_robust_list")] == (1, 0, 0)
    assert sum(c for c, _e, _u in rows.values()) == 10
    assert r.skipped == 0


def test_little_book_debug_output_is_malformed() -> None:
    # Line 12 'execve(... /* 21 vars */strace: [wait(0x04057f) = 583] ...' is cut by
    # strace's own debug message and never completed before line 15 starts a call.
    with pytest.raises(ParseError) as exc:
        read(LB + "display-strace-debug-information-1.txt")
    assert exc.value.line == 12
    assert "without its result" in exc.value.message
    r = read(LB + "display-strace-debug-information-1.txt", lenient=True)
    assert r.skipped == 2  # line 12, and line 15 still cut at the end of the file
    assert r.skipped_examples[0].endswith(
        "display-strace-debug-information-1.txt:12: syscall line without its result "
        "(another call line started before its end)")


def test_little_book_C_elided_table_is_malformed() -> None:
    # show-statistics-of-system-calls-2.txt: -C, the table is cut by "......" (line 22)
    with pytest.raises(ParseError) as exc:
        read(LB + "show-statistics-of-system-calls-2.txt")
    assert exc.value.line == 22
    assert exc.value.message == "not a summary table row"


# -- strace 6.1 on this machine ---------------------------------------------------


def test_personality_lines_switch_the_arch() -> None:
    r = read("strace61/personality-f-C-quiet-none.log")
    # Exactly the three tables strace printed for the same run.
    assert per_syscall(r) == {
        ("x86_64", "execve"): (1, 0, 0), ("x86_64", "getpid"): (2, 0, 0),
        ("x86_64", "wait4"): (1, 0, 0), ("x86_64", "access"): (1, 1, 0),
        ("x86_64", "exit"): (0, 0, 2),
        ("i386", "getpid"): (2, 0, 0), ("i386", "access"): (1, 1, 0), ("i386", "fork"): (1, 0, 0),
        ("x32", "getpid"): (1, 1, 0),
    }
    assert "the trace lines count exactly the summary table" in r.profile.provenance.notes[0]


def test_without_personality_lines_the_table_wins() -> None:
    # strace -o implies --quiet=personality: the trace alone counts i386/x32 calls as
    # x86_64; the table knows better and is used, and the difference is said.
    r = read("strace61/personality-f-C.log")
    assert per_syscall(r)[("i386", "fork")] == (1, 0, 0)
    assert per_syscall(r)[("x32", "getpid")] == (1, 1, 0)
    assert set(r.profile.rows.pid) == {-1}
    assert r.profile.provenance.notes[0].startswith(
        "strace -C: the trace lines and the summary table differ on 7 syscall(s), "
        "the table is used: i386 access: trace 0 calls/0 errors, table 1/1")


def test_a_summary_alone_read_as_a_log() -> None:
    # --format strace-log on an strace -c capture: the table, said so.
    r = read(LB + "show-statistics-of-system-calls-1.txt")
    assert plain(r)["mmap"] == (12, 0, 0)
    assert r.profile.provenance.notes[-1] == "no trace lines, only a summary table"


def test_terminal_capture_with_cut_lines() -> None:
    r = read("strace61/tty-f-C-terminal.txt")
    rows = per_process(r)
    # write(1, "hello world\n", 12hello world / )           = 12 (x2), ") = 14" in the
    # child, 'write(1, "no newline", 10no newline)              = 10' and "\n".
    assert rows[(-1, "./tty", "write")] == (4, 0, 0)
    # clone(...|SIGCHLDstrace: Process 22019 attached / , child_tidptr=...) = 22019
    assert rows[(-1, "./tty", "clone")] == (1, 0, 0)
    assert rows[(22019, "./tty", "write")] == (1, 0, 0)
    assert "the trace lines count exactly the summary table" in r.profile.provenance.notes[0]
    assert r.skipped == 0


def test_ff_files_take_the_pid_of_their_name() -> None:
    names = sorted(p.name for p in (FIX / "strace61" / "ff").iterdir())
    r = read(*(f"strace61/ff/{n}" for n in names))
    assert {int(p) for p in r.profile.rows.pid} == {int(n.split(".")[1]) for n in names}
    assert r.profile.provenance.files == tuple(str(FIX / "strace61" / "ff" / n)
                                               for n in sorted(names, key=source_pid))
    rows = per_process(r)
    parent = min(source_pid(n) for n in names)
    assert rows[(parent, "./forks", "clone")] == (3, 0, 0)
    # The second child exec'd /bin/true; the third failed to exec (ENOENT).
    assert rows[(parent + 3, "/bin/true", "exit_group")] == (0, 0, 1)
    assert rows[(parent + 4, "./forks", "execve")] == (1, 1, 0)


def test_source_pid() -> None:
    assert source_pid("trace/forks.22052") == 22052
    assert source_pid("strace.log") == -1


# -- malformed lines --------------------------------------------------------------

LOG = """\
8192  execve("./prog", ["./prog"], 0x7ffecde01080 /* 35 vars */) = 0
8192  brk(NULL)                         = 0x55c03b6c1000
8192  close(-1)                         = -1 EBADF (Bad file descriptor)
8192  exit_group(0)                     = ?
8192  +++ exited with 0 +++
"""


@pytest.mark.parametrize(("bad", "message"), [
    ("8192  garbage", "no syscall, signal or exit after the pid/timestamp"),
    ("8192  close(3) = banana", "unrecognised return value 'banana'"),
    ("8192  <... close", "malformed '<... NAME resumed>'"),
    ("8192  --- SIGCHLD {si_signo=SIGCHLD", "signal line without its closing '---'"),
    ("8192  +++ exited +++", "unrecognised '+++ ... +++' line"),
    ("8192  [ Process PID=8192 runs in 16 bit mode. ]", "unknown personality '16 bit'"),
    ("8192  <... close resumed> <unfinished ...>", "a resumed call cannot be unfinished again"),
    (")                       = 1", "the end of a syscall line whose start is missing"),
])
def test_malformed_line_names_file_and_line(bad: str, message: str) -> None:
    lines = LOG.splitlines()
    lines.insert(2, bad)
    text = "\n".join(lines) + "\n"
    with pytest.raises(ParseError) as exc:
        read_text(text, "run.log")
    assert (exc.value.path, exc.value.line, exc.value.message) == ("run.log", 3, message)
    r = read_text(text, "run.log", lenient=True)
    assert r.skipped == 1
    assert r.skipped_examples == (f"run.log:3: {message}",)
    # Nothing else is lost.
    assert plain(r) == {"execve": (1, 0, 0), "brk": (1, 0, 0), "close": (1, 1, 0),
                        "exit_group": (0, 0, 1)}


def test_call_cut_at_the_end_of_the_file() -> None:
    with pytest.raises(ParseError) as exc:
        read_text(LOG + '8192  write(1, "abc", 3', "cut.log")
    assert (exc.value.line, exc.value.message) == (
        6, "syscall line without its result (the file ends before the rest of it)")


def test_lenient_counts_every_skipped_line() -> None:
    text = LOG + "".join(f"8192  junk{i}\n" for i in range(7))
    r = read_text(text, lenient=True)
    assert r.skipped == 7
    assert len(r.skipped_examples) == 5
    assert r.skipped_examples[-1] == "log:10: no syscall, signal or exit after the pid/timestamp"


def test_trace_line_after_the_summary_table() -> None:
    path = FIX / "strace61" / "forks-f-C.log"
    text = path.read_text() + "8192  getpid() = 8192\n"
    lineno = text.count("\n")
    with pytest.raises(ParseError) as exc:
        read_text(text)
    assert (exc.value.line, exc.value.message) == (lineno, "trace line after the summary table")


def test_program_output_between_cut_call_and_its_end() -> None:
    # The program wrote two lines while strace's write(...) line was open.
    text = 'write(1, "a\\nb\\n", 4a\nb\n)     = 4\nexit_group(0) = ?\n'
    r = read_text(text)
    assert plain(r) == {"write": (1, 0, 0), "exit_group": (0, 0, 1)}
    assert r.profile.provenance.notes == (
        "1 line(s) of program output (terminal capture) ignored, e.g. log:2: 'b'",)


def test_superseded_execve_moves_to_the_leader() -> None:
    # strace -f of a thread calling execve (strace.c maybe_switch_tcbs prints this).
    text = """\
100   clone(child_stack=0x7f, flags=CLONE_VM|CLONE_THREAD) = 101
101   execve("/bin/true", ["/bin/true"], NULL <unfinished ...>
100   futex(0x7f, FUTEX_WAIT, 101, NULL <unfinished ...>
100   +++ superseded by execve in pid 101 +++
100   <... execve resumed>)             = 0
100   exit_group(0)                     = ?
100   +++ exited with 0 +++
"""
    rows = per_process(read_text(text))
    assert rows == {
        (100, "", "clone"): (1, 0, 0),
        (100, "", "futex"): (0, 0, 1),         # the old leader never returned from it
        (100, "", "execve"): (1, 0, 0),        # counted on the leader, made by 101's image
        (100, "/bin/true", "exit_group"): (0, 0, 1),
    }
