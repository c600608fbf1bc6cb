"""Chromium OS minijail ``.policy`` files: read and write.

Grammar: google/minijail's minijail0(5) and its two compilers, libminijail's
``syscall_filter.c`` (what ``minijail0 -S file.policy`` runs) and
``tools/parser.py`` (``compile_seccomp_policy``, used for ChromeOS builds).
They agree except on one point, which tracebench has to pick a side on:

* ``name: EXPR; return N``: minijail0(5) and syscall_filter.c allow the call
  when EXPR holds and return errno N otherwise; ``tools/parser.py`` returns
  errno N when EXPR holds and applies the default action otherwise.

``dialect="libminijail"`` reads the first way, ``"compile_seccomp_policy"``
the second.  By default (``None``) a file that uses syntax only the Python
compiler knows (``@denylist``, ``@default``, ``kill``/``trap``/``log``/
``allow`` actions, ``{...}`` lists, ``[arch=...]``) is read as
compile_seccomp_policy and every other file as libminijail, the documented
meaning; a ``;`` line then gets a warning naming both readings.

minijail evaluates a syscall's filters in order (first match wins); a
Policy's rules follow libseccomp, where overlapping conditional rules do not
resolve by order.  The reader therefore turns each filter into rules that
cannot overlap: filter *i* applies to "EXPR_i and no earlier EXPR", expanded
into conjunctions of comparisons (at most 256 rules per call).

Constants (AF_UNIX, PROT_EXEC, SIOCGIFINDEX, EPERM...) come from
``tracebench/data/minijail-constants.json``, the names minijail's
gen_constants.sh takes, evaluated by the C compiler of each architecture
(x86_64, i386, arm, aarch64: O_DIRECTORY is 0200000 on x86 and 040000 on
ARM) from Debian's headers.  Other architectures take the x86-64 values
with a warning; an x86-only constant (MAP_32BIT, ARCH_*) is an error there.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import PurePath

from tracebench.errors import PolicyError
from tracebench.policy.formats import Format
from tracebench.policy.model import ALLOW, Action, Condition, Policy, Rule

DATA_FILE = "minijail-constants.json"
LIBMINIJAIL = "libminijail"
COMPILE_SECCOMP_POLICY = "compile_seccomp_policy"
MAX_RULES_PER_CALL = 256
MAX_INCLUDE_DEPTH = 10  # compile_seccomp_policy's --include-depth-limit default
_ARM_PRIVATE_BASE = 0x0F0000  # __ARM_NR_BASE: minijail names these ARM_<name>
_64BIT = {"x86_64", "x32", "aarch64", "riscv64", "ppc64", "ppc64le", "s390x", "mips64",
          "mipsel64", "mips64n32", "mipsel64n32"}
_X86_ONLY = re.compile(r"^(ARCH_[A-Z_0-9]+|MAP_32BIT)$")
# Path hints: minijail policy files are named ...-amd64.policy, ...-arm.policy.
_PATH_ARCH = (("amd64", "x86_64"), ("x86_64", "x86_64"), ("arm64", "aarch64"),
              ("aarch64", "aarch64"), ("arm", "arm"), ("x86", "i386"), ("i386", "i386"))
_CANDIDATES = ("x86_64", "aarch64", "arm", "i386")

Loader = Callable[[str, str], tuple[str, str]]

_TOKENS = (
    ("COMMENT", r"#.*$"),
    ("WHITESPACE", r"\s+"),
    ("CONTINUATION", r"\\$"),
    ("DEFAULT", r"@default\b"),
    ("INCLUDE", r"@include\b"),
    ("FREQUENCY", r"@frequency\b"),
    ("DENYLIST", r"@denylist$"),
    ("PATH", r"\.?/\S+"),
    ("NUMBER", r"-?0[xX][0-9a-fA-F]+|-?0[0-7]+|-?[0-9]+"),
    ("COLON", r":"),
    ("SEMICOLON", r";"),
    ("COMMA", r","),
    ("COMPLEMENT", r"~"),
    ("LPAREN", r"\("),
    ("RPAREN", r"\)"),
    ("LBRACE", r"\{"),
    ("RBRACE", r"\}"),
    ("LBRACKET", r"\["),
    ("RBRACKET", r"\]"),
    ("OR", r"\|\|"),
    ("AND", r"&&"),
    ("BITOR", r"\|"),
    ("OP", r"&|\bin\b|==|!=|<=|<|>=|>"),
    ("EQUAL", r"="),
    ("ARGUMENT", r"\barg[0-9]+\b"),
    ("RETURN", r"\breturn\b"),
    ("ACTION", r"\b(?:allow|kill-process|kill-thread|kill|trap|trace|log|user-notify)\b"),
    ("IDENTIFIER", r"[a-zA-Z_][a-zA-Z_0-9@-]*"),
)
_TOKEN_RE = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _TOKENS))
_NEGATE = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_OP_NAME = {v: k for k, v in _SYMBOL.items()}


@functools.lru_cache(maxsize=1)
def _tables() -> Mapping[str, Mapping[str, int]]:
    data = json.loads((files("tracebench") / "data" / DATA_FILE).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def constants(arch: str = "x86_64") -> Mapping[str, int]:
    """minijail's named constants on ``arch``, or x86-64's where the data has no table."""
    tables = _tables()
    return tables.get(arch, tables["x86_64"])


def has_constants(arch: str) -> bool:
    """Whether the data holds ``arch``'s own values."""
    return arch in _tables()


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    path: str
    line: int


