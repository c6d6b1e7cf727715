"""Every Rekognition operation facelake offers, by name, and the one way to call one.

``call(ctx, "DetectFaces", params)`` checks the request against botocore's service model
(schemas.requests) and runs the operation; every door (the in-process client, the CLI, the
HTTP server) goes through it.
"""

from __future__ import annotations

from collections.abc import Callable

from facelake.schemas.errors import UnknownOperationException
from facelake.schemas.requests import check_request

from . import collections, faces, users
from .context import Context

OPERATIONS: dict[str, Callable[..., dict]] = {
    fn.operation_name: fn
    for module in (faces, collections, users)
    for fn in vars(module).values()
    if callable(fn) and getattr(fn, "operation_name", None) and fn.__module__ == module.__name__
}


def changes_state(name: str) -> bool:
    """Whether operation ``name`` changes what is stored."""
    return getattr(OPERATIONS.get(name), "changes_state", False)


def call(ctx: Context, name: str, params: dict) -> dict:
    """Run Rekognition operation ``name`` with request ``params``; raises schemas.errors' exceptions."""
    fn = OPERATIONS.get(name)
    if fn is None:
        raise UnknownOperationException(f"facelake does not offer {name}; it offers {', '.join(sorted(OPERATIONS))}")
    check_request(name, params)
    return fn(ctx, **params)
