"""turn rewrite and page: a follow-up's standalone question and the page the reader was on, per message

An expand step: two nullable columns, which the previous release neither reads nor writes.

Revision ID: d4e8b1a7c2f5
Revises: c7d2a9e41f03
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e8b1a7c2f5"
down_revision: str | None = "c7d2a9e41f03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"  # keeps the previous release working (src/db/migrations.py: expand and contract)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("standalone_question", sa.Text(), nullable=True))
        batch.add_column(sa.Column("page", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("page")
        batch.drop_column("standalone_question")