@dataclass
class _Statement:
    tokens: list[Token]
    path: str
    line: int


@dataclass(frozen=True)
class _Atom:
    arg: int
    op: str  # == != < <= > >= & in
    value: int


Conj = tuple[Condition, ...]
_Expr = list[list[_Atom]]  # disjunction of conjunctions


@dataclass
class _Filter:
    expr: _Expr | None
    action: Action
    line: int
    path: str


@dataclass
class _Ctx:
    """What parsing needs: arch word size, dialect, default and kill actions."""

    arch: str
    python: bool
    denylist: bool
    bits: int
    warnings: list[str] = field(default_factory=list)
    foreign_constants: set[str] = field(default_factory=set)

    @property
    def word(self) -> int:
        return (1 << self.bits) - 1


def _tokenize(text: str, path: str) -> Iterator[_Statement]:
    tokens: list[Token] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not tokens:
            start = number
        end = 0
        for m in _TOKEN_RE.finditer(line):
            if m.start() != end:
                raise PolicyError(f"invalid token {line[end:m.start()]!r}", path=path,
                                  line=number)
            end = m.end()
            kind = m.lastgroup or ""
            if kind not in ("COMMENT", "WHITESPACE", "CONTINUATION"):
                tokens.append(Token(kind, m.group(), path, number))
        if end != len(line):
            raise PolicyError(f"invalid token {line[end:]!r}", path=path, line=number)
        if line.endswith("\\"):
            continue
        if tokens:
            yield _Statement(tokens, path, start)
        tokens = []
    if text.splitlines() and text.splitlines()[-1].endswith("\\"):
        raise PolicyError("the file ends inside a backslash continuation", path=path,
                          line=start)


def _collect(text: str, path: str, loader: Loader | None, stack: tuple[str, ...],
             out: list[_Statement], depths: list[int]) -> None:
    """All statements, @include'd files spliced in (loader resolves them)."""
    for st in _tokenize(text, path):
        if st.tokens[0].kind != "INCLUDE":
            out.append(st)
            continue
        if len(st.tokens) != 2 or st.tokens[1].kind != "PATH":
            raise PolicyError("@include takes one path starting with / or ./", path=path,
                              line=st.line)
        if loader is None:
            raise PolicyError(f"@include {st.tokens[1].text}: included files are read only "
                              "when a loader is given", path=path, line=st.line)
        included, resolved = loader(st.tokens[1].text, path)
        if resolved in stack:
            raise PolicyError(f"@include cycle: {' -> '.join([*stack, resolved])}", path=path,
                              line=st.line)
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise PolicyError("@include statement nested too deep", path=path, line=st.line)
        depths.append(len(stack))
        _collect(included, resolved, loader, (*stack, resolved), out, depths)


def _python_only(statements: Sequence[_Statement]) -> Token | None:
    """The first token only compile_seccomp_policy understands, if any."""
    for st in statements:
        for i, tok in enumerate(st.tokens):
            # "kill: 1" names the kill syscall, which libminijail reads too.
            if tok.kind == "ACTION" and i == 0 and tok.text == "kill":
                continue
            if tok.kind in ("DEFAULT", "DENYLIST", "LBRACE", "LBRACKET", "ACTION"):
                return tok
    return None


# --- values and expressions -------------------------------------------------------------------


