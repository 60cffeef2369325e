"""What every provider offers, and the one error they raise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class ProviderError(Exception):
    """The model could not answer (unreachable, refused the request, returned an error)."""


class Provider(Protocol):
    name: str

    def generate(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        """The model's reply to `messages`, piece by piece. Raises ProviderError."""
        ...

    async def close(self) -> None: ...
