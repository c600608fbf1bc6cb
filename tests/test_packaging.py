"""The wheel carries what an editable install finds in the checkout.

Built from a copy of the project (as ``pip install .`` would build it) and
installed into a scratch directory: the shipped policies, the data files and
the two C libraries must come with it, and the CLI must find them there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "__pycache__", "*.so",
                                     "*.egg-info", "demo-output", ".tracebench", ".*_cache")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(tmp / "out"), str(src)],
                   check=True, capture_output=True)
    (found,) = (tmp / "out").glob("tracebench-*.whl")
    return found


def test_the_wheel_holds_the_policies_data_and_c_libraries(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (ROOT / "tracebench" / "policies").iterdir()}
    assert shipped >= {"docker-default.json", "podman-default.json", "SOURCES.md"}
    assert {f"tracebench/policies/{n}" for n in shipped} <= names
    data = {p.name for p in (ROOT / "tracebench" / "data").iterdir()}
    assert {f"tracebench/data/{n}" for n in data} <= names
    assert "tracebench/py.typed" in names
    for lib in ("tracebench/tracer/_hotloop", "tracebench/parsers/_linescan"):
        assert any(n.startswith(lib) and n.endswith(".so") for n in names), lib


def test_the_installed_wheel_finds_shipped_policies_and_c_libraries(
        wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "TRACEBENCH_STORE": str(tmp_path / "store")}
    probe = subprocess.run(
        [sys.executable, "-c",
         "import json, tracebench\n"
         "from tracebench import shipped\n"
         "from tracebench.tracer import native\n"
         "from tracebench.parsers import linescan\n"
         "print(json.dumps([tracebench.__file__, shipped.names(),\n"
         "                  str(native.library_path()), str(linescan.library_path())]))"],
        env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    package, names, hotloop, scanner = json.loads(probe.stdout)
    # The installed copy answered, not the checkout's editable install.
    assert Path(package).is_relative_to(target)
    assert {"docker-default", "podman-default", "beats-profiler-allow"} <= set(names)
    assert Path(hotloop).is_relative_to(target) and Path(scanner).is_relative_to(target)

    cli = [sys.executable, "-m", "tracebench"]
    subprocess.run([*cli, "record", "-q", "--label", "true", "--", "/bin/true"], env=env,
                   check=True, capture_output=True, cwd=tmp_path)
    diff = subprocess.run([*cli, "diff", "docker-default", "true"], check=False, env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert "docker-default" in diff.stdout
