"""A Qdrant server, cluster or Qdrant Cloud through qdrant-client (QDRANT_URL, QDRANT_API_KEY).

The same code runs against `QdrantClient(location=":memory:")` in the contract tests, since no
Qdrant server binary can be installed on the test machines.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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

_SCROLL_PAGE = 1000
_UPSERT_BATCH = 256
_UNREACHABLE = (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError, OSError)


def _to_filter(flt: SearchFilter | None) -> models.Filter | None:
    if flt is None or flt.is_empty:
        return None
    must: list[Any] = []
    if flt.source_files:
        must.append(models.FieldCondition(key="source_file", match=models.MatchAny(any=list(flt.source_files))))
    if flt.chapter:
        must.append(models.FieldCondition(key="chapter", match=models.MatchValue(value=flt.chapter)))
    if flt.up_to_chapter is not None:
        must.append(models.FieldCondition(key="chapter_number", range=models.Range(lte=flt.up_to_chapter)))
    if flt.document_types:
        must.append(models.FieldCondition(key="document_type", match=models.MatchAny(any=list(flt.document_types))))
    return models.Filter(must=must)


def _hit(point: Any) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))


class ServerStore(SourceLookups):
    kind = "qdrant"

    def __init__(
        self, client: QdrantClient, collection: str, dimensions: int, tuning: StoreTuning | None = None
    ) -> None:
        self.client = client
        self.collection = collection
        self.dimensions = dimensions
        self.tuning = tuning or StoreTuning()

    @classmethod
    def connect(
        cls,
        url: str,
        api_key: str | None,
        collection: str,
        dimensions: int,
        timeout: float,
        tuning: StoreTuning | None = None,
    ) -> ServerStore:
        if url == ":memory:":  # qdrant-client's local mode: an empty, ephemeral store in each process (tests, trials)
            return cls(QdrantClient(location=":memory:"), collection, dimensions, tuning)
        return cls(QdrantClient(url=url, api_key=api_key, timeout=int(max(1, timeout))), collection, dimensions, tuning)

    def collection_settings(self) -> dict[str, Any]:
        """create_collection's arguments: the embedded engine's settings (store/tuning.py), plus shards and replicas."""
        t = self.tuning
        quantization = (
            models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=t.quantile, always_ram=True
                )
            )
            if t.quantized
            else None
        )
        return {
            "vectors_config": {
                DENSE: models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE, on_disk=t.on_disk)
            },
            "sparse_vectors_config": {
                SPARSE: models.SparseVectorParams(
                    modifier=models.Modifier.IDF, index=models.SparseIndexParams(on_disk=t.on_disk)
                )
            },
            "on_disk_payload": t.on_disk,
            "hnsw_config": models.HnswConfigDiff(
                m=t.hnsw_m, ef_construct=t.hnsw_ef_construct, full_scan_threshold=t.full_scan_threshold_kb
            ),
            "quantization_config": quantization,
            "shard_number": t.shards,
            "replication_factor": t.replicas,
        }

    def _params(self) -> models.SearchParams:
        t = self.tuning
        rescoring = models.QuantizationSearchParams(rescore=True, oversampling=t.oversampling) if t.quantized else None
        return models.SearchParams(hnsw_ef=t.hnsw_ef, quantization=rescoring)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _UNREACHABLE as exc:
            raise VectorStoreUnavailable(f"Qdrant unreachable: {type(exc).__name__}") from exc

    def ensure_collection(self) -> None:
        if not self._call(self.client.collection_exists, self.collection):
            self._call(self.client.create_collection, self.collection, **self.collection_settings())
        kinds = {"keyword": models.PayloadSchemaType.KEYWORD, "integer": models.PayloadSchemaType.INTEGER}
        for key, kind in INDEXED_FIELDS.items():
            self._call(self.client.create_payload_index, self.collection, key, kinds[kind])

    def upsert(self, chunks: list[StoredChunk]) -> None:
        for start in range(0, len(chunks), _UPSERT_BATCH):
            points = [
                models.PointStruct(
                    id=c.id,
                    vector={
                        DENSE: c.dense,
                        SPARSE: models.SparseVector(indices=c.sparse.indices, values=c.sparse.values),
                    },
                    payload=c.payload,
                )
                for c in chunks[start : start + _UPSERT_BATCH]
            ]
            self._call(self.client.upsert, self.collection, points=points, wait=True)

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._call(
                self.client.delete, self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True
            )

    def chunks_of_source(self, source_file: str) -> dict[str, str]:
        flt = models.Filter(must=[models.FieldCondition(key="source_file", match=models.MatchValue(value=source_file))])
        return chunk_hashes(self._scroll(flt, ["chunk_hash"]))

    def payloads(self, fields: list[str]) -> list[Hit]:
        return [Hit(str(r.id), 0.0, dict(r.payload or {})) for r in self._scroll(None, fields)]

    def _scroll(self, flt: models.Filter | None, fields: list[str]) -> list[Any]:
        records: list[Any] = []
        offset: Any = None
        while True:
            page, offset = self._call(
                self.client.scroll,
                self.collection,
                scroll_filter=flt,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=fields,
                with_vectors=False,
            )
            records.extend(page)
            if offset is None or not page:
                return records

    def dense_vectors(self, ids: list[str]) -> dict[str, list[float]]:
        return (
            dense_by_id(
                self._call(
                    self.client.retrieve, self.collection, ids=list(ids), with_payload=False, with_vectors=[DENSE]
                )
            )
            if ids
            else {}
        )

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
            models.QueryRequest(
                query=dense, using=DENSE, filter=qfilter, limit=limit, with_payload=with_payload, params=self._params()
            )
        ]
        if sparse.indices:
            requests.append(
                models.QueryRequest(
                    query=models.SparseVector(indices=sparse.indices, values=sparse.values),
                    using=SPARSE,
                    filter=qfilter,
                    limit=limit,
                    with_payload=with_payload,
                )
            )
        responses = self._call(self.client.query_batch_points, self.collection, requests=requests)
        dense_hits = [_hit(p) for p in responses[0].points]
        sparse_hits = [_hit(p) for p in responses[1].points] if len(responses) > 1 else []
        return dense_hits, sparse_hits

    def sparse_search(self, sparse: SparseVec, limit: int, payload_fields: list[str] | None = None) -> list[Hit]:
        if not sparse.indices:
            return []
        with_payload: bool | list[str] = (payload_fields or False) if payload_fields is not None else True
        query = models.SparseVector(indices=sparse.indices, values=sparse.values)
        response = self._call(
            self.client.query_points, self.collection, query=query, using=SPARSE, limit=limit, with_payload=with_payload
        )
        return [_hit(p) for p in response.points]

    def retrieve(self, ids: list[str]) -> list[Hit]:
        if not ids:
            return []
        records = self._call(
            self.client.retrieve, self.collection, ids=list(ids), with_payload=True, with_vectors=False
        )
        return [Hit(id=str(r.id), score=0.0, payload=dict(r.payload or {})) for r in records]

    def count(self, flt: SearchFilter | None = None) -> int:
        return int(self._call(self.client.count, self.collection, count_filter=_to_filter(flt), exact=True).count)

    def ping(self) -> None:
        try:
            self.client.get_collection(self.collection)
        except _UNREACHABLE as exc:
            raise VectorStoreUnavailable(f"Qdrant unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # local mode raises ValueError for a missing collection
            raise VectorStoreUnavailable(str(exc)) from exc

    def needs_optimize(self) -> bool:
        return False  # the server optimizes in the background

    def optimize(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.client.close()
