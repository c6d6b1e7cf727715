"""Checks of a request against botocore's Rekognition service model, read from the model itself.

``check_request(operation, params)`` walks the parameters against the operation's input shape:
required members, types, string and list lengths, numeric ranges, enums and patterns, exactly
as the model states them. Every operation gets the same checks, whoever calls it (the in-process
client, whose botocore layer has already checked types and required members, the HTTP server,
the CLI). A breach raises ``ValidationException`` worded as AWS words it. Image bytes are the
one exception: their size limit is ImageLimits' (ImageTooLargeException), which can be raised.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache

from .botocore_model import service_model
from .errors import ValidationException


@lru_cache(maxsize=None)
def _pattern(text: str) -> re.Pattern:
    return re.compile(text)


def _member_path(path: str, name: str) -> str:
    return f"{path}.{name[:1].lower()}{name[1:]}" if path else name[:1].lower() + name[1:]


def _violations(value, shape, path: str, out: list[str]) -> None:
    kind = shape.type_name
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    where = f"Value at '{path}'"
    if kind == "structure":
        if not isinstance(value, dict):
            out.append(f"{where} failed to satisfy constraint: Member must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: "
                           "Member must not be null")
        for name, v in value.items():
            if name not in shape.members:
                out.append(f"Unknown parameter '{_member_path(path, name)}'")
            elif v is not None:
                _violations(v, shape.members[name], _member_path(path, name), out)
        return
    if kind in ("list", "map"):
        if not isinstance(value, (list, tuple) if kind == "list" else dict):
            out.append(f"{where} failed to satisfy constraint: Member must be a {kind}")
            return
        _length(len(value), lo, hi, where, out)
        if kind == "list":
            for i, v in enumerate(value):
                _violations(v, shape.member, f"{path}.{i + 1}.member", out)
        else:
            for k, v in value.items():
                _violations(k, shape.key, f"{path}.{k}.key", out)
                _violations(v, shape.value, f"{path}.{k}.value", out)
        return
    if kind == "string":
        if not isinstance(value, str):
            out.append(f"{where} failed to satisfy constraint: Member must be a string")
            return
        _length(len(value), lo, hi, f"Value '{value}' at '{path}'", out)
        if shape.enum and value not in shape.enum:
            out.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                       f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = shape.metadata.get("pattern")
        if pattern and _pattern(pattern).fullmatch(value) is None:
            out.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                       f"Member must satisfy regular expression pattern: {pattern}")
        return
    if kind in ("integer", "long", "float", "double"):
        number = (int,) if kind in ("integer", "long") else (int, float)
        if isinstance(value, bool) or not isinstance(value, number):
            out.append(f"{where} failed to satisfy constraint: Member must be a number")
            return
        if lo is not None and value < lo:
            out.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                       f"Member must have value greater than or equal to {lo}")
        if hi is not None and value > hi:
            out.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                       f"Member must have value less than or equal to {hi}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{where} failed to satisfy constraint: Member must be a boolean")
        return
    if kind == "blob":  # botocore takes a str too (and sends its UTF-8 bytes)
        if not isinstance(value, (bytes, bytearray, memoryview, str)):
            out.append(f"{where} failed to satisfy constraint: Member must be binary data")
            return
        # the upper bound is left to ImageLimits (ImageTooLargeException, and a limit that can be raised)
        _length(len(value), lo, None, where, out)
        return
    if kind == "timestamp" and not isinstance(value, (datetime.datetime, int, float)):
        out.append(f"{where} failed to satisfy constraint: Member must be a timestamp")


def _length(n: int, lo, hi, where: str, out: list[str]) -> None:
    if lo is not None and n < lo:
        out.append(f"{where} failed to satisfy constraint: Member must have length greater than or equal to {lo}")
    if hi is not None and n > hi:
        out.append(f"{where} failed to satisfy constraint: Member must have length less than or equal to {hi}")


def check_member(operation: str, member: str, value) -> None:
    """Check one request member (e.g. a CollectionId given on a command line) as check_request would."""
    out: list[str] = []
    _violations(value, service_model().operation_model(operation).input_shape.members[member],
                _member_path("", member), out)
    if out:
        raise ValidationException("; ".join(out))


def check_request(operation: str, params: dict) -> None:
    """Raise ValidationException listing every way ``params`` breaks the operation's input shape."""
    out: list[str] = []
    _violations(params, service_model().operation_model(operation).input_shape, "", out)
    if out:
        raise ValidationException(f"{len(out)} validation error{'s' if len(out) > 1 else ''} detected: "
                                  + "; ".join(out))
