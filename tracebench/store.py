"""The run store: an SQLite database of recorded and imported runs.

Lives in ``.tracebench/runs.db`` under the current directory unless
``--store DIR`` or ``TRACEBENCH_STORE`` names another directory.  Each run has
a numeric id, a label and its Profile (as the versioned JSON document).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tracebench.errors import StoreError
from tracebench.profile import Profile

ENV_VAR = "TRACEBENCH_STORE"
DEFAULT_DIR = ".tracebench"
DB_NAME = "runs.db"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    command TEXT NOT NULL,
    syscalls INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    exit_status INTEGER,
    profile TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_label ON runs(label);
"""


@dataclass(frozen=True)
class RunInfo:
    """One stored run, without its profile."""

    id: int
    label: str
    created: str
    source: str
    command: str
    syscalls: int
    calls: int
    exit_status: int | None


def default_dir(explicit: str | None = None) -> Path:
    """The store directory: ``explicit``, else $TRACEBENCH_STORE, else ./.tracebench."""
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_DIR)


class Store:
    """Runs kept in one SQLite file; opened lazily, created on first write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if not self.path.exists():
            if not create:
                return None
            self.directory.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path)
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                db.commit()
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"run store schema {row[0]} is not {SCHEMA_VERSION}",
                                 path=str(self.path))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use run store: {exc}", path=str(self.path)) from None
        return db

    def add(self, profile: Profile, label: str, exit_status: int | None = None) -> RunInfo:
        """Store a run; returns its id and summary."""
        prov = profile.provenance
        summary = (label, prov.started, prov.source, " ".join(prov.command) or
                   ", ".join(prov.files), len(profile.totals()), profile.calls(), exit_status)
        document = profile.to_json()
        db = self._connect(create=True)
        assert db is not None
        with db:
            cur = db.execute(
                "INSERT INTO runs (label, created, source, command, syscalls, calls, exit_status,"
                " profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*summary, document),
            )
        run_id = int(cur.lastrowid or 0)
        db.close()
        # The row as stored, without reading it back (a second connection
        # costs as much as the insert, fsyncs aside).
        return RunInfo(run_id, *summary)

    def runs(self) -> list[RunInfo]:
        """Every stored run, oldest first."""
        db = self._connect(create=False)
        if db is None:
            return []
        rows = db.execute("SELECT id, label, created, source, command, syscalls, calls,"
                          " exit_status FROM runs ORDER BY id").fetchall()
        db.close()
        return [RunInfo(*row) for row in rows]

    def _find(self, ref: str | None, columns: str) -> tuple[object, ...]:
        db = self._connect(create=False)
        if db is None:
            raise StoreError(f"no runs stored yet in {self.directory} (record or import one)")
        if ref is None or ref == "latest":
            row = db.execute(f"SELECT {columns} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            what = "no runs stored yet"
        elif ref.isdigit():
            row = db.execute(f"SELECT {columns} FROM runs WHERE id=?", (int(ref),)).fetchone()
            what = f"no run with id {ref}"
        else:
            # A label may be reused; the newest run with it wins, as a git tag would not,
            # but as "the latest run of my test suite" should.
            row = db.execute(f"SELECT {columns} FROM runs WHERE label=? ORDER BY id DESC LIMIT 1",
                             (ref,)).fetchone()
            what = f"no run with id or label {ref!r}"
        db.close()
        if row is None:
            raise StoreError(f"{what} in {self.path}")
        return tuple(row)

    def info(self, ref: str | None) -> RunInfo:
        """The run named by id, label or None/'latest'."""
        row = self._find(ref, "id, label, created, source, command, syscalls, calls, exit_status")
        return RunInfo(*row)  # type: ignore[arg-type]

    def load(self, ref: str | None) -> tuple[RunInfo, Profile]:
        """The run named by id, label or None/'latest', with its Profile."""
        row = self._find(ref, "id, label, created, source, command, syscalls, calls, "
                              "exit_status, profile")
        info = RunInfo(*row[:-1])  # type: ignore[arg-type]
        return info, Profile.from_json(str(row[-1]), path=f"{self.path}#run{info.id}")
