"""The HTML of the reading page: the list of what the index holds, and one document rendered, both
with the widget on them. Every value is escaped; the document body comes from `reader.render`."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from src.db.models import IndexedDocument
from src.web.assets import versioned

# A strict policy: scripts and styles from this origin only, no inline script, no eval. The widget
# applies its styles as a constructed stylesheet and positions through the CSSOM, both allowed.
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{versioned("reader.css")}">\n'
        f'<script src="{versioned("widget.js")}" defer></script>\n'
        "</head>\n<body>\n"
        '<header class="site"><a class="home" href="/">Textbook</a><span class="hint">Select any text to ask about it, or press Ctrl+/</span></header>\n'
        f"{body}\n</body>\n</html>\n"
    )


def reader_href(source_file: str) -> str:
    return "/read/" + quote(source_file)


def index_page(documents: Sequence[IndexedDocument], readable: set[str], total: int) -> str:
    items = []
    for doc in documents:
        title = escape(doc.title or doc.source_file)
        link = f'<a href="{escape(reader_href(doc.source_file))}">{title}</a>' if doc.source_file in readable else title
        items.append(
            f'<li>{link} <span class="file">{escape(doc.source_file)}</span> <span class="count">{doc.chunk_count} passages</span></li>'
        )
    listing = (
        "\n".join(items)
        if items
        else "<li>Nothing is indexed yet: index a book with <code>python -m src.cli index path/to/book</code>.</li>"
    )
    more = f'<p class="more">Showing {len(documents)} of {total} documents.</p>' if total > len(documents) else ""
    body = (
        '<main class="doc">\n<h1>The textbook</h1>\n'
        "<p>These are the documents the assistant answers from. Open one and ask about it: the chat in the corner answers "
        "from the book and links each answer to the section it quotes.</p>\n"
        f'<ul class="documents">\n{listing}\n</ul>\n{more}</main>'
    )
    return _page("The textbook", body)


def admin_page() -> str:
    """The dashboard's shell; admin.js fills it from the reports (nothing reader-written is in it)."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>What readers ask</title>\n'
        f'<link rel="stylesheet" href="{versioned("admin.css")}">\n<script src="{versioned("admin.js")}" defer></script>\n'
        "</head>\n<body>\n"
        '<header class="site"><a class="home" href="/">Textbook</a><span class="status" id="status" role="status"></span></header>\n'
        "<main>\n<h1>What readers ask, and what the book does not answer</h1>\n"
        '<form id="login" class="login" hidden>\n<label for="key">An API key with the analytics scope (kept for this tab only)</label>\n'
        '<input id="key" type="password" autocomplete="off" required>\n<button type="submit">Show the reports</button>\n'
        '<p id="login-error" class="error" role="alert"></p>\n</form>\n'
        '<div id="reports" hidden>\n<div class="controls"><label for="since">Window</label>\n'
        '<select id="since"><option value="7d">last 7 days</option><option value="30d" selected>last 30 days</option>'
        '<option value="90d">last 90 days</option><option value="365d">last year</option></select>\n'
        '<button type="button" id="logout">Forget the key</button></div>\n'
        '<h2>Over time</h2>\n<section id="summary"></section>\n'
        '<h2>What the book did not answer</h2>\n<section id="gaps"></section>\n'
        '<h2>Chapters, the most refused first</h2>\n<section id="chapters"></section>\n'
        '<h2>Answers readers disliked</h2>\n<section id="feedback"></section>\n</div>\n'
        "</main>\n</body>\n</html>\n"
    )


def document_page(title: str, source_file: str, html_body: str) -> str:
    body = f'<main class="doc" data-source-file="{escape(source_file)}">\n{html_body}\n</main>'
    return _page(title, body)
