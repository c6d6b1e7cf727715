"""Error rows from exceptions: what a DoFn emits for an input it could not handle."""

from __future__ import annotations

from facelake.schemas.errors import RekognitionError
from facelake.schemas.tables import error_row


def error_from_exception(uri: str, stage: str, exc: BaseException, run_id: str) -> dict:
    """Rekognition's exception name as the reason where there is one; else the Python type."""
    if isinstance(exc, RekognitionError):
        return error_row(uri, stage, exc.code, exc.message, run_id)
    return error_row(uri, stage, type(exc).__name__, str(exc) or repr(exc), run_id)
