"""Fusion rules (rag/fusion.py) and the rare-name rule (rag/names.py) in retrieval."""

from __future__ import annotations

import pytest

import rag
from rag.fusion import convex, fuse, rrf
from rag.names import named_terms, title_name

STEP = "STEP: Learning N:M Structured Sparsity Masks from Scratch with Precondition"


def test_rrf_with_k60_is_the_old_ranking_and_small_k_keeps_a_confident_first_hit():
    dense = [(p, 0.9 - i / 100) for i, p in enumerate("bcdefghijk")]
    sparse = [("a", 9.0)] + [(p, 8.0 - i / 10) for i, p in enumerate("cbdefghijk")]
    k60 = rrf([dense, sparse], 60)
    assert max(k60, key=k60.get) in {"b", "c"}  # ranked well by both beats a first place
    assert k60["a"] < k60["d"]
    k1 = rrf([dense, sparse], 1)
    assert k1["a"] > k1["d"]  # with a small cushion, first place in one list counts


def test_convex_divides_each_list_by_its_best_score():
    scores = convex([("a", 0.8), ("b", 0.4)], [("b", 20.0), ("c", 10.0)], dense_weight=0.5)
    assert scores == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.25})
    assert convex([], [("c", 3.0)], 0.5) == {"c": 1.0}


def test_named_papers_come_first_even_when_neither_list_has_them():
    dense, sparse = [("a", 0.9), ("b", 0.8)], [("b", 5.0), ("a", 1.0)]
    order = [p for p, _ in fuse(dense, sparse, method="rrf", rrf_k=60, dense_weight=0.5,
                                first=["a", "z"])]
    assert order == ["a", "z", "b"]
    with pytest.raises(ValueError):
        fuse(dense, sparse, method="magic", rrf_k=60, dense_weight=0.5)


@pytest.mark.parametrize("title,name", [
    (STEP, "STEP"), ("Chameleon: Plug-and-Play Compositional Reasoning", "Chameleon"),
    ("A-STAR: Test-time Attention Segregation", "A-STAR"),
    ("Deep learning for brain tumor segmentation: a survey of methods", None),
    ("What Regularized Auto-Encoders Learn from the Data Generating Distribution", None),
    ("on the difficulty: lowercase words are not a name", None),
])
def test_title_name(title, name):
    assert title_name(title) == name


def test_named_terms():
    assert named_terms("How many datasets was MLTI evaluated on?") == {"MLTI"}
    assert named_terms("What is meta-learning, and Which paper?") == set()


def test_a_name_found_in_one_paper_puts_that_paper_first(fake_settings):
    """"STEP" is a common English word to both retrievers; the title's name is decisive."""
    top = rag.retrieve("What does STEP achieve?", k=5)
    assert top[0].title == STEP
    plain = rag.retrieve("What does STEP achieve?", k=5,
                         settings=fake_settings.with_overrides(name_first=False))
    assert [s.title for s in plain] != [s.title for s in top]


def test_a_name_in_several_papers_is_not_pinned(fake_settings):
    from rag.retrieval import candidates, papers_with

    assert len(papers_with("MAML", fake_settings)) >= 2
    assert candidates("What accuracy does MAML reach?", fake_settings).named == []


def test_filled_lists_score_each_paper_with_the_retriever_that_missed_it():
    """BM25 ranks "a" first; dense cut it off just past its candidates although its cosine is
    the second best. Unfilled, RRF reads that as dense never having seen "a" and papers
    ranked medium by both win; filled, "a" gets its real cosine and comes first."""
    from rag.retrieval import Candidates

    dense = [("b", 0.90), ("c", 0.89), ("d", 0.88), ("e", 0.87), ("f", 0.86)]
    sparse = [("a", 12.0), ("d", 6.0), ("e", 5.0), ("f", 4.0)]
    c = Candidates(dense, sparse, [], dense_fill={"a": 0.895}, sparse_fill={"b": 0.0, "c": 0.0})
    assert c.lists(False) == (dense, sparse)
    d, s = c.lists(True)
    assert [p for p, _ in d] == ["b", "a", "c", "d", "e", "f"]
    assert [p for p, _ in s] == ["a", "d", "e", "f"]  # no query term in b, c: not BM25 hits
    plain = [p for p, _ in fuse(*c.lists(False), method="rrf", rrf_k=10, dense_weight=0.5)]
    filled = [p for p, _ in fuse(*c.lists(True), method="rrf", rrf_k=10, dense_weight=0.5)]
    assert plain[:3] == ["d", "e", "f"] and plain.index("a") >= 3
    assert filled[0] == "a"


