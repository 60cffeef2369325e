"""The author's dashboard (GET /admin) in real Chromium against a real uvicorn: it asks for a key with the
analytics scope (a key that may only index is told why it is refused) and keeps it for the tab only, shows the seeded gap group with links to the nearest sections (one opens
the section), the chapters and the down-voted answers, and a planted <script> in a reader's question
is shown as text, never run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import Site, start_site

REPORTS_KEY = f"reports-{uuid.uuid4().hex}{uuid.uuid4().hex}"
INDEX_KEY = f"ci-{uuid.uuid4().hex}{uuid.uuid4().hex}"
PLANTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> how much does a Unitree G1 cost?'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The reading site, with a key that may read the reports only and one that may index only."""
    started = start_site(
        tmp_path_factory.mktemp("admin"), INDEXING_API_KEYS=f"reports:{REPORTS_KEY}:analytics,ci:{INDEX_KEY}:index"
    )
    yield started
    started.stop()


def seed(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=120) as client:
        for question in (
            "How much does a Unitree G1 humanoid cost?",
            "What is the price of the Unitree G1?",
            PLANTED,
            "What is the Zero Moment Point?",
        ):
            assert (
                client.post(
                    "/api/v1/answer", json={"question": question, "page": "/read/02-humanoid-robotics.md"}
                ).status_code
                == 200
            )


def test_the_dashboard_shows_the_reports_and_runs_nothing_readers_wrote(page: Any, site: Site) -> None:
    seed(site)
    response = page.goto(f"{site.url}/admin")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator("#key").fill("not the key")
    page.locator("#login button").click()
    page.locator("#login-error", has_text="not accepted").wait_for()
    page.locator("#key").fill(INDEX_KEY)
    page.locator("#login button").click()
    page.locator("#login-error", has_text="needs the 'analytics' scope").wait_for()
    assert page.evaluate("() => sessionStorage.getItem('textbook-admin-key')") is None
    page.locator("#key").fill(REPORTS_KEY)  # the key that reads the reports, and cannot change the index
    page.locator("#login button").click()
    page.locator("#gaps table").wait_for()
    assert page.evaluate("() => sessionStorage.getItem('textbook-admin-key')") == REPORTS_KEY
    assert page.evaluate("() => localStorage.length") == 0  # the key is kept for this tab only
    gaps = page.locator("#gaps tbody tr").first
    assert "Unitree G1" in gaps.inner_text()
    assert page.locator("#gaps", has_text="<script>").count() == 1  # the planted question, shown as text
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#summary svg.chart rect").count() >= 2
    assert page.locator("#chapters tbody tr").count() >= 1
    # A chapter opens its page in the book.
    chapter = page.locator("#chapters tbody tr td:first-child a", has_text="Humanoid").first
    assert (chapter.get_attribute("href") or "").endswith("/read/02-humanoid-robotics.md")
    section = gaps.locator("td").nth(3).locator("a").first
    href = section.get_attribute("href")
    assert href and "/read/02-humanoid-robotics.md#" in href
    section.click()
    anchor = href.split("#", 1)[1]
    page.wait_for_url(f"**/read/02-humanoid-robotics.md#{anchor}")
    assert page.locator(f"[id='{anchor}']").count() == 1
    assert page.evaluate("() => window.__pwned") is None
    page.go_back()
    page.locator("#chapters tbody tr td:first-child a", has_text="Humanoid").first.click()
    page.wait_for_url("**/read/02-humanoid-robotics.md")
    assert page.locator("article h1, main h1").first.inner_text()
    assert page.errors == []
