"""The files the backend serves to browsers (the built widget, the reading page's stylesheet, and Swagger
UI's and ReDoc's files for the API documentation), each with a content hash: an ETag for revalidation,
and a versioned URL (`?v=<hash>`) that may be cached for a year. Read once, at first use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePath

from fastapi import Request, Response

STATIC = Path(__file__).resolve().parent / "static"
# The pinned fastapi-offline package ships Swagger UI's and ReDoc's built files (web/docs.py says which versions).
DOCS_STATIC = files("fastapi_offline") / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
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
    return _read(STATIC / name)


@lru_cache(maxsize=8)
def docs_asset(name: str) -> Asset:
    return _read(DOCS_STATIC / name)


def _read(path: Traversable) -> Asset:
    body = path.read_bytes()
    return Asset(body, TYPES[PurePath(path.name).suffix], hashlib.sha256(body).hexdigest()[:16])


def serve(file: Asset, request: Request, version: str | None, *, cross_origin: bool) -> Response:
    """The file, cached for a year when asked for by its current version, revalidated by ETag otherwise.
    `cross_origin`: other sites may load it (the widget script and what it uses)."""
    cache = LONG_CACHE if version == file.digest else SHORT_CACHE
    headers = {"ETag": file.etag, "Cache-Control": cache}
    if cross_origin:
        headers |= {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def versioned(name: str) -> str:
    """The URL path of an asset with its content hash, for pages the backend renders."""
    return f"/{name}?v={asset(name).digest}" if name == "widget.js" else f"/static/{name}?v={asset(name).digest}"
