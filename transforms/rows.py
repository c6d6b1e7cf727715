"""Rows the transforms emit (plain dicts matching facelake.schemas.tables)."""

from __future__ import annotations

from facelake.schemas.errors import RekognitionError


def error_row(uri: str, stage: str, reason: str, message: str, run_id: str) -> dict:
    return {"uri": uri, "stage": stage, "reason": reason, "message": message, "run_id": run_id}


def error_from_exception(uri: str, stage: str, exc: BaseException, run_id: str) -> dict:
    """Rekognition's exception name as the reason where there is one; else the Python type."""
    if isinstance(exc, RekognitionError):
        return error_row(uri, stage, exc.code, exc.message, run_id)
    return error_row(uri, stage, type(exc).__name__, str(exc) or repr(exc), run_id)
