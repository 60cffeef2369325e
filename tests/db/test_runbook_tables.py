"""docs/runbook.md's restore check (`\\dt`, section 4) lists every table of src/db/models.py, and Alembic's."""

from __future__ import annotations

import re

from src.db.migrations import COMPATIBILITY_TABLE
from src.db.models import Base
from tests.conftest import REPO


def test_the_runbook_lists_every_table_a_restore_must_show() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    (listed,) = re.findall(r'-c "\\dt" +# (.+)$', runbook, re.MULTILINE)
    names = {n.strip() for n in listed.split(",")}
    expected = set(Base.metadata.tables) | {"alembic_version", COMPATIBILITY_TABLE}
    assert names >= expected, sorted(expected - names)
