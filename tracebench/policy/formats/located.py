"""JSON and YAML documents that remember the line of every object, key and item.

Policy readers must name the line of whatever they reject, and neither the
``json`` module nor PyYAML's constructed values carry positions.  The parsers
here return ordinary dicts and lists (``Node`` and ``Seq`` subclasses) that
also hold their own line and the line of each key or item, and ``Fields``
gives typed, line-aware access to them so each reader states its schema
plainly.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from typing import Any

from tracebench.errors import PolicyError


class Node(dict[str, Any]):
    """A mapping that knows its line and the line of each key."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class Seq(list[Any]):
    """A sequence that knows its line and the line of each item."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


# ---------------------------------------------------------------- JSON

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_STRINGS = json.JSONDecoder(strict=True)


class _JsonReader:
    """A small recursive-descent JSON parser that records line numbers."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        # Line starts, for turning offsets into 1-based line numbers.
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_right(self._starts, self.pos if pos is None else pos)

    def fail(self, message: str, pos: int | None = None) -> PolicyError:
        return PolicyError(message, path=self.path, line=self.line(pos))

    def skip_ws(self) -> None:
        m = _WS.match(self.text, self.pos)
        self.pos = m.end() if m else self.pos

    def value(self, depth: int = 0) -> Any:
        if depth > 200:
            raise self.fail("JSON nested too deeply")
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of JSON")
        ch = self.text[self.pos]
        if ch == "{":
            return self.obj(depth)
        if ch == "[":
            return self.array(depth)
        if ch == '"':
            return self.string()
        for word, val in _LITERALS.items():
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return val
        m = _NUMBER.match(self.text, self.pos)
        if m and m.end() > self.pos:
            self.pos = m.end()
            return float(m.group()) if m.group(1) or m.group(2) else int(m.group())
        raise self.fail(f"unexpected {self.text[self.pos]!r} in JSON")

    def string(self) -> str:
        try:
            s, end = _STRINGS.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as e:
            raise self.fail(f"bad JSON string: {e.msg}", e.pos) from None
        assert isinstance(s, str)  # the text at pos starts with '"'
        self.pos = end
        return s

    def obj(self, depth: int) -> Node:
        node = Node(self.line())
        self.pos += 1
        self.skip_ws()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return node
        while True:
            self.skip_ws()
            if not self.text.startswith('"', self.pos):
                raise self.fail("expected a quoted key in JSON object")
            key_line = self.line()
            key = self.string()
            if key in node:
                raise self.fail(f"duplicate key {key!r}", self.pos - 1)
            self.skip_ws()
            if not self.text.startswith(":", self.pos):
                raise self.fail(f"expected ':' after key {key!r}")
            self.pos += 1
            node[key] = self.value(depth + 1)
            node.key_lines[key] = key_line
            self.skip_ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return node
            raise self.fail("expected ',' or '}' in JSON object")

    def array(self, depth: int) -> Seq:
        seq = Seq(self.line())
        self.pos += 1
        self.skip_ws()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return seq
        while True:
            self.skip_ws()
            seq.item_lines.append(self.line())
            seq.append(self.value(depth + 1))
            self.skip_ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return seq
            raise self.fail("expected ',' or ']' in JSON array")


def parse_json(text: str, path: str) -> Any:
    """Parse one JSON document into Node/Seq/scalars; PolicyError with the line on bad JSON."""
    reader = _JsonReader(text, path)
    value = reader.value()
    reader.skip_ws()
    if reader.pos != len(text):
        raise reader.fail("extra data after the JSON document")
    return value


# ---------------------------------------------------------------- YAML


