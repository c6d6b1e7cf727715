"""``facelake serve``: Rekognition's HTTP API (JSON 1.1) answered by facelake's operations.

    facelake serve [--host 127.0.0.1] [--port 8085] [--workers N] [--store URI] [--keys FILE]
                   [--allow-anonymous] [--allow-buckets B...] [--tls-cert F --tls-key F] [--queue 64] [--threads N]
                   [--read-timeout 30]

An ASGI app run by uvicorn. ``POST /`` with ``X-Amz-Target: RekognitionService.<Operation>``
and a JSON body: the request is checked for its SigV4 signature (facelake.auth), converted from
the wire (schemas.wire), and handed to ``facelake.operations.call``, the same dispatch the
in-process client uses, on a thread pool off the event loop; at most ``--queue`` requests wait
or run at once, more get ThrottlingException (which SDKs retry). ``GET /health`` answers
``{"status": "ok"}``; ``GET /metrics`` gives request counts and latencies in Prometheus' text
format. Every response carries ``x-amzn-RequestId``; errors are ``{"__type", "message"}`` with
Rekognition's codes, so every SDK raises its own exception class.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from uvicorn.protocols.http.h11_impl import H11Protocol

from facelake.models.images import ImageLimits
from facelake.schemas.botocore_model import service_model
from facelake.schemas.errors import (
    InternalServerError, PayloadTooLarge, RekognitionError, SerializationException, ThrottlingException,
    UnknownOperationException, error_class)
from facelake.schemas.wire import from_wire, to_wire

from . import operations
from .auth import ReplayGuard, Verifier, load_keys
from .context import Context

log = logging.getLogger("facelake.server")
TARGET_PREFIX = "RekognitionService."
# a 5 MB image is ~6.7 MB of base64: room for it and the rest of a request
MAX_BODY = 8 * 1024 * 1024
# against slow clients (seconds): a request's headers must arrive within READ_TIMEOUT of the
# connection opening or of the previous response, and its body within READ_TIMEOUT of its headers
# (8 MB at 280 kB/s); an idle kept-alive connection is closed after IDLE_TIMEOUT.
READ_TIMEOUT = 30
IDLE_TIMEOUT = 5
RequestTimeoutException = error_class("RequestTimeoutException", 408)


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections whose request headers do not arrive
    within ``header_timeout`` seconds (uvicorn itself waits for them forever)."""

    header_timeout: float = READ_TIMEOUT  # create_app sets the server's --read-timeout

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _headers_late(self, cycle) -> None:
        if self.cycle is cycle and not self.transport.is_closing():  # no request began since
            self.transport.close()


