"""Strict checks of our responses against botocore's Rekognition service model.

botocore ships Rekognition's model (botocore/data/rekognition/2016-06-27/service-2.json.gz);
``validate`` walks a value against a shape: no member the model lacks, every required member
present, types, enums and numeric min/max as the model states them.
"""

from __future__ import annotations

from functools import lru_cache

import botocore.session


@lru_cache(maxsize=1)
def service_model():
    return botocore.session.get_session().get_service_model("rekognition")


def output_shape(operation: str):
    return service_model().operation_model(operation).output_shape


def validate_response(operation: str, response: dict) -> None:
    """Raise ValueError naming the first place where ``response`` breaks the operation's output
    shape. ``ResponseMetadata``, which botocore adds to every response, is checked apart."""
    meta = response.get("ResponseMetadata")
    if meta is not None:
        if not isinstance(meta.get("RequestId"), str) or not isinstance(meta.get("HTTPStatusCode"), int):
            raise ValueError(f"{operation}: ResponseMetadata lacks RequestId or HTTPStatusCode: {meta}")
        response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    validate(response, output_shape(operation), operation)


def validate(value, shape, path: str = "$") -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object for {shape.name}, got {type(value).__name__}")
        extra = set(value) - set(shape.members)
        if extra:
            raise ValueError(f"{path}: {shape.name} has no member(s) {sorted(extra)}")
        missing = [m for m in shape.required_members if m not in value]
        if missing:
            raise ValueError(f"{path}: {shape.name} lacks required {missing}")
        for name, v in value.items():
            validate(v, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list, got {type(value).__name__}")
        for i, v in enumerate(value):
            validate(v, shape.member, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected a map")
        for k, v in value.items():
            validate(k, shape.key, f"{path}.<key>")
            validate(v, shape.value, f"{path}.{k}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected a string, got {type(value).__name__}")
        if shape.enum and value not in shape.enum:
            raise ValueError(f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: expected a number, got {type(value).__name__}")
        _check_range(value, shape, path)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: expected an integer, got {type(value).__name__}")
        _check_range(value, shape, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected a boolean")
    elif kind == "blob":
        if not isinstance(value, (bytes, bytearray)):
            raise ValueError(f"{path}: expected bytes")
    elif kind == "timestamp":
        import datetime

        if not isinstance(value, (datetime.datetime, int, float)):
            raise ValueError(f"{path}: expected a timestamp")
    else:
        raise ValueError(f"{path}: unhandled shape type {kind}")


def _check_range(value, shape, path: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ValueError(f"{path}: {value} is outside [{lo}, {hi}] ({shape.name})")
