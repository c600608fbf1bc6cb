#!/usr/bin/env python3
"""How fast ``record`` traces, side by side with ``strace -f -c -o /dev/null``.

Workloads (built or created in a temporary directory):

* ``find``: GNU find over a tree of 400 directories and 40,000 files (times
  ``--scale``),
  ``-size -1k`` so that every file is stat'ed;
* ``loop``: a C program making 200,000 small syscalls in a tight loop
  (getppid, a 1-byte read of /dev/zero, lseek, a failing close);
* ``threads``: a C program whose 4 threads make 50,000 small syscalls each.

Each workload runs under ``strace -f -c -o /dev/null`` and under
``tracebench record --mode full`` and ``--mode fast`` (the command people
run: it also stores the run in a scratch store and prints the table), all
interleaved (order rotated every repetition) so that a noisy neighbour hurts
them alike, and under ``floor``: a 40-line C tracer that takes both stops
of every syscall and does nothing else (one wait4, PTRACE_GET_SYSCALL_INFO
and PTRACE_SYSCALL per stop), what the kernel's ptrace costs on this machine
whatever the tracer.  Two times for the recorder: end to end (``e2e``, the wall time
of ``tracebench record``, start-up included) and the tracing alone
(``traced``: ``RecordResult.elapsed`` of ``python -m tracebench.tracer``,
from the fork to the last exit).  Prints the median of each and the median
of the per-repetition ratios to strace's wall time.  Targets (on e2e):
full <= 1.0, fast <= 0.7.  ``--scale K`` multiplies the syscalls made by
every workload by K: the recorder's start-up (about 0.07 s, against
strace's few milliseconds) is a fixed cost, so the e2e ratio of a short run
is mostly start-up, and the traced ratio is what longer runs tend to.  The
``break-even`` printed for each mode is how long strace must run for the
e2e ratio to reach the target, from that start-up and the traced ratio.

``--busy N`` runs N processes that only spin beside every measurement, as
on a machine other programs are using (a tracer that polls before it sleeps
takes CPU time those programs and the tracees compete for).  ``--never-poll``
adds the tracing alone with the C loop's polling turned off
(``recorder.NATIVE_SPIN_US = 0``), to compare with the loop that measures
whether polling pays (hotloop.c, struct tb_adapt).

    .venv/bin/python scripts/bench_record.py [--reps 9] [--only loop,threads] [--scale 2]
                                             [--busy 1] [--never-poll]

It also prints what one ptrace request costs through python-ptrace's
binding and through the bare ctypes call the recorder's hot path uses.
"""

from __future__ import annotations

import argparse
import compileall
import ctypes
import json
import os
import py_compile
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOP_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int fd = open("/dev/zero", O_RDONLY);
    char c;
    for (long i = 0; i < n; i++) {
        switch (i & 3) {
        case 0: syscall(SYS_getppid); break;
        case 1: read(fd, &c, 1); break;
        case 2: lseek(fd, 0, SEEK_SET); break;
        default: close(-1); break;
        }
    }
    return 0;
}
"""

THREADS_C = r"""
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
static long n;
static void *body(void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) syscall(i & 1 ? SYS_getppid : SYS_gettid);
    return NULL;
}
int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 25000;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, body, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    return 0;
}
"""

# ``python -m tracebench.tracer`` with the C loop's polling off (--never-poll);
# ``timed`` puts ``--out FILE`` after the code, as after ``-m tracebench.tracer``.
NEVER_POLL = (
    "import sys\n"
    "from tracebench.tracer import __main__ as tracer, recorder\n"
    "recorder.NATIVE_SPIN_US = 0\n"
    "sys.exit(tracer.main(sys.argv[1:]))\n")

# The floor: the least a ptrace tracer that takes both stops of every syscall
# can do (one wait4, PTRACE_GET_SYSCALL_INFO and PTRACE_SYSCALL per stop;
# nothing counted, no start-up), to tell what the kernel costs on this
# machine from what strace and the recorder add to it.
FLOOR_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/ptrace.h>
int main(int argc, char **argv) {
    (void)argc;
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int st, live = 1;
    struct rusage ru;
    struct ptrace_syscall_info info;
    waitpid(c, &st, __WALL);
    ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    ptrace(PTRACE_SYSCALL, c, 0, 0);
    while (live > 0) {
        pid_t p = wait4(-1, &st, __WALL, &ru);
        if (p < 0)
            return 1;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            live--;
            continue;
        }
        int sig = WSTOPSIG(st), event = st >> 16;
        if (sig == (SIGTRAP | 0x80))
            ptrace(PTRACE_GET_SYSCALL_INFO, p, sizeof info, &info);
        if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK
                || event == PTRACE_EVENT_VFORK)
            live++;
        int deliver = sig == (SIGTRAP | 0x80) || event || sig == SIGSTOP ? 0 : sig;
        ptrace(PTRACE_SYSCALL, p, 0, deliver);
    }
    return 0;
}
"""


