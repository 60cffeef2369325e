"""Any OpenAI-compatible chat endpoint (OpenAI, Gemini, Groq, Ollama, vLLM, llama.cpp's server),
streamed through the `openai` client. The caller owns the deadline; the client never retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import openai
from openai import AsyncOpenAI

from src.answering.providers.base import ProviderError
from src.kit.settings import Settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam


class OpenAICompatible:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.llm_model
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        # The answer's deadline is enforced by the caller; this timeout only bounds a stuck connection.
        self.client = AsyncOpenAI(
            base_url=settings.llm_base_url or None,
            api_key=key,
            timeout=max(5.0, settings.answer_timeout_seconds * 2),
            max_retries=0,
        )

    async def generate(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        try:
            stream = await self.client.chat.completions.create(
                model=self.model,
                messages=cast(
                    "list[ChatCompletionMessageParam]", messages
                ),  # role/content dicts, as the API takes them
                max_tokens=max_tokens,
                temperature=0.0,
                stream=True,
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise ProviderError(f"{type(exc).__name__}: {getattr(exc, 'status_code', '') or ''}".strip(": ")) from exc

    async def close(self) -> None:
        await self.client.close()
