"""Conditions: CEL (Common Expression Language) expressions over ``record``, ``old``, ``actor``, ``now``
(and, after a ``request_approval`` step, ``approval``: ``{approval_id, status, decided_by, comment}``).

CEL has no loops, no I/O and no side effects; what it can cost is bounded here before an
expression is ever saved: its length, its size, how deeply its comprehension macros (``all``,
``exists``, ``map``, ``filter``) nest, and which names it reads. ``matches`` runs on RE2 (linear
time), never on Python's backtracking ``re``. An expression that breaks a bound is refused at
definition time with a message naming the bound.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import celpy
import msgspec
import re2
from celpy import celtypes
from lark import Token, Tree

MAX_LENGTH = 1000          # characters of one expression
MAX_NODES = 1500           # parse-tree nodes (about 60 comparisons)
MAX_MACRO_NESTING = 2      # record.tags.exists(t, ...) inside another comprehension, no deeper
MAX_PATTERN_LENGTH = 256   # a regular expression given to matches()
ROOTS = frozenset({"record", "old", "actor", "now", "approval"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


class ConditionError(ValueError):
    """The expression cannot be saved or run; the message says why, for a person."""


class Activation:
    """The variables an expression sees, converted to CEL values once and shared by every
    condition checked against the same event (the conversion costs more than most conditions)."""

    def __init__(self, *, record: Mapping[str, Any], old: Mapping[str, Any] | None, actor: Mapping[str, Any],
                 now: datetime, approval: Mapping[str, Any] | None = None) -> None:
        self.record = record
        self.old = old or {}
        self._variables: dict[str, Any] | None = None
        self._raw = (actor, now, approval)

    @property
    def variables(self) -> dict[str, Any]:
        if self._variables is None:
            actor, now, approval = self._raw
            self._variables = {
                "record": celpy.json_to_cel(dict(self.record)),
                "old": celpy.json_to_cel(dict(self.old)),
                "actor": celpy.json_to_cel(dict(actor)),
                "now": celtypes.TimestampType(now),
                "approval": celpy.json_to_cel(dict(approval or {})),
            }
        return self._variables


_ABSENT = "\x00absent"   # a field missing from the record, unlike one that is null
# Results kept per condition that reads only record and old fields, and the largest key remembered:
# enough for rules on a stage, a tier or a severity, bounded for a process holding 1,024 conditions.
MEMO_SIZE = 128
MEMO_KEY_BYTES = 256


@dataclass(frozen=True)
class Condition:
    source: str
    program: celpy.Runner
    fields: frozenset[str]          # record.<field> and old.<field> read by the expression
    # True when the expression reads nothing but ``record.<field>`` and ``old.<field>``: its value is
    # then a function of those fields' values, and remembered per value (rules on a stage or a tier
    # see the same few values again and again).
    pure: bool = False
    memo: dict[bytes, bool] = field(default_factory=dict, compare=False, repr=False)

    def evaluate(self, *, record: Mapping[str, Any], old: Mapping[str, Any] | None, actor: Mapping[str, Any],
                 now: datetime, approval: Mapping[str, Any] | None = None) -> bool:
        """True or False; an expression that fails at run time (a field absent from the record, a type
        mismatch) raises ConditionError with CEL's reason."""
        return self.holds(Activation(record=record, old=old, actor=actor, now=now, approval=approval))

    def holds(self, activation: Activation) -> bool:
        """``evaluate`` with variables shared between conditions."""
        key = self._memo_key(activation) if self.pure else None
        if key is not None and (known := self.memo.get(key)) is not None:
            return known
        result = self._run(activation.variables)
        if not isinstance(result, bool):
            raise ConditionError(f"the condition must give true or false, not {type(result).__name__}")
        if key is not None:
            if len(self.memo) >= MEMO_SIZE:
                self.memo.clear()
            self.memo[key] = result
        return result

    def _memo_key(self, activation: Activation) -> bytes | None:
        try:
            key = msgspec.json.encode([[activation.record.get(f, _ABSENT) for f in sorted(self.fields)],
                                       [activation.old.get(f, _ABSENT) for f in sorted(self.fields)]])
        except (TypeError, msgspec.EncodeError):
            return None
        return key if len(key) <= MEMO_KEY_BYTES else None   # a long text or a whole map: evaluated each time

    def value(self, *, record: Mapping[str, Any], old: Mapping[str, Any] | None, actor: Mapping[str, Any],
              now: datetime, approval: Mapping[str, Any] | None = None) -> Any:
        """The expression's value as plain Python (str, int, float, bool, list, dict, None)."""
        return self._run(Activation(record=record, old=old, actor=actor, now=now, approval=approval).variables)

    def _run(self, activation: dict[str, Any]) -> Any:
        try:
            result = self.program.evaluate(activation)
        except celpy.CELEvalError as exc:
            raise ConditionError(f"the condition failed: {exc.args[0] if exc.args else exc}") from None
        except ConditionError:
            raise
        except (RecursionError, TypeError, ValueError, ArithmeticError) as exc:
            raise ConditionError(f"the condition failed: {exc}") from None
        if isinstance(result, celpy.CELEvalError):
            raise ConditionError(f"the condition failed: {result.args[0] if result.args else result}")
        return _plain(result)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern, or ConditionError naming why it cannot be used (RE2 refuses backreferences
    and lookaround, the constructs that make a regular expression backtrack)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConditionError(f"a pattern given to matches() is longer than {MAX_PATTERN_LENGTH} characters")
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ConditionError(f"matches(): the pattern {pattern!r} cannot be used ({reason})") from None


