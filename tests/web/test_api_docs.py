"""The API's documentation pages share their origin with /admin, where the indexing key is typed: /docs and
/redoc load only files this app serves (no CDN), under a Content-Security-Policy that runs nothing else and
talks to this origin alone; API_DOCS turns them and /openapi.json off, and production has them off unless
it is set."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings, running_app

PAGES = ("/docs", "/redoc")
OFF = ("/docs", "/redoc", "/openapi.json", "/docs/static/swagger-ui-bundle.js", "/docs/oauth2-redirect")


def policy(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def referenced(html: str) -> list[str]:
    """Every URL the page loads or points its UI at."""
    return re.findall(r'(?:src|href|spec-url)="([^"]*)"', html) + re.findall(r"url: '([^']*)'", html)


def sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("case", ["API_DOCS=false", "ENVIRONMENT=production"])
async def test_the_docs_and_the_openapi_document_are_off(tmp_path: Path, case: str) -> None:
    settings = (
        make_settings(tmp_path, api_docs=False)
        if case == "API_DOCS=false"
        else make_settings(tmp_path, environment="production")
    )
    async with running_app(settings) as (_, client):
        for path in OFF:
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    "overrides", [{}, {"environment": "production", "api_docs": True}], ids=["test", "production+API_DOCS"]
)
async def test_the_docs_load_only_this_origins_files_under_a_strict_policy(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    async with running_app(make_settings(tmp_path, **overrides)) as (_, client):
        assert (await client.get("/openapi.json")).status_code == 200
        for page in PAGES:
            response = await client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), page
            rules = policy(response.headers["content-security-policy"])
            html = response.text
            assert (
                rules["default-src"] == ["'none'"]
                and rules["connect-src"] == ["'self'"]
                and rules["frame-ancestors"] == ["'none'"]
            )
            assert (
                rules["base-uri"] == ["'none'"]
                and rules["form-action"] == ["'none'"]
                and rules["img-src"] == ["'self'", "data:"]
            )
            # Scripts: this origin's files, and each inline script by its hash (so an injected one would not run).
            inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
            assert rules["script-src"] == ["'self'", *(sha256(s) for s in inline)], page
            assert not any(s in response.headers["content-security-policy"] for s in ("http", "unsafe-eval", "*"))
            urls = referenced(html)
            assert any(u.endswith(".js") or ".js?" in u for u in urls) and "/openapi.json" in urls, urls
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
                fetched = await client.get(url)
                assert fetched.status_code == 200 and fetched.content, url
        swagger = (await client.get("/docs")).text
        assert '"validatorUrl": null' in swagger, "Swagger UI would send the schema to its online validator"
        assert policy((await client.get("/docs")).headers["content-security-policy"])["style-src"] == ["'self'"]
        bundle = await client.get(next(u for u in referenced(swagger) if "swagger-ui-bundle.js" in u))
        assert bundle.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in bundle.content
        assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "access-control-allow-origin" not in bundle.headers, (
            "the docs' files are this origin's, not for other sites"
        )
        assert (await client.get("/docs/static/../../settings.py")).status_code == 404
        assert (await client.get("/docs/static/index.html")).status_code == 404