def _constant(ctx: _Ctx, tok: Token) -> int:
    if tok.kind == "NUMBER":
        text = tok.text
        neg = text.startswith("-")
        body = text.lstrip("-")
        base = 16 if body[:2].lower() == "0x" else 8 if len(body) > 1 and body[0] == "0" else 10
        value = -int(body, base) if neg else int(body, base)
    elif tok.kind == "IDENTIFIER":
        table = constants(ctx.arch)
        if tok.text not in table:
            raise PolicyError(f"unknown constant {tok.text!r}" + (
                "" if has_constants(ctx.arch) else " (in the x86-64 headers)"),
                path=tok.path, line=tok.line)
        if not has_constants(ctx.arch):
            if ctx.arch not in ("i386", "x32") and _X86_ONLY.match(tok.text):
                raise PolicyError(f"{tok.text} exists on x86 only", path=tok.path, line=tok.line)
            ctx.foreign_constants.add(tok.text)
        value = table[tok.text]
        if value >= 1 << 63:
            value -= 1 << 64  # an unsigned long of a negative C constant
    else:
        raise PolicyError(f"expected a constant, got {tok.text!r}", path=tok.path,
                          line=tok.line)
    if value > ctx.word:
        raise PolicyError(f"{tok.text}: unsigned overflow", path=tok.path, line=tok.line)
    if value < -(1 << (ctx.bits - 1)):
        raise PolicyError(f"{tok.text}: signed underflow", path=tok.path, line=tok.line)
    return value & ctx.word


def _value(ctx: _Ctx, tokens: list[Token], where: _Statement) -> int:
    """value = constant { '|' constant }; constant = ['~'] ( '(' value ')' | single )."""
    result = 0
    while True:
        if not tokens:
            raise PolicyError("missing constant", path=where.path, line=where.line)
        negate = tokens[0].kind == "COMPLEMENT"
        if negate:
            tokens.pop(0)
            if not tokens or tokens[0].kind == "COMPLEMENT":
                raise PolicyError("invalid complement", path=where.path, line=where.line)
        if tokens[0].kind == "LPAREN":
            tokens.pop(0)
            inner = _value(ctx, tokens, where)
            if not tokens or tokens[0].kind != "RPAREN":
                raise PolicyError("unclosed parenthesis", path=where.path, line=where.line)
            tokens.pop(0)
        else:
            inner = _constant(ctx, tokens.pop(0))
        result |= (~inner & ctx.word) if negate else inner
        if not tokens or tokens[0].kind != "BITOR":
            return result
        tokens.pop(0)


def _expression(ctx: _Ctx, tokens: list[Token], where: _Statement) -> _Expr:
    """argument-expression = clause { '||' clause }; clause = atom { '&&' atom }."""
    clauses: _Expr = []
    while True:
        atoms = []
        while True:
            if not tokens or tokens[0].kind != "ARGUMENT":
                got = repr(tokens[0].text) if tokens else "end of line"
                raise PolicyError(f"expected argN, got {got}", path=where.path,
                                  line=tokens[0].line if tokens else where.line)
            arg = tokens.pop(0)
            index = int(arg.text[3:])
            if not 0 <= index < 6:
                raise PolicyError(f"invalid argument {arg.text}", path=arg.path, line=arg.line)
            if not tokens or tokens[0].kind != "OP":
                raise PolicyError(f"missing operator after {arg.text}", path=arg.path,
                                  line=arg.line)
            op = tokens.pop(0).text
            atoms.append(_Atom(index, op, _value(ctx, tokens, where)))
            if not tokens or tokens[0].kind != "AND":
                break
            tokens.pop(0)
        clauses.append(atoms)
        if not tokens or tokens[0].kind != "OR":
            return clauses
        tokens.pop(0)


# --- conditions: atoms as DNF, negation, simplification -------------------------------------


def _bits(mask: int) -> list[int]:
    return [1 << i for i in range(mask.bit_length()) if mask >> i & 1]


def _atom_dnf(a: _Atom, word: int, negate: bool) -> list[Conj]:
    """An atom (or its negation) as alternatives of condition conjunctions."""
    if a.op in _OP_NAME:
        op = _OP_NAME[a.op]
        return [(Condition(a.arg, _NEGATE[op] if negate else op, a.value),)]
    if a.op == "&":  # some bit of value set (BPF_JSET)
        if negate:
            return [(Condition(a.arg, "masked_eq", 0, a.value),)]
        return [(Condition(a.arg, "masked_eq", b, b),) for b in _bits(a.value)]
    outside = ~a.value & word  # "in": no bit outside value set
    if negate:
        return [(Condition(a.arg, "masked_eq", b, b),) for b in _bits(outside)]
    return [(Condition(a.arg, "masked_eq", 0, outside),)]


