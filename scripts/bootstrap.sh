# Sourced by scripts/test and scripts/demo: make .venv with tracebench and its
# test extras installed, on a fresh machine as on a developer's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# The recorder's C loop (built by the install below), the C test programs and
# the generated libseccomp C code need a compiler and libseccomp's header;
# strace is the tests' oracle, runc the one for the evaluator's model of
# runc (tests/test_runc.py), firejail, LXC and systemd-analyze those for
# their formats (tests/test_format_oracles.py). Install them where they are
# missing (Debian).
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v strace >/dev/null || need+=(strace)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || need+=(runc)
command -v firejail >/dev/null || need+=(firejail)
command -v lxc-execute >/dev/null || need+=(lxc)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "scripts/bootstrap.sh: please install: ${need[*]}" >&2
        exit 2
    fi
fi
# Reinstall only when the project metadata or the C loop changed since the
# last install (an editable install does not rebuild the C loop by itself).
stamp=.venv/.tracebench-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
        || [ tracebench/tracer/hotloop.c -nt "$stamp" ] \
        || [ tracebench/parsers/linescan.c -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi
# Compile the package's bytecode (quick when it is up to date).  With
# PYTHONDONTWRITEBYTECODE set, as in this project's sandboxes, Python never
# writes it, and an editable install's modules were compiled again at every
# start: ~45 ms of each `tracebench record` (a wheel gets its bytecode from
# pip).  checked-hash: a .pyc is used only while its source is unchanged.
.venv/bin/python -m compileall -q --invalidation-mode checked-hash tracebench \
    >/dev/null 2>&1 || true
export PATH="$ROOT/.venv/bin:$PATH"
