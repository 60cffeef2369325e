"""The health report tells an operator when the index predates the passage format that keeps blocks
(code, tables, lists, figures), and that a re-index brings it up to date. The real app over ASGI, the
embedded store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from src.retrieval.passage import PASSAGE_FORMAT, Passage
from src.retrieval.store.base import StoredChunk
from tests.conftest import auth, make_settings, running_app

PAGE = "# Sensors\n\nA lidar measures distance with pulses of light.\n\n```bash\nros2 topic echo /scan\n```\n"
META = {"source_file": "book/sensors.md", "document_type": "markdown"}


async def test_health_counts_chunks_stored_before_the_current_passage_format(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, client):
        indexed = await client.post("/api/v1/index", json={"content": PAGE, "metadata": META}, headers=auth())
        assert indexed.status_code == 200, indexed.text
        passages = (await client.get("/api/v1/health")).json()["services"]["vector_store"]["passages"]
        assert passages["format"] == PASSAGE_FORMAT
        assert passages["chunks"] >= 1 and passages["older_format_chunks"] == 0 and not passages["reindex_needed"]

        # Each chunk as an earlier release stored it: the same payload without a format, under the id that
        # release gave it (its ids did not hold the format).
        store = app.state.store
        ids = sorted(store.chunks_of_source("book/sensors.md"))
        vectors = store.dense_vectors(ids)
        sparse = app.state.container.sparse
        old = []
        for hit in store.retrieve(ids):
            passage = replace(Passage.from_payload(hit.payload), format=0)
            earlier_id = str(uuid.uuid5(uuid.NAMESPACE_URL, hit.id))
            old.append(StoredChunk(earlier_id, vectors[hit.id], sparse.document(passage.content), passage.to_payload()))
        store.delete(ids)
        store.upsert(old)
        await app.state.cache.bump_index_version()
        passages = (await client.get("/api/v1/health")).json()["services"]["vector_store"]["passages"]
        assert passages["older_format_chunks"] == len(ids) and passages["reindex_needed"]

        # Re-indexing the unchanged page rewrites every chunk in the current format.
        again = await client.post("/api/v1/index", json={"content": PAGE, "metadata": META}, headers=auth())
        assert again.status_code == 200, again.text
        passages = (await client.get("/api/v1/health")).json()["services"]["vector_store"]["passages"]
        assert passages["older_format_chunks"] == 0 and not passages["reindex_needed"]
        assert sorted(store.chunks_of_source("book/sensors.md")) == ids