class RekognitionApp:
    """The ASGI application (one per worker process)."""

    def __init__(self, ctx: Context, keys: dict[str, str] | None, queue: int = 64, threads: int | None = None,
                 max_body: int = MAX_BODY, url: str = "", replay_db: str = ":memory:",
                 read_timeout: float = READ_TIMEOUT):
        self.ctx, self.max_body, self.url, self.read_timeout = ctx, max_body, url, read_timeout
        self.verifier = Verifier(keys) if keys is not None else None  # None: anonymous allowed
        self.replays = ReplayGuard(replay_db) if keys is not None else None  # unsigned requests carry no signature
        self.pool = ThreadPoolExecutor(max_workers=threads or max(1, os.cpu_count() or 1),
                                       thread_name_prefix="facelake-op")
        self.slots = asyncio.Semaphore(queue)
        self.queue = queue
        self.model = service_model()
        self.requests: Counter = Counter()  # (operation, status) -> count
        self.seconds: defaultdict = defaultdict(float)  # operation -> seconds spent

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    if self.url:
                        print(f"facelake serve: {self.url} ready (process {os.getpid()})", file=sys.stderr, flush=True)
                elif message["type"] == "lifespan.shutdown":
                    self.pool.shutdown(wait=True)  # in-flight operations finish
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/health":
            return await self.reply(send, 200, {"status": "ok"}, str(uuid.uuid4()))
        if method == "GET" and path == "/metrics":
            return await self.reply(send, 200, self.metrics(), str(uuid.uuid4()), content_type="text/plain")
        await self.rekognition(scope, receive, send)

    async def rekognition(self, scope, receive, send):
        request_id, started = str(uuid.uuid4()), time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        name = headers.get("x-amz-target", "").removeprefix(TARGET_PREFIX)
        status, key_id, signature = 500, None, None
        try:
            if scope["method"] != "POST" or scope["path"] != "/":
                raise UnknownOperationException(f"{scope['method']} {scope['path']} is not Rekognition's API (POST /)")
            body = await self.body(receive, headers)
            if self.verifier is not None:
                host = headers.get("host", "")
                scheme = scope.get("scheme", "http")
                query = scope.get("query_string", b"").decode()
                key_id, signature = self.verifier.verify(
                    "POST", f"{scheme}://{host}/" + (f"?{query}" if query else ""), headers, body)
            if not headers.get("x-amz-target", "").startswith(TARGET_PREFIX) or name not in self.model.operation_names:
                raise UnknownOperationException(f"unknown operation {headers.get('x-amz-target', '')!r}")
            op = self.model.operation_model(name)
            try:
                params = json.loads(body or b"{}")
            except ValueError as e:
                raise SerializationException(f"the request body is not JSON: {e}") from None
            if not isinstance(params, dict):
                raise SerializationException("the request body must be a JSON object")
            params = from_wire(params, op.input_shape)
            result = await self.run(name, params, signature)
            status = 200
            await self.reply(send, 200, to_wire(result, op.output_shape), request_id)
        except RekognitionError as e:
            status = e.status
            await self.reply(send, e.status, {"__type": e.code, "message": e.message}, request_id,
                             error=e.code)
        except Exception as e:  # a bug of ours: the service's 500, the traceback in the log
            log.exception("request %s (%s) failed", request_id, name)
            err = InternalServerError(f"{type(e).__name__}: {e}")
            await self.reply(send, 500, {"__type": err.code, "message": err.message}, request_id, error=err.code)
        finally:
            seconds = time.perf_counter() - started
            self.requests[(name or "-", status)] += 1
            self.seconds[name or "-"] += seconds
            client = scope.get("client") or ("-", 0)
            log.info(json.dumps({"request_id": request_id, "client": client[0], "key": key_id, "operation": name or None,
                                 "status": status, "ms": round(seconds * 1000, 1)}))

    async def body(self, receive, headers) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise PayloadTooLarge(f"the request is {length} bytes; the limit is {self.max_body}")
        chunks, size = [], 0
        deadline = time.monotonic() + self.read_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise RequestTimeoutException(
                    f"the request body did not arrive within {self.read_timeout:g} s ({size} bytes came)") from None
            if message["type"] == "http.disconnect":
                raise SerializationException("the client went away before sending the whole request")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"the request is over {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def run(self, name: str, params: dict, signature: str | None) -> dict:
        if self.slots.locked():
            raise ThrottlingException(f"more than {self.queue} requests at once; retry later")
        member = operations.token_member(name)
        if self.replays is not None and operations.changes_state(name) and not (member and params.get(member)):
            # after the queue: a throttled request may be sent again; a request with its idempotency
            # token is answered once whatever the number of copies, so copies need no refusing
            self.replays.use(signature)
        async with self.slots:
            return await asyncio.get_running_loop().run_in_executor(self.pool, operations.call, self.ctx, name, params)

    async def reply(self, send, status: int, payload, request_id: str, content_type: str = "application/x-amz-json-1.1",
                    error: str | None = None):
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                   (b"x-amzn-requestid", request_id.encode())]
        if error:
            headers.append((b"x-amzn-errortype", error.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def metrics(self) -> str:
        lines = ["# TYPE facelake_requests_total counter"]
        lines += [f'facelake_requests_total{{operation="{op}",status="{st}"}} {n}'
                  for (op, st), n in sorted(self.requests.items())]
        lines += ["# TYPE facelake_request_seconds_total counter"]
        lines += [f'facelake_request_seconds_total{{operation="{op}"}} {s:.6f}' for op, s in sorted(self.seconds.items())]
        return "\n".join(lines) + "\n"


CONFIG_ENV = "FACELAKE_SERVE_CONFIG"


def create_app() -> RekognitionApp:
    """The app of one worker process, configured by the ``facelake serve`` that started it."""
    config = json.loads(os.environ[CONFIG_ENV])
    keys = None if config["anonymous"] else config["keys"]
    buckets = tuple(config["buckets"]) if config["buckets"] is not None else None
    TimedH11Protocol.header_timeout = config["read_timeout"]
    return RekognitionApp(Context(limits=ImageLimits(s3_buckets=buckets), store_uri=config["store"]), keys,
                          config["queue"], config["threads"], url=config["url"], replay_db=config["replay_db"],
                          read_timeout=config["read_timeout"])


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="facelake serve", description="Rekognition's HTTP API, answered locally.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8085)
    ap.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    ap.add_argument("--threads", type=int, default=0, help="operations running at once per process (default: cores)")
    ap.add_argument("--queue", type=int, default=64, help="requests waiting or running per process before "
                                                          "ThrottlingException (default 64)")
    ap.add_argument("--store", metavar="URI", help="where collections live (default $FACELAKE_STORE or ~/.facelake/store)")
    ap.add_argument("--keys", metavar="FILE", help="ACCESS_KEY_ID SECRET_ACCESS_KEY lines (or $FACELAKE_ACCESS_KEYS)")
    ap.add_argument("--allow-anonymous", action="store_true", help="answer unsigned requests (loopback hosts only)")
    ap.add_argument("--allow-buckets", nargs="*", metavar="BUCKET",
                    help="the only buckets S3Object images may name (default: any the server's credentials reach)")
    ap.add_argument("--read-timeout", type=float, default=READ_TIMEOUT, metavar="S",
                    help=f"seconds a request's headers, then its body, may take to arrive (default {READ_TIMEOUT})")
    ap.add_argument("--tls-cert", metavar="FILE")
    ap.add_argument("--tls-key", metavar="FILE")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = {}
    if args.keys:
        with open(args.keys) as f:
            keys = load_keys(f.read())
    elif os.environ.get("FACELAKE_ACCESS_KEYS"):
        keys = load_keys(os.environ["FACELAKE_ACCESS_KEYS"])
    if args.allow_anonymous:
        try:
            loopback = ipaddress.ip_address(args.host).is_loopback
        except ValueError:
            loopback = args.host == "localhost"
        if not loopback:
            print("facelake serve: --allow-anonymous is only for a loopback host (127.0.0.1, ::1)", file=sys.stderr)
            return 2
    elif not keys:
        print("facelake serve: no access keys: give --keys FILE or FACELAKE_ACCESS_KEYS (or --allow-anonymous "
              "on a loopback host)", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("facelake serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    import uvicorn

    scheme = "https" if args.tls_cert else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    with tempfile.TemporaryDirectory(prefix="facelake-serve-") as run_dir:
        os.environ[CONFIG_ENV] = json.dumps({"keys": keys, "anonymous": args.allow_anonymous, "store": args.store,
                                             "queue": args.queue, "threads": args.threads or None,
                                             "buckets": args.allow_buckets, "read_timeout": args.read_timeout,
                                             "replay_db": os.path.join(run_dir, "signatures.sqlite"),
                                             "url": f"{scheme}://{host}:{args.port}"})
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        uvicorn.run("facelake.server:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, http="facelake.server:TimedH11Protocol", ssl_certfile=args.tls_cert,
                    ssl_keyfile=args.tls_key, access_log=False, log_level="warning", timeout_keep_alive=IDLE_TIMEOUT,
                    timeout_graceful_shutdown=30, h11_max_incomplete_event_size=64 * 1024)
    return 0
