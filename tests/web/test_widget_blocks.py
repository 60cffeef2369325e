"""The book's blocks in the reader's chat (issue 20), in real Chromium against a real uvicorn: code with its
language and a Copy button that copies, a table that scrolls sideways inside its own region on a phone, a
list with its "and N more", math as TeX source, a figure (and a figure shown as words when its image is on
another origin or fails to load), hostile block text shown as text, and a turn stored before blocks.

Most tests answer with the service's response, scripted: a Playwright route fulfils the answer stream
with a body in the service's wire format (BLOCKS.md: `block` events, deltas, `done` with `blocks`), so
each kind of block is drawn exactly as written here. The last test asks the real service."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import API_KEY
from tests.web.conftest import CHAPTER, Site, serious_violations
from tests.web.test_widget import AXE, ask, open_chapter, open_in

SECTION_URL = f"/read/{CHAPTER}#walking"
CITATION = {
    "id": 1,
    "chunk_id": "scripted-1",
    "source_file": CHAPTER,
    "title": "Humanoid Robotics",
    "section": "Walking",
    "heading_path": ["Humanoid Robotics", "Walking"],
    "url": SECTION_URL,
    "quote": "A scripted quote for the widget's tests.",
    "kind": "book",
}
COMMAND = "ros2 topic list\nros2 topic echo /joint_states --once"


def block(kind: str, markdown: str, **fields: Any) -> dict[str, Any]:
    """An AnswerBlock as the service sends it (every field present), quoted from citation 1."""
    empty: dict[str, Any] = {
        "language": None,
        "text": "",
        "items": [],
        "ordered": False,
        "more": 0,
        "header": [],
        "rows": [],
    }
    rest = {"alt": "", "caption": "", "src": None, "url": SECTION_URL}
    return {"kind": kind, "markdown": markdown, "citation": 1} | empty | rest | fields


def code(text: str, language: str | None = None) -> dict[str, Any]:
    return block("code", f"```{language or ''}\n{text}\n```", language=language, text=text)


def table(header: list[str], rows: list[list[str]], more: int = 0) -> dict[str, Any]:
    lines = [header, ["---"] * len(header), *rows]
    markdown = "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    return block("table", markdown, header=header, rows=rows, more=more)


def listing(items: list[str], more: int = 0, ordered: bool = False) -> dict[str, Any]:
    lines = [f"{i}. {item}" if ordered else f"- {item}" for i, item in enumerate(items, 1)]
    if more:
        lines.append(f"- … and {more} more")
    return block("list", "\n".join(lines), items=items, more=more, ordered=ordered)


def math(tex: str) -> dict[str, Any]:
    return block("math", f"$$\n{tex}\n$$", text=tex)


def figure(alt: str, caption: str, src: str | None) -> dict[str, Any]:
    markdown = (f"![{alt}]({src})" if src else f"*Figure: {alt}*") + (f"\n*{caption}*" if caption else "")
    return block("figure", markdown, alt=alt, caption=caption, src=src)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def scripted_stream(prose: list[str], blocks: list[dict[str, Any]], **done_fields: Any) -> str:
    """The service's response, scripted: the answer is the prose, then each block's Markdown, as segments
    joined by a blank line; each block's event comes before the delta that holds its Markdown."""
    answer = "\n\n".join([*prose, *(b["markdown"] for b in blocks)])
    events = [sse("retrieval", {"retrieved_contexts": []})]
    events += [sse("block", b) for b in blocks]
    events += [sse("delta", {"text": answer}), sse("citation", CITATION)]
    done = {
        "answer_id": "scripted-answer",
        "session_id": "scripted-session",
        "answer": answer,
        "citations": [CITATION],
        "retrieved_contexts": [],
        "confidence_score": 0.9,
        "refused": False,
        "provider": "scripted",
        "latency_ms": 1.0,
        "route": "book",
        "degraded": False,
        "removed_sentences": 0,
        "standalone_question": None,
        "refusal": None,
        "blocks": blocks,
    } | done_fields
    return "".join([*events, sse("done", done)])


def fulfil_with(body: str) -> Callable[[Any], None]:
    def fulfil(route: Any) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}, body=body)

    return fulfil


