"""Fusing dense and BM25 hits (`fuse`) and capping chunks per source file (`diversify`), on hand-made
hits whose fused scores are worked out here."""

from __future__ import annotations

import pytest

from src.retrieval.fusion import Fused, diversify, fuse
from src.retrieval.passage import Passage
from src.retrieval.store.base import Hit


def hit(cid: str, score: float, source: str = "book.md", **payload: object) -> Hit:
    return Hit(cid, score, {"source_file": source, **payload})


def fused(cid: str, score: float, source: str) -> Fused:
    return Fused(cid, score, score, None, Passage(source_file=source))


def ids(results: list[Fused]) -> list[str]:
    return [f.id for f in results]


# --- weighted (the service's default) ---------------------------------------------------------------------------------

DENSE = [hit("a", 0.9), hit("b", 0.7), hit("c", 0.5)]
SPARSE = [hit("b", 10.0), hit("d", 5.0)]


def test_weighted_adds_bm25_relative_to_the_best_bm25_score() -> None:
    # a: 0.9 + 0;  b: 0.7 + 0.6 * 10/10;  c: 0.5 + 0;  d (not a dense candidate): floor 0.5 + 0.6 * 5/10
    results = fuse(DENSE, SPARSE)
    assert ids(results) == ["b", "a", "d", "c"]
    assert [f.score for f in results] == pytest.approx([1.3, 0.9, 0.8, 0.5])
    assert [f.dense_score for f in results] == [0.7, 0.9, None, 0.5]
    assert [f.sparse_score for f in results] == [10.0, None, 5.0, None]


def test_weighted_gives_a_chunk_missing_from_the_dense_list_the_lowest_dense_candidate_as_floor() -> None:
    dense = [hit("a", 0.8), hit("b", 0.4)]
    without_bm25 = fuse(dense, [hit("s", 2.0)], bm25_weight=0.0)
    # s is no dense candidate: it is ranked with b's cosine (the last, lowest one), not with zero; s ties b, b wins by id.
    assert [(f.id, f.score) for f in without_bm25] == [("a", 0.8), ("b", 0.4), ("s", 0.4)]
    assert without_bm25[-1].dense_score is None  # the floor ranks it; it is not reported as its cosine
    with_bm25 = fuse(dense, [hit("s", 2.0)], bm25_weight=0.5)
    # s: floor 0.4 + 0.5 * 2/2
    assert [(f.id, f.score) for f in with_bm25] == [("s", 0.9), ("a", 0.8), ("b", 0.4)]


def test_weighted_without_dense_candidates_uses_a_zero_floor() -> None:
    results = fuse([], [hit("a", 4.0), hit("b", 2.0)])
    assert ids(results) == ["a", "b"]
    assert [f.score for f in results] == pytest.approx([0.6, 0.3])
    assert [f.dense_score for f in results] == [None, None]


def test_weighted_with_a_zero_best_bm25_score_divides_by_one() -> None:
    results = fuse([hit("b", 0.4)], [hit("a", 0.0)])
    # a: floor 0.4 + 0.6 * 0/1 ties with b: 0.4; the tie goes to the smaller id.
    assert [(f.id, f.score) for f in results] == [("a", 0.4), ("b", 0.4)]


def test_the_bm25_weight_scales_the_keyword_term() -> None:
    results = fuse(DENSE, SPARSE, bm25_weight=0.1)
    # a: 0.9;  b: 0.7 + 0.1;  d: 0.5 + 0.05;  c: 0.5
    assert ids(results) == ["a", "b", "d", "c"]
    assert [f.score for f in results] == pytest.approx([0.9, 0.8, 0.55, 0.5])


def test_ties_are_broken_by_id() -> None:
    results = fuse([hit("z", 0.5), hit("m", 0.5), hit("b", 0.25)], [])
    assert [(f.id, f.score) for f in results] == [("m", 0.5), ("z", 0.5), ("b", 0.25)]


def test_scores_are_rounded_to_six_places() -> None:
    assert fuse([hit("a", 0.123456789)], [])[0].score == 0.123457


