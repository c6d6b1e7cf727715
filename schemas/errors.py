"""Exceptions named and shaped like Amazon Rekognition's.

Each is a ``botocore.exceptions.ClientError`` carrying ``response["Error"]["Code"]`` equal to
its class name, so code written for boto3 (``except client.exceptions.X`` or checking
``e.response["Error"]["Code"]``) works unchanged. ``code`` doubles as the machine-readable
reason in error rows.
"""

from __future__ import annotations

import functools

from botocore.exceptions import ClientError


class RekognitionError(ClientError):
    code = "InternalServerError"

    def __init__(self, message: str, operation: str = "facelake"):
        super().__init__({"Error": {"Code": self.code, "Message": message}}, operation)
        self.message = message


def _make(name: str) -> type[RekognitionError]:
    return type(name, (RekognitionError,), {"code": name, "__doc__": f"Rekognition's {name}."})


InvalidParameterException = _make("InvalidParameterException")
InvalidImageFormatException = _make("InvalidImageFormatException")
ImageTooLargeException = _make("ImageTooLargeException")
InvalidS3ObjectException = _make("InvalidS3ObjectException")
AccessDeniedException = _make("AccessDeniedException")
ResourceNotFoundException = _make("ResourceNotFoundException")
ResourceAlreadyExistsException = _make("ResourceAlreadyExistsException")
InternalServerError = _make("InternalServerError")

ALL_ERRORS = {cls.code: cls for cls in (
    InvalidParameterException, InvalidImageFormatException, ImageTooLargeException,
    InvalidS3ObjectException, AccessDeniedException, ResourceNotFoundException,
    ResourceAlreadyExistsException, InternalServerError)}


def operation(name: str):
    """Decorator for client calls: Rekognition errors raised inside carry the call's name
    (``e.operation_name``), as boto3's do."""

    def wrap(method):
        @functools.wraps(method)
        def call(self, **kwargs):
            try:
                return method(self, **kwargs)
            except RekognitionError as e:
                if e.operation_name == name:
                    raise
                raise type(e)(e.message, name) from None

        return call

    return wrap