def fulfil_image(content: bytes) -> Callable[[Any], None]:
    def fulfil(route: Any) -> None:
        route.fulfill(status=200, headers={"Content-Type": "image/png"}, body=content)

    return fulfil


def not_found(route: Any) -> None:
    route.fulfill(status=404, headers={"Content-Type": "text/plain"}, body="not found")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG, made here (no image file in the project)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def answer_scripted(page: Any, site: Site, prose: list[str], blocks: list[dict[str, Any]], **done_fields: Any) -> Any:
    """Open the chapter, script the service's response (`done_fields` over its final body), ask: the
    finished answer's element."""
    page.route(f"{site.url}/api/v1/answer/stream", fulfil_with(scripted_stream(prose, blocks, **done_fields)))
    open_chapter(page, site)
    return ask(page, "How do I see what a humanoid publishes?")


PROSE = ["Robots publish their state on topics; list them, then read one [1]."]


def every_kind(figure_src: str) -> list[dict[str, Any]]:
    """One block of each kind, the figure's image at `figure_src`."""
    return [
        code(COMMAND, "bash") | {"more": 4},
        table(
            ["Joint", "Range (deg)", "Motor"], [["Hip pitch", "-120 to 30", "BLDC"], ["Knee", "0 to 150", "BLDC"]], 3
        ),
        listing(["Check the battery", "Clear the work cell"], more=2),
        math(r"x_{zmp} = x_c - \frac{z_c}{g}\ddot{x}_c"),
        figure("A humanoid's gait cycle", "Stance and swing phases.", figure_src),
    ]


def test_each_kind_of_block_is_drawn_from_the_services_response(page: Any, site: Site) -> None:
    """The service's response, scripted: one block of each kind, each drawn as itself with its citation mark
    linked like the prose's, and drawn the same from the stored conversation after a reload."""
    src = f"{site.url}/read/figures/gait.png"
    page.route(src, fulfil_image(png(120, 60, (40, 110, 200))))
    answer = answer_scripted(page, site, PROSE, every_kind(src))
    section = urljoin(site.url, SECTION_URL)

    def check(answer: Any) -> None:
        assert answer.locator(".answer-text").count() == 1
        assert "```" not in answer.inner_text() and "$$" not in answer.inner_text()
        prose = answer.locator(".prose")
        assert prose.count() == 1 and prose.inner_text().startswith("Robots publish their state")
        code_block = answer.locator(".code-block")
        assert code_block.locator(".block-label").text_content() == "bash"
        assert code_block.locator("pre > code").text_content() == COMMAND
        assert code_block.locator("button", has_text="Copy").get_attribute("aria-label") == "Copy code"
        assert code_block.locator("pre").evaluate("(el) => getComputedStyle(el).whiteSpace") == "pre"
        more_lines = code_block.locator("a.more")
        assert more_lines.text_content() == "… and 4 more lines" and more_lines.get_attribute("href") == section

        region = answer.locator(".table-scroll[role='region']")
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("aria-label")
        assert region.locator("thead th").all_text_contents() == ["Joint", "Range (deg)", "Motor"]
        cells = [row.locator("td").all_text_contents() for row in region.locator("tbody tr").all()]
        assert cells == [["Hip pitch", "-120 to 30", "BLDC"], ["Knee", "0 to 150", "BLDC"]]
        more_rows = answer.locator(".table-block a.more")
        assert more_rows.text_content() == "… and 3 more rows" and more_rows.get_attribute("href") == section

        items = answer.locator("ul.list-block > li")
        assert items.count() == 3
        assert items.nth(0).text_content() == "Check the battery"
        more_items = items.nth(2).locator("a.more")
        assert more_items.text_content() == "… and 2 more" and more_items.get_attribute("href") == section

        tex = answer.locator("pre.math")
        assert tex.text_content() == r"x_{zmp} = x_c - \frac{z_c}{g}\ddot{x}_c"
        assert "TeX" in (tex.get_attribute("aria-label") or "")

        shown = answer.locator("figure.figure-block")
        shown.scroll_into_view_if_needed()
        image = shown.locator("img")
        assert image.get_attribute("src") == src and image.get_attribute("alt") == "A humanoid's gait cycle"
        assert image.get_attribute("loading") == "lazy"
        image.evaluate("(img) => img.decode()")  # it loads (from the book's own origin)
        assert shown.locator("figcaption").text_content().startswith("Stance and swing phases.")

        # Every block carries its citation's mark, a link like the prose's marks.
        marks = answer.locator(".block a.mark")
        assert marks.count() == 5
        prose_href = prose.locator("a.mark").get_attribute("href")
        assert {m.get_attribute("href") for m in marks.all()} == {prose_href}
        assert prose_href.startswith(section.split("#")[0])

    check(answer)
    assert page.errors == []
    stored = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('textbook-chat:'))[1]).turns.at(-1)"
    )
    assert [b["kind"] for b in stored["blocks"]] == ["code", "table", "list", "math", "figure"]
    page.reload()
    page.locator(".launcher").click()
    check(page.locator(".turn .answer").last)


