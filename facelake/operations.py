"""Every Rekognition operation facelake offers, by name, and the one way to call one.

``call(ctx, "DetectFaces", params)`` checks the request against botocore's service model
(schemas.requests) and runs the operation; every door (the in-process client, the CLI, the
HTTP server) goes through it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache

from facelake.schemas.botocore_model import service_model
from facelake.schemas.errors import IdempotentParameterMismatchException, UnknownOperationException
from facelake.schemas.requests import check_request

from . import collections, faces, users, video
from .context import Context

OPERATIONS: dict[str, Callable[..., dict]] = {
    fn.operation_name: fn
    for module in (faces, collections, users, video)
    for fn in vars(module).values()
    if callable(fn) and getattr(fn, "operation_name", None) and fn.__module__ == module.__name__
}


def changes_state(name: str) -> bool:
    """Whether operation ``name`` changes what is stored."""
    return getattr(OPERATIONS.get(name), "changes_state", False)


@lru_cache(maxsize=None)
def token_member(name: str) -> str | None:
    """The member of operation ``name``'s request that makes it idempotent, if it has one: the
    one the service model marks as its idempotency token, or ClientRequestToken (the video Start*
    calls' token is not marked, though Rekognition documents it as idempotent)."""
    shape = service_model().operation_model(name).input_shape
    marked = next((m for m, s in shape.members.items() if s.metadata.get("idempotencyToken")), None)
    return marked or ("ClientRequestToken" if "ClientRequestToken" in shape.members else None)


def call(ctx: Context, name: str, params: dict) -> dict:
    """Run Rekognition operation ``name`` with request ``params``; raises schemas.errors' exceptions.

    A request carrying an idempotency token (boto3 fills one in) is answered once: the same token
    with the same parameters gets the first answer without acting again, with other parameters
    IdempotentParameterMismatchException. Errors are not kept, so a failed request can be retried."""
    fn = OPERATIONS.get(name)
    if fn is None:
        raise UnknownOperationException(f"facelake does not offer {name}; it offers {', '.join(sorted(OPERATIONS))}")
    check_request(name, params)
    member = token_member(name)
    token = params.get(member) if member else None
    request = {k: v for k, v in params.items() if k != member}
    if token is None:
        return fn(ctx, **request)
    key = f"{name}:{token}"
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=repr).encode()).hexdigest()
    prior = ctx.store.answered(key)
    if prior is not None:
        if prior["params_sha256"] != digest:
            raise IdempotentParameterMismatchException(f"{member} {token} was used with other parameters")
        return json.loads(prior["response"])
    out = fn(ctx, **request)
    ctx.store.remember(key, digest, json.dumps(out))
    return out
