"""The embedding stored with a turn (the question as it was searched): float16, 384 values, 768 bytes.
The author's reports group unanswered questions by it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DIMENSIONS = 384


def to_bytes(vector: npt.NDArray[np.float32] | list[float]) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_bytes(blob: bytes | None) -> npt.NDArray[np.float32] | None:
    if not blob or len(blob) != DIMENSIONS * 2:
        return None
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def stack(blobs: list[bytes | None]) -> tuple[list[int], npt.NDArray[np.float32]]:
    """The stored embeddings that read, as one matrix, and the positions of their rows in `blobs`."""
    kept = [i for i, b in enumerate(blobs) if b and len(b) == DIMENSIONS * 2]
    joined = b"".join(blobs[i] or b"" for i in kept)
    return kept, np.frombuffer(joined, dtype=np.float16).reshape(len(kept), DIMENSIONS).astype(np.float32)
