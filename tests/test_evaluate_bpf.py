"""The classic-BPF machine under the evaluator: decoding, checks, concrete and symbolic runs.

The instruction sequences written out here test the interpreter's semantics
(Documentation/networking/filter.rst); they are not policies.  Policies are
always compiled by libseccomp, as in the last tests.
"""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from tracebench import sandbox
from tracebench.errors import PolicyError
from tracebench.policy import bpf
from tracebench.policy.bpf import Atom, Insn, Program, SeccompData, solve
from tracebench.policy.model import ALLOW, Action, Condition, Context, Policy, Rule

LD_ABS = bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS
RET_K = bpf.BPF_RET | bpf.BPF_K
RET_A = bpf.BPF_RET | bpf.BPF_A
JEQ_K = bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K
JGT_K = bpf.BPF_JMP | bpf.BPF_JGT | bpf.BPF_K
JSET_K = bpf.BPF_JMP | bpf.BPF_JSET | bpf.BPF_K
ALU_K = bpf.BPF_ALU | bpf.BPF_K
ALU_X = bpf.BPF_ALU | bpf.BPF_X


def prog(*insns: tuple[int, int, int, int]) -> Program:
    return Program([Insn(*i) for i in insns])


def data(nr: int = 0, *args: int) -> SeccompData:
    return SeccompData(nr, 0xC000003E, 0x1234, (tuple(args) + (0,) * 6)[:6])


# ---------------------------------------------------------------------------
# solve(): exact against brute force on 8-bit words.


def brute(atoms: list[Atom], bits: int) -> int | None:
    for w in range(1 << bits):
        if all((((w & a.mask) == a.k) if a.op == "eq" else ((w & a.mask) > a.k)
                if a.op == "gt" else ((w & a.mask) >= a.k)) == a.truth for a in atoms):
            return w
    return None


def test_solve_matches_brute_force_on_8_bit_words() -> None:
    rng = random.Random(8)
    masks = (0xFF, 0xFF, 0xF0, 0x0F, 0x81, 0x3C)
    for _ in range(3000):
        atoms = [Atom(rng.choice(masks), rng.choice(("eq", "gt", "ge")),
                      rng.choice((0, 1, 0x30, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256))),
                      rng.random() < 0.6)
                 for _ in range(rng.randint(1, 5))]
        assert solve(atoms, bits=8) == brute(atoms, 8), atoms


def test_solve_32_bit_cases() -> None:
    assert solve([Atom(0xFFFFFFFF, "ge", 50, True), Atom(0xFFFFFFFF, "gt", 100, False)]) == 50
    assert solve([Atom(0xFFFFFFFF, "gt", 0xFFFFFFFF, True)]) is None
    assert solve([Atom(0xFFFFFFFF, "eq", 7, True), Atom(0xFFFFFFFF, "eq", 7, False)]) is None
    assert solve([Atom(0xFFFFFFFF, "eq", 0, False), Atom(0xFFFFFFFF, "eq", 1, False)]) == 2
    # (w & 0xf0) == 0x30 and w > 0x35
    assert solve([Atom(0xF0, "eq", 0x30, True), Atom(0xFFFFFFFF, "gt", 0x35, True)]) == 0x36
    # a value with bits outside the mask never matches
    assert solve([Atom(0xF0, "eq", 0x31, True)]) is None
    assert solve([]) == 0


# ---------------------------------------------------------------------------
# Decoding and the kernel's structural checks.


def test_decode_little_and_big_endian() -> None:
    raw = struct.pack("<HBBI", RET_K, 0, 0, 0x7FFF0000)
    assert Program.from_bytes(raw).insns == (Insn(RET_K, 0, 0, 0x7FFF0000),)
    raw_be = struct.pack(">HBBI", RET_K, 0, 0, 0x7FFF0000)
    assert Program.from_bytes(raw_be, big_endian=True).run(data()) == 0x7FFF0000
    with pytest.raises(PolicyError, match="not whole instructions"):
        Program.from_bytes(raw[:5])


