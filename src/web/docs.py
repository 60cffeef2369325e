"""The API's documentation: `/docs` (Swagger UI) and `/redoc`, included by the app only when API_DOCS is on
(by default everywhere but ENVIRONMENT=production, which also drops /openapi.json).

The pages share their origin with /admin, where the author types the indexing key: a script they load
could read it. So their files come from this app (the pinned fastapi-offline package ships Swagger UI
5.32.6 and ReDoc 2.5.3, MIT and Apache-2.0), never from a CDN, and each page carries a
Content-Security-Policy that runs only those files and Swagger UI's inline start-up script (allowed by
its hash), and lets the page talk to this origin alone (Swagger UI's online validator is turned off).
ReDoc needs two allowances Swagger UI does not: inline styles (it writes its stylesheet into the page)
and a worker from a blob: URL (its search index).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Annotated, TypedDict

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from src.kit.errors import NotFound, error_responses
from src.web.assets import docs_asset, serve

router = APIRouter(tags=["documentation"], include_in_schema=False)
FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_POLICY = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; worker-src {workers}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Common(TypedDict):
    openapi_url: str
    title: str


def _common(request: Request, ui: str) -> _Common:
    """What both pages take: where the OpenAPI document is, and a title."""
    return {
        "openapi_url": f"{request.scope.get('root_path', '')}{request.app.openapi_url}",
        "title": f"{request.app.title} - {ui}",
    }


def _file_url(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}/docs/static/{name}?v={docs_asset(name).digest}"


def _page(page: HTMLResponse, *, redoc: bool = False) -> HTMLResponse:
    """The page with its policy: each inline script is allowed by its SHA-256, so an injected one is not."""
    html = bytes(page.body).decode()
    digests = (
        base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() for script in _INLINE_SCRIPT.findall(html)
    )
    scripts = "".join(f" 'sha256-{d}'" for d in digests)
    policy = _POLICY.format(
        scripts=scripts, styles=" 'unsafe-inline'" if redoc else "", workers="blob:" if redoc else "'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    files = {name: _file_url(request, name) for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")}
    page = get_swagger_ui_html(
        **_common(request, "Swagger UI"),
        swagger_js_url=files["swagger-ui-bundle.js"],
        swagger_css_url=files["swagger-ui.css"],
        swagger_favicon_url=files["favicon.png"],
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None},  # no schema sent to swagger.io's online validator
    )
    return _page(page)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    js, favicon = _file_url(request, "redoc.standalone.js"), _file_url(request, "favicon.png")
    page = get_redoc_html(
        **_common(request, "ReDoc"), redoc_js_url=js, redoc_favicon_url=favicon, with_google_fonts=False
    )
    return _page(page, redoc=True)


@router.get("/docs/static/{name}", responses=error_responses(404))
async def docs_file(
    name: Annotated[str, Path(max_length=64)], request: Request, v: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    if name not in FILES:
        raise NotFound("No such file.")
    return serve(docs_asset(name), request, v, cross_origin=False)