def test_the_dense_payload_wins_over_the_sparse_one() -> None:
    results = fuse(
        [hit("b", 0.7, content="from dense")],
        [hit("b", 3.0, content="from sparse"), hit("d", 1.0, content="sparse only")],
    )
    assert {f.id: f.passage.content for f in results} == {"b": "from dense", "d": "sparse only"}


# --- rrf, dense, sparse (kept for bench/) -----------------------------------------------------------------------------


def test_rrf_sums_half_reciprocal_ranks_of_both_lists() -> None:
    dense = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)]
    sparse = [hit("c", 9.0), hit("d", 8.0)]
    results = fuse(dense, sparse, "rrf")
    # c: 0.5/63 + 0.5/61;  a: 0.5/61;  b: 0.5/62 ties with d: 0.5/62 (b first by id)
    assert ids(results) == ["c", "a", "b", "d"]
    assert [f.score for f in results] == [0.016133, 0.008197, 0.008065, 0.008065]
    assert [(f.dense_score, f.sparse_score) for f in results] == [(0.7, 9.0), (0.9, None), (0.8, None), (None, 8.0)]


def test_rrf_k_sets_the_rank_offset() -> None:
    results = fuse([hit("a", 0.9), hit("b", 0.8)], [hit("b", 1.0)], "rrf", rrf_k=0)
    # b: 0.5/2 + 0.5/1;  a: 0.5/1
    assert [(f.id, f.score) for f in results] == [("b", 0.75), ("a", 0.5)]


def test_dense_ranks_by_cosine_alone_and_leaves_out_sparse_only_chunks() -> None:
    results = fuse([hit("a", 0.9), hit("b", 0.7)], [hit("b", 3.0), hit("c", 2.0)], "dense")
    assert [(f.id, f.score, f.dense_score, f.sparse_score) for f in results] == [
        ("a", 0.9, 0.9, None),
        ("b", 0.7, 0.7, 3.0),
    ]


def test_sparse_ranks_by_bm25_alone_and_leaves_out_dense_only_chunks() -> None:
    results = fuse([hit("a", 0.9), hit("b", 0.7)], [hit("b", 3.0), hit("c", 2.0)], "sparse")
    assert [(f.id, f.score, f.dense_score, f.sparse_score) for f in results] == [
        ("b", 3.0, 0.7, 3.0),
        ("c", 2.0, None, 2.0),
    ]


# --- diversify ---------------------------------------------------------------------------------------------------------

RANKED = [
    fused("a", 0.9, "one.md"),
    fused("b", 0.8, "one.md"),
    fused("c", 0.7, "one.md"),
    fused("d", 0.6, "two.md"),
    fused("e", 0.5, "one.md"),
    fused("f", 0.4, "three.md"),
]


def test_diversify_caps_chunks_per_source_while_other_sources_are_left() -> None:
    assert ids(diversify(RANKED, 4, 2)) == ["a", "b", "d", "f"]
    assert ids(diversify(RANKED, 3, 1)) == ["a", "d", "f"]


def test_diversify_fills_up_with_the_held_back_chunks_in_score_order() -> None:
    assert ids(diversify(RANKED, 5, 2)) == ["a", "b", "d", "f", "c"]
    assert ids(diversify(RANKED, 10, 2)) == ["a", "b", "d", "f", "c", "e"]
    assert ids(diversify(RANKED, 5, 1)) == ["a", "d", "f", "b", "c"]


def test_diversify_on_one_source_still_returns_k_chunks() -> None:
    one_file = [f for f in RANKED if f.passage.source_file == "one.md"]
    assert ids(diversify(one_file, 3, 2)) == ["a", "b", "c"]


def test_diversify_without_a_cap_is_the_first_k() -> None:
    assert diversify(RANKED, 3, 0) == RANKED[:3]
    assert diversify(RANKED, 3, -1) == RANKED[:3]


def test_diversify_counts_chunks_without_a_source_file_as_one_source() -> None:
    nameless = [Fused("x", 0.9, 0.9, None, Passage()), Fused("y", 0.8, 0.8, None, Passage()), fused("z", 0.7, "one.md")]
    assert ids(diversify(nameless, 2, 1)) == ["x", "z"]