def test_candidates_are_filled_from_the_index(fake_settings):
    """Every candidate paper has both scores: the dense cosine of its best chunk and the BM25
    score of its best chunk, computed exactly as each retriever scores the ones it returns."""
    from rag.index_view import get_index
    from rag.retrieval import candidates

    c = candidates("task interpolation for meta-learning with few tasks", fake_settings)
    dense, sparse = dict(c.dense), dict(c.sparse)
    assert not c.named
    assert set(c.dense_fill) == set(sparse) - set(dense)
    assert set(c.sparse_fill) == set(dense) - set(sparse)
    # A paper a name singles out is scored like the others even when neither list has it,
    # so the pinned first source shows a real fused score, not 0.
    few = fake_settings.with_overrides(candidates=5)  # lists too short to reach it
    named = candidates("What does STEP achieve?", few)
    (step,) = named.named
    assert step not in dict(named.dense) and step not in dict(named.sparse)
    assert step in named.dense_fill and step in named.sparse_fill
    top = rag.retrieve("What does STEP achieve?", k=1, settings=few)[0]
    assert top.title == STEP and top.score > 0
    idx = get_index(fake_settings)
    bm = idx.bm25_scores("task interpolation for meta-learning with few tasks",
                         fake_settings.phrase_match)
    for p, v in c.sparse_fill.items():
        assert v == max((bm.get(ch, 0.0) for ch in idx.chunks_of[p]), default=0.0)
    assert all(-1.0 <= v <= 1.0 for v in c.dense_fill.values())


def test_bm25_scores_match_the_llama_index_retriever(fake_settings):
    """The query path's bm25s index gives the chunks and scores llama-index's BM25Retriever
    gives over the same chunks (which the query path no longer imports)."""
    import Stemmer
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    from rag.index_view import get_index
    from rag.retrieval import _bm25

    idx = get_index(fake_settings)
    nodes = [TextNode(id_=c.id, text=c.text, metadata={"title": c.title})
             for c in idx.chunks.values()]
    ref = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=fake_settings.candidates,
                                      stemmer=Stemmer.Stemmer("english"), language="english")
    for q in ("gradient clipping threshold chosen automatically", "MLTI", "What does STEP do?"):
        ours = _bm25(idx.bm25_scores(q), fake_settings.candidates)
        theirs = [(n.node.node_id, float(n.score)) for n in ref.retrieve(q) if n.score > 0]
        assert ours and {c for c, _ in ours} == {c for c, _ in theirs}
        assert dict(ours) == pytest.approx(dict(theirs), rel=1e-6)


def test_dense_search_is_exact_and_agrees_with_chroma(fake_settings):
    """The in-memory search scores every chunk (rag/chunk_vectors.py); on a collection this
    small Chroma's HNSW finds the same ten, with the same cosines."""
    import numpy as np

    from rag.embeddings import get_embedder
    from rag.index_view import get_index
    from rag.retrieval import _dense

    idx = get_index(fake_settings)
    assert idx.vectors().complete
    qvec = get_embedder(fake_settings).get_query_embedding("consistency models")
    hits = _dense(idx, qvec, 10)
    got = idx.coll.get(include=["embeddings"])
    every = dict(zip(got["ids"], (np.asarray(got["embeddings"], dtype=np.float32)
                                  @ np.asarray(qvec, dtype=np.float32)).tolist()))
    assert [c for c, _ in hits] == sorted(every, key=lambda c: (-every[c], c))[:10]
    res = idx.coll.query(query_embeddings=[qvec], n_results=10, include=["distances"])
    assert dict(hits) == pytest.approx({c: 1 - d for c, d in zip(res["ids"][0],
                                                                   res["distances"][0])},
                                       abs=1e-4)
    mine = idx.cosines(np.asarray(qvec, dtype=np.float32), [c for c, _ in hits])
    assert mine == pytest.approx(dict(hits), abs=1e-6)


