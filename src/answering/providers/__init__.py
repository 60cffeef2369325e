"""Language-model providers behind one interface: `generate(messages)` yields text as it comes."""

from __future__ import annotations

from src.answering.providers.base import Provider, ProviderError
from src.kit.settings import Settings

__all__ = ["Provider", "ProviderError", "build_provider"]


def build_provider(settings: Settings) -> Provider | None:
    """The configured model, or None for the extractive answerer (no model at all)."""
    if settings.llm_provider == "openai":
        from src.answering.providers.openai_compat import OpenAICompatible

        return OpenAICompatible(settings)
    if settings.llm_provider == "local":
        from src.answering.providers.local import LocalLlama

        return LocalLlama(settings)
    return None
