""".env.example documents every variable the service reads, each with a comment and its default, and nothing else.

Format: `NAME=value` is active and holds the default; `# NAME=value` is unset by default (an example value);
any other `#` line is prose. Each variable is preceded by a prose comment.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import gunicorn.config
import pytest
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from src.kit.settings import Settings
from tests.conftest import REPO

EXAMPLE = REPO / ".env.example"
VARIABLE = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
# Read outside Settings, from the process environment: by prometheus_client (src/kit/metrics.py, gunicorn.conf.py)
# and by gunicorn itself (its default number of workers).
OUTSIDE_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR": [REPO / "src" / "kit" / "metrics.py", REPO / "gunicorn.conf.py"],
    "WEB_CONCURRENCY": [Path(inspect.getfile(gunicorn.config))],
    "RAG_ENV_FILE": [REPO / "gunicorn.conf.py", REPO / "scripts" / "backup.sh"],
}


def env_names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    return [name.upper()]


FIELD_OF = {env: name for name, field in Settings.model_fields.items() for env in env_names(name, field)}


def parse() -> list[tuple[int, str, bool, str]]:
    """(line number, name, active, value) of every variable line."""
    found = []
    for number, line in enumerate(EXAMPLE.read_text().splitlines(), 1):
        match = VARIABLE.match(line.strip())
        if match:
            found.append((number, match["name"], not match["commented"], match["value"]))
    return found


def test_every_setting_is_documented() -> None:
    names = {name for _, name, _, _ in parse()}
    missing = sorted(env for env in FIELD_OF if env not in names)
    assert not missing, f"Settings fields missing from .env.example: {missing}"


def test_nothing_unknown_and_nothing_twice() -> None:
    names = [name for _, name, _, _ in parse()]
    unknown = sorted(set(names) - set(FIELD_OF) - set(OUTSIDE_SETTINGS))
    assert not unknown, f".env.example names variables nothing reads: {unknown}"
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"listed twice: {twice}"


@pytest.mark.parametrize("name", sorted(OUTSIDE_SETTINGS))
def test_variables_outside_settings_are_really_read(name: str) -> None:
    for path in OUTSIDE_SETTINGS[name]:
        assert name in path.read_text(), f"{name} is not read in {path}"
    assert name in {n for _, n, _, _ in parse()}


def test_each_variable_has_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for number, name, _, _ in parse():
        above = number - 2
        # Variables of one setting (NEON_DB_URL, DATABASE_URL) may share the comment above the first.
        while (
            above >= 0
            and (m := VARIABLE.match(lines[above].strip()))
            and FIELD_OF.get(m["name"], m["name"]) == FIELD_OF.get(name, name)
        ):
            above -= 1
        prose = lines[above].strip() if above >= 0 else ""
        assert prose.startswith("# ") and len(prose) > 10 and not VARIABLE.match(prose), (
            f"line {number} ({name}) has no comment above it"
        )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the environment: only the file speaks."""
    import os

    for key in list(os.environ):
        if key.upper() in FIELD_OF:
            monkeypatch.delenv(key)


def plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_active_values_are_the_defaults_and_commented_ones_are_unset(clean_env: None) -> None:
    loaded = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    active = {FIELD_OF[name] for _, name, is_active, _ in parse() if is_active and name in FIELD_OF}
    for field in Settings.model_fields:
        if field in active:
            assert plain(getattr(loaded, field)) == plain(getattr(defaults, field)), (
                f"{field}: .env.example does not hold the default"
            )
        else:
            assert getattr(defaults, field) in (None, [], ""), (
                f"{field} has a default ({getattr(defaults, field)!r}): give it an active line"
            )
            assert getattr(loaded, field) == getattr(defaults, field)


def test_commented_examples_are_valid_values(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for _, name, is_active, value in parse():
        if not is_active and value and name in FIELD_OF:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.vector_store_kind == "qdrant"
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url


def test_a_hosted_models_budgets_follow_the_provider_unless_set(clean_env: None) -> None:
    hosted = Settings(_env_file=None, llm_provider="openai")  # type: ignore[call-arg]
    assert (hosted.model_context_tokens, hosted.model_max_tokens) == (3000, 600)
    local = Settings(_env_file=None, llm_provider="local")  # type: ignore[call-arg]
    assert (local.model_context_tokens, local.model_max_tokens) == (700, 200)
    chosen = Settings(_env_file=None, llm_provider="openai", llm_context_tokens=900)  # type: ignore[call-arg]
    assert (chosen.model_context_tokens, chosen.model_max_tokens) == (900, 600)