def build(work: Path, scale: int) -> dict[str, list[str]]:
    for name, src, flags in (("loop", LOOP_C, []), ("threads", THREADS_C, ["-pthread"]),
                             ("floor", FLOOR_C, [])):
        (work / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-O2", *flags, "-o", str(work / name), str(work / f"{name}.c")],
                       check=True)
    tree = work / "tree"
    for d in range(400 * scale):
        sub = tree / f"d{d // 20}" / f"e{d}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"f{f}").touch()
    find = shutil.which("find") or "/usr/bin/find"
    return {
        "find": [find, str(tree), "-size", "-1k"],
        "loop": [str(work / "loop"), str(200000 * scale)],
        "threads": [str(work / "threads"), str(50000 * scale)],
    }


def timed(argv: list[str], out: Path | None = None) -> float:
    """Wall seconds of ``argv``; with ``out`` (``python -m tracebench.tracer``), the
    seconds spent tracing as the recorder reports them."""
    if out is not None:
        argv = [*argv[:3], "--out", str(out), *argv[3:]]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return float(json.loads(out.read_text())["elapsed"]) if out is not None else wall


def request_costs() -> tuple[float, float]:
    """Microseconds per PTRACE_GETEVENTMSG to a stopped tracee, two ways.

    Through python-ptrace's binding (``ptrace.binding.func.ptrace``, argtypes
    conversion and a Python-level result check) and through the bare ctypes
    call the recorder's hot path uses (prebuilt pointer, no argtypes).
    """

    from ptrace.binding import func

    pid = os.fork()
    if pid == 0:  # a child to be traced: it only waits to be killed
        signal.pause()
        os._exit(0)
    try:
        func.ptrace(0x4206, pid, 0, 0)  # PTRACE_SEIZE
        func.ptrace(0x4207, pid, 0, 0)  # PTRACE_INTERRUPT: stops it
        os.waitpid(pid, 0x40000000)  # __WALL
        bare = ctypes.PyDLL(None).ptrace
        bare.restype = ctypes.c_long
        buf = ctypes.c_ulong(0)
        addr = ctypes.addressof(buf)
        ptr = ctypes.c_void_p(addr)
        n = 200_000
        t0 = time.perf_counter()
        for _ in range(n):
            func.ptrace(0x4201, pid, 0, addr)  # PTRACE_GETEVENTMSG
        binding = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for _ in range(n):
            bare(0x4201, pid, 0, ptr)
        direct = (time.perf_counter() - t0) / n * 1e6
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return binding, direct


def spread(got: list[float], ref: list[float]) -> str:
    """The per-repetition ratios of ``got`` to ``ref``: their range and middle half,
    and the ratio of the fastest runs of each (noise only ever adds time)."""
    ratios = sorted(a / b for a, b in zip(got, ref, strict=True))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return (f"x{ratios[0]:.2f}-x{ratios[-1]:.2f}, middle half x{q1:.2f}-x{q3:.2f}, "
            f"fastest x{min(got) / min(ref):.2f}")


def median_ratio(got: list[float], ref: list[float]) -> float:
    """The median of the per-repetition ratios of ``got`` to ``ref``."""
    return statistics.median(a / b for a, b in zip(got, ref, strict=True))


def break_even(startup: float, traced: list[float], ref: list[float], target: float) -> str:
    """How long strace must run for ``startup`` plus the tracing to be ``target`` of it.

    With the traced ratio r (median per repetition), start-up s and strace's
    time T, the end-to-end ratio is r + s/T: at most ``target`` from
    T = s / (target - r) on, never when r is at the target already.
    """
    r = median_ratio(traced, ref)
    return f"{startup / (target - r):.2f} s" if r < target else "never"