def test_the_copy_button_copies_the_command(browser: Any, site: Site) -> None:
    """The service's response, scripted: a command; Copy puts the command itself on the clipboard."""
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    try:
        answer = answer_scripted(page, site, PROSE, [code(COMMAND, "bash")])
        page.evaluate("() => navigator.clipboard.writeText('something else')")
        button = answer.locator(".code-block button.copy")
        button.click()
        page.locator(".code-block button.copy", has_text="Copied").wait_for()
        assert page.evaluate("() => navigator.clipboard.readText()") == COMMAND
    finally:
        context.close()


def test_without_the_clipboard_api_copy_still_copies(browser: Any, site: Site) -> None:
    """The service's response, scripted; a browser without navigator.clipboard (an insecure page, an old
    browser): the command is copied the older way."""
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    page.add_init_script(
        "window.__clipboard = navigator.clipboard;"
        "Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined });"
    )
    try:
        answer = answer_scripted(page, site, PROSE, [code(COMMAND)])
        assert answer.locator(".code-block .block-label").count() == 0  # no language given: no label
        answer.locator(".code-block button.copy").click()
        page.locator(".code-block button.copy", has_text="Copied").wait_for()
        assert page.evaluate("() => window.__clipboard.readText()") == COMMAND
    finally:
        context.close()


def test_a_figure_on_another_origin_is_shown_as_words(page: Any, site: Site) -> None:
    """The service's response, scripted: a figure whose image is on neither the book's origin nor the page's
    is never fetched; its alt text and caption are shown, with a link to its section."""
    foreign = "http://images.invalid/gait.png"
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    answer = answer_scripted(page, site, PROSE, [figure("A humanoid's gait cycle", "Stance and swing.", foreign)])
    words = answer.locator(".figure-text")
    assert answer.locator("img").count() == 0
    assert words.locator(".figure-alt").text_content() == "Figure: A humanoid's gait cycle"
    assert words.locator(".figure-caption").text_content() == "Stance and swing."
    assert words.locator("a", has_text="See the figure in the book").get_attribute("href") == urljoin(
        site.url, SECTION_URL
    )
    assert words.locator("a.mark").count() == 1
    assert not [url for url in asked if "images.invalid" in url]


def test_a_figure_whose_image_fails_is_shown_as_words(page: Any, site: Site) -> None:
    """The service's response, scripted: a figure on the book's origin whose image does not load."""
    src = f"{site.url}/read/figures/missing.png"
    page.route(src, not_found)
    answer = answer_scripted(page, site, PROSE, [figure("A humanoid's gait cycle", "Stance and swing.", src)])
    words = answer.locator(".figure-text")
    words.wait_for()
    assert answer.locator("img").count() == 0
    assert words.locator(".figure-alt").text_content() == "Figure: A humanoid's gait cycle"
    assert words.locator(".figure-caption").text_content() == "Stance and swing."
    assert words.locator("a.mark").count() == 1


WIDE = table(
    ["Robot", "Height (m)", "Mass (kg)", "Actuation", "Degrees of freedom", "Main use"],
    [["Scripted walker one", "1.62", "61", "Electric, series elastic", "28", "Warehouse picking and sorting"]] * 4,
)


