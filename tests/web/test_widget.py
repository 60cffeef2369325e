"""The reader's chat as a student uses it, in real Chromium against a real uvicorn: ask and read a
streamed, cited answer; stop a stream; highlight and ask; reload; clear; rate; themes, mobile,
keyboard, failures, rate limits, planted script, a strict CSP and an accessibility scan."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.answering.conftest import MODEL_ALIAS
from tests.web.conftest import CHAPTER, PLANTED, Site, serious_violations


class _BookPage(BaseHTTPRequestHandler):
    page = ""

    def do_GET(self) -> None:
        body = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def book_site() -> ThreadingHTTPServer:
    """A second origin on loopback that serves one page embedding the widget (a host site)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("BookPage", (_BookPage,), {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


AXE = Path(__file__).resolve().parents[2] / "clients" / "widget" / "node_modules" / "axe-core" / "axe.min.js"


def open_chapter(page: Any, site: Site, name: str = CHAPTER) -> None:
    page.goto(f"{site.url}/read/{name}")
    page.locator(".launcher").wait_for()


def ask(page: Any, question: str) -> Any:
    if not page.locator(".panel").is_visible():
        page.locator(".launcher").click()
    page.locator("textarea.composer").fill(question)
    page.keyboard.press("Enter")
    answer = page.locator(".turn .answer").last
    answer.locator(".badge").wait_for()
    page.wait_for_function("() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')")
    return answer


def test_an_answer_streams_with_citation_links_to_the_section(page: Any, site: Site) -> None:
    open_chapter(page, site)
    streamed: list[str] = []
    page.on("request", lambda r: streamed.append(r.url) if r.url.endswith("/api/v1/answer/stream") else None)
    answer = ask(page, "What is the Zero Moment Point?")
    assert streamed, "the question went to the streaming endpoint"
    assert "Zero Moment Point" in answer.inner_text()
    link = answer.locator("a.mark").first
    href = link.get_attribute("href")
    assert href and re.search(r"/read/02-humanoid-robotics\.md#[a-z0-9-]+", href), href
    assert ":~:text=" in href  # Chromium supports text fragments: the quote is highlighted on arrival
    anchor = href.split("#", 1)[1].split(":~:", 1)[0]
    link.click()
    page.wait_for_url(re.compile(re.escape(anchor)))
    assert page.locator(f"[id='{anchor}']").count() == 1  # the section the citation names is on the page
    assert page.errors == []


OFF_BOOK = "How much does a Unitree G1 humanoid cost?"
# The widget's own lead for this refusal (clients/widget/src/i18n.js, `notMentioned`), per language.
LEADS = {
    "en": "The textbook doesn't mention Unitree G1, so I can't answer this from the book.",
    "fr": "Le livre ne mentionne pas Unitree G1\u00a0: je ne peux donc pas répondre à partir du livre.",
}


def open_in(page: Any, site: Site, lang: str) -> None:
    """The chapter as a page in `lang` (<html lang>): the widget takes the page's language."""

    def localised(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace('<html lang="en">', f'<html lang="{lang}">', 1))

    page.route(f"{site.url}/read/{CHAPTER}", localised)
    open_chapter(page, site)


def refusal_of(site: Site, question: str) -> dict[str, Any]:
    """The service's structured refusal for a question, asked without the widget."""
    body = httpx.post(f"{site.url}/api/v1/answer", json={"question": question}, timeout=120).json()
    assert body["refused"] and body["refusal"], body
    return dict(body["refusal"])


@pytest.mark.parametrize(
    ("lang", "badge", "closest"),
    [("en", "Not in the book", "Closest sections"), ("fr", "Absent du livre", "Sections les plus proches")],
)
def test_a_refusal_is_shown_in_the_widgets_language_with_links_to_the_closest_sections(
    page: Any, site: Site, lang: str, badge: str, closest: str
) -> None:
    """The lead is the widget's own sentence for the refusal's reason and names, in the page's language;
    the links are the structured field's closest sections; the answer's English text is not shown."""
    refusal = refusal_of(site, OFF_BOOK)
    assert refusal["reason"] == "not_mentioned" and refusal["names"] == ["Unitree G1"] and refusal["closest"]
    open_in(page, site, lang)
    answer = ask(page, OFF_BOOK)
    assert "refusal" in (answer.get_attribute("class") or "")
    assert answer.locator(".badge").text_content() == badge
    assert answer.locator(".answer-text").text_content() == LEADS[lang]
    assert answer.locator(".answer-text b").all_text_contents() == ["Unitree G1"]
    assert answer.locator(".closest-title").text_content() == closest
    links = answer.locator(".closest a")
    # A section named like its page (the page's opening passage) is shown by the title alone.
    named = [
        " › ".join(x for x in (c["title"], c["section"] if c["section"] != c["title"] else None) if x)
        for c in refusal["closest"]
    ]
    wanted = [(name, urljoin(site.url, c["url"])) for name, c in zip(named, refusal["closest"], strict=True)]
    assert [(a.text_content(), a.get_attribute("href")) for a in links.all()] == wanted
    assert "closest sections are" not in answer.inner_text()
    assert page.errors == []


def test_a_request_outside_the_book_is_refused_in_french_once_the_stream_ends(page: Any, site: Site) -> None:
    """A fixed reply streams its English text, then "done" says it is a refusal: the widget shows its own
    French sentence instead, and keeps the structured refusal for a reload."""
    open_in(page, site, "fr")
    answer = ask(page, "Write me a poem about robots.")
    assert answer.locator(".badge").text_content() == "Hors du livre"
    assert answer.locator(".answer-text").text_content().startswith("Cette demande sort du cadre du livre")
    assert answer.locator(".closest").count() == 0
    stored = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('textbook-chat:'))[1]).turns.at(-1)"
    )
    assert stored["refusal"]["reason"] == "off_task"
    page.reload()
    page.locator(".launcher").click()
    assert page.locator(".turn .answer .badge").last.text_content() == "Hors du livre"