def test_dense_search_uses_hnsw_when_the_collection_is_too_big_to_hold(fake_settings,
                                                                        monkeypatch):
    """Past SAMPLE_PAPERS only a sample is in memory: the search goes to Chroma, and the
    cosines of chunks outside the sample are fetched."""
    import numpy as np

    from rag import chunk_vectors
    from rag.embeddings import get_embedder
    from rag.index_view import clear_cache, get_index
    from rag.retrieval import _dense

    monkeypatch.setattr(chunk_vectors, "SAMPLE_PAPERS", 2)
    clear_cache()
    idx = get_index(fake_settings)
    held = idx.vectors()
    assert not held.complete and 0 < len(held.ids) < len(idx.chunks)
    qvec = get_embedder(fake_settings).get_query_embedding("consistency models")
    hits = _dense(idx, qvec, 10)
    res = idx.coll.query(query_embeddings=[qvec], n_results=10, include=["distances"])
    assert [c for c, _ in hits] == res["ids"][0]
    assert idx.cosines(np.asarray(qvec, dtype=np.float32), [c for c, _ in hits]) == \
        pytest.approx(dict(hits), abs=1e-4)


def test_equal_scores_come_out_in_the_same_order_whatever_order_chroma_returns():
    """The rows are sorted by chunk id, so ties (duplicate chunks, or a query orthogonal to
    several) are broken the same way in every process."""
    import numpy as np

    from rag.chunk_vectors import ChunkVectors

    vecs = {"c": [1.0, 0.0], "a": [1.0, 0.0], "b": [0.0, 1.0], "d": [1.0, 0.0]}

    class Coll:
        def __init__(self, order):
            self.order = order

        def get(self, ids, include):
            return {"ids": self.order, "embeddings": np.asarray([vecs[i] for i in self.order])}

    paper_of = {c: "p" + c for c in vecs}
    q = np.asarray([1.0, 0.0], dtype=np.float32)
    for order in (["c", "a", "b", "d"], ["d", "b", "c", "a"]):
        held = ChunkVectors(Coll(order), paper_of)
        assert held.complete
        assert held.nearest(q, 4) == [("a", 1.0), ("c", 1.0), ("d", 1.0), ("b", 0.0)]


def test_rrf_gives_tied_scores_the_same_rank():
    """BM25 cannot tell b, c and a apart (one common word matched): dense decides."""
    dense = [("c", 0.9), ("b", 0.5), ("a", 0.4)]
    sparse = [("a", 1.2), ("b", 1.2), ("c", 1.2)]
    fused = rrf([dense, sparse], 10)
    assert max(fused, key=fused.get) == "c"
    assert fused["a"] - 1 / 13 == pytest.approx(fused["b"] - 1 / 12) == pytest.approx(1 / 11)


def test_the_retrieval_bench_times_both_dense_paths(fake_settings):
    """`rag eval --retrieval` reports exact search beside HNSW, and how often their
    candidates differ; `dense_searcher` gives either path."""
    from eval.retrieval_bench import dense_step
    from rag.embeddings import get_embedder
    from rag.retrieval import dense_searcher

    got = dense_step(["consistency models", "learned optimizers"], fake_settings, rounds=1)
    assert got["questions"] == 2 and 0 <= got["other_candidates"] <= 2
    assert got["exact"]["p50"] > 0 and got["hnsw"]["p50"] > 0
    v = get_embedder(fake_settings).get_query_embedding("consistency models")
    exact = dense_searcher(fake_settings)(v, 5)
    hnsw = dense_searcher(fake_settings, hnsw=True)(v, 5)
    assert [c for c, _ in exact] == [c for c, _ in hnsw]
    assert dict(exact) == pytest.approx(dict(hnsw), abs=1e-4)