def _simplify(conj: Sequence[Condition]) -> Conj | None:
    """Merge one conjunction; None when no argument value satisfies it."""
    out: list[Condition] = []
    for arg in sorted({c.arg for c in conj}):
        mine = [c for c in conj if c.arg == arg]
        mask = value = 0
        masked = False
        others: list[Condition] = []
        for c in mine:
            if c.op == "masked_eq":
                m, v = c.mask & 0xFFFFFFFFFFFFFFFF, c.value & 0xFFFFFFFFFFFFFFFF
                if v & ~m or (v & mask) != (value & m):
                    return None
                mask, value, masked = mask | m, value | v, True
            elif c not in others:
                others.append(c)
        if masked:
            others.append(Condition(arg, "masked_eq", value, mask))
        equal = [c for c in others if c.op == "eq"]
        if equal:
            if not all(c.matches(equal[0].value) for c in others):
                return None
            others = [equal[0]]
        out.extend(sorted(others, key=lambda c: (c.op, c.value, c.mask)))
    return tuple(out)


def _and(a: list[Conj], b: list[Conj]) -> list[Conj]:
    out: list[Conj] = []
    for x, y in itertools.product(a, b):
        merged = _simplify((*x, *y))
        if merged is not None and merged not in out:
            out.append(merged)
    return out


def _expr_dnf(expr: _Expr, word: int) -> list[Conj]:
    out: list[Conj] = []
    for clause in expr:
        acc: list[Conj] = [()]
        for atom in clause:
            acc = _and(acc, _atom_dnf(atom, word, False))
        out.extend(c for c in acc if c not in out)
    return out


def _not_expr_dnf(expr: _Expr, word: int) -> list[Conj]:
    acc: list[Conj] = [()]
    for clause in expr:
        alternatives: list[Conj] = []
        for atom in clause:
            alternatives.extend(_atom_dnf(atom, word, True))
        acc = _and(acc, alternatives)
    return acc


# --- statements ----------------------------------------------------------------------------


def _action(ctx: _Ctx, tokens: list[Token], where: _Statement, kill: Action) -> Action:
    if not tokens:
        raise PolicyError("missing action", path=where.path, line=where.line)
    tok = tokens.pop(0)
    if ctx.denylist and tok.kind != "RETURN":
        raise PolicyError("a @denylist policy must 'return' an errno on every line",
                          path=tok.path, line=tok.line)
    if tok.kind == "ACTION" and ctx.python:
        return {"allow": ALLOW, "kill": kill, "kill-process": Action("kill_process"),
                "kill-thread": Action("kill_thread"), "trap": Action("trap"),
                "trace": Action("trace"), "user-notify": Action("user_notif"),
                "log": Action("log")}[tok.text]
    if tok.kind == "NUMBER" and tok.text == "1":
        return ALLOW
    if tok.kind == "RETURN":
        if not tokens:
            raise PolicyError("missing return value", path=tok.path, line=tok.line)
        value = _constant(ctx, tokens.pop(0))
        if not 0 <= value <= 0xFFFF:
            raise PolicyError(f"errno {value} is outside 0..65535", path=tok.path,
                              line=tok.line)
        return Action("errno", value)
    raise PolicyError(f"invalid action {tok.text!r}", path=tok.path, line=tok.line)


def _single_filter(ctx: _Ctx, tokens: list[Token], st: _Statement, kill: Action,
                   default: Action) -> list[_Filter]:
    if tokens and tokens[0].kind == "ARGUMENT":
        expr = _expression(ctx, tokens, st)
        if tokens and tokens[0].kind == "SEMICOLON":
            semi = tokens.pop(0)
            action = _action(ctx, tokens, st, kill)
            if ctx.python:
                return [_Filter(expr, action, st.line, st.path)]
            if action.kind != "errno":
                raise PolicyError("libminijail takes only 'return N' after ';'",
                                  path=semi.path, line=semi.line)
            return [_Filter(expr, ALLOW, st.line, st.path),
                    _Filter(None, action, st.line, st.path)]
        filters = [_Filter(expr, ALLOW, st.line, st.path)]
        if not ctx.python:
            filters.append(_Filter(None, default, st.line, st.path))
        return filters
    return [_Filter(None, _action(ctx, tokens, st, kill), st.line, st.path)]


def _items(tokens: list[Token], st: _Statement, one: Callable[[], None]) -> None:
    """``one()`` for each item of a ``{a, b, ...}`` list, or once for a lone item."""
    if not tokens or tokens[0].kind != "LBRACE":
        one()
        return
    tokens.pop(0)
    while True:
        one()
        if not tokens or tokens[0].kind != "COMMA":
            break
        tokens.pop(0)
    if not tokens or tokens[0].kind != "RBRACE":
        raise PolicyError("unclosed brace", path=st.path, line=st.line)
    tokens.pop(0)


