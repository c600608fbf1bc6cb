"""Classic BPF as seccomp runs it: decode, run on one call, and find every possible result.

A seccomp filter is a classic-BPF program run on ``struct seccomp_data``
(``int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]``, 64 bytes in
the filtered task's byte order) that returns a 32-bit ``SECCOMP_RET_*`` value.
The semantics are the kernel's (Documentation/networking/filter.rst, the
opcode subset ``seccomp_check_filter`` in kernel/seccomp.c accepts);
libseccomp's ``tools/scmp_bpf_sim.c`` is the same machine for the handful of
opcodes libseccomp emits.

Two ways to run a program:

* ``Program.run(data)``: the concrete result for one call, exactly as the
  kernel computes it.
* ``Program.outcomes(words)``: every result the program can give when some
  32-bit words of ``seccomp_data`` are unknown, each with one witness (a
  value for the unknown words that produces it).  Unknown words are symbols;
  a path through the program collects constraints ``(word & mask) OP k``
  (OP one of ==, >, >=, or their negations), and a path counts only if its
  constraints have a solution, decided exactly by ``solve``.

This module never builds a program: programs come from libseccomp
(``tracebench.sandbox``).  It holds no policy knowledge either.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from tracebench.errors import PolicyError

# Instruction classes, sizes, modes and operations (include/uapi/linux/filter.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = 0x60, 0x70, 0x80, 0x90, 0xA0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_TAX, BPF_TXA = 0x00, 0x80

BPF_MAXINSNS = 4096  # the kernel refuses longer filters (EINVAL)
BPF_MEMWORDS = 16
SECCOMP_DATA_SIZE = 64
WORDS = SECCOMP_DATA_SIZE // 4
_U32 = 0xFFFFFFFF

# The opcodes seccomp_check_filter() lets through (everything else is EINVAL).
_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
_ALLOWED = frozenset(
    {BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN,
     BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM,
     BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_RET | BPF_K,
     BPF_RET | BPF_A, BPF_ALU | BPF_NEG, BPF_JMP | BPF_JA}
    | {BPF_ALU | op | src for op in (*_ALU_OPS, BPF_MOD) for src in (BPF_K, BPF_X)}
    | {BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET)
       for src in (BPF_K, BPF_X)}
)


@dataclass(frozen=True)
class Insn:
    """One ``struct sock_filter``: opcode, jump-if-true, jump-if-false, constant."""

    code: int
    jt: int
    jf: int
    k: int


@dataclass(frozen=True)
class SeccompData:
    """``struct seccomp_data``: what a filter sees of one system call."""

    nr: int
    arch: int
    instruction_pointer: int = 0
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0)

    def pack(self, big_endian: bool = False) -> bytes:
        args = tuple(a & 0xFFFFFFFFFFFFFFFF for a in self.args) + (0,) * (6 - len(self.args))
        return struct.pack(">iIQ6Q" if big_endian else "<iIQ6Q", _s32(self.nr),
                           self.arch & _U32, self.instruction_pointer & 0xFFFFFFFFFFFFFFFF,
                           *args)

    def words(self, big_endian: bool = False) -> tuple[int, ...]:
        """The 16 32-bit words a ``ld [k]`` can load (word i is at offset 4*i)."""
        return struct.unpack(">16I" if big_endian else "<16I", self.pack(big_endian))


def _s32(v: int) -> int:
    v &= _U32
    return v - (1 << 32) if v & 0x80000000 else v


def arg_words(arg: int, big_endian: bool = False) -> tuple[int, int]:
    """Indexes of the (low, high) 32-bit words of ``args[arg]`` in seccomp_data."""
    first = (16 + 8 * arg) // 4
    return (first + 1, first) if big_endian else (first, first + 1)


def join_args(words: Mapping[int, int], big_endian: bool = False) -> tuple[int, ...]:
    """The six 64-bit arguments made of ``words`` (missing words are 0)."""
    out = []
    for i in range(6):
        lo, hi = arg_words(i, big_endian)
        out.append(words.get(lo, 0) | (words.get(hi, 0) << 32))
    return tuple(out)


def split_args(args: Sequence[int | None], big_endian: bool = False) -> dict[int, int]:
    """The seccomp_data words of the known arguments (None: unknown, left out)."""
    out: dict[int, int] = {}
    for i, a in enumerate(args[:6]):
        if a is None:
            continue
        lo, hi = arg_words(i, big_endian)
        a &= 0xFFFFFFFFFFFFFFFF
        out[lo], out[hi] = a & _U32, a >> 32
    return out


# ---------------------------------------------------------------------------
# Constraints on one 32-bit word, decided exactly.


@dataclass(frozen=True)
class Atom:
    """The constraint ``((w & mask) OP k) == truth`` on one 32-bit word ``w``."""

    mask: int
    op: str  # "eq", "gt" or "ge"
    k: int
    truth: bool


def _alive(a: Atom, rel: int) -> bool:
    # rel compares (w & mask) with k on the bits decided so far: 0 equal, 1 above, -1 below.
    if a.op == "eq":
        return rel == 0 if a.truth else True
    if a.truth:  # > or >=
        return rel != -1
    return rel != 1  # <= or <


def _holds(a: Atom, rel: int) -> bool:
    value = {"eq": rel == 0, "gt": rel == 1, "ge": rel >= 0}[a.op]
    return value == a.truth


def solve(atoms: Sequence[Atom], bits: int = 32) -> int | None:
    """The smallest ``bits``-bit word satisfying every atom, or None if there is none.

    Decides bit by bit from the most significant one, tracking for each atom
    how ``w & mask`` compares with ``k`` so far; states that failed once are
    remembered, so the search is linear in the 32 bits times the (few)
    distinct comparison states.
    """
    atoms = tuple(atoms)
    if not atoms:
        return 0
    full = (1 << bits) - 1
    if all(a.mask & full == full for a in atoms):
        return _solve_unmasked(atoms, full)
    dead: set[tuple[int, tuple[int, ...]]] = set()

    def search(bit: int, rels: tuple[int, ...], value: int) -> int | None:
        if bit < 0:
            return value if all(_holds(a, r) for a, r in zip(atoms, rels, strict=True)) else None
        if (bit, rels) in dead:
            return None
        for b in (0, 1):
            nxt = []
            for a, r in zip(atoms, rels, strict=True):
                if r == 0:
                    vb = b & (a.mask >> bit) & 1
                    kb = (a.k >> bit) & 1
                    if vb != kb:
                        r = 1 if vb > kb else -1
                if not _alive(a, r):
                    break
                nxt.append(r)
            else:
                found = search(bit - 1, tuple(nxt), value | (b << bit))
                if found is not None:
                    return found
        dead.add((bit, rels))
        return None

    return search(bits - 1, (0,) * len(atoms), 0)


def _solve_unmasked(atoms: Sequence[Atom], full: int) -> int | None:
    # Without masks every atom is an interval or a point (or a point's
    # complement): the answer is the least value of the interval that is
    # not excluded.
    lo, hi, excluded = 0, full, set()
    for a in atoms:
        k = a.k
        if a.op == "eq":
            if a.truth:
                lo, hi = max(lo, k), min(hi, k)
            else:
                excluded.add(k)
        elif a.op == "gt":
            lo, hi = (max(lo, k + 1), hi) if a.truth else (lo, min(hi, k))
        else:  # ge
            lo, hi = (max(lo, k), hi) if a.truth else (lo, min(hi, k - 1))
    while lo <= hi and lo in excluded:
        lo += 1
    return lo if lo <= hi else None


# ---------------------------------------------------------------------------
# Programs.


@dataclass(frozen=True)
class Sym:
    """An unknown value: ``word & mask`` for seccomp_data word ``word``."""

    word: int
    mask: int = _U32


Value = int | Sym


@dataclass(frozen=True)
class Outcome:
    """One result a program can return, and the words that lead to it."""

    ret: int
    witness: Mapping[int, int]  # values for the unknown words (unconstrained ones: 0)


@dataclass
class _State:
    pc: int
    a: Value
    x: Value
    mem: tuple[Value, ...]
    cons: dict[int, tuple[Atom, ...]] = field(default_factory=dict)


class Program:
    """A decoded, checked classic-BPF seccomp program."""

    def __init__(self, insns: Sequence[Insn], big_endian: bool = False) -> None:
        self.insns = tuple(insns)
        self.big_endian = big_endian
        self._check()
        self._rets = self._reachable_returns()

    @classmethod
    def from_bytes(cls, raw: bytes, big_endian: bool = False) -> Program:
        """Decode ``struct sock_filter[]`` as libseccomp exports it (target byte order)."""
        if len(raw) % 8:
            raise PolicyError(f"BPF program of {len(raw)} bytes is not whole instructions")
        fmt = ">HBBI" if big_endian else "<HBBI"
        return cls([Insn(*struct.unpack_from(fmt, raw, off)) for off in range(0, len(raw), 8)],
                   big_endian)

    def __len__(self) -> int:
        return len(self.insns)

    @property
    def kernel_accepts_length(self) -> bool:
        """Whether the kernel's 4096-instruction limit lets this program load."""
        return 0 < len(self.insns) <= BPF_MAXINSNS

    def _check(self) -> None:
        # The structural checks of bpf_check_classic() + seccomp_check_filter().
        n = len(self.insns)
        if n == 0:
            raise PolicyError("empty BPF program")
        for pc, i in enumerate(self.insns):
            where = f"BPF instruction {pc} ({i.code:#06x})"
            if i.code not in _ALLOWED:
                raise PolicyError(f"{where}: opcode not allowed in a seccomp filter")
            cls = i.code & 0x07
            if i.code == BPF_LD | BPF_W | BPF_ABS and (i.k >= SECCOMP_DATA_SIZE or i.k & 3):
                raise PolicyError(f"{where}: load outside struct seccomp_data")
            if i.code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX) \
                    and i.k >= BPF_MEMWORDS:
                raise PolicyError(f"{where}: scratch memory index {i.k}")
            if cls == BPF_ALU and i.code & 0x08 == BPF_K:
                op = i.code & 0xF0
                if op in (BPF_DIV, BPF_MOD) and i.k == 0:
                    raise PolicyError(f"{where}: division by zero")
                if op in (BPF_LSH, BPF_RSH) and i.k >= 32:
                    raise PolicyError(f"{where}: shift by {i.k}")
            if cls == BPF_JMP:
                targets = [pc + 1 + i.k] if i.code & 0xF0 == BPF_JA \
                    else [pc + 1 + i.jt, pc + 1 + i.jf]
                if any(t >= n for t in targets):
                    raise PolicyError(f"{where}: jump out of the program")
        if self.insns[-1].code & 0x07 != BPF_RET:
            raise PolicyError("BPF program does not end in a return")

    def _reachable_returns(self) -> list[frozenset[int | None]]:
        # For pruning the symbolic search: the RET constants reachable from each
        # instruction (None stands for a RET A, whose value is not a constant).
        out: list[frozenset[int | None]] = [frozenset()] * len(self.insns)
        for pc in range(len(self.insns) - 1, -1, -1):
            i = self.insns[pc]
            cls = i.code & 0x07
            if cls == BPF_RET:
                out[pc] = frozenset({i.k if i.code == BPF_RET | BPF_K else None})
            elif cls == BPF_JMP:
                if i.code & 0xF0 == BPF_JA:
                    out[pc] = out[pc + 1 + i.k]
                else:
                    out[pc] = out[pc + 1 + i.jt] | out[pc + 1 + i.jf]
            else:
                out[pc] = out[pc + 1]
        return out

    # -- concrete ----------------------------------------------------------

    def run(self, data: SeccompData) -> int:
        """The 32-bit value the kernel gets from this filter for ``data``."""
        return self.run_words(data.words(self.big_endian))

    def run_words(self, words: Sequence[int]) -> int:
        a = x = 0
        mem = [0] * BPF_MEMWORDS
        pc = 0
        insns = self.insns
        while True:
            i = insns[pc]
            code, k = i.code, i.k
            cls = code & 0x07
            pc += 1
            if cls == BPF_LD:
                mode = code & 0xE0
                a = words[k // 4] if mode == BPF_ABS else k if mode == BPF_IMM \
                    else mem[k] if mode == BPF_MEM else SECCOMP_DATA_SIZE
            elif cls == BPF_LDX:
                mode = code & 0xE0
                x = k if mode == BPF_IMM else mem[k] if mode == BPF_MEM else SECCOMP_DATA_SIZE
            elif cls == BPF_ST:
                mem[k] = a
            elif cls == BPF_STX:
                mem[k] = x
            elif cls == BPF_ALU:
                op = code & 0xF0
                if op == BPF_NEG:
                    a = -a & _U32
                else:
                    b = x if code & 0x08 else k
                    if op in (BPF_DIV, BPF_MOD) and b == 0:
                        # the kernel's cBPF->eBPF conversion returns 0 (kill) here
                        return 0
                    a = _alu(op, a, b)
            elif cls == BPF_JMP:
                op = code & 0xF0
                if op == BPF_JA:
                    pc += k
                else:
                    b = x if code & 0x08 else k
                    pc += i.jt if _jump(op, a, b) else i.jf
            elif cls == BPF_RET:
                return (a if code & 0x18 == BPF_A else k) & _U32
            elif code & 0xF8 == BPF_TXA:
                a = x
            else:
                x = a

    # -- symbolic ----------------------------------------------------------

    def outcomes(self, known: Mapping[int, int], *, limit: int = 200_000) -> list[Outcome]:
        """Every value the program can return when only the ``known`` words are fixed.

        ``known`` maps seccomp_data word indexes to values; every other word is
        unknown.  Each distinct return value appears once, with a witness.
        Raises PolicyError for a program that computes on unknown values in a
        way this analysis does not model (libseccomp never emits one) or that
        needs more than ``limit`` steps.
        """
        found: dict[int, Outcome] = {}
        steps = 0
        stack = [_State(0, 0, 0, (0,) * BPF_MEMWORDS)]
        while stack:
            st = stack.pop()
            while st.pc >= 0:
                steps += 1
                if steps > limit:
                    raise PolicyError("BPF program too complex to analyse without arguments")
                if self._rets[st.pc] <= found.keys():
                    break  # nothing new can come out of here
                succ = self._step(st, known)
                if succ is not None:  # a branch on an unknown word
                    if not succ:
                        break
                    stack.extend(reversed(succ[1:]))
                    st = succ[0]
            if st.pc < 0:
                ret = -st.pc - 1
                if ret not in found:
                    witness = {w: solve(atoms) or 0 for w, atoms in st.cons.items()}
                    found[ret] = Outcome(ret, witness)
        return sorted(found.values(), key=lambda o: o.ret)

    def _step(self, st: _State, known: Mapping[int, int]) -> list[_State] | None:
        # Advance st by one instruction in place (None), or return the feasible
        # successors of a branch on an unknown value.  A return instruction
        # leaves st.pc = -(ret + 1).
        i = self.insns[st.pc]
        code, k = i.code, i.k
        cls = code & 0x07
        st.pc += 1
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS:
                w = k // 4
                st.a = known[w] if w in known else Sym(w)
            else:
                st.a = k if mode == BPF_IMM else st.mem[k] if mode == BPF_MEM \
                    else SECCOMP_DATA_SIZE
        elif cls == BPF_LDX:
            mode = code & 0xE0
            st.x = k if mode == BPF_IMM else st.mem[k] if mode == BPF_MEM else SECCOMP_DATA_SIZE
        elif cls in (BPF_ST, BPF_STX):
            mem = list(st.mem)
            mem[k] = st.a if cls == BPF_ST else st.x
            st.mem = tuple(mem)
        elif cls == BPF_MISC:
            if code & 0xF8 == BPF_TXA:
                st.a = st.x
            else:
                st.x = st.a
        elif cls == BPF_ALU:
            op = code & 0xF0
            b = st.x if code & 0x08 else k
            if isinstance(st.a, Sym) or isinstance(b, Sym):
                if op == BPF_AND and isinstance(st.a, Sym) and isinstance(b, int):
                    st.a = Sym(st.a.word, st.a.mask & b)
                else:
                    raise PolicyError(f"BPF instruction {st.pc - 1}: arithmetic on an unknown "
                                      "argument (not modelled)")
            elif op == BPF_NEG:
                st.a = -st.a & _U32
            elif op in (BPF_DIV, BPF_MOD) and b == 0:
                st.pc = -1  # returns 0
                return None
            else:
                st.a = _alu(op, st.a, b)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                st.pc += k
                return None
            b = st.x if code & 0x08 else k
            if isinstance(b, Sym):
                raise PolicyError(f"BPF instruction {st.pc - 1}: comparison with an unknown "
                                  "X register (not modelled)")
            if not isinstance(st.a, Sym):
                st.pc += i.jt if _jump(op, st.a, b) else i.jf
                return None
            if i.jt == i.jf:
                st.pc += i.jt
                return None
            return self._branch(st, op, b, i)
        elif cls == BPF_RET:
            ret = st.a if code & 0x18 == BPF_A else k
            if isinstance(ret, Sym):
                raise PolicyError(f"BPF instruction {st.pc - 1}: returns an unknown argument "
                                  "(not modelled)")
            st.pc = -(ret & _U32) - 1
        return None

    def _branch(self, st: _State, op: int, k: int, i: Insn) -> list[_State]:
        assert isinstance(st.a, Sym)
        sym = st.a
        if op == BPF_JSET:  # (w & mask & k) != 0
            atom = Atom(sym.mask & k, "eq", 0, False)
        else:
            atom = Atom(sym.mask, {BPF_JEQ: "eq", BPF_JGT: "gt", BPF_JGE: "ge"}[op], k, True)
        out = []
        for truth, jump in ((True, i.jt), (False, i.jf)):
            a = atom if truth else Atom(atom.mask, atom.op, atom.k, not atom.truth)
            atoms = (*st.cons.get(sym.word, ()), a)
            least = solve(atoms)
            if least is None:
                continue
            cons = dict(st.cons)
            cons[sym.word] = atoms
            out.append((least, _State(st.pc + jump, st.a, st.x, st.mem, cons)))
        # The side that allows the smaller value first: witnesses come out as
        # the plain values people write (fd > 10 gives 11, not 2**32).
        out.sort(key=lambda pair: pair[0])
        return [state for _, state in out]

    def disassemble(self) -> Iterator[str]:
        """One line per instruction, for error messages and debugging."""
        for pc, i in enumerate(self.insns):
            yield f"{pc:4d}: code={i.code:#06x} jt={i.jt} jf={i.jf} k={i.k:#010x}"


def _alu(op: int, a: int, b: int) -> int:
    if op == BPF_ADD:
        r = a + b
    elif op == BPF_SUB:
        r = a - b
    elif op == BPF_MUL:
        r = a * b
    elif op == BPF_DIV:
        r = a // b
    elif op == BPF_MOD:
        r = a % b
    elif op == BPF_OR:
        r = a | b
    elif op == BPF_AND:
        r = a & b
    elif op == BPF_XOR:
        r = a ^ b
    elif op == BPF_LSH:
        r = a << (b & 31)
    elif op == BPF_RSH:
        r = a >> (b & 31)
    else:  # pragma: no cover - _check() admits no other ALU op
        raise PolicyError(f"ALU op {op:#x}")
    return r & _U32


def _jump(op: int, a: int, b: int) -> bool:
    if op == BPF_JEQ:
        return a == b
    if op == BPF_JGT:
        return a > b
    if op == BPF_JGE:
        return a >= b
    return (a & b) != 0  # BPF_JSET
