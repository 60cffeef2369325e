"""The service's ranking (`Ranker.rank`): fusion, then an optional reranker over the first candidates,
then at most `per_source` chunks of one file; on hand-made hits whose fused scores are worked out here."""

from __future__ import annotations

import pytest

from src.retrieval.fusion import Fused
from src.retrieval.ranking import Ranker, Reranker
from src.retrieval.store.base import Hit

QUESTION = "how do series elastic actuators work"

# Fused with the defaults (weighted, BM25 at 0.6; floor 0.6, the lowest dense cosine; best BM25 4.0):
#   c 0.7 + 0.6 * 4/4 = 1.3 (one.md), a 0.9 (one.md), b 0.8 (one.md), e 0.6 + 0.6 * 1/4 = 0.75 (three.md), d 0.6 (two.md)
DENSE = [
    Hit("a", 0.9, {"source_file": "one.md", "content": "Humanoid robots walk on two legs."}),
    Hit(
        "b",
        0.8,
        {"source_file": "one.md", "content": "Series elastic actuators put a spring in series with the motor."},
    ),
    Hit("c", 0.7, {"source_file": "one.md", "content": "Actuators drive the joints."}),
    Hit("d", 0.6, {"source_file": "two.md", "content": "Balance needs the Zero Moment Point."}),
]
SPARSE = [
    Hit("c", 4.0, {"source_file": "one.md", "content": "Actuators drive the joints."}),
    Hit("e", 1.0, {"source_file": "three.md", "content": "Elastic elements store energy."}),
]


class QuestionTermReranker:
    """A stand-in for a cross-encoder: orders candidates by how many of the question's words their
    text holds (ties keep the order they came in) and records what each call was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def rerank(self, question: str, candidates: list[Fused]) -> list[Fused]:
        self.calls.append((question, [c.id for c in candidates]))
        words = set(question.lower().split())
        return sorted(candidates, key=lambda c: -len(words & set(c.passage.content.lower().rstrip(".").split())))


def ids(results: list[Fused]) -> list[str]:
    return [f.id for f in results]


def test_default_ranking_is_weighted_fusion_with_two_chunks_per_file() -> None:
    results = Ranker().rank(QUESTION, DENSE, SPARSE, 3)
    assert ids(results) == ["c", "a", "e"]  # b, a third one.md chunk, waits while three.md is left
    assert [f.score for f in results] == pytest.approx([1.3, 0.9, 0.75])
    assert [(f.dense_score, f.sparse_score) for f in results] == [(0.7, 4.0), (0.9, None), (None, 1.0)]


def test_held_back_chunks_fill_up_to_k() -> None:
    assert ids(Ranker().rank(QUESTION, DENSE, SPARSE, 4)) == ["c", "a", "e", "d"]
    assert ids(Ranker().rank(QUESTION, DENSE, SPARSE, 5)) == ["c", "a", "e", "d", "b"]
    assert ids(Ranker().rank(QUESTION, DENSE, SPARSE, 10)) == ["c", "a", "e", "d", "b"]


def test_per_source_sets_the_cap() -> None:
    assert ids(Ranker(per_source=1).rank(QUESTION, DENSE, SPARSE, 3)) == ["c", "e", "d"]
    assert ids(Ranker(per_source=0).rank(QUESTION, DENSE, SPARSE, 3)) == ["c", "a", "b"]


def test_method_and_bm25_weight_are_passed_to_fusion() -> None:
    assert ids(Ranker(method="dense", per_source=0).rank(QUESTION, DENSE, SPARSE, 5)) == ["a", "b", "c", "d"]
    assert ids(Ranker(method="sparse", per_source=0).rank(QUESTION, DENSE, SPARSE, 5)) == ["c", "e"]
    # Without the BM25 term e keeps only the floor, 0.6, and ties d; d wins by id.
    no_bm25 = Ranker(bm25_weight=0.0, per_source=0).rank(QUESTION, DENSE, SPARSE, 5)
    assert [(f.id, f.score) for f in no_bm25] == [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), ("e", 0.6)]
    rrf = Ranker(method="rrf", per_source=0).rank(QUESTION, DENSE, SPARSE, 2)
    assert [(f.id, f.score) for f in rrf] == [
        ("c", 0.016133),
        ("a", 0.008197),
    ]  # c: 0.5/61 + 0.5/63 (first in BM25, third in dense)


def test_a_reranker_reorders_the_first_candidates_before_the_per_file_cap() -> None:
    reranker = QuestionTermReranker()
    plugged: Reranker = reranker
    results = Ranker(reranker=plugged, rerank_candidates=3).rank(QUESTION, DENSE, SPARSE, 2)
    # It is given the question and the fused top max(k, rerank_candidates) = 3, best first, with their payloads.
    assert reranker.calls == [(QUESTION, ["c", "a", "b"])]
    # b holds "series", "elastic", "actuators"; c holds "actuators"; a none of the words.
    assert ids(results) == ["b", "c"]
    assert [f.score for f in results] == pytest.approx([0.8, 1.3])  # reranking reorders, it does not rescore


def test_only_the_reranked_candidates_are_returned() -> None:
    reranker = QuestionTermReranker()
    results = Ranker(reranker=reranker, rerank_candidates=3).rank(QUESTION, DENSE, SPARSE, 5)
    assert reranker.calls == [(QUESTION, ["c", "a", "b", "e", "d"])]  # k = 5 is more than rerank_candidates
    # b (3 words), then c ("actuators") and e ("elastic") in their fused order, then a and d; a is one.md's
    # third chunk, held back behind d.
    assert ids(results) == ["b", "c", "e", "d", "a"]

    narrow = QuestionTermReranker()
    assert ids(Ranker(reranker=narrow, rerank_candidates=2).rank(QUESTION, DENSE, SPARSE, 2)) == ["c", "a"]
    assert narrow.calls == [(QUESTION, ["c", "a"])]  # b, the best match but third after fusion, is never a candidate


def test_without_a_reranker_rerank_candidates_does_not_cut_the_list() -> None:
    assert ids(Ranker(rerank_candidates=1).rank(QUESTION, DENSE, SPARSE, 5)) == ["c", "a", "e", "d", "b"]
