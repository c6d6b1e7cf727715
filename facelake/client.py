"""``facelake.client()``: a genuine botocore client for Rekognition whose transport is local.

The client is made by boto3's default session like any ``boto3.client("rekognition")``, so
parameter validation, paginators, ``meta``, ``exceptions`` (the very classes a user's own
boto3 client raises), ``ResponseMetadata`` and botocore's Stubber all come from botocore.
Two handlers on the client's own event system replace the network:

- ``before-parameter-build``: validates the request with botocore's own validator, keeps it in
  the request context and empties the parameters botocore goes on to serialise, so no body is
  built (base64-encoding a photo into JSON would cost more than a tenth of the analysis);
- ``before-call``: runs the operation (facelake.operations) and answers as the service would,
  with the result or an error response that botocore turns into its own exception.

Both sit one level less specific than botocore's Stubber's handlers, so an active Stubber
answers first, as it does on any client.
"""

from __future__ import annotations

import logging
import uuid

import boto3
from botocore import UNSIGNED
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.validate import validate_parameters

from facelake.models.analyzer import AnalyzerConfig
from facelake.models.images import ImageLimits
from facelake.schemas.errors import InternalServerError, RekognitionError

from . import operations
from .context import Context, shared_analyzer

log = logging.getLogger(__name__)
LOCAL_ENDPOINT = "http://rekognition.facelake.local"  # named in responses; never contacted
_PARAMS = "facelake_params"


def client(config: AnalyzerConfig | None = None, limits: ImageLimits | None = None, store: str | None = None, *,
           region_name: str | None = None, aws_access_key_id: str | None = None,
           aws_secret_access_key: str | None = None, aws_session_token: str | None = None):
    """A boto3 Rekognition client answered in this process by facelake.

    ``config``: how faces are found; ``limits``: image limits (Rekognition's by default);
    ``store``: where face collections live (a folder or an object-store URI; default
    $FACELAKE_STORE or ~/.facelake/store). Region and credentials are accepted as boto3 takes
    them; none is needed, and nothing is signed or sent. Clients with the same ``config`` share
    one set of loaded models."""
    ctx = Context(shared_analyzer(config), limits or ImageLimits(), store)
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    signed = aws_access_key_id is not None and aws_secret_access_key is not None
    botocore_config = Config(parameter_validation=False,  # validated below, once, on the caller's parameters
                             **({} if signed else {"signature_version": UNSIGNED}))
    rekognition = session.client(
        "rekognition", region_name=region_name or session.region_name or "us-east-1", endpoint_url=LOCAL_ENDPOINT,
        aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token, config=botocore_config)
    LocalTransport(ctx).attach(rekognition)
    return rekognition


class LocalTransport:
    """Answers a botocore client's calls with facelake's operations (see the module docstring)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def attach(self, rekognition) -> None:
        service = rekognition.meta.service_model.service_id.hyphenize()
        events = rekognition.meta.events
        events.register(f"before-parameter-build.{service}", self.keep_params, unique_id="facelake-params")
        events.register(f"before-call.{service}", self.answer, unique_id="facelake-answer")

    def keep_params(self, params: dict, model, context: dict, **_) -> None:
        validate_parameters(params, model.input_shape)  # raises botocore's ParamValidationError
        context[_PARAMS] = dict(params)
        params.clear()

    def answer(self, model, context: dict, **_):
        params = context.pop(_PARAMS, {})
        request_id = str(uuid.uuid4())
        try:
            status, parsed = 200, operations.call(self.ctx, model.name, params)
        except RekognitionError as e:
            status, parsed = e.status, error_response(e, model.service_model)
        except Exception as e:  # a bug of ours: the caller gets the service's 500, the log the traceback
            log.exception("facelake: %s failed", model.name)
            err = InternalServerError(f"{type(e).__name__}: {e}")
            status, parsed = err.status, error_response(err, model.service_model)
        headers = {"x-amzn-requestid": request_id, "content-type": "application/x-amz-json-1.1"}
        parsed["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers,
                                      "RetryAttempts": 0}
        return AWSResponse(LOCAL_ENDPOINT, status, headers, None), parsed


def error_response(e: RekognitionError, service_model) -> dict:
    """The error as botocore parses it from Rekognition's JSON error body."""
    parsed = {"Error": {"Code": e.code, "Message": e.message}}
    if e.code in {s.name for s in service_model.error_shapes}:  # modelled errors also carry their members
        parsed.update(Message=e.message, Code=e.code)
    return parsed
