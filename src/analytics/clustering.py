"""Grouping questions by meaning, with the embeddings the service already computed when it answered
them (stored with each turn). Greedy by density: the question with the most unclaimed neighbours (cosine
at or above SAME_TOPIC) leads a group of those neighbours; repeat for the next group. Every member is
close to its group's leader, so groups do not chain from one topic into another, and the largest come
first, so only the groups wanted are built. Quadratic in the questions (a few thousand at most, by the
caller): the similarities are one matrix product, computed in blocks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAME_TOPIC = 0.62  # cosine above which two questions ask about the same thing (all-MiniLM-L6-v2)
BLOCK = 1024  # rows of the similarity matrix computed at a time (bounds the float matrix held)


@dataclass(frozen=True)
class Group:
    members: list[int]  # indexes into the input, the most central first
    centroid: npt.NDArray[np.float32]


def _normalised(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = rows / np.clip(norms, 1e-12, None)
    return out


def _neighbours(rows: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.bool_]:
    near = np.empty((len(rows), len(rows)), dtype=np.bool_)
    for start in range(0, len(rows), BLOCK):
        near[start : start + BLOCK] = rows[start : start + BLOCK] @ rows.T >= threshold
    np.fill_diagonal(near, True)
    return near


def group(vectors: npt.NDArray[np.float32], threshold: float = SAME_TOPIC, limit: int | None = None) -> list[Group]:
    """Groups of similar rows, largest first (the `limit` largest; every row is in at most one)."""
    if len(vectors) == 0:
        return []
    rows = _normalised(vectors.astype(np.float32))
    near = _neighbours(rows, threshold)
    free = np.ones(len(rows), dtype=np.bool_)
    counts = near.sum(axis=1)  # each row's unclaimed neighbours (itself included)
    groups: list[Group] = []
    while free.any() and (limit is None or len(groups) < limit):
        leader = int(np.argmax(np.where(free, counts, -1)))
        members = np.flatnonzero(near[leader] & free)
        free[members] = False
        counts -= near[:, members].sum(axis=1)
        centroid = _normalised(rows[members].mean(axis=0, keepdims=True))[0]
        central = members[np.argsort(-(rows[members] @ centroid), kind="stable")]
        groups.append(Group([int(m) for m in central], centroid))
    return groups