def _filters(ctx: _Ctx, tokens: list[Token], st: _Statement, kill: Action,
             default: Action) -> list[_Filter]:
    out: list[_Filter] = []
    _items(tokens, st, lambda: out.extend(_single_filter(ctx, tokens, st, kill, default)))
    return out


def _descriptors(ctx: _Ctx, tokens: list[Token], st: _Statement) -> list[Token]:
    """syscall-descriptor(s) before ':'; those for another arch ([arch=...]) left out."""
    names: list[Token] = []

    def one() -> None:
        if not tokens or not (tokens[0].kind == "IDENTIFIER" or tokens[0].text == "kill"):
            got = tokens[0].text if tokens else "end of line"
            raise PolicyError(f"expected a syscall name, got {got!r}", path=st.path,
                              line=tokens[0].line if tokens else st.line)
        tok = tokens.pop(0)
        keep = True
        if tokens and tokens[0].kind == "LBRACKET":
            keep = _metadata(ctx, tokens, st)
        if "@" in tok.text:
            raise PolicyError(f"syscall groups ({tok.text}) are not supported", path=tok.path,
                              line=tok.line)
        if keep:
            names.append(tok)

    _items(tokens, st, one)
    return names


def _metadata(ctx: _Ctx, tokens: list[Token], st: _Statement) -> bool:
    """``[arch=a,b]``: whether the descriptor applies to ctx.arch."""
    from tracebench import syscalls

    tokens.pop(0)
    arches: list[str] | None = None
    while tokens and tokens[0].kind == "IDENTIFIER":
        key = tokens.pop(0).text
        if not tokens or tokens[0].kind != "EQUAL":
            raise PolicyError("expected '=' in metadata", path=st.path, line=st.line)
        tokens.pop(0)
        values = []
        while tokens and tokens[0].kind == "IDENTIFIER":
            values.append(tokens.pop(0).text)
            if not tokens or tokens[0].kind != "COMMA":
                break
            tokens.pop(0)
        if key == "arch":
            arches = values
        if tokens and tokens[0].kind == "SEMICOLON":
            tokens.pop(0)
    if not tokens or tokens[0].kind != "RBRACKET":
        raise PolicyError("unclosed bracket", path=st.path, line=st.line)
    tokens.pop(0)
    if arches is None:
        return True
    named = set()
    for a in arches:
        try:
            named.add(syscalls.arch_of(a))
        except syscalls.UnknownArchError:
            named.add(a)
    return ctx.arch in named


# --- architecture -----------------------------------------------------------------------------


def _resolve(arch: str, name: str) -> str | None:
    """The libseccomp name of minijail's ``name`` on ``arch`` (ARM_set_tls -> set_tls)."""
    from tracebench import syscalls

    if syscalls.number(arch, name) is not None:
        return name
    if arch == "arm" and name.startswith("ARM_"):
        nr = syscalls.number(arch, name[4:])
        if nr is not None and nr >= _ARM_PRIVATE_BASE:
            return name[4:]
    return None


def _guess_arch(statements: Sequence[_Statement], path: str) -> str:
    from tracebench import syscalls

    names = {tok.text for st in statements for tok in st.tokens[:1]
             if (tok.kind == "IDENTIFIER" and syscalls.is_known_anywhere(tok.text))
             or tok.text.startswith("ARM_")}
    fits = [a for a in _CANDIDATES if all(_resolve(a, n) for n in names)]
    stem = PurePath(path).stem.lower()
    hint = next((arch for word, arch in _PATH_ARCH
                 if re.search(rf"(^|[^a-z0-9]){word}([^a-z0-9]|$)", stem)), None)
    if hint in fits:
        return hint
    native = syscalls.native_arch()
    if native in fits:
        return native
    if len(fits) == 1:
        return fits[0]
    raise PolicyError("cannot tell the architecture from the syscall names ("
                      + (f"they fit {', '.join(fits)}" if fits else "no architecture has them all")
                      + "); pass arch=", path=path)


# --- the reader -------------------------------------------------------------------------------


