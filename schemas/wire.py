"""Rekognition's JSON 1.1 wire format, read from botocore's service model: blobs as base64,
timestamps as epoch seconds. What the HTTP server turns requests from and responses into."""

from __future__ import annotations

import base64
import binascii
import datetime

from .errors import ValidationException


def from_wire(value, shape, path: str = ""):
    """A request member as sent (JSON) -> as the operations take it (bytes, datetimes)."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: (from_wire(v, shape.members[k], f"{path}.{k}") if k in shape.members else v)
                for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [from_wire(v, shape.member, path) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_wire(v, shape.value, path) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationException(f"Value at '{path.lstrip('.')}' is not valid base64") from None
    if kind == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    return value  # a wrong type is left for the request checks to name


def to_wire(value, shape):
    """A response member as the operations give it -> as sent (JSON-ready)."""
    kind = shape.type_name
    if kind == "structure":
        return {k: to_wire(v, shape.members[k]) for k, v in value.items() if v is not None and k in shape.members}
    if kind == "list":
        return [to_wire(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_wire(v, shape.value) for k, v in value.items()}
    if kind == "blob":
        return base64.b64encode(bytes(value)).decode()
    if kind == "timestamp":
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return value.timestamp()
        return value
    return value
