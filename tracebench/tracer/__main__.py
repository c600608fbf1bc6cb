"""``python -m tracebench.tracer``: the recorder alone, for tests and benchmarks.

    python -m tracebench.tracer [--mode full|fast] [--out FILE] -- CMD [ARGS...]
    python -m tracebench.tracer [--out FILE] --pid PID

Writes the result as JSON to FILE (the Profile in ``profile``) and exits with
the program's exit status; an error is one line on stderr and exit status 1.
``tracebench record`` is the command for people.
"""

from __future__ import annotations

import argparse
import json
import sys

from tracebench.errors import TracebenchError
from tracebench.tracer import MODES, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracebench.tracer")
    parser.add_argument("--mode", choices=MODES, default="full")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    try:
        result = record(command or None, mode=ns.mode, pid=ns.pid)
    except TracebenchError as e:
        print(f"tracebench: {e}", file=sys.stderr)
        return 1
    if ns.out:
        doc = {
            "exit_status": result.exit_status,
            "pid": result.pid,
            "detached": result.detached,
            "signals": list(result.signals),
            "forwarded": list(result.forwarded),
            "calls": result.calls,
            "elapsed": result.elapsed,
            "profile": json.loads(result.profile.to_json()),
        }
        with open(ns.out, "w") as f:
            json.dump(doc, f)
    return result.exit_status


if __name__ == "__main__":
    sys.exit(main())