def read_policy(text: str, path: str, *, arch: str | None = None, dialect: str | None = None,
                loader: Loader | None = None) -> Policy:
    """Read a minijail policy.

    ``arch``: the architecture the policy is for (default: guessed from the
    file name and the syscall names, see the module doc); ``dialect``:
    ``"libminijail"`` or ``"compile_seccomp_policy"`` (default: by syntax);
    ``loader(include, from_path) -> (text, resolved_path)`` reads @include'd
    files (without one, @include is an error).
    """
    from tracebench import syscalls

    statements: list[_Statement] = []
    depths: list[int] = []
    _collect(text, path, loader, (path,), statements, depths)
    python_token = _python_only(statements)
    if dialect is None:
        dialect = COMPILE_SECCOMP_POLICY if python_token else LIBMINIJAIL
    if dialect not in (LIBMINIJAIL, COMPILE_SECCOMP_POLICY):
        raise PolicyError(f"unknown minijail dialect {dialect!r}")
    python = dialect == COMPILE_SECCOMP_POLICY
    if not python and python_token is not None:
        raise PolicyError(f"{python_token.text!r} is compile_seccomp_policy syntax; libminijail "
                          "does not read it", path=python_token.path, line=python_token.line)
    if not python and any(d > 1 for d in depths):
        raise PolicyError("libminijail does not allow nested @include", path=path)
    arch = syscalls.arch_of(arch) if arch else _guess_arch(statements, path)
    denylist = any(st.tokens[0].kind == "DENYLIST" for st in statements)
    ctx = _Ctx(arch, python, denylist, 64 if arch in _64BIT else 32)
    kill = Action("errno", 1) if denylist else Action("kill_thread")
    default = ALLOW if denylist else Action("kill_thread")
    for st in statements:
        if st.tokens[0].kind == "DEFAULT":
            if denylist:
                raise PolicyError("@default in a @denylist policy", path=st.path, line=st.line)
            default = _default_action(st)
    per_call: dict[str, list[_Filter]] = {}
    first_line: dict[str, tuple[str, int]] = {}
    semicolon_lines: list[str] = []
    for st in statements:
        tokens = list(st.tokens)
        head = tokens[0].kind
        if head in ("FREQUENCY", "DEFAULT", "DENYLIST"):
            if head == "DENYLIST" and len(tokens) != 1:
                raise PolicyError("extra tokens after @denylist", path=st.path, line=st.line)
            continue
        names = _descriptors(ctx, tokens, st)
        if not tokens or tokens[0].kind != "COLON":
            raise PolicyError("missing ':' after the syscall name", path=st.path, line=st.line)
        tokens.pop(0)
        if not tokens:
            raise PolicyError("empty policy line", path=st.path, line=st.line)
        if not python and any(t.kind == "SEMICOLON" for t in tokens):
            semicolon_lines.append(f"{st.path}:{st.line}")
        filters = _filters(ctx, tokens, st, kill, default)
        if tokens:
            raise PolicyError(f"extra tokens from {tokens[0].text!r}", path=st.path,
                              line=tokens[0].line)
        for tok in names:
            if tok.text in per_call and not python:
                where = first_line[tok.text]
                raise PolicyError(f"{tok.text} is defined twice (first at {where[0]}:{where[1]})",
                                  path=st.path, line=st.line)
            per_call.setdefault(tok.text, []).extend(filters)
            first_line.setdefault(tok.text, (st.path, st.line))
    if semicolon_lines:
        ctx.warnings.append(f"{', '.join(semicolon_lines)}: read as libminijail (minijail0(5)): "
                            "the call is allowed when the expression holds and gets the "
                            "'return' errno otherwise; compile_seccomp_policy reads it the "
                            "other way round")
    rules: list[Rule] = []
    dropped: list[str] = []
    for name, filters in per_call.items():
        rules.extend(_call_rules(ctx, name, filters, default, dropped))
    if ctx.foreign_constants:
        ctx.warnings.append(f"{path}: constants {', '.join(sorted(ctx.foreign_constants))} take "
                            f"their x86-64 header values; check them for {arch}")
    return Policy(default, tuple(rules), (arch,), PurePath(path).name, tuple(dropped),
                  tuple(ctx.warnings))


def _default_action(st: _Statement) -> Action:
    if len(st.tokens) != 2 or st.tokens[1].kind != "ACTION":
        raise PolicyError("@default takes one action", path=st.path, line=st.line)
    word = st.tokens[1].text
    table = {"kill-process": Action("kill_process"), "kill-thread": Action("kill_thread"),
             "kill": Action("kill_thread"), "trap": Action("trap"),
             "user-notify": Action("user_notif")}
    if word not in table:
        raise PolicyError(f"invalid default action {word!r}", path=st.path, line=st.line)
    return table[word]


