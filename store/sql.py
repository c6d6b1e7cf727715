"""Values written into LanceDB's SQL filters."""

from __future__ import annotations


def quoted(values) -> str:
    """Strings as a SQL list body: 'a', 'b'. Ids reaching the store have been checked against
    Rekognition's patterns, so none holds a quote."""
    return ", ".join(f"'{v}'" for v in values)