def _matches(text: Any, pattern: Any) -> celtypes.BoolType:
    """CEL's ``matches`` on RE2: linear in the text, whatever the pattern."""
    return celtypes.BoolType(compile_pattern(str(pattern)).search(str(text)) is not None)


def _plain(value: Any) -> Any:
    """CEL values as plain Python values."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.ListType):
        return [_plain(v) for v in value]
    if isinstance(value, celtypes.MapType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, celtypes.TimestampType):
        return value.isoformat()
    return None if value is None else str(value)


@functools.lru_cache(maxsize=1024)
def compiled(source: str) -> Condition:
    """A saved expression, compiled once per process (it was checked when its workflow was saved)."""
    return compile_condition(source)


def value_of(source: str, *, record: Mapping[str, Any], old: Mapping[str, Any] | None, actor: Mapping[str, Any],
             now: datetime, approval: Mapping[str, Any] | None = None) -> Any:
    return compiled(source).value(record=record, old=old, actor=actor, now=now, approval=approval)


@functools.cache
def _environment() -> celpy.Environment:
    return celpy.Environment()


def compile_condition(source: str, known_fields: Iterable[str] | None = None) -> Condition:
    """Parse and check ``source``. ``known_fields``: the record's fields (``record.x`` and ``old.x``
    must name one of them; ``record.custom_fields.<key>`` is not checked here)."""
    if not isinstance(source, str) or not source.strip():
        raise ConditionError("the condition is empty")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_LENGTH} characters")
    if "\x00" in source:
        raise ConditionError("the condition contains a NUL character")
    env = _environment()
    try:
        tree = env.compile(source)
    except celpy.CELParseError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ConditionError(f"the condition does not parse: {reason}") from None
    except RecursionError:
        raise ConditionError("the condition is nested too deeply") from None
    fields, pure = _check_tree(tree, None if known_fields is None else frozenset(known_fields))
    try:
        program = env.program(tree, functions={"matches": _matches})
    except Exception as exc:  # noqa: BLE001 - celpy reports unknown functions and the like here
        raise ConditionError(f"the condition cannot run: {exc}") from None
    return Condition(source, program, fields, pure)


def _check_tree(tree: Tree, known: frozenset[str] | None) -> tuple[frozenset[str], bool]:
    """Walk the tree once, without recursion: size, macro nesting, names, fields read; and whether
    the expression reads nothing but ``record.<field>`` and ``old.<field>`` (pure)."""
    nodes = 0
    direct_reads = 0
    fields: set[str] = set()
    variables: set[str] = set()
    idents: list[str] = []
    stack: list[tuple[Tree | Token, int]] = [(tree, 0)]
    while stack:
        node, macro_depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConditionError(f"the condition is too large (more than {MAX_NODES} parts); split it")
        if isinstance(node, Token):
            continue
        depth = macro_depth
        if node.data == "member_dot_arg" and len(node.children) >= 2 and str(node.children[1]) in _MACROS:
            depth += 1
            if depth > MAX_MACRO_NESTING:
                raise ConditionError(f"comprehensions (all, exists, map, filter) nest deeper than {MAX_MACRO_NESTING}")
            variable = _first_argument_name(node)
            if variable is not None:
                variables.add(variable)
        elif node.data == "member_dot_arg" and len(node.children) >= 3 and str(node.children[1]) == "matches":
            literal = _string_literal(node.children[2])
            if literal is not None:
                compile_pattern(literal)  # refused now rather than failing every run
        elif node.data == "member_dot":
            root = _root_ident(node)
            if root in ("record", "old") and _is_direct(node):
                fields.add(str(node.children[1]))
                direct_reads += 1
        elif node.data == "ident":
            idents.append(str(node.children[0]))
        for child in node.children:
            stack.append((child, depth))
    unknown = sorted({name for name in idents if name not in ROOTS and name not in variables})
    if unknown:
        raise ConditionError(f"the condition names {', '.join(unknown)}; it may read {', '.join(sorted(ROOTS))}")
    if known is not None:
        missing = sorted(fields - known)
        if missing:
            raise ConditionError(f"the record has no field {', '.join(missing)}")
    # Every mention of record or old is a direct field read, and nothing else is read (no actor,
    # now or approval; a macro's own variable is fine).
    roots = [name for name in idents if name in ROOTS]
    pure = all(name in ("record", "old") for name in roots) and len(roots) == direct_reads
    return frozenset(fields), pure


def _root_ident(member_dot: Tree) -> str | None:
    """``record`` for ``record.x`` (member_dot -> member -> primary -> ident)."""
    inner = member_dot.children[0]
    while isinstance(inner, Tree) and inner.data in ("member", "primary"):
        if not inner.children:
            return None
        inner = inner.children[0]
    if isinstance(inner, Tree) and inner.data == "ident":
        return str(inner.children[0])
    return None


def _is_direct(member_dot: Tree) -> bool:
    """Whether this is ``record.x`` itself, not ``record.x.y`` (whose inner node is checked on its own)."""
    inner = member_dot.children[0]
    return isinstance(inner, Tree) and inner.data == "member" and inner.children and isinstance(
        inner.children[0], Tree) and inner.children[0].data == "primary"


def _string_literal(arguments: Tree | Token) -> str | None:
    """The value of a lone string literal argument (``"^1[3-9]"``), or None."""
    if not isinstance(arguments, Tree):
        return None
    literals = [n for n in arguments.iter_subtrees_topdown() if n.data == "literal"]
    if len(literals) != 1:
        return None
    token = str(literals[0].children[0])
    if not token.endswith(("'", '"')):
        return None
    env = _environment()
    value = env.program(env.compile(token)).evaluate({})  # CEL's own unescaping of the literal
    return str(value) if isinstance(value, celtypes.StringType) else None


def _first_argument_name(member_dot_arg: Tree) -> str | None:
    """The variable a macro introduces: its first argument, a bare identifier."""
    if len(member_dot_arg.children) < 3 or not isinstance(member_dot_arg.children[2], Tree):
        return None
    for node in member_dot_arg.children[2].iter_subtrees_topdown():
        if node.data == "ident":
            return str(node.children[0])
    return None


__all__ = ["Activation", "Condition", "ConditionError", "MAX_LENGTH", "ROOTS", "compile_condition", "compiled", "value_of"]
