#!/usr/bin/env python3
"""Benchmark of the strace log importer: throughput and peak memory on a big log.

    .venv/bin/python scripts/bench_import.py            # ~1 GB
    .venv/bin/python scripts/bench_import.py --size 200 # ~200 MB
    .venv/bin/python scripts/bench_import.py --size 50 --args  # import --args

It traces a real program (this Python running threads, failing stat calls and
a subprocess) with ``strace -f -tt -T``, repeats that real output with shifted
pids into a log of the requested size, imports it with the strace-log
importer as the CLI does (an open text stream), and prints MB/s, CPU time and
the peak resident memory of this process and of the worker processes.  The
counts are checked: N copies of the seed must count N times the seed's calls.
Other processes competing for the CPU lower the MB/s; the load average is
printed with the result.  ``TRACEBENCH_SCAN=python`` measures the fallback
used when the C line scanner was not built (the regex).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOAD = """
import os, subprocess, threading
def work():
    for _ in range(300):
        os.stat("/")
        try:
            os.stat("/nonexistent")
        except OSError:
            pass
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
subprocess.run(["/bin/true"])
"""
_PID = re.compile(r"^\d+", re.M)


def make_seed(workdir: Path) -> str:
    """Real ``strace -f -tt -T`` output of a real program."""
    seed = workdir / "seed.log"
    subprocess.run(["strace", "-f", "-tt", "-T", "-o", str(seed), sys.executable, "-c",
                    WORKLOAD], check=True, stdout=subprocess.DEVNULL)
    return seed.read_text()


def write_big_log(seed: str, path: Path, size: int) -> int:
    """Copies of ``seed`` with shifted pids until ``size`` bytes; returns the copy count."""
    pids = sorted(set(_PID.findall(seed)), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(pids) + r")\b")
    pieces = pattern.split(seed)  # text, pid, text, pid, ...
    copies = 0
    written = 0
    with path.open("w") as out:
        while written < size:
            shift = (copies % 3000) * 1000
            text = "".join(p if i % 2 == 0 else str(int(p) + shift)
                           for i, p in enumerate(pieces))
            out.write(text)
            written += len(text.encode())
            copies += 1
    return copies


# Polls the importing process and its children (a separate process: a thread
# here would make the importer spawn its workers instead of forking them).
SAMPLER = r"""
import os, sys, time
root = int(sys.argv[1])
def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return sum(int(l.split()[1]) for l in fh if l.startswith("Pss:"))
    except OSError:
        return 0
def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out
peak = 0
while os.path.exists(f"/proc/{root}") and not os.path.exists(sys.argv[2]):
    kids = [c for c in children(root) if c != os.getpid()]
    peak = max(peak, pss(root) + sum(pss(c) for c in kids))
    time.sleep(0.05)
print(peak // 1024)
"""


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest child."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, children


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1024, help="log size in MB (default 1024)")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes (default: one per core)")
    ap.add_argument("--keep", metavar="PATH", help="write the log here and keep it")
    ap.add_argument("--args", action="store_true",
                    help="read argument values too (import --args: every line exactly)")
    args = ap.parse_args()
    if shutil.which("strace") is None:
        print("strace is not installed", file=sys.stderr)
        return 2

    import io

    from tracebench.parsers.strace_log import read_logs

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        seed = make_seed(workdir)
        one = read_logs([("seed", io.StringIO(seed))]).profile.summary()
        path = Path(args.keep) if args.keep else workdir / "big.log"
        t0 = time.perf_counter()
        copies = write_big_log(seed, path, args.size * 1_000_000)
        size = path.stat().st_size
        # Write the fresh log back to disk now, not while the import runs: the
        # kernel's writeback of a gigabyte of dirty pages competes for the CPU.
        os.sync()
        print(f"log: {path} {size / 1e6:.0f} MB, {copies} copies of a {len(seed) / 1e3:.0f} kB "
              f"strace -f -tt -T trace ({time.perf_counter() - t0:.1f} s to write)")

        import pandas  # noqa: F401  (imported before timing: the CLI has it loaded too)

        stop = workdir / "stop"
        sampler = subprocess.Popen([sys.executable, "-c", SAMPLER, str(os.getpid()), str(stop)],
                                   stdout=subprocess.PIPE, text=True)
        wall0 = time.perf_counter()
        cpu0 = time.process_time()
        with path.open(encoding="utf-8") as fh:
            result = read_logs([(str(path), fh)], workers=args.workers, args=args.args)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        stop.touch()
        total_pss = int(sampler.communicate()[0] or 0)
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        me, kids = peak_rss_mb()
        got = result.profile.summary()
        calls = int(got.calls.sum())
        ok = (calls == copies * int(one.calls.sum())
              and int(got.errors.sum()) == copies * int(one.errors.sum())
              and int(got.unfinished.sum()) == copies * int(one.unfinished.sum()))
        from tracebench.parsers import linescan
        scanner = "the C line scanner" if linescan.wanted() else "the regex"
        if args.args:
            scanner = "--args: the exact reader"
        print(f"import ({scanner}): {wall:.2f} s wall = {size / 1e6 / wall:.1f} MB/s; "
              f"CPU {cpu:.2f} s here + {child.ru_utime + child.ru_stime:.2f} s in workers")
        print(f"peak RSS: {me:.0f} MB here, {kids:.0f} MB largest worker; peak PSS of "
              f"this process and its workers together: {total_pss} MB")
        print(f"counted {calls} calls, {copies} x the seed's: {'ok' if ok else 'MISMATCH'}")
        print(f"load average while measuring: {os.getloadavg()[0]:.2f} "
              f"on {len(os.sched_getaffinity(0))} cores")
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
