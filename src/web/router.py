"""What a browser gets: the widget script (`/widget.js`), the reading page (`/`) that lists what the
index holds, and each readable document (`/read/{source_file}`) with the chat on it. No key, no secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from src.ingestion.repository import DocumentRepository
from src.kit.deps import DbSession, SettingsDep
from src.kit.errors import NotFound, error_responses
from src.security.inputs import validate_source_file
from src.web import pages, reader
from src.web.assets import asset, serve

router = APIRouter(tags=["reader"])
PAGE_HEADERS = {"Content-Security-Policy": pages.CSP, "Referrer-Policy": "strict-origin-when-cross-origin"}
INDEX_LIMIT = 500
STATIC_FILES = {"reader.css", "admin.js", "admin.css"}


def _serve(name: str, request: Request, version: str | None) -> Response:
    return serve(asset(name), request, version, cross_origin=True)


@router.get("/widget.js", include_in_schema=False)
async def widget(request: Request, v: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    return _serve("widget.js", request, v)


@router.get("/static/{name}", include_in_schema=False, responses=error_responses(404))
async def static(
    name: Annotated[str, Path(max_length=64)], request: Request, v: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    if name not in STATIC_FILES:
        raise NotFound("No such file.")
    return _serve(name, request, v)


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin() -> HTMLResponse:
    """The author's dashboard: a page that asks for the indexing key and reads the reports with it."""
    return HTMLResponse(pages.admin_page(), headers=PAGE_HEADERS)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(db: DbSession, settings: SettingsDep) -> HTMLResponse:
    repo = DocumentRepository(db)
    documents = await repo.list(INDEX_LIMIT, 0)
    readable = {
        d.source_file for d in documents if reader.document_path(settings.reader_dir, d.source_file) is not None
    }
    return HTMLResponse(pages.index_page(documents, readable, await repo.count()), headers=PAGE_HEADERS)


@router.get(
    "/read/{source_file:path}", response_class=HTMLResponse, responses=error_responses(404), include_in_schema=False
)
async def read(
    source_file: Annotated[str, Path(max_length=1024)], db: DbSession, settings: SettingsDep
) -> HTMLResponse:
    try:
        validate_source_file(source_file)
    except ValueError as exc:
        raise NotFound("No such document.") from exc
    document = await DocumentRepository(db).get(source_file)
    path = reader.document_path(settings.reader_dir, source_file) if document is not None else None
    if document is None or path is None:
        raise NotFound("No such document.")
    html_body = reader.render(path.read_text(encoding="utf-8", errors="replace"))
    return HTMLResponse(
        pages.document_page(document.title or source_file, source_file, html_body), headers=PAGE_HEADERS
    )
