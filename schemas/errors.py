"""Rekognition's errors, as facelake's operations raise them.

``code`` is Rekognition's error code (the exception name boto3 raises); it doubles as the
machine-readable reason in error rows. The doors turn these into Rekognition's error
responses: the in-process client into botocore's own exception classes, the HTTP server into
``{"__type": code, "message": ...}``.
"""

from __future__ import annotations


class RekognitionError(Exception):
    code = "InternalServerError"
    status = 400  # HTTP status of the error response (5xx: the service's fault)

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _make(name: str, status: int = 400) -> type[RekognitionError]:
    return type(name, (RekognitionError,), {"code": name, "status": status, "__doc__": f"Rekognition's {name}."})


InvalidParameterException = _make("InvalidParameterException")
InvalidImageFormatException = _make("InvalidImageFormatException")
ImageTooLargeException = _make("ImageTooLargeException")
InvalidS3ObjectException = _make("InvalidS3ObjectException")
AccessDeniedException = _make("AccessDeniedException")
ResourceNotFoundException = _make("ResourceNotFoundException")
ResourceAlreadyExistsException = _make("ResourceAlreadyExistsException")
InvalidPaginationTokenException = _make("InvalidPaginationTokenException")
# a request breaking the service model's constraints (pattern, length, range, enum), as AWS answers it
ValidationException = _make("ValidationException")
# an operation of Rekognition's API that facelake does not offer
UnknownOperationException = _make("UnknownOperationException")
InternalServerError = _make("InternalServerError", 500)
