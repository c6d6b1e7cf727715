"""What an operation runs with: the analyzer, the image limits and the collection store.

Operations are plain functions ``op(ctx, **request)``; ``@operation("Name")`` marks which
Rekognition operation each one is (facelake.operations gathers them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from facelake.models.analyzer import AnalyzerConfig, FaceAnalyzer
from facelake.models.images import ImageLimits

if TYPE_CHECKING:  # LanceDB takes a second to import: only what uses a store imports it
    from facelake.store.collections import CollectionStore


def shared_analyzer(config: AnalyzerConfig | None = None) -> FaceAnalyzer:
    """One analyzer (one set of loaded models) per configuration in this process."""
    return _analyzer(config or AnalyzerConfig())


@lru_cache(maxsize=None)
def _analyzer(config: AnalyzerConfig) -> FaceAnalyzer:
    return FaceAnalyzer(config)


@dataclass
class Context:
    analyzer: FaceAnalyzer = field(default_factory=shared_analyzer)
    limits: ImageLimits = field(default_factory=ImageLimits)
    store_uri: str | None = None  # where collections live; None: $FACELAKE_STORE or ~/.facelake/store
    _store: CollectionStore | None = field(default=None, repr=False)

    @property
    def store(self) -> CollectionStore:
        if self._store is None:
            from facelake.store.collections import CollectionStore

            self._store = CollectionStore(self.store_uri)
        return self._store

    @property
    def face_model_version(self) -> str:
        return self.analyzer.model_versions["embedder"]


def operation(name: str, changes: bool = False):
    """Marks a function as Rekognition's operation ``name``; ``changes``: it changes what is
    stored (so the server refuses a replay of it)."""

    def mark(fn):
        fn.operation_name = name
        fn.changes_state = changes
        return fn

    return mark
