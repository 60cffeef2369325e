"""A container on SQLite and the embedded engine in a test's own directory, for the indexing tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from src.container import Container, close_container, open_container
from src.kit.middleware import InFlight
from tests.conftest import make_settings


@pytest.fixture
async def resources(tmp_path: Path) -> AsyncIterator[Container]:
    res = await open_container(make_settings(tmp_path), InFlight())
    try:
        yield res
    finally:
        await close_container(res)
