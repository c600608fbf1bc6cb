"""Round trips generated from the FORMATS registry: read -> write -> read keeps the policy.

Every format with both a reader and a writer is tried on every policy fixture
its ``sniff`` accepts (multi-document formats, whose module has
``documents()``, on each document as ``path#name``), and every policy read
from any fixture is written in every such format that can express it.  Two
checks: the policies are equal after normalisation (rule grouping, name order
and no-op rules do not count), and the evaluator gives every call the same
action on the policy's architectures.  A format added to FORMATS gets all of
this without a line here.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Hashable
from dataclasses import replace
from pathlib import Path

import pytest

from tracebench import sandbox, syscalls
from tracebench.errors import PolicyError
from tracebench.policy.evaluate import evaluate
from tracebench.policy.formats import FORMATS, Format
from tracebench.policy.formats.oci import ARCH_FAMILIES, for_host
from tracebench.policy.model import Condition, Context, Policy, Rule

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
U64 = 2**64 - 1
ROUND_TRIP = sorted(n for n, f in FORMATS.items() if f.read and f.write)


def _documents(fmt: Format, text: str, path: str) -> list[str]:
    module = sys.modules[fmt.read.__module__] if fmt.read else None
    documents = getattr(module, "documents", None)
    if documents is None:
        return [path]
    return [f"{path}#{name}" for name in documents(text, path)]


def _cases() -> list[tuple[str, str]]:
    """(format, path[#document]) for every fixture a round-trip format sniffs."""
    out = []
    for file in sorted(FIXTURES.iterdir()):
        text = file.read_text(errors="replace")
        for name in ROUND_TRIP:
            fmt = FORMATS[name]
            if fmt.sniff is not None and fmt.sniff(text):
                out += [(name, doc) for doc in _documents(fmt, text, str(file))]
    return out


CASES = _cases()


@functools.cache
def read_case(fmt: str, path: str) -> Policy:
    reader = FORMATS[fmt].read
    assert reader is not None
    return reader(Path(path.split("#", 1)[0]).read_text(), path)


def _conditions(conds: tuple[Condition, ...]) -> frozenset[Condition]:
    # ANDed conditions as a set, masked_eq on one argument merged into one.
    masked: dict[int, tuple[int, int]] = {}
    out = set()
    for c in conds:
        if c.op == "masked_eq":
            m, v = masked.get(c.arg, (0, 0))
            masked[c.arg] = (m | (c.mask & U64), v | (c.value & U64))
        else:
            out.add(Condition(c.arg, c.op, c.value & U64))
    out |= {Condition(a, "masked_eq", v, mask=m) for a, (m, v) in masked.items()}
    return frozenset(out)


def normal(p: Policy) -> tuple[Hashable, ...]:
    """What must survive a round trip: default, architectures, each name's rules.

    Rules whose action is the default are dropped (libseccomp refuses them,
    every compiler skips them).  Per name, when all its rules are ungated and
    one is unconditional, only the first unconditional rule counts (it beats
    conditional rules and later unconditional ones).
    """
    per_name: dict[str, list[Rule]] = {}
    for r in p.rules:
        for n in dict.fromkeys(r.names):
            per_name.setdefault(n, []).append(r)
    names = {}
    for n, rules in per_name.items():
        rules = [r for r in rules if r.action != p.default_action]
        if not rules:
            continue
        if all(r.gate.is_open() for r in rules):
            first = next((r for r in rules if not r.conditions), None)
            rules = [first] if first else rules
        keys = [(r.action, _conditions(r.conditions), tuple(sorted(r.arches)), r.gate)
                for r in rules]
        uncond = tuple(dict.fromkeys(k for k in keys if not k[1]))
        names[n] = (frozenset(keys), uncond)
    return p.default_action, tuple(sorted(p.arches)), tuple(sorted(names.items()))


def _hosts(p: Policy) -> list[str]:
    """One host per architecture family the policy names (Docker's archMap), or native.

    Little-endian families only: tracebench.sandbox cannot build big-endian
    filters on this little-endian machine yet (libseccomp's EDOM).
    """
    known = [a for a in p.arches if a in syscalls.AUDIT_ARCH and not sandbox.is_big_endian(a)]
    hosts = [a for a in known if a in ARCH_FAMILIES]
    covered = {s for h in hosts for s in (h, *ARCH_FAMILIES[h])}
    return hosts + [a for a in known if a not in covered] or [syscalls.native_arch()]


def _compiled(p: Policy, ctx: Context) -> bytes | str:
    try:
        return sandbox.compile(p, ctx, ignore_unknown=True).export_bpf()
    except PolicyError as e:
        return e.message


def same_actions(a: Policy, b: Policy, *, every_call: bool = False) -> None:
    """The evaluator gives every call on every architecture the same possible actions.

    Both policies are compiled for each host family and capability set; an
    identical filter program means identical decisions (the evaluator runs
    that program), otherwise (or with ``every_call``) every call either
    policy names is evaluated.
    """
    names = a.names() | b.names() | {"socketcall", "ipc"}
    caps = frozenset(c for r in (*a.rules, *b.rules) for c in r.gate.caps | r.gate.not_caps)
    for host in _hosts(a):
        pa, pb = (for_host(a, host), for_host(b, host)) if a.arches else (a, b)
        for ctx in {Context(host), Context(host, caps=caps)}:
            ca, cb = _compiled(pa, ctx), _compiled(pb, ctx)
            if isinstance(ca, str) or isinstance(cb, str):
                assert ca == cb, (host, "one policy does not compile")
                continue
            if ca == cb and not every_call:
                continue
            for arch in pa.arches or (host,):
                for name in sorted(n for n in names if syscalls.number(arch, n) is not None):
                    da = evaluate(pa, ctx, arch, name, ignore_unknown=True)
                    db = evaluate(pb, ctx, arch, name, ignore_unknown=True)
                    assert {o.action for o in da.outcomes} == {o.action for o in db.outcomes}, \
                        (host, arch, name, ctx.caps)


def test_there_are_cases_for_every_round_trip_format_of_part_a() -> None:
    formats = {fmt for fmt, _ in CASES}
    assert {"oci", "spo", "beats", "plain"} <= formats


@pytest.mark.parametrize(("fmt", "path"), CASES,
                         ids=[f"{f}:{Path(p).name}" for f, p in CASES])
def test_read_write_read(fmt: str, path: str) -> None:
    first = read_case(fmt, path)
    f = FORMATS[fmt]
    assert f.write is not None and f.read is not None
    text = f.write(first)
    again = f.read(text, path.split("#", 1)[0])
    assert normal(again) == normal(first)
    # Writing what was read back gives the same text: the writer is stable.
    assert f.write(again) == text
    same_actions(first, again)


@pytest.mark.parametrize(("fmt", "name"), [("oci", "docker-default.json"),
                                         ("beats", "go-seccomp-bpf-sandbox-example.yml")])
def test_round_trip_keeps_every_decision(fmt: str, name: str) -> None:
    # The evaluator on every call, not only the compiled programs' identity.
    first = read_case(fmt, str(FIXTURES / name))
    f = FORMATS[fmt]
    assert f.write is not None and f.read is not None
    same_actions(first, f.read(f.write(first), name), every_call=True)


def _writable_version(policy: Policy, fmt: Format) -> tuple[Policy, str] | None:
    """The policy (or, failing that, the policy resolved for an x86_64 Docker host) and
    its text in ``fmt``; None when the format cannot express either."""
    assert fmt.write is not None
    candidates = [policy, for_host(policy.resolve(Context("x86_64")), "x86_64")]
    candidates.append(replace(candidates[1], arches=candidates[1].arches[:1]))
    for candidate in candidates:
        try:
            return candidate, fmt.write(candidate)
        except PolicyError:
            continue
    return None


SOURCES = sorted({(fmt, path) for fmt, path in CASES})


@pytest.mark.parametrize("target", ROUND_TRIP)
def test_every_fixture_converts_to_every_format_that_can_say_it(target: str) -> None:
    fmt = FORMATS[target]
    assert fmt.read is not None
    converted = 0
    for source, path in SOURCES:
        if source == target:
            continue
        found = _writable_version(read_case(source, path), fmt)
        if found is None:
            continue
        policy, text = found
        again = fmt.read(text, f"converted{fmt.suffixes[0]}")
        native = (syscalls.native_arch(),)
        if {policy.arches, again.arches} <= {(), native} or \
                (len(policy.arches) == 1 and again.arches == ()):
            # "Native" and the native architecture named are the same here; a
            # single-architecture format may say the architecture in a comment only.
            policy, again = replace(policy, arches=()), replace(again, arches=())
        assert normal(again) == normal(policy), (source, path)
        same_actions(policy, again)
        converted += 1
    assert converted, f"no fixture could be written as {target}"


def test_the_checks_catch_a_changed_policy() -> None:
    first = read_case("oci", str(FIXTURES / "docker-default.json"))
    # clone3 without CAP_SYS_ADMIN: errno(38) -> errno(1), the default.
    changed = replace(first, rules=tuple(
        replace(r, action=first.default_action) if r.names == ("clone3",) else r
        for r in first.rules))
    assert normal(changed) != normal(first)
    with pytest.raises(AssertionError, match="clone3"):
        same_actions(first, changed)
