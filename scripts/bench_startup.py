#!/usr/bin/env python3
"""How fast `tracebench --help` answers (target: under 0.3 s; pandas is imported lazily).

Runs the installed console script N times (default 20) and prints the median
and the worst wall time, and whether pandas, pyseccomp or ptrace were imported.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    exe = Path(sys.executable).with_name("tracebench")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from tracebench.cli import main\n"
         "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in ('pandas', 'pyseccomp', 'ptrace', 'yaml') if m in sys.modules),"
         " file=sys.stderr)"],
        capture_output=True, text=True, check=True)
    median = statistics.median(times)
    print(f"tracebench --help: median {median:.3f} s, worst {max(times):.3f} s over {runs} runs "
          f"(target < 0.3 s: {'met' if median < 0.3 else 'MISSED'})")
    print(f"heavy modules imported by --help: {probe.stderr.strip()}")
    return 0 if median < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
