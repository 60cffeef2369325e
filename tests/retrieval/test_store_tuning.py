"""The collection's storage and search settings (retrieval/store/tuning.py) reach the embedded engine
and a Qdrant server alike, from the environment; on the real engine, quantized search rescored on
the original vectors finds what exact search finds, with exact scores."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from src.retrieval.sparse import SparseVec
from src.retrieval.store.base import DENSE, SearchFilter, StoredChunk
from src.retrieval.store.embedded import EmbeddedStore
from src.retrieval.store.server import ServerStore
from src.retrieval.store.tuning import StoreTuning
from tests.conftest import make_settings

DIMS = 384


def points(n: int, seed: int = 3) -> tuple[np.ndarray, list[StoredChunk]]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [
        StoredChunk(
            f"00000000-0000-0000-0000-{i:012d}",
            vectors[i].tolist(),
            SparseVec([i % 97], [1.0]),
            {"source_file": f"f{i % 7}.md"},
        )
        for i in range(n)
    ]
    return vectors, chunks


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        qdrant_quantization="none",
        qdrant_hnsw_m=32,
        qdrant_hnsw_ef=256,
        qdrant_on_disk=True,
        qdrant_shards=3,
        qdrant_replicas=2,
    )
    tuning = StoreTuning.from_settings(settings)
    assert (tuning.quantized, tuning.hnsw_m, tuning.hnsw_ef, tuning.on_disk, tuning.shards, tuning.replicas) == (
        False,
        32,
        256,
        True,
        3,
        2,
    )


def test_the_embedded_engine_stores_and_searches_with_them(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "c", DIMS, StoreTuning(on_disk=True, hnsw_m=12, oversampling=3.0))
    store.ensure_collection()
    config = json.loads((tmp_path / "c" / "edge_config.json").read_text())
    assert config["on_disk_payload"] is True
    assert config["vectors"]["dense"]["on_disk"] is True
    assert config["vectors"]["dense"]["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}
    }
    assert config["hnsw_config"]["m"] == 12
    vectors, chunks = points(3000)
    store.upsert(chunks)
    store.optimize()
    queries = vectors[:20] + np.random.default_rng(5).normal(0, 0.02, (20, DIMS)).astype(np.float32)
    for q in queries:
        q = q / np.linalg.norm(q)
        dense, _ = store.search(q.tolist(), SparseVec([], []), 10, SearchFilter())
        exact = np.argsort(-(vectors @ q))[:10]
        assert [int(h.id.rsplit("-", 1)[1]) for h in dense] == [int(i) for i in exact]
        # Rescored: the scores are the original vectors' cosines, not the int8 approximations.
        assert np.allclose([h.score for h in dense], (vectors @ q)[exact], atol=1e-4)
    store.close()
    reopened = EmbeddedStore(tmp_path / "c", DIMS)  # an existing collection keeps what it was made with
    assert reopened._shard.info().points_count == 3000
    reopened.close()


def test_quantization_off_is_exact_too(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "c", DIMS, StoreTuning(quantization="none", on_disk=False))
    store.ensure_collection()
    assert (
        "quantization_config" not in json.loads((tmp_path / "c" / "edge_config.json").read_text())["vectors"]["dense"]
    )
    vectors, chunks = points(500)
    store.upsert(chunks)
    dense, _ = store.search(vectors[7].tolist(), SparseVec([], []), 3, SearchFilter())
    assert dense[0].id.endswith("000000000007") and dense[0].score == pytest.approx(1.0, abs=1e-5)
    assert isinstance(store._params(), qe.SearchParams)
    store.close()


class QdrantRecorder(BaseHTTPRequestHandler):
    """A fake standing in for a Qdrant server (none can run on these machines): it answers the few
    calls collection creation makes and records what the client sent."""

    calls: list[tuple[str, str, Any]] = []

    def _reply(self, result: Any) -> None:
        self._send({"result": result, "status": "ok", "time": 0.0})

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, None))
        if self.path.endswith("/exists"):
            self._reply({"exists": False})
        else:
            self._send({"title": "qdrant", "version": "1.20.0"})

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path, self._body()))
        self._reply(True if "/index" not in self.path else {"operation_id": 1, "status": "completed"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_qdrant() -> Iterator[str]:
    QdrantRecorder.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), QdrantRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_qdrant_server_gets_the_same_settings_with_shards_and_replicas(fake_qdrant: str) -> None:
    tuning = StoreTuning(on_disk=True, hnsw_m=24, hnsw_ef_construct=200, shards=4, replicas=2)
    store = ServerStore.connect(fake_qdrant, None, "book", DIMS, 5, tuning)
    store.ensure_collection()
    created = [
        body
        for method, path, body in QdrantRecorder.calls
        if method == "PUT" and path.startswith("/collections/book") and "/index" not in path
    ]
    assert len(created) == 1
    body = created[0]
    assert body["vectors"][DENSE] == {"size": DIMS, "distance": "Cosine", "on_disk": True}
    assert body["hnsw_config"]["m"] == 24 and body["hnsw_config"]["ef_construct"] == 200
    assert body["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
    assert body["on_disk_payload"] is True and body["shard_number"] == 4 and body["replication_factor"] == 2
    assert body["sparse_vectors"]["bm25"]["index"]["on_disk"] is True
    params = store._params()
    assert params.hnsw_ef == 128 and params.quantization is not None and params.quantization.rescore is True
    store.close()
