"""A newer release beside this checkout, for the tests of expand and contract (tests/db) and of two
releases side by side (tests/reliability/test_two_releases.py): a copy of this checkout's runtime files
with one more migration on top of its head (a nullable column on `messages`, marked as an expand or a
contract step), and the commands an operator or a start path runs from either tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, env_for, make_settings

NEW_REVISION = "a11ce2b0b7e5"  # the test-only migration the new release ships
NEW_COLUMN = "two_release_probe"
RUNTIME = ["src", "migrations", "alembic.ini", "gunicorn.conf.py"]
MIGRATION = '''"""two releases: a nullable column the old release ignores (tests/db/releases.py)

Revision ID: {revision}
Revises: {down_revision}
Create Date: 2099-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None
phase = "{phase}"


def upgrade() -> None:
    op.add_column("messages", sa.Column("{column}", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "{column}")
'''


def new_release(root: Path, down_revision: str, phase: str) -> Path:
    """A copy of this checkout's runtime files with one more migration on top of its head."""
    root.mkdir(parents=True)
    for name in RUNTIME:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    text = MIGRATION.format(revision=NEW_REVISION, down_revision=down_revision, phase=phase, column=NEW_COLUMN)
    (root / "migrations" / "versions" / f"2099_01_01_0000-{NEW_REVISION}_two_releases_probe.py").write_text(text)
    return root


def release_env(tmp_path: Path, tree: Path, name: str, database_url: str) -> dict[str, str]:
    """The environment of a process of the release in `tree`: it imports that tree's `src`."""
    settings = make_settings(tmp_path / name, database_url=database_url, qdrant_url=":memory:")
    return env_for(settings) | {"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


def run_module(tmp_path: Path, tree: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` from a release's checkout, on `database_url`, as an operator or a start path runs it."""
    env = release_env(tmp_path, tree, args[0].replace(".", "-"), database_url)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def alembic_by_hand(tmp_path: Path, tree: Path, database_url: str, *args: str) -> None:
    """`python -m alembic ...` as an operator runs it in a release's checkout (the runbook's upgrade and downgrade)."""
    done = run_module(tmp_path, tree, database_url, "alembic", *args)
    assert done.returncode == 0, f"alembic {' '.join(args)} in {tree}:\n{done.stdout}\n{done.stderr}"


def migrate(tmp_path: Path, tree: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """The migrate command every start path runs before serving (the image, the systemd unit, `make migrate`)."""
    return run_module(tmp_path, tree, database_url, "src.cli", "migrate")
