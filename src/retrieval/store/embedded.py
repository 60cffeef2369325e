"""The embedded default: the real Qdrant engine in process (qdrant-edge-py), stored under DATA_DIR.

One process only: the shard's write-ahead log is locked, so a second worker cannot open it.
That is reported with the fix (set QDRANT_URL) instead of a bare lock error.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from src.retrieval.store.base import (
    DENSE,
    INDEXED_FIELDS,
    SPARSE,
    Hit,
    SearchFilter,
    SparseVec,
    StoredChunk,
    VectorStoreUnavailable,
)
from src.retrieval.store.records import SourceLookups, chunk_hashes, dense_by_id
from src.retrieval.store.tuning import StoreTuning

SINGLE_PROCESS_MESSAGE = (
    "The embedded vector store at {path} is already open in another process. It serves one process "
    "only: run a single worker, or set QDRANT_URL (and QDRANT_API_KEY) to use a Qdrant server for "
    "several workers."
)
_SCROLL_PAGE = 1000
_OPTIMIZE_AFTER_WRITES = 2000


def _to_filter(flt: SearchFilter | None) -> qe.Filter | None:
    if flt is None or flt.is_empty:
        return None
    must: list[Any] = []
    if flt.source_files:
        must.append(qe.FieldCondition(key="source_file", match=qe.MatchAny(list(flt.source_files))))
    if flt.chapter:
        must.append(qe.FieldCondition(key="chapter", match=qe.MatchValue(flt.chapter)))
    if flt.up_to_chapter is not None:
        must.append(qe.FieldCondition(key="chapter_number", range=qe.RangeFloat(lte=float(flt.up_to_chapter))))
    if flt.document_types:
        must.append(qe.FieldCondition(key="document_type", match=qe.MatchAny(list(flt.document_types))))
    return qe.Filter(must=must)


def _hit(point: Any) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))


class EmbeddedStore(SourceLookups):
    kind = "embedded"

    def __init__(self, path: Path, dimensions: int, tuning: StoreTuning | None = None) -> None:
        self.path = path
        self.dimensions = dimensions
        self.tuning = tuning or StoreTuning()
        self._write_lock = threading.Lock()
        self._writes_since_optimize = 0
        self._shard = self._open()

    def _config(self) -> qe.EdgeConfig:
        t = self.tuning
        quantization = (
            qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=t.quantile, always_ram=True)
            if t.quantized
            else None
        )
        return qe.EdgeConfig(
            vectors={
                DENSE: qe.EdgeVectorParams(
                    size=self.dimensions,
                    distance=qe.Distance.Cosine,
                    on_disk=t.on_disk,
                    quantization_config=quantization,
                )
            },
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, on_disk=t.on_disk)},
            on_disk_payload=t.on_disk,
            hnsw_config=qe.HnswIndexConfig(
                m=t.hnsw_m,
                ef_construct=t.hnsw_ef_construct,
                full_scan_threshold=t.full_scan_threshold_kb,
                on_disk=False,
            ),
        )

    def _params(self) -> qe.SearchParams:
        t = self.tuning
        rescoring = qe.QuantizationSearchParams(rescore=True, oversampling=t.oversampling) if t.quantized else None
        return qe.SearchParams(hnsw_ef=t.hnsw_ef, quantization=rescoring)

    def _open(self) -> qe.EdgeShard:
        try:
            if (self.path / "edge_config.json").exists():
                return qe.EdgeShard.load(str(self.path))
            self.path.mkdir(parents=True, exist_ok=True)
            return qe.EdgeShard.create(str(self.path), self._config())
        except Exception as exc:  # the engine raises a bare Exception
            if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                raise VectorStoreUnavailable(SINGLE_PROCESS_MESSAGE.format(path=self.path)) from exc
            # Two processes creating a fresh store at once fail here too, with a file error rather than the lock's.
            raise VectorStoreUnavailable(
                f"Cannot open the embedded vector store at {self.path}: {exc}. If another process uses it, run a single worker or set QDRANT_URL."
            ) from exc

    def ensure_collection(self) -> None:
        with self._write_lock:
            schema = self._shard.info().payload_schema
            kinds = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer}
            for key, kind in INDEXED_FIELDS.items():
                if key not in schema:
                    self._shard.update(qe.UpdateOperation.create_field_index(key, kinds[kind]))

    def upsert(self, chunks: list[StoredChunk]) -> None:
        if not chunks:
            return
        points = [
            qe.Point(c.id, {DENSE: c.dense, SPARSE: qe.SparseVector(c.sparse.indices, c.sparse.values)}, c.payload)
            for c in chunks
        ]
        with self._write_lock:
            self._shard.update(qe.UpdateOperation.upsert_points(points))
            self._writes_since_optimize += len(points)

    def delete(self, ids: list[str]) -> None:
        if not ids:
            return
        with self._write_lock:
            self._shard.update(qe.UpdateOperation.delete_points(list(ids)))
            self._writes_since_optimize += len(ids)

    def chunks_of_source(self, source_file: str) -> dict[str, str]:
        flt = qe.Filter(must=[qe.FieldCondition(key="source_file", match=qe.MatchValue(source_file))])
        return chunk_hashes(self._scroll(flt, ["chunk_hash"]))

    def payloads(self, fields: list[str]) -> list[Hit]:
        return [Hit(str(r.id), 0.0, dict(r.payload or {})) for r in self._scroll(None, fields)]

    def _scroll(self, flt: qe.Filter | None, fields: list[str]) -> list[Any]:
        records: list[Any] = []
        offset: Any = None
        while True:
            page, offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=fields, with_vector=False)
            )
            records.extend(page)
            if offset is None or not page:
                return records

    def dense_vectors(self, ids: list[str]) -> dict[str, list[float]]:
        return dense_by_id(self._shard.retrieve(list(ids), with_payload=False, with_vector=[DENSE])) if ids else {}

    def search(
        self,
        dense: list[float],
        sparse: SparseVec,
        limit: int,
        flt: SearchFilter,
        payload_fields: list[str] | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        qfilter = _to_filter(flt)
        with_payload: bool | list[str] = payload_fields if payload_fields is not None else True
        requests = [
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(dense, using=DENSE),
                filter=qfilter,
                with_payload=with_payload,
                params=self._params(),
            ),
        ]
        if sparse.indices:
            requests.append(
                qe.QueryRequest(
                    limit=limit,
                    query=qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE),
                    filter=qfilter,
                    with_payload=with_payload,
                )
            )
        results = self._shard.query_batch(qe.QueryBatchRequest(requests))
        dense_hits = [_hit(p) for p in results[0]]
        sparse_hits = [_hit(p) for p in results[1]] if len(results) > 1 else []
        return dense_hits, sparse_hits

    def sparse_search(self, sparse: SparseVec, limit: int, payload_fields: list[str] | None = None) -> list[Hit]:
        if not sparse.indices:
            return []
        with_payload: bool | list[str] = (payload_fields or False) if payload_fields is not None else True
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE),
            with_payload=with_payload,
        )
        return [_hit(p) for p in self._shard.query_batch(qe.QueryBatchRequest([request]))[0]]

    def retrieve(self, ids: list[str]) -> list[Hit]:
        if not ids:
            return []
        return [
            Hit(id=str(r.id), score=0.0, payload=dict(r.payload or {}))
            for r in self._shard.retrieve(list(ids), with_payload=True, with_vector=False)
        ]

    def count(self, flt: SearchFilter | None = None) -> int:
        return int(self._shard.count(qe.CountRequest(filter=_to_filter(flt), exact=True)))

    def ping(self) -> None:
        try:
            self._shard.info()
        except Exception as exc:  # the engine raises a bare Exception
            raise VectorStoreUnavailable(f"Embedded vector store unreadable: {exc}") from exc

    def needs_optimize(self) -> bool:
        return self._writes_since_optimize >= _OPTIMIZE_AFTER_WRITES

    def optimize(self) -> None:
        """Build the HNSW index (the embedded engine has no background optimizer)."""
        with self._write_lock:
            self._shard.optimize()
            self._shard.flush()
            self._writes_since_optimize = 0

    def flush(self) -> None:
        with self._write_lock:
            self._shard.flush()

    def close(self) -> None:
        with self._write_lock:
            try:
                self._shard.flush()
            finally:
                self._shard.close()
