"""The widget's names for the values it acts on (clients/widget/src/wire.js) are the service's own: a
route, a citation's kind, every refusal reason and every kind of block, as OpenAPI documents them; and every language has
the words for each reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from src.api.main import create_app
from tests.conftest import make_settings

SOURCES = Path(__file__).parents[2] / "clients" / "widget" / "src"
WIRE = (SOURCES / "wire.js").read_text()


def schemas(tmp_path: Path) -> dict[str, Any]:
    return dict(create_app(make_settings(tmp_path)).openapi()["components"]["schemas"])


def constant(name: str) -> str:
    (value,) = re.findall(rf'^export const {name} = "([^"]+)";', WIRE, re.MULTILINE)
    return value


def reasons() -> dict[str, dict[str, str]]:
    """wire.js's REASONS: each reason's keys into the strings of i18n.js."""
    block = re.search(r"export const REASONS = \{(.*?)\n\};", WIRE, re.DOTALL)
    assert block is not None, "wire.js names no REASONS"
    return {
        reason: dict(re.findall(r'(\w+): "(\w+)"', keys))
        for reason, keys in re.findall(r"^\s*(\w+): \{([^}]*)\}", block.group(1), re.MULTILINE)
    }


def test_the_widgets_route_and_citation_kind_are_values_of_the_schema(tmp_path: Path) -> None:
    found = schemas(tmp_path)
    assert constant("ROUTE_SMALLTALK") in found["Route"]["enum"]
    assert constant("KIND_SELECTION") in found["Citation"]["properties"]["kind"]["enum"]


def test_the_widget_knows_every_kind_of_block_and_no_other(tmp_path: Path) -> None:
    kinds = set(re.findall(r'^export const BLOCK_\w+ = "([^"]+)";', WIRE, re.MULTILINE))
    assert kinds == set(schemas(tmp_path)["AnswerBlock"]["properties"]["kind"]["enum"])


def test_the_widget_knows_every_refusal_reason_and_no_other(tmp_path: Path) -> None:
    assert set(reasons()) == set(schemas(tmp_path)["Refusal"]["properties"]["reason"]["enum"])


def test_every_language_has_the_badge_and_the_lead_of_every_reason() -> None:
    strings = (SOURCES / "i18n.js").read_text()
    languages = re.findall(r"^  (\w\w): \{(.*?)^  \},", strings, re.MULTILINE | re.DOTALL)
    assert {lang for lang, _ in languages} >= {"en", "fr"}
    for lang, block in languages:
        defined = set(re.findall(r"^    (\w+):", block, re.MULTILINE))
        for reason, keys in reasons().items():
            assert set(keys) == {"badge", "lead"}, reason
            assert set(keys.values()) <= defined, (lang, reason)