@pytest.mark.parametrize(("insns", "message"), [
    ([], "empty"),
    ([(LD_ABS, 0, 0, 0)], "does not end in a return"),
    ([(LD_ABS, 0, 0, 64), (RET_K, 0, 0, 0)], "outside struct seccomp_data"),
    ([(LD_ABS, 0, 0, 2), (RET_K, 0, 0, 0)], "outside struct seccomp_data"),
    ([(JEQ_K, 5, 0, 1), (RET_K, 0, 0, 0)], "jump out of the program"),
    ([(bpf.BPF_LD | bpf.BPF_B | bpf.BPF_ABS, 0, 0, 0), (RET_K, 0, 0, 0)], "not allowed"),
    ([(ALU_K | bpf.BPF_DIV, 0, 0, 0), (RET_K, 0, 0, 0)], "division by zero"),
    ([(ALU_K | bpf.BPF_LSH, 0, 0, 32), (RET_K, 0, 0, 0)], "shift by 32"),
    ([(bpf.BPF_ST, 0, 0, 16), (RET_K, 0, 0, 0)], "scratch memory"),
])
def test_programs_the_kernel_refuses(insns: list[tuple[int, int, int, int]], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        prog(*insns)


# ---------------------------------------------------------------------------
# Concrete semantics.


def test_loads_see_seccomp_data_words() -> None:
    # word 0 nr, 1 arch, 2-3 instruction pointer, then args as lo/hi words
    d = data(39, 0x1_0000_0002)
    words = d.words()
    assert words[:6] == (39, 0xC000003E, 0x1234, 0, 2, 1)
    assert d.words(big_endian=True)[4:6] == (1, 2)
    for w in range(16):
        assert prog((LD_ABS, 0, 0, 4 * w), (RET_A, 0, 0, 0)).run(d) == words[w]
    assert SeccompData(-1, 0).words()[0] == 0xFFFFFFFF  # nr is a signed int


def test_alu_jumps_registers_and_memory() -> None:
    d = data(10)
    p = prog((LD_ABS, 0, 0, 0),                       # A = 10
             (ALU_K | bpf.BPF_MUL, 0, 0, 3),          # 30
             (ALU_K | bpf.BPF_SUB, 0, 0, 40),         # -10 wraps
             (bpf.BPF_ST, 0, 0, 3),                   # M[3] = A
             (bpf.BPF_LDX | bpf.BPF_IMM, 0, 0, 4),    # X = 4
             (ALU_X | bpf.BPF_RSH, 0, 0, 0),          # A >>= 4
             (bpf.BPF_MISC | bpf.BPF_TAX, 0, 0, 0),   # X = A
             (bpf.BPF_LD | bpf.BPF_MEM, 0, 0, 3),     # A = M[3]
             (ALU_X | bpf.BPF_XOR, 0, 0, 0),
             (RET_A, 0, 0, 0))
    minus10 = (30 - 40) & 0xFFFFFFFF
    assert p.run(d) == minus10 ^ (minus10 >> 4)
    jumps = prog((LD_ABS, 0, 0, 16), (JSET_K, 0, 3, 0x8), (JGT_K, 1, 0, 100),
                 (RET_K, 0, 0, 1), (RET_K, 0, 0, 2), (RET_K, 0, 0, 3))
    assert [jumps.run(data(0, a)) for a in (0x8, 0x108, 0x7)] == [1, 2, 3]
    ja = prog((bpf.BPF_JMP | bpf.BPF_JA, 0, 0, 1), (RET_K, 0, 0, 1), (RET_K, 0, 0, 2))
    assert ja.run(d) == 2
    length = prog((bpf.BPF_LD | bpf.BPF_W | bpf.BPF_LEN, 0, 0, 0), (RET_A, 0, 0, 0))
    assert length.run(d) == 64
    neg = prog((bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 5), (bpf.BPF_ALU | bpf.BPF_NEG, 0, 0, 0),
               (RET_A, 0, 0, 0))
    assert neg.run(d) == (-5) & 0xFFFFFFFF


def test_division_by_zero_in_x_returns_zero() -> None:
    p = prog((bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 7), (ALU_X | bpf.BPF_DIV, 0, 0, 0),
             (RET_K, 0, 0, 0x7FFF0000))
    assert p.run(data()) == 0
    assert [o.ret for o in p.outcomes({})] == [0]


# ---------------------------------------------------------------------------
# Symbolic runs.


def test_outcomes_of_a_hand_written_range_check() -> None:
    # if (arg0.lo > 100) ret 1; if ((arg0.lo & 0xf0) == 0x30) ret 2; ret 3
    p = prog((LD_ABS, 0, 0, 16), (JGT_K, 0, 1, 100), (RET_K, 0, 0, 1),
             (ALU_K | bpf.BPF_AND, 0, 0, 0xF0), (JEQ_K, 0, 1, 0x30), (RET_K, 0, 0, 2),
             (RET_K, 0, 0, 3))
    found = {o.ret: o.witness for o in p.outcomes({})}
    assert found == {1: {4: 101}, 2: {4: 0x30}, 3: {4: 0}}
    assert [o.ret for o in p.outcomes({4: 0x35})] == [2]
    for ret, witness in found.items():
        words = [witness.get(w, 0) for w in range(16)]
        assert p.run_words(words) == ret


def test_outcomes_refuse_what_they_do_not_model() -> None:
    p = prog((LD_ABS, 0, 0, 16), (ALU_K | bpf.BPF_ADD, 0, 0, 1), (RET_A, 0, 0, 0))
    with pytest.raises(PolicyError, match="arithmetic on an unknown"):
        p.outcomes({})
    assert p.outcomes({4: 1})[0].ret == 2
    q = prog((LD_ABS, 0, 0, 16), (RET_A, 0, 0, 0))
    with pytest.raises(PolicyError, match="returns an unknown"):
        q.outcomes({})


def test_outcomes_cover_every_concrete_run_of_libseccomp_programs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "GUARD_SECONDS", 1.0)
    # Random libseccomp filters: every concrete result is among the symbolic
    # outcomes, and every outcome's witness reproduces it.
    rng = random.Random(64)
    ctx = Context("x86_64")
    ops = ("eq", "ne", "lt", "le", "gt", "ge", "masked_eq")
    values = (0, 5, 0xFFFFFFFF, 0x100000000, 2**64 - 1, 2**63)
    checked = 0
    for n in range(150):
        rules = []
        for i in range(rng.randint(1, 5)):
            args = rng.sample(range(3), rng.randint(0, 2))
            conds = tuple(Condition(a, rng.choice(ops), rng.choice(values),
                                    rng.choice((0xF0, 2**64 - 1, 0xFFFFFFFF00000000)))
                          for a in sorted(args))
            rules.append(Rule(("dup",), Action("errno", 1 + rng.randrange(3)), conds,
                              line=i + 1))
        pol = Policy(ALLOW, tuple(rules), name=f"random {n}")
        try:
            program = sandbox.compile(pol, ctx).program()
        except PolicyError:
            continue  # EEXIST or libseccomp's loop: covered elsewhere
        fixed = {0: 32, 1: sandbox.bpf_arch_token("x86_64"), 2: 0, 3: 0}
        outcomes = program.outcomes(fixed)
        rets = {o.ret for o in outcomes}
        for o in outcomes:
            words = {**o.witness, **fixed}
            assert program.run_words([words.get(w, 0) for w in range(16)]) == o.ret
        for a0, a1 in itertools.product((*values, 1, 6, 0x30), repeat=2):
            assert program.run(SeccompData(32, fixed[1], 0, (a0, a1, 0, 0, 0, 0))) in rets
        checked += 1
    assert checked > 100