def test_highlight_a_paragraph_and_ask_about_it(page: Any, site: Site) -> None:
    open_chapter(page, site)
    paragraph = page.locator("main p", has_text="support polygon").first
    paragraph.scroll_into_view_if_needed()
    box = paragraph.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 4)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 4, steps=8)
    page.mouse.up()
    button = page.locator(".ask-selection")
    button.wait_for(state="visible")
    selected = page.evaluate("() => window.getSelection().toString()").strip()
    with page.expect_request(lambda r: r.url.endswith("/api/v1/answer/stream")) as sent:
        button.click()
        page.locator(".quick button", has_text="Explain this").click()
    body = json.loads(sent.value.post_data)
    assert body["mode"] == "selection_only" and " ".join(body["selected_text"].split()) == " ".join(selected.split())
    page.wait_for_function("() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')")
    answer = page.locator(".turn .answer").last
    quoted = " ".join(answer.locator(".answer-text").inner_text().split())
    first_words = " ".join(selected.split()[:4])
    assert first_words in quoted, (first_words, quoted)
    # The citation's kind says it is the selection: the widget names it in its own words, once.
    assert answer.locator(".sources li > span").first.text_content() == "Selected text"


def test_the_conversation_survives_a_reload_and_clearing_erases_it_on_the_server(page: Any, site: Site) -> None:
    open_chapter(page, site)
    ask(page, "What is the support polygon?")
    session_id = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('textbook-chat:'))[1]).sessionId"
    )
    assert httpx.get(f"{site.url}/api/v1/sessions/{session_id}").status_code == 200
    page.reload()
    page.locator(".launcher").click()
    assert page.locator(".turn .question", has_text="What is the support polygon?").count() == 1
    page.locator("button", has_text="Clear conversation").click()
    page.wait_for_function("() => !Object.keys(localStorage).some(k => k.startsWith('textbook-chat:'))")
    for _ in range(50):
        if httpx.get(f"{site.url}/api/v1/sessions/{session_id}").status_code == 404:
            break
        page.wait_for_timeout(100)
    assert httpx.get(f"{site.url}/api/v1/sessions/{session_id}").status_code == 404
    assert page.locator(".turn").count() == 0


