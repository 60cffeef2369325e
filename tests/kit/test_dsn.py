"""The DSN conversions of src/kit/db.py, each case by hand: the service's DATABASE_URL as operators paste it
(postgres://, postgresql://, a Neon URL with sslmode and channel_binding, sqlite://) made the engine's; the
engine's URL made libpq's for psql and back (`ssl` <-> `sslmode`); and a password with special characters kept
as it was written, percent-escapes and all."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import make_url

from src.kit.db import asyncpg_url, engine_dsn, libpq_url, sqlite_url, with_database
from tests.conftest import make_settings

# user `us@er`, password `p@ss:w/rd%x#y?z`, percent-escaped as an operator must write them.
ESCAPED_USER, ESCAPED_PASSWORD = "us%40er", "p%40ss%3Aw%2Frd%25x%23y%3Fz"
USER, PASSWORD = "us@er", "p@ss:w/rd%x#y?z"
CREDENTIALS = f"{ESCAPED_USER}:{ESCAPED_PASSWORD}"


@pytest.mark.parametrize(
    ("pasted", "engine"),
    [
        ("postgres://app:pw@db.example:5432/rag", "postgresql+asyncpg://app:pw@db.example:5432/rag"),
        ("postgresql://app:pw@db.example/rag", "postgresql+asyncpg://app:pw@db.example/rag"),
        ("postgresql+psycopg2://app:pw@db.example/rag", "postgresql+asyncpg://app:pw@db.example/rag"),
        ("postgresql+psycopg://app:pw@db.example/rag", "postgresql+asyncpg://app:pw@db.example/rag"),
        (
            "postgresql+asyncpg://app:pw@db.example/rag?ssl=require",
            "postgresql+asyncpg://app:pw@db.example/rag?ssl=require",
        ),
        # Neon's URL: asyncpg takes `ssl`, and no channel_binding.
        (
            "postgresql://app:pw@ep-x.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://app:pw@ep-x.eu-central-1.aws.neon.tech/neondb?ssl=require",
        ),
        (
            "postgresql+asyncpg://app:pw@db.example/rag?sslmode=verify-full",
            "postgresql+asyncpg://app:pw@db.example/rag?ssl=verify-full",
        ),
        ("sqlite:///data/app.db", "sqlite+aiosqlite:///data/app.db"),
        ("sqlite+aiosqlite:////srv/rag/app.db", "sqlite+aiosqlite:////srv/rag/app.db"),
        # Special characters: the text is kept as written, not parsed and rendered again.
        (
            f"postgres://{CREDENTIALS}@db.example/rag?application_name=rag%20backend",
            f"postgresql+asyncpg://{CREDENTIALS}@db.example/rag?application_name=rag%20backend",
        ),
    ],
)
def test_the_service_url_is_the_async_drivers(pasted: str, engine: str, tmp_path: Path) -> None:
    assert engine_dsn(pasted) == engine
    assert make_settings(tmp_path, database_url=pasted).database_url == engine, "the settings convert through it"


def test_a_password_with_special_characters_reaches_the_engine_as_written(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=f"postgres://{CREDENTIALS}@db.example:6543/rag")
    parsed = make_url(settings.sqlalchemy_url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        USER,
        PASSWORD,
        "db.example",
        6543,
        "rag",
    )


def test_no_database_url_is_the_sqlite_database_under_data_dir(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="")
    assert settings.database_url is None
    assert settings.sqlalchemy_url == sqlite_url((tmp_path / "data" / "app.db").resolve())
    assert sqlite_url(Path("/srv/rag data/app.db")) == "sqlite+aiosqlite:////srv/rag data/app.db"


@pytest.mark.parametrize(
    ("url", "libpq"),
    [
        (
            "postgresql+asyncpg://app:pw@db.example:5432/rag?ssl=require",
            "postgresql://app:pw@db.example:5432/rag?sslmode=require",
        ),
        ("postgresql+psycopg://app@db.example/rag", "postgresql://app@db.example/rag"),
        ("postgresql://app@db.example/rag?sslmode=disable", "postgresql://app@db.example/rag?sslmode=disable"),
        # Other parameters stay (in the order SQLAlchemy renders them: by name).
        (
            "postgresql+asyncpg://app@db.example/rag?ssl=require&application_name=rag",
            "postgresql://app@db.example/rag?application_name=rag&sslmode=require",
        ),
        (
            f"postgresql+asyncpg://{CREDENTIALS}@db.example/rag?ssl=require",
            f"postgresql://{CREDENTIALS}@db.example/rag?sslmode=require",
        ),
    ],
)
def test_psql_gets_a_libpq_url(url: str, libpq: str) -> None:
    assert libpq_url(url) == libpq


def test_libpq_reads_the_same_user_and_password_back() -> None:
    """libpq percent-decodes the user and password of a URL, as urllib does."""
    split = urlsplit(libpq_url(f"postgresql+asyncpg://{CREDENTIALS}@db.example/rag?ssl=require"))
    assert (unquote(split.username or ""), unquote(split.password or "")) == (USER, PASSWORD)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///data/app.db", "mysql://app@db.example/rag"])
def test_a_libpq_url_is_only_made_of_a_postgresql_one(url: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"not a PostgreSQL URL: {make_url(url).drivername}")):
        libpq_url(url)


@pytest.mark.parametrize(
    "engine",
    [
        "postgresql+asyncpg://app:pw@db.example:5432/rag?ssl=require",
        "postgresql+asyncpg://app@db.example/rag",
        f"postgresql+asyncpg://{CREDENTIALS}@db.example/rag?application_name=rag&ssl=verify-full",
    ],
)
def test_the_engines_url_comes_back_from_libpqs(engine: str) -> None:
    assert asyncpg_url(libpq_url(engine)) == engine


def test_another_database_on_the_same_server() -> None:
    server = f"postgresql://{CREDENTIALS}@db.example:5432/postgres?sslmode=require"
    assert with_database(server, "scratch") == f"postgresql://{CREDENTIALS}@db.example:5432/scratch?sslmode=require"