def compile_package() -> None:
    """Compile tracebench's modules, as pip does when it installs a package.

    An editable install (this checkout's .venv) compiles a module at its
    first import instead, and never when PYTHONDONTWRITEBYTECODE is set: then
    every module changed since its last compile is compiled again in every
    run timed (40 ms of ``record -- /bin/true`` measured), which no installed
    tracebench pays.  scripts/bootstrap.sh does the same, in the same mode,
    but this script is run without it.
    """
    import tracebench

    compileall.compile_dir(os.path.dirname(tracebench.__file__), quiet=1,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 9: on the project's 2-core VMs one run in five or so is 20-40% off.
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--only", default="find,loop,threads")
    parser.add_argument("--scale", type=int, default=1,
                        help="multiply the syscalls of every workload by this")
    parser.add_argument("--verbose", action="store_true",
                        help="print every time measured, the spread of the ratios and "
                        "the ratio of the fastest runs")
    parser.add_argument("--busy", type=int, default=0,
                        help="processes spinning beside every measurement (a busy machine)")
    parser.add_argument("--never-poll", action="store_true",
                        help="also time the tracing with the C loop's polling off")
    ns = parser.parse_args()
    binding, direct = request_costs()
    print(f"one ptrace request (PTRACE_GETEVENTMSG, stopped tracee): python-ptrace binding "
          f"{binding:.2f} us, bare ctypes {direct:.2f} us")
    compile_package()
    # Killed (SIGTERM, SIGHUP), the benchmark still stops its spinners: a
    # spinner left behind would make every later measurement a busy one.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(ns.busy)]
    try:
        return measure(ns)
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def measure(ns: argparse.Namespace) -> int:
    """Build the workloads, time every tool on each, print the ratios."""
    tracer = [sys.executable, "-m", "tracebench.tracer"]
    with tempfile.TemporaryDirectory(prefix="tracebench-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cli = [sys.executable, "-m", "tracebench", "--store", str(Path(tmp) / "store"),
               "record"]
        tools = {
            "strace": ["strace", "-f", "-c", "-o", "/dev/null"],
            "full": [*cli, "--mode", "full", "--"],
            "fast": [*cli, "--mode", "fast", "--"],
            "full-traced": [*tracer, "--mode", "full", "--"],
            **({"never-poll-traced": [sys.executable, "-c", NEVER_POLL, "--mode", "full", "--"]}
               if ns.never_poll else {}),
            "fast-traced": [*tracer, "--mode", "fast", "--"],
        }
        startup = statistics.median(timed([*tools["full"], "/bin/true"]) for _ in range(3))
        print(f"start-up: `tracebench record -- /bin/true` {startup:.2f} s")
        workloads = build(Path(tmp), ns.scale)
        tools["floor"] = [str(Path(tmp) / "floor")]
        for name in ns.only.split(","):
            argv = workloads[name]
            times: dict[str, list[float]] = {t: [] for t in tools}
            order = list(tools)
            for rep in range(ns.reps):
                k = rep % len(order)
                for tool in order[k:] + order[:k]:
                    traced = tool.endswith("-traced")
                    times[tool].append(timed([*tools[tool], *argv], out if traced else None))
            ref = times["strace"]

            def ratio(tool: str, ref: list[float] = ref,
                      times: dict[str, list[float]] = times) -> str:
                got = times[tool]
                return f"{statistics.median(got):5.2f} s x{median_ratio(got, ref):.2f}"

            line = f"{name:8s} strace {statistics.median(ref):5.2f} s | floor {ratio('floor')}"
            if ns.never_poll:
                line += f" | never polling, traced {ratio('never-poll-traced')}"
            for mode, target in (("full", 1.0), ("fast", 0.7)):
                line += f" | {mode} e2e {ratio(mode)}, traced {ratio(mode + '-traced')}"
                line += f" (break-even {break_even(startup, times[mode + '-traced'], ref, target)})"
            busy = f", {ns.busy} busy" if ns.busy else ""
            print(f"{line}  [{ns.reps} reps, scale {ns.scale}{busy}, "
                  f"load {os.getloadavg()[0]:.1f}]",
                  flush=True)
            if ns.verbose:
                for tool, got in times.items():
                    print(f"    {tool:12s} " + " ".join(f"{t:.2f}" for t in got)
                          + f"  ratios {spread(got, ref)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