def test_a_wide_table_on_a_phone_scrolls_inside_its_region_not_the_panel(browser: Any, site: Site) -> None:
    """The service's response, scripted: a six-column table on a 375 px screen."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        answer = answer_scripted(page, site, PROSE, [WIDE])
        region = answer.locator(".table-scroll")
        region.scroll_into_view_if_needed()
        width = "(el) => [el.scrollWidth, el.clientWidth]"
        scroll_width, client_width = region.evaluate(width)
        assert scroll_width > client_width  # the table is wider than the screen: it scrolls in its region
        for selector in (".panel", ".log", ".turn .answer"):
            scroll_width, client_width = page.locator(selector).last.evaluate(width)
            assert scroll_width <= client_width, selector
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        box = region.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert region.evaluate("(el) => { el.scrollLeft = 120; return el.scrollLeft; }") > 0
    finally:
        context.close()


HOSTILE = '<script>window.__pwned = 1</script>\n<img src=x onerror="window.__pwned = 2">'


def test_hostile_block_text_is_shown_as_text_and_runs_nothing(page: Any, site: Site) -> None:
    """The service's response, scripted, with markup in every field a block carries."""
    img = '<img src=x onerror="window.__pwned = 3">'
    blocks = [
        code(HOSTILE, img),
        table([img, "b"], [['<svg onload="window.__pwned = 4">', "<b>x</b>"]], 1),
        listing([img], more=1) | {"url": "javascript:window.__pwned = 5"},
        math("</pre><script>window.__pwned = 6</script>"),
        figure(img, img, "javascript:window.__pwned = 7"),
    ]
    answer = answer_scripted(page, site, ["<b>Bold?</b> [1]"], blocks)
    assert answer.locator(".code-block pre > code").text_content() == HOSTILE
    assert answer.locator(".code-block .block-label").text_content() == img
    assert answer.locator("thead th").first.text_content() == img
    assert answer.locator(".list-block li").first.text_content() == img
    assert answer.locator(".list-block a.more").count() == 0  # a javascript: URL is no link
    assert answer.locator(".list-block .more").text_content() == "… and 1 more"
    assert answer.locator("pre.math").text_content() == "</pre><script>window.__pwned = 6</script>"
    assert answer.locator(".figure-alt").text_content() == f"Figure: {img}"
    assert answer.locator(".prose").inner_text().startswith("<b>Bold?</b>")
    assert answer.locator(".answer-text").locator("script, img, svg, b").count() == 0
    for link in answer.locator("a").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    assert page.evaluate("() => window.__pwned") is None
    assert page.errors == []


def test_a_turn_stored_before_blocks_reads_as_before(page: Any, site: Site) -> None:
    """A conversation kept from before answers carried blocks: its Markdown is shown as text, as it was."""
    open_chapter(page, site)
    old = "List the topics with this command [1].\n\n```bash\nros2 topic list\n```"
    turn: dict[str, Any] = {"question": "How?", "answer": old, "citations": [CITATION], "route": "book"}
    turn |= {"answerId": None, "refusal": None, "refused": False}
    page.evaluate(
        "([key, turn]) => localStorage.setItem(key, JSON.stringify({ sessionId: null, turns: [turn] }))",
        [f"textbook-chat:{site.url}", turn],
    )
    page.reload()
    page.locator(".launcher").click()
    answer = page.locator(".turn .answer").last
    body = answer.locator(".answer-text")
    assert body.count() == 1 and "with-blocks" not in (body.get_attribute("class") or "")
    assert body.text_content() == old
    assert answer.locator(".block").count() == 0 and body.locator("a.mark").count() == 1


SOURCES = Path(__file__).parents[2] / "clients" / "widget" / "src"


def test_a_partial_model_answer_says_part_of_it_was_left_out(page: Any, site: Site) -> None:
    """The service's response, scripted: a model's answer the checker cut down (`partial`) says so under it;
    a whole one says nothing."""
    answer = answer_scripted(page, site, PROSE, [code(COMMAND, "bash")], partial=True, removed_sentences=1)
    assert (
        answer.locator("p.note").text_content()
        == "Part of the model's answer was left out: the book did not support it."
    )
    whole = answer_scripted(page, site, PROSE, [code(COMMAND, "bash")])
    assert whole.locator("p.note").count() == 0


