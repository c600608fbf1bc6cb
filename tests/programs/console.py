"""Run tracebench's console script as a user does, with its run store in a directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TRACEBENCH = str(Path(sys.executable).with_name("tracebench"))


def tb(store: Path, *args: str, pre: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``tracebench ARGS`` (after the command ``pre``, e.g. ``setarch -R``) on ``store``."""
    env = {**os.environ, "TRACEBENCH_STORE": str(store)}
    return subprocess.run([*pre, TRACEBENCH, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