def parse_yaml_documents(text: str, path: str) -> list[tuple[Any, int]]:
    """Parse every YAML document of ``text``: (value, first line) per non-empty document."""
    import yaml

    loader = yaml.SafeLoader(text)
    docs: list[tuple[Any, int]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() excludes it
                continue
            value = _from_yaml_node(loader, node, path, _Budget())
            if value is not None:
                docs.append((value, node.start_mark.line + 1))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(f"bad YAML: {e.problem or e.context}", path=path, line=line) from None
    except yaml.YAMLError as e:
        raise PolicyError(f"bad YAML: {e}", path=path) from None
    finally:
        loader.dispose()
    return docs


class _Budget:
    """Guards against alias bombs and recursive aliases (``&a [*a]``)."""

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self.nodes = 0
        self.active: set[int] = set()


def _from_yaml_node(loader: Any, node: Any, path: str, budget: _Budget) -> Any:
    import yaml

    line = node.start_mark.line + 1
    budget.nodes += 1
    if budget.nodes > budget.LIMIT:
        raise PolicyError("YAML document expands to too many nodes (aliases?)", path=path,
                          line=line)
    if id(node) in budget.active:
        raise PolicyError("recursive YAML alias", path=path, line=line)
    if isinstance(node, yaml.MappingNode):
        budget.active.add(id(node))
        out = Node(line)
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise PolicyError("YAML merge keys ('<<') are not supported", path=path,
                                  line=knode.start_mark.line + 1)
            key = _from_yaml_node(loader, knode, path, budget)
            if not isinstance(key, str):
                raise PolicyError(f"mapping key {key!r} is not a string", path=path,
                                  line=knode.start_mark.line + 1)
            if key in out:
                raise PolicyError(f"duplicate key {key!r}", path=path,
                                  line=knode.start_mark.line + 1)
            out[key] = _from_yaml_node(loader, vnode, path, budget)
            out.key_lines[key] = knode.start_mark.line + 1
        budget.active.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        budget.active.add(id(node))
        seq = Seq(line)
        for item in node.value:
            seq.item_lines.append(item.start_mark.line + 1)
            seq.append(_from_yaml_node(loader, item, path, budget))
        budget.active.discard(id(node))
        return seq
    return loader.construct_object(node, deep=True)


# ---------------------------------------------------------------- typed access


def type_name(value: Any) -> str:
    """How a JSON/YAML value's type is called in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Fields:
    """Typed, line-aware reads from Node/Seq values of one file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, message: str, line: int | None) -> PolicyError:
        return PolicyError(message, path=self.path, line=line)

    def node(self, value: Any, what: str, line: int | None) -> Node:
        if not isinstance(value, Node):
            raise self.error(f"{what} must be an object, not {type_name(value)}", line)
        return value

    def only(self, node: Node, allowed: Iterable[str], what: str) -> None:
        """Reject any key of ``node`` not in ``allowed``, at that key's line."""
        known = set(allowed)
        for key in node:
            if key not in known:
                hint = next((k for k in sorted(known) if k.lower() == key.lower()), None)
                more = f" (did you mean {hint!r}?)" if hint else \
                    f" (known: {', '.join(sorted(known))})"
                raise self.error(f"unknown field {key!r} in {what}{more}", node.line_of(key))

    def seq(self, node: Node, key: str, what: str, *, null_ok: bool = True) -> Seq | None:
        """The list under ``key``; None when absent (or null, if ``null_ok``)."""
        if key not in node or (null_ok and node[key] is None):
            return None
        value = node[key]
        if not isinstance(value, Seq):
            raise self.error(f"{what}.{key} must be a list, not {type_name(value)}",
                             node.line_of(key))
        return value

    def string(self, node: Node, key: str, what: str, *, required: bool = False) -> str | None:
        if key not in node:
            if required:
                raise self.error(f"{what} has no {key!r}", node.line)
            return None
        value = node[key]
        if not isinstance(value, str):
            raise self.error(f"{what}.{key} must be a string, not {type_name(value)}",
                             node.line_of(key))
        return value

    def integer(self, node: Node, key: str, what: str, *, low: int = 0,
                high: int = 2**64 - 1, required: bool = False) -> int | None:
        if key not in node:
            if required:
                raise self.error(f"{what} has no {key!r}", node.line)
            return None
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{what}.{key} must be an integer, not {type_name(value)}",
                             node.line_of(key))
        if not low <= value <= high:
            raise self.error(f"{what}.{key} = {value} is outside {low}..{high}",
                             node.line_of(key))
        return value

    def boolean(self, node: Node, key: str, what: str) -> bool | None:
        if key not in node:
            return None
        value = node[key]
        if not isinstance(value, bool):
            raise self.error(f"{what}.{key} must be true or false, not {type_name(value)}",
                             node.line_of(key))
        return value

    def strings(self, node: Node, key: str, what: str) -> list[tuple[str, int]] | None:
        """A list of strings under ``key`` as (string, line) pairs; None when absent/null."""
        seq = self.seq(node, key, what)
        if seq is None:
            return None
        out = []
        for i, item in enumerate(seq):
            if not isinstance(item, str):
                raise self.error(f"{what}.{key}[{i}] must be a string, not {type_name(item)}",
                                 seq.line_of(i))
            out.append((item, seq.line_of(i)))
        return out