def test_every_language_has_the_words_of_the_blocks() -> None:
    """Each string blocks.js shows (with the singular of each "and N more") is in every language of i18n.js."""
    code = (SOURCES / "blocks.js").read_text()
    used = set(re.findall(r"strings\.(\w+)", code))
    for template in re.findall(r'moreNode\("(\w+)"', code):
        used |= {template, f"{template}One"}
    assert {"copy", "copied", "moreLines", "moreRows", "moreItemsOne", "tex"} <= used
    languages = re.findall(r"^  (\w\w): \{(.*?)^  \},", (SOURCES / "i18n.js").read_text(), re.MULTILINE | re.DOTALL)
    assert {lang for lang, _ in languages} >= {"en", "fr"}
    for lang, block in languages:
        assert used <= set(re.findall(r"^    (\w+):", block, re.MULTILINE)), lang


def test_blocks_speak_the_widgets_language(page: Any, site: Site) -> None:
    """The service's response, scripted, on a page in French: the Copy button, "and N more" and TeX label."""
    page.route(f"{site.url}/api/v1/answer/stream", fulfil_with(scripted_stream(PROSE, every_kind("/nowhere.png"))))
    open_in(page, site, "fr")
    answer = ask(page, "Comment lister les topics ?")
    assert answer.locator(".code-block button.copy").text_content() == "Copier"
    assert answer.locator(".code-block button.copy").get_attribute("aria-label") == "Copier le code"
    assert answer.locator(".code-block a.more").text_content() == "… et 4 lignes de plus"
    assert answer.locator(".table-block a.more").text_content() == "… et 3 lignes de plus"
    assert answer.locator(".list-block a.more").text_content() == "… et 2 de plus"
    assert answer.locator("pre.math").get_attribute("aria-label") == "Formule, en source TeX"
    assert answer.locator(".table-scroll").get_attribute("aria-label") == "Tableau\u00a0: Humanoid Robotics › Walking"


def test_blocks_have_no_serious_accessibility_violations(browser: Any, site: Site) -> None:
    """The service's response, scripted: every kind of block, and a figure shown as words, scanned by axe-core."""
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: npm ci in clients/widget installs axe-core")
    context = browser.new_context(bypass_csp=True)  # to inject axe-core into the page
    page = context.new_page()
    src = f"{site.url}/read/figures/gait.png"
    page.route(src, fulfil_image(png(120, 60, (40, 110, 200))))
    try:
        foreign = figure("A foot's contact with the ground", "", "http://images.invalid/x.png")
        answer_scripted(page, site, PROSE, [*every_kind(src), WIDE, foreign])
        page.add_script_tag(path=str(AXE))
        assert serious_violations(page) == []
    finally:
        context.close()


PLANTED_HOWTO = "robot-setup.md"
PLANTED_HOWTO_TEXT = """# Setting up the robot

## Listing the topics

To see every topic the robot publishes, open a terminal on the robot's computer and run:

```bash
ros2 topic list
```

Each line of the output is one topic, such as the joint states or the camera images.
"""


def test_a_how_to_answer_from_the_service_shows_the_command_with_a_copy_button(page: Any, site: Site) -> None:
    """End to end: a planted how-to page indexed through the API; the real service's answer to a how-to
    question carries the command as a block, and the widget shows it as code with a Copy button."""
    meta = {"source_file": PLANTED_HOWTO, "url": f"/read/{PLANTED_HOWTO}"}
    response = httpx.post(
        f"{site.url}/api/v1/index",
        json={"content": PLANTED_HOWTO_TEXT, "metadata": meta},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    open_chapter(page, site)
    answer = ask(page, "How do I list the topics the robot publishes?")
    code_block = answer.locator(".code-block")
    assert code_block.count() == 1, answer.inner_text()
    assert code_block.locator("pre > code").text_content() == "ros2 topic list"
    assert code_block.locator(".block-label").text_content() == "bash"
    assert code_block.locator("button.copy").get_attribute("aria-label") == "Copy code"
    assert code_block.locator("a.mark").count() == 1
    assert page.errors == []
