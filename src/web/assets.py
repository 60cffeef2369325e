"""The files the backend serves to browsers (the built widget, the reading page's stylesheet), each
with a content hash: an ETag for revalidation, and a versioned URL (`?v=<hash>`) that may be cached
for a year. Read once, at first use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
SHORT_CACHE = "public, max-age=300, stale-while-revalidate=86400"  # the unversioned URL an embed tag names
LONG_CACHE = "public, max-age=31536000, immutable"  # a versioned URL: its content never changes


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str  # the first 16 hex digits of the content's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


@lru_cache(maxsize=8)
def asset(name: str) -> Asset:
    path = STATIC / name
    body = path.read_bytes()
    return Asset(body, TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:16])


def versioned(name: str) -> str:
    """The URL path of an asset with its content hash, for pages the backend renders."""
    return f"/{name}?v={asset(name).digest}" if name == "widget.js" else f"/static/{name}?v={asset(name).digest}"
