"""What the backend serves to browsers: the widget with its hash (ETag, 304, a year of cache on the
versioned URL), the reading page with the documents the index holds, rendered documents whose
heading ids are the indexed chunks' anchors, a strict CSP, and a committed widget build that matches
its source."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

from src.web.assets import asset
from tests.conftest import REPO, auth, make_settings, running_app, shared_path, unavailable

WIDGET_DIR = REPO / "clients" / "widget"


async def test_the_widget_is_served_with_its_hash(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, client):
        first = await client.get("/widget.js")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/javascript")
        etag = first.headers["etag"]
        assert etag == f'"{asset("widget.js").digest}"' and "max-age=300" in first.headers["cache-control"]
        again = await client.get("/widget.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        versioned = await client.get(f"/widget.js?v={asset('widget.js').digest}")
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        css = await client.get("/static/reader.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_the_reading_page_lists_the_index_and_renders_documents_at_their_anchors(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    text = shared_path("data", "textbooks", "physical-ai", "docs", "02-humanoid-robotics", "index.md").read_text()
    (book / "humanoid.md").write_text(text)
    async with running_app(make_settings(tmp_path, reader_dir=book)) as (_, client):
        meta = {"source_file": "humanoid.md", "url": "/read/humanoid.md"}
        assert (
            await client.post("/api/v1/index", json={"content": text, "metadata": meta}, headers=auth())
        ).status_code == 200
        listing = await client.get("/")
        assert listing.status_code == 200 and 'href="/read/humanoid.md"' in listing.text
        assert (
            "script-src 'self'" in listing.headers["content-security-policy"]
            and "INDEXING_API_KEY=" not in listing.text
        )
        page = await client.get("/read/humanoid.md")
        assert page.status_code == 200 and f'src="/widget.js?v={asset("widget.js").digest}"' in page.text
        answer = (await client.post("/api/v1/answer", json={"question": "What is the Zero Moment Point?"})).json()
        anchors = {c["url"].split("#", 1)[1] for c in answer["citations"] if c["url"] and "#" in c["url"]}
        assert anchors and all(f'id="{a}"' in page.text for a in anchors)  # a citation opens its section
        for missing in ("/read/other.md", "/read/../etc/passwd", "/read/humanoid.txt"):
            assert (await client.get(missing)).status_code == 404


async def test_book_html_is_shown_as_text(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    planted = "# Planted\n\nText <script>alert(1)</script> and <img src=x onerror=alert(2)>.\n\n[click](javascript:alert(3))\n"
    (book / "planted.md").write_text(planted)
    async with running_app(make_settings(tmp_path, reader_dir=book)) as (_, client):
        await client.post(
            "/api/v1/index", json={"content": planted, "metadata": {"source_file": "planted.md"}}, headers=auth()
        )
        html = (await client.get("/read/planted.md")).text
        assert (
            "<script>alert" not in html
            and "&lt;script&gt;" in html
            and "<img src=x" not in html
            and 'href="javascript:' not in html
        )


def test_the_committed_widget_build_matches_its_source(tmp_path: Path) -> None:
    esbuild = WIDGET_DIR / "node_modules" / ".bin" / "esbuild"
    if not shutil.which("node") or not esbuild.exists():
        unavailable("node and clients/widget/node_modules (npm ci in clients/widget) are needed to rebuild the widget")
    out = tmp_path / "widget.js"
    subprocess.run(
        ["npm", "run", "--silent", "build:to", "--", f"--outfile={out}"],
        cwd=WIDGET_DIR,
        check=True,
        capture_output=True,
    )
    committed = REPO / "src" / "web" / "static" / "widget.js"
    assert out.read_bytes() == committed.read_bytes(), (
        "src/web/static/widget.js is stale: run `make widget` and commit it"
    )


def test_the_widget_fits_its_budget() -> None:
    size = len(gzip.compress((REPO / "src" / "web" / "static" / "widget.js").read_bytes(), compresslevel=9))
    assert size <= 30 * 1024, f"{size} bytes gzipped"


def test_the_docusaurus_plugin_injects_the_widget_and_follows_routes(tmp_path: Path) -> None:
    if not shutil.which("node"):
        unavailable("node is needed to load the Docusaurus plugin")
    script = r"""
const plugin = require(process.argv[1]);
const p = plugin({}, { apiUrl: "https://chat.example.edu/", title: "Ask the book", lang: "fr" });
const tags = p.injectHtmlTags();
const modules = p.getClientModules();
let threw = false;
try { plugin({}, { apiUrl: "javascript:alert(1)" }); } catch (e) { threw = true; }
console.log(JSON.stringify({ name: p.name, tags, modules, threw }));
"""
    run = subprocess.run(
        ["node", "-e", script, str(REPO / "clients" / "docusaurus" / "src" / "index.js")],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(run.stdout)
    tag = out["tags"]["postBodyTags"][0]
    assert tag["tagName"] == "script" and tag["attributes"] == {
        "src": "https://chat.example.edu/widget.js",
        "data-api": "https://chat.example.edu",
        "defer": True,
        "data-title": "Ask the book",
        "data-lang": "fr",
    }
    assert out["modules"] == [str(REPO / "clients" / "docusaurus" / "src" / "client.js")] and out["threw"] is True
    client = r"""
const calls = [];
globalThis.window = { TextbookChat: { setPage: (path, title) => calls.push([path, title]) }, location: { pathname: "/" } };
globalThis.document = { title: "Chapter 2" };
import(process.argv[1]).then((m) => {
  m.onRouteDidUpdate({ location: { pathname: "/docs/humanoid" }, previousLocation: { pathname: "/docs/intro" } });
  m.onRouteDidUpdate({ location: { pathname: "/docs/humanoid" }, previousLocation: { pathname: "/docs/humanoid" } });
  setTimeout(() => console.log(JSON.stringify(calls)), 10);
});
"""
    module = tmp_path / "client.mjs"
    module.write_text((REPO / "clients" / "docusaurus" / "src" / "client.js").read_text())
    ran = subprocess.run(["node", "-e", client, str(module)], capture_output=True, text=True, check=True)
    assert json.loads(ran.stdout) == [["/docs/humanoid", "Chapter 2"]]
