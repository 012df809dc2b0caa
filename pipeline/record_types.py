"""Type checks of a record read from disk against the TypedDicts of pipeline/record.py.

A record may come from someone else: read_record refuses one whose values have the wrong type
(an object where a list belongs, a string for a number) or that nests deeper than any record,
before a reader indexes into it. Stdlib only.
"""

import json
import types
import typing
from typing import Any, Literal, NotRequired

NON_FINITE = ("inf", "-inf", "nan")  # how write_record stores non-finite floats


def too_deep(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` (without recursion of our own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def check_types(value: Any, shape: Any, where: str = "") -> list[str]:
    """Where a read record's values have the wrong type for the TypedDicts above: an object
    where a list belongs, a string for a number, a non-object log entry. Only the keys present
    are checked (missing and unknown keys are check_shape's: older records stay readable).
    A float may be stored as "inf", "-inf" or "nan"; a whole number is a float too."""
    name = where.rstrip(".") or "record"
    if shape is Any:
        return []
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{name} must be an object, got {_kind(value)}"]
        hints = typing.get_type_hints(shape)
        return [p for k, v in value.items() if k in hints
                for p in check_types(v, hints[k], f"{where}{k}.")]  # fmt: skip
    origin, args = typing.get_origin(shape), typing.get_args(shape)
    if origin is NotRequired:
        return check_types(value, args[0], where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        found = [check_types(value, a, where) for a in args if a is not type(None)]
        return [] if any(not f for f in found) else found[0]
    if origin is Literal:
        return [] if value in args else [f"{name} must be one of {', '.join(map(repr, args))}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{name} must be a list, got {_kind(value)}"]
        return [p for i, v in enumerate(value) for p in check_types(v, args[0], f"{where}{i}.")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{name} must be an object, got {_kind(value)}"]
        return [p for k, v in value.items() for p in check_types(v, args[1], f"{where}{k}.")]
    if shape is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok or value in NON_FINITE else [f"{name} must be a number, got {_kind(value)}"]
    if shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{name} must be a whole number, got {_kind(value)}"]
    if shape in (str, bool) and not isinstance(value, shape):
        return [f"{name} must be a {'string' if shape is str else 'boolean'}, got {_kind(value)}"]
    return []


def _kind(value: Any) -> str:
    """A value's JSON kind in words, with a short excerpt of a scalar."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    kind = next((k for t, k in kinds.items() if isinstance(value, t)), None)
    if value is None:
        return "null"
    if kind in ("an object", "a list"):
        return kind
    return f"{kind or 'a number'} {json.dumps(value)[:40]}"
