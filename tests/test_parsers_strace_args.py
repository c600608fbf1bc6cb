"""``import --args``: argument values read from strace -f logs.

Pinned on argument lists as strace 6.1 prints them, checked against
``record`` (which reads the registers) on the same program, and on every
fixture log: reading arguments never changes what is counted.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from programs.console import tb
from programs.strace_fixtures import FIX, LOGS
from programs.tracer_programs import build

from tracebench.cli import main
from tracebench.diff import ALLOWED, DENIED, SOME_DENIED, UNDECIDED, diff
from tracebench.errors import ParseError
from tracebench.parsers import ImportResult
from tracebench.parsers.strace_args import call_values, split, value
from tracebench.parsers.strace_log import read_logs
from tracebench.policy import Context
from tracebench.policy.formats import FORMATS
from tracebench.profile import Profile

DOCKER = Path(__file__).resolve().parent.parent / "tracebench" / "policies" / "docker-default.json"
CLONE_FORK = 0x01000000 | 0x00200000 | 17  # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD


@pytest.mark.parametrize(("name", "args", "want"), [
    # Lines of strace 6.1 runs (tests/programs/argforms.c, fixtures).
    ("socket", "AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP",
     {0: socket.AF_INET, 1: socket.SOCK_STREAM | socket.SOCK_CLOEXEC, 2: socket.IPPROTO_TCP}),
    ("socket", "AF_VSOCK, SOCK_STREAM, 0", {0: 40, 1: socket.SOCK_STREAM, 2: 0}),
    ("personality", "0xffffffff", {0: 0xFFFFFFFF}),
    ("personality", "PER_LINUX", {0: 0}),
    ("clone", "child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
              "child_tidptr=0x7f69c69fca10", {0: CLONE_FORK, 1: 0, 4: None}),
    ("clone", "child_stack=NULL, flags=SIGCHLD", {0: 17, 1: 0, 4: None}),
    # AT_FDCWD is -100: an int whose upper register half the log does not show.
    ("openat", 'AT_FDCWD, "/dev/null", O_RDONLY|O_NOFOLLOW|O_CLOEXEC',
     {0: None, 2: os.O_NOFOLLOW | os.O_CLOEXEC, 3: None}),
    ("umask", "022", {0: 0o22}),
    ("fcntl", "6</dev/null>, F_SETFD, FD_CLOEXEC", {0: 6, 1: 2, 2: 1}),  # -y
    ("fcntl", "6, F_GETFL", {0: 6, 1: 3, 2: None}),  # the third is not printed
    ("mmap", "NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0",
     {0: 0, 1: 65536, 2: 3, 3: 0x22, 4: None, 5: 0}),
    ("mmap", "NULL, 2097152, PROT_READ|PROT_WRITE, "
             "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT, -1, 0",
     {0: 0, 1: 2097152, 2: 3, 3: 0x22 | 0x40000 | 21 << 26, 4: None, 5: 0}),
    ("mprotect", "0x7f291fbd4000, 4096, 0x1 /* PROT_READ */",  # -X verbose
     {0: 0x7F291FBD4000, 1: 4096, 2: 1}),
    ("fcntl", "6, 0x400 /* F_??? */", {0: 6, 1: 0x400, 2: None}),
    ("prctl", 'PR_SET_NAME, "argforms"', {0: 15, 1: None, 2: None, 3: None, 4: None}),
    ("wait4", "-1, NULL, __WALL, NULL", {0: None, 2: 0x40000000}),
    ("read", '3, "a, (b", 4', {0: 3, 2: 4}),  # a comma and a parenthesis in a string
    ("getrandom", '"\\x0a\\x99\\x70"..., 8, GRND_NONBLOCK', {1: 8, 2: 1}),
    ("rt_sigprocmask", "SIG_SETMASK, [], NULL, 8", {0: 2, 3: 8}),
    ("ioctl", "1, TCGETS, {c_iflag=ICRNL|IXON, c_oflag=NL0|CR0|TAB0|BS0|VT0|FF0|OPOST|ONLCR}",
     {0: 1, 1: 0x5401, 2: None}),
    ("lseek", "3, 0, SEEK_NOT_A_NAME", {0: 3, 1: 0, 2: None}),  # unknown name: not known
    ("lseek", "3, 18446744073709551615, SEEK_SET", {0: 3, 1: None, 2: 0}),  # past 63 bits
    # Unbalanced, or named arguments where strace does not name them: nothing known.
    ("socket", "AF_INET, (SOCK_STREAM, 0", {0: None, 1: None, 2: None}),
    ("socket", "domain=AF_INET, SOCK_STREAM, 0", {0: None, 1: None, 2: None}),
    ("clone", "SIGCHLD, 0", {0: None, 1: None, 4: None}),
])
def test_call_values(name: str, args: str, want: dict[int, int | None]) -> None:
    assert call_values(name, args) == want


def test_calls_without_a_prototype_keep_nothing() -> None:
    assert call_values("clone3", "{flags=CLONE_VM, exit_signal=0}, 88") is None
    assert call_values("personality", None) == {0: None}  # a call whose arguments were lost


def test_split_and_value() -> None:
    assert split("") == []
    assert split('a, "x,\\"y", {b, [c, d]}, e /* 1, 2 */') == ['a', '"x,\\"y"', "{b, [c, d]}",
                                                            "e /* 1, 2 */"]
    assert split("a, b)") is None and split('"abc') is None and split("x /* y") is None
    assert value("NULL") == 0 and value("0") == 0 and value("0x10") == 16
    assert value("1234<sh>") == 1234  # -Y: a pid with its command
    assert value("3<socket:[12345]>") == 3  # -yy
    assert value("-1") is None and value("[1]") is None and value("~[]") is None


def test_edited_argument_lists_never_raise() -> None:
    # Argument lists of every fixture log, cut and spliced with the characters
    # the splitter and the value reader care about: always an answer, never
    # an exception, never a value outside 0..2**63-1.
    import random

    from tracebench.parsers.strace_lines import read_body, split_leader

    rng = random.Random(23)
    calls = []
    for path in LOGS:
        for line in path.read_text(errors="replace").splitlines():
            b = read_body(split_leader(line)[2])
            if b.name and b.args:
                calls.append((b.name, b.args))
    assert len(calls) > 500
    noise = ['"', "(", ")", "[", "]", "{", "}", ",", "/*", "*/", "|", "<<", "<", ">", "\\",
             "=", "0x", "-", "NULL", "AF_INET", "99999999999999999999"]
    for _ in range(20000):
        name, args = rng.choice(calls)
        for _ in range(rng.randint(1, 3)):
            i, j = sorted(rng.randrange(len(args) + 1) for _ in range(2))
            args = args[:i] + rng.choice(["", rng.choice(noise)]) + args[j:]
        got = call_values(name, args)
        assert got is None or all(v is None or 0 <= v < 1 << 63 for v in got.values())


def read(path: Path, args: bool) -> ImportResult:
    return read_logs([(str(path), io.StringIO(path.read_text()))], lenient=True, args=args)


def counted(run: Any) -> tuple[Any, ...]:
    try:
        r = run()
    except ParseError as exc:
        return ("error", str(exc))
    return (sorted(map(tuple, r.profile.rows.itertuples(index=False))), r.skipped)


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(FIX)))
def test_reading_arguments_changes_no_count(path: Path) -> None:
    assert counted(lambda: read(path, True)) == counted(lambda: read(path, False))
    try:
        profile = read(path, True).profile
    except ParseError:
        return
    for (arch, _name), per_arg in profile.args.items():
        assert arch == "x86_64"  # i386 calls' arguments are not read
        for v in per_arg.values():
            assert all(0 <= x < 1 << 63 for x in v.values)


def test_i386_calls_keep_no_arguments() -> None:
    log = FIX / "strace61" / "personality-f-C-quiet-none.log"
    profile = read(log, True).profile
    assert "i386" in profile.arches()
    assert {arch for arch, _ in profile.args} == {"x86_64"}


def test_resumed_calls_join_their_two_halves() -> None:
    text = ("5 rt_sigprocmask(SIG_SETMASK, [],  <unfinished ...>\n"
            "6 personality(PER_LINUX <unfinished ...>\n"
            "5 <... rt_sigprocmask resumed>NULL, 8) = 0\n"
            "6 <... personality resumed>) = 0\n"
            "7 <... socket resumed>SOCK_STREAM, 0) = 3\n"   # its first half is not in the log
            "7 socket(AF_INET, SOCK_DGRAM, 0) = 4\n"
            "8 personality(0xffffffff <unfinished ...>\n"   # never resumed: entry args known
            "8 +++ killed by SIGKILL +++\n")
    p = read_logs([("log", io.StringIO(text))], args=True).profile
    assert p.arg_values("x86_64", "rt_sigprocmask", 0).values == {2}  # type: ignore[union-attr]
    assert p.arg_values("x86_64", "rt_sigprocmask", 3).values == {8}  # type: ignore[union-attr]
    assert p.arg_values("x86_64", "personality", 0) is not None
    assert p.arg_values("x86_64", "personality", 0).values == {0, 0xFFFFFFFF}  # type: ignore[union-attr]
    sock = p.arg_values("x86_64", "socket", 0)
    assert sock is not None and sock.values == {socket.AF_INET} and not sock.complete


def test_import_args_cli(tmp_path: Path) -> None:
    r = CliRunner()
    env = {"TRACEBENCH_STORE": str(tmp_path / "store")}
    table = FIX / "strace61" / "forks-w-c-S-calls.txt"
    out = r.invoke(main, ["import", "--args", str(table), "--format", "strace-summary"], env=env)
    assert out.exit_code == 2
    assert out.output == (f"tracebench: {table}: strace -c tables hold no argument values "
                          "(only strace -f logs do)\n")


def profile_of(store: Path) -> Profile:
    out = tb(store, "export")
    assert out.returncode == 0, out.stderr
    return Profile.from_json(out.stdout)


def test_import_args_agree_with_record(tmp_path: Path) -> None:
    # The same static program, address randomisation off, once under record
    # (register values) and once under strace 6.1 (printed values).
    prog = build()["argforms"]
    no_aslr = ("setarch", "-R")  # inherited by the tracer's child
    out = tb(tmp_path / "rec", "record", "-q", "--", prog, pre=no_aslr)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "argforms.strace"
    subprocess.run([*no_aslr, "strace", "-f", "-o", str(log), prog], check=True,
                   capture_output=True)
    out = tb(tmp_path / "imp", "import", "--args", str(log))
    assert out.returncode == 0, out.stderr
    rec, imp = profile_of(tmp_path / "rec"), profile_of(tmp_path / "imp")
    checked = 0
    for (arch, name), per_arg in imp.args.items():
        for argno, got in per_arg.items():
            truth = rec.arg_values(arch, name, argno)
            assert truth is not None, (name, argno)
            if got.complete:
                assert truth.complete and got.values == truth.values, (name, argno)
                checked += 1
            else:
                assert got.values <= truth.values, (name, argno)
    assert checked >= 30

    def values(name: str, argno: int) -> frozenset[int]:
        v = imp.arg_values("x86_64", name, argno)
        assert v is not None and v.complete, (name, argno)
        return v.values

    assert values("personality", 0) == {0, 0xFFFFFFFF}
    assert values("socket", 0) == {socket.AF_INET, socket.AF_UNIX, 40}
    assert values("socket", 1) == {socket.SOCK_STREAM | socket.SOCK_CLOEXEC,
                                   socket.SOCK_DGRAM, socket.SOCK_STREAM}
    assert values("clone", 0) == {CLONE_FORK, 17}
    assert values("umask", 0) == {0o22}
    assert values("openat", 2) >= {os.O_NOFOLLOW | os.O_CLOEXEC}
    # diff judges the import as it judges the recording, where the log says enough.
    read_policy = FORMATS["oci"].read
    assert read_policy is not None
    docker = read_policy(DOCKER.read_text(), str(DOCKER))
    ctx = Context("x86_64")
    by_rec = {u.name: u.verdict for u in diff(rec, docker, ctx).arches[0].used}
    by_imp = {u.name: u.verdict for u in diff(imp, docker, ctx).arches[0].used}
    assert set(by_imp) <= set(by_rec)
    for name, verdict in by_imp.items():
        assert verdict in (by_rec[name], UNDECIDED), name
    assert by_imp["personality"] == ALLOWED and by_imp["clone"] == ALLOWED
    assert by_imp["socket"] == SOME_DENIED  # AF_VSOCK (40)
    assert by_imp["unshare"] == DENIED


def test_emit_pins_the_values_of_an_imported_log() -> None:
    from tracebench.emit import emit
    from tracebench.errors import TracebenchError

    log = Path(__file__).parent / "golden" / "diff" / "denied.strace"
    bare = read_logs([(str(log), io.StringIO(log.read_text()))]).profile
    with pytest.raises(TracebenchError, match="import the log with --args"):
        emit([bare], pin_args=["personality:0"])
    full = read(log, True).profile
    rules = [r for r in emit([full], pin_args=["personality:0"]).policy.rules
             if r.names == ("personality",)]
    assert sorted(r.conditions[0].value for r in rules) == [0, 0xFFFFFFFF]


def test_args_are_listed_in_the_exported_profile(tmp_path: Path) -> None:
    out = tb(tmp_path, "import", "--args", str(Path(__file__).parent / "golden" / "diff"
                                                 / "denied.strace"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(tb(tmp_path, "export").stdout)
    assert ["x86_64", "personality", 0, [0, 0xFFFFFFFF], True] in doc["args"]
    assert ["x86_64", "unshare", 0, [0x04000000], True] in doc["args"]  # CLONE_NEWUTS
