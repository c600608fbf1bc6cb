"""The strace outputs of tests/fixtures/strace: every log and terminal capture
(not the audit records, sources, manifests or SOURCES notes)."""

from __future__ import annotations

from pathlib import Path

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "strace"
LOGS = sorted(
    p for p in FIX.rglob("*")
    if p.is_file() and p.suffix not in (".md", ".tsv", ".c", ".json") and "audit" not in p.parts
)
