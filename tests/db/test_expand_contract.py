"""Expand and contract (src/db/migrations.py): every migration says which it is, an expand step may not
break the previous release, and a release stays ready on a schema a newer release has expanded, on
real PostgreSQL, while a schema it cannot run on, or one that is behind, is reported as such."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest
from alembic import command
from sqlalchemy import text

from src.db.migrations import (
    COMPATIBILITY_TABLE,
    alembic_head,
    compatible_heads,
    migrate_once,
    run_migrations,
    schema_state,
)
from src.kit.db import create_engine
from tests.conftest import REPO, running_app
from tests.db.helpers import settings_for, sqlite_url
from tests.db.test_migrations import alembic_config

VERSIONS = REPO / "migrations" / "versions"
# Operations that remove or change what a running release reads or writes, or refuse rows it writes.
BREAKING = {
    "drop_column",
    "drop_table",
    "drop_index",
    "rename_table",
    "alter_column",
    "drop_constraint",
    "create_unique_constraint",
    "create_check_constraint",
    "create_foreign_key",
    "create_primary_key",
    "create_exclude_constraint",
}
EXECUTE = {"execute", "exec_driver_sql"}  # op.execute, and a connection's (op.get_bind().execute)
TEXT = {"text", "literal_column"}  # sa.text("..."): read where it is written
UNKNOWN = " _expr_ "  # what an f-string's field or a concatenated name computes, unknown to the check
# Raw SQL given to op.execute or sa.text that breaks the previous release, matched case-insensitively.
BREAKING_SQL = {
    "SQL RENAME": r"\bRENAME\b",
    "SQL ALTER COLUMN TYPE": r"\bALTER\s+(?:COLUMN\s+)?(?!TABLE\b|INDEX\b|VIEW\b|SEQUENCE\b)[\w\".]+\s+(?:SET\s+DATA\s+)?TYPE\b|\b(?:MODIFY|CHANGE)\s+COLUMN\b",
    "SQL SET NOT NULL": r"\bSET\s+NOT\s+NULL\b",
    "SQL ADD CONSTRAINT": r"\bADD\s+(?:CONSTRAINT\s+[\w\".]+\s+)?(?:UNIQUE|CHECK|FOREIGN\s+KEY|PRIMARY\s+KEY|EXCLUDE)\b",
    "SQL CREATE UNIQUE INDEX": r"\bCREATE\s+UNIQUE\s+INDEX\b",
    "SQL TRUNCATE": r"\bTRUNCATE\b",
}
# Every DROP but DROP NOT NULL (which only relaxes); PostgreSQL's "DROP name" drops a column.
SQL_DROP = re.compile(r"\bDROP\s+(?!NOT\s+NULL\b)(\w+)", re.IGNORECASE)
DROPPED = {
    "TABLE",
    "VIEW",
    "MATERIALIZED",
    "INDEX",
    "COLUMN",
    "CONSTRAINT",
    "DEFAULT",
    "SEQUENCE",
    "TYPE",
    "TRIGGER",
    "FUNCTION",
    "SCHEMA",
    "IDENTITY",
    "EXPRESSION",
    "PRIMARY",
    "FOREIGN",
}
SQL_ADD_COLUMN = re.compile(
    r"\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?!CONSTRAINT\b|UNIQUE\b|CHECK\b|FOREIGN\b|PRIMARY\b|EXCLUDE\b|VALUE\b|INDEX\b|KEY\b)[\w\"]",
    re.IGNORECASE,
)
FUTURE = "f0f0f0f0f0f0"  # a revision this release does not ship: a newer release's migration


class Breaking(NamedTuple):
    operation: str  # the key a migration's `reviewed` waives it by
    line: int


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def breaking_operations(source: str) -> list[Breaking]:
    """What a migration runs on its way up that would break the previous release, by line: BREAKING calls
    (on op or on a batch_alter_table's batch), a unique index, a NOT NULL column added without a server
    default (the previous release's inserts would fail), and breaking raw SQL. It reads the whole module
    but downgrade() and the helpers only downgrade() uses, so helpers upgrade() calls are read too."""
    nodes = _upgrade_path(ast.parse(source))
    values = _assigned(nodes)
    found: list[Breaking] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name in BREAKING:
            found.append(Breaking(name, node.lineno))
        elif name == "create_index" and _unique(node):
            found.append(Breaking("create_index unique=True", node.lineno))
        elif name == "add_column":
            found += [Breaking(op, node.lineno) for op in _added_column(node, values)]
        elif name in EXECUTE or name in TEXT:
            found += [Breaking(op, node.lineno) for op in _executed_sql(node, values)]
    return sorted(found, key=lambda b: b.line)


def _upgrade_path(tree: ast.Module) -> list[ast.AST]:
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def reached(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in functions and name not in seen:
                seen.add(name)
                todo += [n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions]
        return seen

    downgrade_only = reached("downgrade") - reached("upgrade")
    kept = [
        s for s in tree.body if not (isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name in downgrade_only)
    ]
    return [node for statement in kept for node in ast.walk(statement)]


def _name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _keywords(call: ast.Call) -> dict[str | None, ast.expr]:
    return {k.arg: k.value for k in call.keywords}


def _is(node: ast.expr | None, *constants: object) -> bool:
    return isinstance(node, ast.Constant) and any(node.value is c for c in constants)


def _unique(call: ast.Call) -> bool:
    unique = _keywords(call).get("unique")
    return unique is not None and not _is(unique, False, None)  # unique=<a name> may be True: refused


def _assigned(nodes: list[ast.AST]) -> dict[str, list[ast.expr]]:
    """What each name may hold: its assignments, and what a for loop over it takes."""
    values: dict[str, list[ast.expr]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            values.setdefault(node.target.id, []).append(node.iter)
    return values


def _resolved(node: ast.expr, values: dict[str, list[ast.expr]], seen: frozenset[str] = frozenset()) -> list[ast.expr]:
    """The expressions a name stands for (the elements of what a loop runs over); any other node itself."""
    if isinstance(node, ast.Name) and node.id in values and node.id not in seen:
        return [r for v in values[node.id] for r in _resolved(v, values, seen | {node.id})]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [r for e in node.elts for r in _resolved(e, values, seen)]
    return [node]


def _added_column(call: ast.Call, values: dict[str, list[ast.expr]]) -> list[str]:
    given = [*call.args, *(k.value for k in call.keywords if k.arg == "column")]
    columns = [c for a in given for c in _resolved(a, values) if isinstance(c, ast.Call) and _name(c.func) == "Column"]
    if not columns:
        return ["add_column of a column the check cannot read"]
    found = []
    for column in columns:
        keywords = _keywords(column)
        nullable = (
            keywords["nullable"] if "nullable" in keywords else ast.Constant(not _is(keywords.get("primary_key"), True))
        )
        generated = any(isinstance(a, ast.Call) and _name(a.func) in {"Identity", "Computed"} for a in column.args)
        has_default = generated or not _is(keywords.get("server_default", ast.Constant(None)), None)
        if not _is(nullable, True) and not has_default:  # nullable=<a name> may be False: refused
            found.append("add_column NOT NULL without server_default")
    return found


def _executed_sql(call: ast.Call, values: dict[str, list[ast.expr]]) -> list[str]:
    """The breaking statements in SQL given to op.execute or sa.text. sa.text is read where it is called, a
    SQLAlchemy construct (table.update()) is not text, and SQL the check cannot read is refused."""
    argument = call.args[0] if call.args else next(iter(_keywords(call).values()), None)
    if argument is None:
        return []
    found: list[str] = []
    for node in _resolved(argument, values) if _name(call.func) in EXECUTE else [argument]:
        sql = _sql(node, values)
        if sql is not None:
            found += _breaking_sql(sql)
        elif not isinstance(node, ast.Call):
            found.append(f"{_name(call.func)}({ast.unparse(node)}): SQL the check cannot read")
    return list(dict.fromkeys(found))


def _sql(node: ast.expr, values: dict[str, list[ast.expr]], seen: frozenset[str] = frozenset()) -> str | None:
    """The text of a SQL string: literals, f-strings, concatenations, .format and % formatting, and the
    names they are assigned to; UNKNOWN for what they compute."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else UNKNOWN for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sql(node.left, values, seen), _sql(node.right, values, seen)
        return None if left is None and right is None else (left or UNKNOWN) + (right or UNKNOWN)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _sql(node.left, values, seen)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _sql(node.func.value, values, seen)
    if isinstance(node, ast.Name | ast.Tuple | ast.List | ast.Set):
        names = seen | ({node.id} if isinstance(node, ast.Name) else set())
        parts = [_sql(v, values, names) for v in _resolved(node, values, seen) if v is not node]
        texts = [p for p in parts if p is not None]
        return ";\n".join(texts) if texts else None
    return None


def _breaking_sql(sql: str) -> list[str]:
    found = [label for label, pattern in BREAKING_SQL.items() if re.search(pattern, sql, re.IGNORECASE)]
    found += [f"SQL DROP {m[1].upper() if m[1].upper() in DROPPED else 'COLUMN'}" for m in SQL_DROP.finditer(sql)]
    added = (_clause(sql, m.start()) for m in SQL_ADD_COLUMN.finditer(sql))
    found += [
        "SQL ADD COLUMN NOT NULL without DEFAULT"
        for c in added
        if re.search(r"\bNOT\s+NULL\b|\bPRIMARY\s+KEY\b", c, re.I)
        and not re.search(r"\bDEFAULT\b|\bGENERATED\b", c, re.I)
    ]
    return found


def _clause(sql: str, start: int) -> str:
    """From start to the comma, semicolon or closing parenthesis that ends the clause (not one inside it)."""
    depth = 0
    for end in range(start, len(sql)):
        if sql[end] == "(":
            depth += 1
        elif sql[end] == ")" and depth:
            depth -= 1
        elif sql[end] in ",;)" and not depth:
            return sql[start:end]
    return sql[start:]


def unwaived(path: Path, module: ModuleType) -> list[str]:
    """What keeps an expand step from passing: each breaking operation its `reviewed = {operation: reason}`
    does not waive, with the file and line, and each waiver with no reason or with nothing left to waive."""
    reviewed = getattr(module, "reviewed", {})
    found = breaking_operations(path.read_text())
    problems = [f"{path.name}, line {b.line}: {b.operation}" for b in found if b.operation not in reviewed]
    problems += [
        f"{path.name}: reviewed[{op!r}] waives nothing upgrade() runs"
        for op in reviewed
        if op not in {b.operation for b in found}
    ]
    problems += [
        f"{path.name}: reviewed[{op!r}] gives no reason"
        for op, why in reviewed.items()
        if not (isinstance(why, str) and why.strip())
    ]
    return problems


def test_every_expand_step_keeps_the_previous_release_working() -> None:
    problems = []
    for path in sorted(VERSIONS.glob("*.py")):
        module = load(path)
        assert getattr(module, "phase", None) in ("expand", "contract"), (
            f"{path.name}: declare phase = 'expand' or 'contract'"
        )
        if module.phase == "expand":
            problems += unwaived(path, module)
    assert not problems, (
        "expand steps that would break the previous release: mark each phase = 'contract', or, where it is safe,"
        " say why in reviewed = {operation: reason}\n" + "\n".join(problems)
    )


REFUSED = {
    "alter_column in a helper upgrade() calls": (
        """
def _resize(length):
    op.alter_column("user_sessions", "id", type_=sa.String(length=length))

def upgrade():
    _resize(64)
""",
        ["alter_column"],
    ),
    "batch drop_column and NOT NULL add_column": (
        """
def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("page")
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False))
        batch.add_column(sa.Column("fine", sa.String(8), nullable=False, server_default="x"))
        batch.add_column(sa.Column("also_fine", sa.Text(), nullable=True))
""",
        ["drop_column", "add_column NOT NULL without server_default"],
    ),
    "batch alter_column": (
        """
def upgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("page", existing_type=sa.String(2048), nullable=False)
""",
        ["alter_column"],
    ),
    "add_column NOT NULL": (
        """def upgrade():\n    op.add_column("messages", sa.Column("kind", sa.String(8), nullable=False))""",
        ["add_column NOT NULL without server_default"],
    ),
    "add_column NOT NULL, server_default=None": (
        """def upgrade():\n    op.add_column("messages", sa.Column("kind", sa.String(8), nullable=False, server_default=None))""",
        ["add_column NOT NULL without server_default"],
    ),
    "add_column of a primary key": (
        """def upgrade():\n    op.add_column("feedback", sa.Column("uid", sa.String(36), primary_key=True))""",
        ["add_column NOT NULL without server_default"],
    ),
    "add_column of columns from a loop": (
        """
COLUMNS = (sa.Column("a", sa.Text(), nullable=True), sa.Column("b", sa.Text(), nullable=False))

def upgrade():
    with op.batch_alter_table("messages") as batch:
        for column in COLUMNS:
            batch.add_column(column)
""",
        ["add_column NOT NULL without server_default"],
    ),
    "unique index": (
        """def upgrade():\n    op.create_index("ix_messages_page", "messages", ["page"], unique=True)""",
        ["create_index unique=True"],
    ),
    "unique index in a batch": (
        """
def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.create_index("ix_messages_page", ["page"], unique=True)
""",
        ["create_index unique=True"],
    ),
    "unique constraint": (
        """def upgrade():\n    op.create_unique_constraint("uq_messages_page", "messages", ["page"])""",
        ["create_unique_constraint"],
    ),
    "drop_index and rename_table": (
        """def upgrade():\n    op.drop_index("ix_messages_session_id", table_name="messages")\n    op.rename_table("feedback", "ratings")""",
        ["drop_index", "rename_table"],
    ),
    "SQL DROP COLUMN": (
        """def upgrade():\n    op.execute("ALTER TABLE messages DROP COLUMN page")""",
        ["SQL DROP COLUMN"],
    ),
    "SQL drop column, lower case, in sa.text": (
        """def upgrade():\n    op.execute(sa.text("alter table messages drop column page"))""",
        ["SQL DROP COLUMN"],
    ),
    "SQL DROP without COLUMN (PostgreSQL)": (
        """def upgrade():\n    op.execute("ALTER TABLE messages DROP IF EXISTS page")""",
        ["SQL DROP COLUMN"],
    ),
    "SQL RENAME COLUMN": (
        """def upgrade():\n    op.execute("ALTER TABLE messages RENAME COLUMN page TO url")""",
        ["SQL RENAME"],
    ),
    "SQL RENAME TO": ("""def upgrade():\n    op.execute("ALTER TABLE feedback RENAME TO ratings")""", ["SQL RENAME"]),
    "SQL ALTER COLUMN TYPE": (
        """def upgrade():\n    op.execute("ALTER TABLE user_sessions ALTER COLUMN id TYPE varchar(64)")""",
        ["SQL ALTER COLUMN TYPE"],
    ),
    "SQL SET DATA TYPE": (
        """def upgrade():\n    op.execute("alter table messages alter latency_ms set data type integer")""",
        ["SQL ALTER COLUMN TYPE"],
    ),
    "SQL SET NOT NULL": (
        """def upgrade():\n    op.execute("ALTER TABLE messages ALTER COLUMN page SET NOT NULL")""",
        ["SQL SET NOT NULL"],
    ),
    "SQL DROP TABLE on a connection": (
        """
def upgrade():
    bind = op.get_bind()
    bind.execute(sa.text("DROP TABLE IF EXISTS index_jobs"))
""",
        ["SQL DROP TABLE"],
    ),
    "SQL DROP INDEX in a name": (
        """SQL = "DROP INDEX ix_messages_page_created"\n\ndef upgrade():\n    op.execute(SQL)""",
        ["SQL DROP INDEX"],
    ),
    "SQL in an f-string": (
        """def upgrade():\n    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {name}")""",
        ["SQL DROP COLUMN"],
    ),
    "SQL concatenated, from a loop": (
        """
STATEMENTS = ["UPDATE messages SET page = NULL", "ALTER TABLE messages " + "DROP CONSTRAINT fk_messages_session_id_user_sessions"]

def upgrade():
    for statement in STATEMENTS:
        op.execute(statement)
""",
        ["SQL DROP CONSTRAINT"],
    ),
    "SQL in a helper upgrade() calls": (
        """def _sql(statement):\n    op.execute(sa.text(statement))\n\ndef upgrade():\n    _sql("x")""",
        ["text(statement): SQL the check cannot read"],
    ),
    "SQL ADD COLUMN NOT NULL": (
        """def upgrade():\n    op.execute("ALTER TABLE messages ADD COLUMN kind varchar(8) NOT NULL, ADD COLUMN n numeric(10, 2) NULL")""",
        ["SQL ADD COLUMN NOT NULL without DEFAULT"],
    ),
    "SQL unique index and constraint": (
        """
def upgrade():
    op.execute("CREATE UNIQUE INDEX ix_messages_page ON messages (page)")
    op.execute("ALTER TABLE feedback ADD CONSTRAINT uq_feedback_message UNIQUE (message_id)")
""",
        ["SQL CREATE UNIQUE INDEX", "SQL ADD CONSTRAINT"],
    ),
    "SQL TRUNCATE": ("""def upgrade():\n    op.execute("TRUNCATE messages")""", ["SQL TRUNCATE"]),
}
ACCEPTED = {
    "nullable add_column": (
        """def upgrade():\n    op.add_column("messages", sa.Column("page", sa.String(2048), nullable=True))\n    op.add_column("messages", sa.Column("note", sa.Text()))"""
    ),
    "add_column NOT NULL with a server default": (
        """
def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("route", sa.String(16), nullable=False, server_default="book"))
        batch.add_column(sa.Column("degraded", sa.Boolean(), nullable=False, server_default=sa.false()))
"""
    ),
    "create_table": (
        """
def upgrade():
    op.create_table(
        "index_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("status"),
    )
"""
    ),
    "non-unique create_index": (
        """
def upgrade():
    op.create_index("ix_messages_page", "messages", ["page"])
    with op.batch_alter_table("messages") as batch:
        batch.create_index(batch.f("ix_messages_route"), ["route"], unique=False)
"""
    ),
    "a backfill, and a NOT NULL column with a default in SQL": (
        """
PAGE_CHARS = 300

def upgrade():
    op.execute(f"UPDATE messages SET page = substr(page, 1, {PAGE_CHARS}) WHERE length(page) > {PAGE_CHARS}")
    op.execute(sa.table("messages", sa.column("rating")).update().values(rating=None))
    op.execute("ALTER TABLE messages ADD COLUMN kind varchar(8) NOT NULL DEFAULT 'a, b', ALTER COLUMN page DROP NOT NULL")
"""
    ),
    "what only downgrade() runs": (
        """
def _drop(column):
    op.drop_column("messages", column)

def upgrade():
    op.add_column("messages", sa.Column("page", sa.Text(), nullable=True))

def downgrade():
    _drop("page")
    op.execute("ALTER TABLE messages DROP COLUMN page")
"""
    ),
}


@pytest.mark.parametrize(("source", "expected"), list(REFUSED.values()), ids=list(REFUSED))
def test_the_check_refuses_a_breaking_expand_step(source: str, expected: list[str]) -> None:
    assert [b.operation for b in breaking_operations(source)] == expected


@pytest.mark.parametrize("source", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_the_check_accepts_what_the_previous_release_runs_on(source: str) -> None:
    assert breaking_operations(source) == []


def test_an_unwaived_operation_is_named_by_file_operation_and_line(tmp_path: Path) -> None:
    path = tmp_path / "2026_12_02_1000-a1b2c3d4e5f6_drop_page.py"
    path.write_text(
        """from alembic import op

phase = "expand"
reviewed = {"drop_index": "", "alter_column": "a note left from an earlier draft"}


def _drop() -> None:
    op.drop_column("messages", "page")
    op.drop_index("ix_messages_page_created", table_name="messages")


def upgrade() -> None:
    _drop()


def downgrade() -> None:
    pass
"""
    )
    assert unwaived(path, load(path)) == [
        f"{path.name}, line 8: drop_column",
        f"{path.name}: reviewed['alter_column'] waives nothing upgrade() runs",
        f"{path.name}: reviewed['drop_index'] gives no reason",
    ]


def test_compatible_heads_follow_expand_steps_back() -> None:
    heads = compatible_heads(alembic_head())
    assert heads[0] == alembic_head()
    assert heads[-1] == "5684c229a784"  # every step so far is an expand step: back to the first schema
    assert len(heads) == len(list(VERSIONS.glob("*.py")))


async def test_a_release_serves_on_a_schema_a_newer_release_expanded(pg_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    head = alembic_head()
    engine = create_engine(settings_for(tmp_path, pg_url))
    try:
        assert await schema_state(engine, head) == "current"
        rows = set(await _compat(engine))
        assert rows == set(compatible_heads(head))
        # A newer release ran an expand step: its revision is unknown here, and it lists this head.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": FUTURE})
            await conn.execute(text(f"INSERT INTO {COMPATIBILITY_TABLE} (revision) VALUES (:r)"), {"r": FUTURE})
        assert await schema_state(engine, head) == "ahead_compatible"
        async with running_app(settings_for(tmp_path, pg_url)) as (_, client):
            ready = await client.get("/api/v1/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["services"]["database"] == ready.json()["services"]["database"] | {
                "status": "up",
                "schema": "ahead_compatible",
            }
        # A contract step that dropped what this release uses no longer lists it.
        async with engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {COMPATIBILITY_TABLE} WHERE revision <> :r"), {"r": FUTURE})
        assert await schema_state(engine, head) == "ahead_incompatible"
        async with running_app(settings_for(tmp_path, pg_url)) as (_, client):
            ready = await client.get("/api/v1/health/ready")
            assert ready.status_code == 503
            assert ready.json()["services"]["database"]["status"] == "incompatible"
        # Rolled back by the newer release's own checkout (it has the file): this release is current again.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": head})
        await asyncio.to_thread(command.stamp, alembic_config(pg_url), head)
        assert await schema_state(engine, head) == "current"
        # Behind: the database lacks this release's last step.
        previous = compatible_heads(head)[1]
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), previous)
        assert await schema_state(engine, head) == "behind"
        assert set(await _compat(engine)) == set(compatible_heads(previous))
    finally:
        await engine.dispose()


async def _compat(engine: object) -> list[str]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return list((await conn.execute(text(f"SELECT revision FROM {COMPATIBILITY_TABLE}"))).scalars().all())


async def test_the_embedded_database_ahead_of_this_release_is_left_alone(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    settings = settings_for(tmp_path, url)
    await asyncio.to_thread(migrate_once, settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": FUTURE})
            await conn.execute(text(f"INSERT INTO {COMPATIBILITY_TABLE} (revision) VALUES (:r)"), {"r": FUTURE})
        await asyncio.to_thread(migrate_once, settings)  # a restart of this release: no "Can't locate revision"
        assert await schema_state(engine, alembic_head()) == "ahead_compatible"
    finally:
        await engine.dispose()
