"""turn analytics: what the reports need of each turn (route, selection mode, degraded, the top citation's
chapter, section, file and URL, the question's embedding, the reader's latest rating), and covering indexes
for reading a window of turns

An expand step: nullable or defaulted columns the previous release neither reads nor writes. The
latest rating is filled in from the feedback already given; recorded pages are cut to the length the
service now records (PAGE_CHARS in src/sessions/recorder.py) so that they fit an index entry.

Revision ID: e9f1c3a5b7d2
Revises: d4e8b1a7c2f5
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e9f1c3a5b7d2"
down_revision: str | None = "d4e8b1a7c2f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"  # keeps the previous release working (src/db/migrations.py: expand and contract)

PAGE_CHARS = 300
INDEXES = {
    "ix_messages_report": ["created_at", "route", "refused", "degraded", "rating", "latency_ms"],
    "ix_messages_chapter_report": ["created_at", "route", "top_chapter", "page", "refused", "rating"],
    "ix_messages_top_chapter_created": ["top_chapter", "created_at"],
    "ix_messages_page_created": ["page", "created_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("route", sa.String(length=16), nullable=False, server_default="book"))
        batch.add_column(sa.Column("selection_mode", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("degraded", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("top_source_file", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("top_chapter", sa.Text(), nullable=True))
        batch.add_column(sa.Column("top_section", sa.Text(), nullable=True))
        batch.add_column(sa.Column("top_url", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("question_vector", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("rating", sa.String(length=8), nullable=True))
    op.execute(f"UPDATE messages SET page = substr(page, 1, {PAGE_CHARS}) WHERE length(page) > {PAGE_CHARS}")
    op.execute(
        "UPDATE messages SET rating = (SELECT f.rating FROM feedback f WHERE f.message_id = messages.id ORDER BY f.created_at DESC, f.id DESC LIMIT 1)"
        " WHERE EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = messages.id)"
    )
    with op.batch_alter_table("messages") as batch:
        for name, columns in INDEXES.items():
            batch.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name in INDEXES:
            batch.drop_index(name)
        for column in ("rating", "question_vector", "top_url", "top_section", "top_chapter", "top_source_file", "degraded", "selection_mode", "route"):
            batch.drop_column(column)