def _call_rules(ctx: _Ctx, name: str, filters: list[_Filter], default: Action,
                dropped: list[str]) -> list[Rule]:
    from tracebench import syscalls

    for i, f in enumerate(filters):
        if f.expr is None and i != len(filters) - 1:
            nxt = filters[i + 1]
            raise PolicyError(f"{name} already had an unconditional action (at line {f.line})",
                              path=nxt.path, line=nxt.line)
    if filters[-1].expr is not None:
        filters = [*filters, _Filter(None, default, filters[-1].line, filters[-1].path)]
    resolved = _resolve(ctx.arch, name)
    first = filters[0]
    if resolved is None:
        if syscalls.is_known_anywhere(name):
            raise PolicyError(f"nonexistent syscall {name!r} on {ctx.arch}", path=first.path,
                              line=first.line)
        if default.allows or len(filters) != 1 or filters[0].action != ALLOW:
            raise PolicyError(f"unknown syscall {name!r} (libseccomp does not know it, and "
                              "leaving it out would change what the policy allows or denies)",
                              path=first.path, line=first.line)
        ctx.warnings.append(f"{first.path}:{first.line}: {name} is unknown to libseccomp: left "
                            "out (the call gets the default action)")
        dropped.append(name)
        return []
    rules: list[Rule] = []
    before: list[Conj] = [()]  # no earlier filter matched
    for f in filters:
        region = before if f.expr is None else _and(before, _expr_dnf(f.expr, ctx.word))
        if f.action != default:
            rules.extend(Rule((resolved,), f.action, conj, line=f.line) for conj in region)
        if len(rules) > MAX_RULES_PER_CALL:
            raise PolicyError(f"{name}: the filters expand to more than {MAX_RULES_PER_CALL} "
                              "rules", path=f.path, line=f.line)
        if f.expr is None:
            break
        before = _and(before, _not_expr_dnf(f.expr, ctx.word))
        if len(before) > MAX_RULES_PER_CALL:
            raise PolicyError(f"{name}: the filters expand to more than {MAX_RULES_PER_CALL} "
                              "rules", path=f.path, line=f.line)
    return rules


def read(text: str, path: str) -> Policy:
    """Read a minijail policy (arch and dialect guessed; @include is an error)."""
    return read_policy(text, path)


# --- the writer -------------------------------------------------------------------------------


def _atoms(conj: Conj, word: int) -> str:
    parts = []
    for c in conj:
        if c.op in _SYMBOL:
            parts.append(f"arg{c.arg} {_SYMBOL[c.op]} {c.value & word:#x}")
            continue
        mask, value = c.mask & word, c.value & word
        if value & ~mask:
            raise PolicyError(f"{c} can never hold")
        for bit in _bits(mask):
            parts.append(f"arg{c.arg} & {bit:#x}" if value & bit else f"arg{c.arg} in ~{bit:#x}")
    if not parts:
        raise PolicyError("an empty condition list cannot be written as an expression")
    return " && ".join(parts)


def _action_text(action: Action) -> tuple[str, bool]:
    """(text, needs compile_seccomp_policy)."""
    if action == ALLOW:
        return "1", False
    if action.kind == "errno":
        return f"return {action.value}", False
    if action.kind == "trace" and action.value == 0:
        return "trace", True
    names = {"kill_process": "kill-process", "kill_thread": "kill-thread", "trap": "trap",
             "log": "log", "user_notif": "user-notify"}
    if action.kind not in names:
        raise PolicyError(f"minijail cannot express the action {action}")
    return names[action.kind], True