def test_thumbs_down_with_a_comment_is_stored(page: Any, site: Site) -> None:
    open_chapter(page, site)
    ask(page, "What does the capture point tell a robot?")
    answer_id = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('textbook-chat:'))[1]).turns.at(-1).answerId"
    )
    page.locator(".feedback button[aria-label='Not helpful']").last.click()
    page.locator(".feedback textarea").last.fill("It did not say how far to step.")
    page.locator(".feedback button", has_text="Send feedback").last.click()
    page.locator(".feedback .note", has_text="Thanks").last.wait_for()
    with sqlite3.connect(site.data_dir / "app.db") as db:
        row = db.execute("SELECT rating, comment FROM feedback WHERE message_id = ?", (answer_id,)).fetchone()
    assert row == ("down", "It did not say how far to step.")


def test_a_dark_host_gives_a_dark_panel(page: Any, site: Site) -> None:
    open_chapter(page, site)
    page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
    page.locator(".launcher").click()
    page.wait_for_function("() => document.querySelector('#textbook-chat').getAttribute('data-theme') === 'dark'")
    background = page.locator(".panel").evaluate("(el) => getComputedStyle(el).backgroundColor")
    red, green, blue = (int(x) for x in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 150, background


def test_a_phone_sized_screen_gets_a_full_screen_panel(browser: Any, site: Site) -> None:
    # Reduced motion too: the panel appears without its slide-in.
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, reduced_motion="reduce"
    )
    page = context.new_page()
    try:
        open_chapter(page, site)
        page.locator(".launcher").click()
        assert page.locator(".panel").evaluate("(el) => getComputedStyle(el).animationName") == "none"
        box = page.locator(".panel").bounding_box()
        assert box is not None and [round(box[k]) for k in ("x", "y", "width", "height")] == [0, 0, 390, 844]
    finally:
        context.close()


def test_keyboard_only_open_ask_reach_a_citation_and_close(page: Any, site: Site) -> None:
    open_chapter(page, site)
    page.keyboard.press("Control+/")
    page.locator(".panel").wait_for(state="visible")
    page.keyboard.type("What is the Zero Moment Point?")
    page.keyboard.press("Enter")
    page.locator(".turn .answer a.mark").first.wait_for()
    reached = False
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const a = document.querySelector('#textbook-chat').shadowRoot.activeElement; return a ? a.className : ''; }"
        )
        if focused == "mark":
            reached = True
            break
    assert reached, "a citation link can be reached with Tab"
    page.keyboard.press("Escape")
    assert not page.locator(".panel").is_visible()
    assert (
        page.evaluate("() => document.querySelector('#textbook-chat').shadowRoot.activeElement?.className")
        == "launcher"
    )


def test_a_stopped_service_gives_an_error_the_student_can_retry(page: Any, site_factory: Any) -> None:
    site = site_factory()
    open_chapter(page, site)
    site.stop()
    page.locator(".launcher").click()
    page.locator("textarea.composer").fill("What is the Zero Moment Point?")
    page.keyboard.press("Enter")
    error = page.locator(".answer.error")
    error.wait_for()
    assert "can't be reached" in error.inner_text() and error.locator("button", has_text="Retry").count() == 1


def test_a_rate_limited_question_shows_its_wait(page: Any, site_factory: Any) -> None:
    site = site_factory(RATE_LIMIT_REQUESTS_PER_MINUTE="2")
    open_chapter(page, site)
    for question in ("What is ZMP?", "What is the capture point?", "What is the center of pressure?"):
        page.locator(".launcher").click() if not page.locator(".panel").is_visible() else None
        page.locator("textarea.composer").fill(question)
        page.keyboard.press("Enter")
        page.wait_for_function("() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')")
    error = page.locator(".answer.error").last
    error.wait_for()
    assert re.search(r"You can ask again in \d+ s", error.inner_text())
    assert page.locator("button.send", has_text="Send").is_disabled()


