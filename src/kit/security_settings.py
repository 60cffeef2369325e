"""The security settings (part of `Settings`, kit/settings.py): who may call, and how much."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from src.kit.request_context import TrustedProxies, parse_networks


class SecuritySettings(BaseSettings):
    """Indexing keys, request sizes, proxies and blocked clients, the failed-key throttle and the rate limits.
    Whether the keys are strong is checked in `Settings`, which knows the environment."""

    indexing_api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_index_content_chars: int = Field(default=1_000_000, ge=1)
    trust_forwarded_for: bool = Field(default=False, description="Kept for compatibility: true means TRUSTED_PROXIES=1")
    cors_origins: list[str] = Field(default_factory=list)
    # Named indexing keys, rotation and reload (security/keys.py, security/access.py).
    indexing_api_keys: SecretStr | None = Field(
        default=None, description="name:key pairs, comma-separated; INDEXING_API_KEY is the key named 'default'"
    )
    indexing_api_keys_file: Path | None = Field(
        default=None, description="name:key lines, re-read when the file changes"
    )
    # Which X-Forwarded-For hop is the client (kit/request_context.py): a count of proxies, or their CIDRs.
    trusted_proxies: str | None = None
    blocked_clients: str = Field(
        default="", description="CIDRs refused with 403, comma-separated; reloaded with the keys"
    )
    blocked_clients_file: Path | None = Field(
        default=None, description="CIDRs refused with 403, one a line, re-read when the file changes"
    )
    auth_failure_limit: int = Field(
        default=10, ge=0, le=10_000, description="Failed key attempts per client in a window before 429 (0: off)"
    )
    auth_failure_window_seconds: int = Field(default=60, ge=1, le=86_400)

    # Rate limits, per client.
    rate_limit_requests_per_minute: int = Field(default=60, ge=0)
    rate_limit_tokens_per_minute: int = Field(default=40_000, ge=0)
    rate_limit_concurrent_requests: int = Field(default=10, ge=0)
    # Limits and the failed-key throttle count an IPv6 client by its network of this many bits (128: the exact address).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # Answers (/answer, /answer/stream) in flight in one worker, all clients together; past it 503 (0: no cap).
    answers_max_in_flight: int = Field(default=32, ge=0, le=10_000)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str | None) -> str | None:
        TrustedProxies.parse(value)
        return value

    @field_validator("blocked_clients")
    @classmethod
    def _blocked_parse(cls, value: str) -> str:
        parse_networks(value, "BLOCKED_CLIENTS")
        return value
