"""How the vector collection is stored and searched: in RAM (the default: a book or a few hundred
thousand chunks) or memory-mapped vectors and payloads (QDRANT_ON_DISK, for a library of a million),
int8 scalar quantization kept in RAM with rescoring on the original vectors, and the HNSW graph's
parameters. The embedded engine and a Qdrant server get the same settings (docs/scaling.md).

They apply when a collection is created; an existing collection keeps the settings it was made with
(re-index into a new COLLECTION_NAME to change them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from src.kit.settings import Settings


@dataclass(frozen=True)
class StoreTuning:
    on_disk: bool = False  # true: vectors and payloads memory-mapped, for large libraries (docs/scaling.md)
    quantization: Literal["int8", "none"] = "int8"
    quantile: float = 0.99
    oversampling: float = 2.0  # candidates read from the quantized vectors per result, then rescored
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    hnsw_ef: int = 128  # the search's beam: recall against speed
    full_scan_threshold_kb: int = 10_000  # below this a segment is searched exactly
    shards: int = 1  # a Qdrant server or cluster only
    replicas: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreTuning:
        return cls(
            on_disk=settings.qdrant_on_disk,
            quantization=settings.qdrant_quantization,
            oversampling=settings.qdrant_oversampling,
            hnsw_m=settings.qdrant_hnsw_m,
            hnsw_ef_construct=settings.qdrant_hnsw_ef_construct,
            hnsw_ef=settings.qdrant_hnsw_ef,
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
        )

    @property
    def quantized(self) -> bool:
        return self.quantization == "int8"
