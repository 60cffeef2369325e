"""session ids up to 64 characters, as the API accepts (they were 36)

Revision ID: 9b3e1f0c2d4a
Revises: 5684c229a784
Create Date: 2026-11-24 09:00:00.000000

On PostgreSQL a longer id made the insert fail, so the turn was never recorded. SQLite does not
enforce VARCHAR lengths; there the tables are rebuilt (batch mode) only so the declared schema
matches; env.py turns foreign keys off for that, or rebuilding user_sessions would cascade-delete
every message.

Downgrading fails on PostgreSQL while a session id longer than 36 characters exists.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '9b3e1f0c2d4a'
down_revision: str | None = '5684c229a784'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
# Reviewed: alter_column only widens String(36) to String(64); the previous release writes ids of at most 36 characters.
reviewed = {"alter_column": "widens session ids: the previous release writes at most 36 characters"}


def _resize(length_from: int, length_to: int) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The foreign key column first, then the key it refers to; both stay VARCHAR, no rewrite.
        op.alter_column('messages', 'session_id', type_=sa.String(length=length_to), existing_type=sa.String(length=length_from), existing_nullable=False)
        op.alter_column('user_sessions', 'id', type_=sa.String(length=length_to), existing_type=sa.String(length=length_from), existing_nullable=False)
        return
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.alter_column('id', type_=sa.String(length=length_to), existing_type=sa.String(length=length_from), existing_nullable=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('session_id', type_=sa.String(length=length_to), existing_type=sa.String(length=length_from), existing_nullable=False)


def upgrade() -> None:
    _resize(36, 64)


def downgrade() -> None:
    _resize(64, 36)