def write(policy: Policy) -> str:
    """minijail policy text for one architecture.

    Per call: one unconditional action; allow conditions (``name: E``);
    allow conditions plus one action for every other argument value
    (``name: E; return N``, or ``{E, ACTION}``); or conditions with one action
    (compile_seccomp_policy).  Other shapes are a PolicyError.
    """
    from tracebench import syscalls

    if len(policy.arches) > 1:
        raise PolicyError("a minijail policy is for one architecture; this one targets "
                          + ", ".join(policy.arches))
    arch = policy.arches[0] if policy.arches else syscalls.native_arch()
    word = (1 << (64 if arch in _64BIT else 32)) - 1
    default = policy.default_action
    denylist = default == ALLOW
    if not denylist and default.kind not in ("kill_thread", "kill_process", "trap",
                                             "user_notif"):
        raise PolicyError(f"minijail cannot use {default} as the default action")
    per_call: dict[str, list[Rule]] = {}
    for rule in policy.rules:
        if not rule.gate.is_open() or (rule.arches and arch not in rule.arches):
            raise PolicyError("minijail cannot express rules gated on capabilities, kernels or "
                              "architectures")
        for call in rule.names:
            per_call.setdefault(call, []).append(rule)
    plans = [(call, plan) for call, rules in per_call.items()
             if (plan := _plan(call, rules, default, word)) is not None]
    python = denylist or default != Action("kill_thread") or any(p[2] for _, p in plans)
    out = [f"# minijail policy for {arch}, written by tracebench from "
           f"{policy.name or 'a policy'}"]
    if denylist:
        out.append("@denylist")
    elif default != Action("kill_thread"):
        out.append("@default " + _action_text(default)[0])
    for call, (expr, action, _needs, else_action) in plans:
        spelled = _spelling(arch, call)
        if expr is None:
            out.append(f"{spelled}: {_action_text(action)[0]}")
        elif else_action is None:
            out.append(f"{spelled}: {expr}" if action == ALLOW
                       else f"{spelled}: {expr}; {_action_text(action)[0]}")
        elif python:
            out.append(f"{spelled}: {{{expr}, {_action_text(else_action)[0]}}}")
        else:
            out.append(f"{spelled}: {expr}; {_action_text(else_action)[0]}")
    out.extend(f"{_spelling(arch, d)}: 1" for d in policy.dropped if not denylist)
    return "\n".join(out) + "\n"


def _spelling(arch: str, call: str) -> str:
    from tracebench import syscalls

    nr = syscalls.number(arch, call) if arch == "arm" else None
    return f"ARM_{call}" if nr is not None and nr >= _ARM_PRIVATE_BASE else call


def _plan(call: str, rules: list[Rule], default: Action,
          word: int) -> tuple[str | None, Action, bool, Action | None] | None:
    """(expression or None, action, needs compile_seccomp_policy, else-action); None: nothing."""
    plain = [r for r in rules if not r.conditions]
    if plain:
        # libseccomp keeps the first unconditional rule and ignores conditional ones.
        if plain[0].action == default:
            return None
        return None, plain[0].action, _action_text(plain[0].action)[1], None
    rules = [r for r in rules if r.action != default]
    if not rules:
        return None
    actions = list(dict.fromkeys(r.action for r in rules))
    conjs = {a: [r.conditions for r in rules if r.action == a] for a in actions}
    if len(actions) == 1:
        action = actions[0]
        expr = " || ".join(_atoms(c, word) for c in conjs[action])
        return expr, action, action != ALLOW, None
    if len(actions) == 2 and ALLOW in actions:
        other = actions[1] if actions[0] == ALLOW else actions[0]
        allowed = conjs[ALLOW]
        if set(_not_conjs(allowed, word)) == set(conjs[other]):
            return (" || ".join(_atoms(c, word) for c in allowed), ALLOW,
                    _action_text(other)[1], other)
    raise PolicyError(f"minijail cannot express the rules for {call}: "
                      + "; ".join(f"{r.action} when {', '.join(map(str, r.conditions))}"
                                  for r in rules))


def _not_condition(c: Condition, word: int) -> list[Conj]:
    if c.op in _NEGATE:
        return [(Condition(c.arg, _NEGATE[c.op], c.value),)]
    mask, value = c.mask & word, c.value & word
    return [(Condition(c.arg, "masked_eq", 0, b),) if value & b else
            (Condition(c.arg, "masked_eq", b, b),) for b in _bits(mask)]


def _not_conjs(conjs: list[Conj], word: int) -> list[Conj]:
    """The complement of a disjunction of conjunctions, as the reader expands it."""
    acc: list[Conj] = [()]
    for conj in conjs:
        alternatives: list[Conj] = []
        for c in conj:
            alternatives.extend(_not_condition(c, word))
        acc = _and(acc, alternatives)
    return acc


_SNIFF_LINE = re.compile(
    r"^(@(include|frequency|denylist|default)\b.*|\{.*|[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?"
    r"\s*:\s*(1|allow|kill(-process|-thread)?|trap|trace|log|user-notify|return\s+\S+"
    r"|arg\d.*|\{.*))$")


def sniff(text: str) -> bool:
    """Every logical line is a minijail statement (``name: ...`` or ``@...``)."""
    logical = re.sub(r"\\\n", " ", text)
    lines = [ln.strip() for ln in logical.splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_SNIFF_LINE.match(ln) for ln in lines)


FORMAT = Format(
    name="minijail",
    description="Chromium OS minijail .policy (libminijail / compile_seccomp_policy)",
    suffixes=(".policy",),
    read=read,
    write=write,
    sniff=sniff,
)
