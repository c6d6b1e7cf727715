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


def error_class(name: str, status: int = 400) -> type[RekognitionError]:
    return type(name, (RekognitionError,), {"code": name, "status": status, "__doc__": f"Rekognition's {name}."})


InvalidParameterException = error_class("InvalidParameterException")
InvalidImageFormatException = error_class("InvalidImageFormatException")
ImageTooLargeException = error_class("ImageTooLargeException")
InvalidS3ObjectException = error_class("InvalidS3ObjectException")
AccessDeniedException = error_class("AccessDeniedException")
ResourceNotFoundException = error_class("ResourceNotFoundException")
ResourceAlreadyExistsException = error_class("ResourceAlreadyExistsException")
ConflictException = error_class("ConflictException")
ServiceQuotaExceededException = error_class("ServiceQuotaExceededException")
IdempotentParameterMismatchException = error_class("IdempotentParameterMismatchException")
InvalidPaginationTokenException = error_class("InvalidPaginationTokenException")
VideoTooLargeException = error_class("VideoTooLargeException")
# facelake's code for a file FFmpeg cannot read as a video (Rekognition reports a FAILED job)
InvalidVideoFormatException = error_class("InvalidVideoFormatException")
# a request breaking the service model's constraints (pattern, length, range, enum), as AWS answers it
ValidationException = error_class("ValidationException")
# an operation of Rekognition's API that facelake does not offer
UnknownOperationException = error_class("UnknownOperationException")
InternalServerError = error_class("InternalServerError", 500)
# answered by the HTTP server (facelake serve)
ThrottlingException = error_class("ThrottlingException")
SerializationException = error_class("SerializationException")  # a body that is not a JSON object
PayloadTooLarge = error_class("ImageTooLargeException", 413)  # a request over the server's size limit
