"""Structured logs: JSON lines to stderr and to a rotating `logs/app.log`.

Security events use literal names operators grep for: AUTHENTICATION_FAILURE,
INPUT_VALIDATION_FAILURE, RATE_LIMIT_EXCEEDED. Secrets never reach a log line:
`redact` drops known secret keys and masks bearer tokens and DSN passwords.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog
from concurrent_log_handler import ConcurrentRotatingFileHandler

SECRET_KEYS = {"authorization", "api_key", "indexing_api_key", "password", "qdrant_api_key", "llm_api_key", "token"}
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _BEARER.sub(r"\1[redacted]", _DSN_PASSWORD.sub(r"\1[redacted]\3", value))
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def add_pid(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The process id: under gunicorn, which worker wrote the line (they all write one app.log)."""
    event_dict.setdefault("pid", os.getpid())
    return event_dict


_configured = False
_installed: list[logging.Handler] = []  # the handlers this module added to the root logger


def configure_logging(
    level: str = "INFO",
    log_dir: Path | None = Path("logs"),
    json_lines: bool = True,
    max_bytes: int = 20 * 1024 * 1024,
    backups: int = 5,
) -> None:
    """Route structlog and the stdlib loggers through one JSON formatter. Safe to call twice.

    logs/app.log is shared by every process that logs: gunicorn's workers, and the CLI beside a
    running server. Its handler takes a file lock for each write and for rotation, so no process
    rotates the file under another's feet and no line is lost (tests/reliability/test_log_rotation.py)."""
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        # Redact again after the traceback is rendered: an exception's text may carry a DSN or a token.
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            ConcurrentRotatingFileHandler(
                str(log_dir / "app.log"), maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler in _installed:
            root.removeHandler(handler)
            handler.close()
    _installed.clear()
    for handler in handlers:
        handler.setFormatter(formatter)
        _installed.append(handler)
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Access lines are replaced by our own request log, which carries the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not _configured:
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