def test_embedded_on_another_site_it_answers_and_shows_a_rate_limit(page: Any, site_factory: Any) -> None:
    """The book on its own site (another origin, served by a second server), the service elsewhere:
    allowed by CORS_ORIGINS, and a refusal (429) reaches the widget with its Retry-After, not as a
    network error."""
    book = book_site()
    try:
        origin = f"http://localhost:{book.server_address[1]}"
        site = site_factory(CORS_ORIGINS=json.dumps([origin]), RATE_LIMIT_REQUESTS_PER_MINUTE="2")
        book.RequestHandlerClass.page = f'<!doctype html><html><head><script src="{site.url}/widget.js" data-api="{site.url}" defer></script></head><body><p>A book page.</p></body></html>'
        page.goto(f"{origin}/chapter.html")
        answer = ask(page, "What is the Zero Moment Point?")
        assert "Zero Moment Point" in answer.inner_text()
        for question in ("What is the capture point?", "What is the center of pressure?"):
            page.locator("textarea.composer").fill(question)
            page.keyboard.press("Enter")
            page.wait_for_function(
                "() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')"
            )
        assert re.search(r"You can ask again in \d+ s", page.locator(".answer.error").last.inner_text())
    finally:
        book.shutdown()
        book.server_close()


def test_a_planted_chapter_runs_nothing(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/read/{PLANTED}")
    page.locator(".launcher").wait_for()
    assert page.evaluate("() => window.__pwned") is None
    assert "<script>" in page.locator("main").inner_text()  # shown as text, not run
    answer = ask(page, "What should I read before starting a robot arm?")
    assert page.evaluate("() => window.__pwned") is None
    for link in answer.locator("a").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    answer.locator("a").first.click() if answer.locator("a").count() else None
    assert page.evaluate("() => window.__pwned") is None
    assert page.errors == []


def test_the_widget_works_under_a_strict_content_security_policy(page: Any, site: Site) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    response = page.goto(f"{site.url}/read/{CHAPTER}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    page.locator(".launcher").wait_for()
    ask(page, "What is the Zero Moment Point?")
    assert page.locator(".panel").evaluate("(el) => getComputedStyle(el).position") == "fixed"  # its styles applied
    assert violations == []


def test_no_serious_accessibility_violations(browser: Any, site: Site) -> None:
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: npm ci in clients/widget installs axe-core")
    context = browser.new_context(bypass_csp=True)  # to inject axe-core into the page
    page = context.new_page()
    try:
        open_chapter(page, site)
        ask(page, "What is the Zero Moment Point?")
        page.add_script_tag(path=str(AXE))
        assert serious_violations(page) == []
    finally:
        context.close()


@pytest.mark.slow
def test_stop_ends_a_stream_from_a_model(page: Any, site_factory: Any, llama_server: str) -> None:
    """With a real model (llama.cpp's server, SmolLM2) the answer takes seconds: Stop ends it."""
    site = site_factory(
        LLM_PROVIDER="openai",
        LLM_BASE_URL=llama_server,
        LLM_MODEL=MODEL_ALIAS,
        LLM_API_KEY="local",
        ANSWER_TIMEOUT_SECONDS="60",
        ANSWER_STREAM_MAX_SECONDS="120",
    )
    open_chapter(page, site)
    page.locator(".launcher").click()
    page.locator("textarea.composer").fill(
        "Explain how humanoid robots keep their balance while walking and why the ZMP matters."
    )
    page.keyboard.press("Enter")
    stop = page.locator("button.send", has_text="Stop")
    stop.wait_for(state="visible")
    stop.click()
    page.locator(".turn .note", has_text="Stopped.").wait_for()
    assert page.locator("button.send", has_text="Send").is_visible()
