"""Hybrid retrieval: dense (Chroma, cosine) + BM25 (bm25s, rag/bm25.py), fused per paper.

Why this shape:

* Dense search finds paraphrases; BM25 finds exact names, acronyms and title words that a small
  embedding model blurs ("MLTI", "μLO"). Each misses what the other finds.
* Reciprocal rank fusion (score = Σ 1/(k + rank)) merges the two without calibrating their
  incomparable scores against each other, after each candidate paper has been scored by both
  retrievers (`Candidates.lists`); k and the rule are chosen on the eval's dev split
  (rag/fusion.py).
* Fusion happens at the paper level (a paper's rank in a list is the rank of its best chunk), so
  one paper with three matching chunks does not crowd out others, and each `Source` carries the
  paper's best passages.
* RRF scores are rank-based and say nothing about relevance, so each source also carries the
  best dense cosine similarity of its chunks: that is what the relevance floor reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag import sentences, store
from rag.errors import BadInput
from rag.fusion import fuse
from rag.index_view import IndexView, get_index
from rag.names import absent, named_terms
from rag.query_encoder import get_encoder
from rag.settings import RETRIEVAL_MODES, Settings, get_settings
from rag.types import Source

PASSAGE_RRF_K = 60  # orders a chosen paper's chunks; unchanged since the first release


def _dense(idx: IndexView, qvec: list[float], n: int) -> list[tuple[str, float]]:
    """The ``n`` chunks closest to the query: exact when every vector is held in memory
    (rag/chunk_vectors.py: Chroma's HNSW answer varies between processes), else HNSW."""
    held = idx.vectors()
    if held.complete:
        return held.nearest(np.asarray(qvec, dtype=np.float32), n)
    return _hnsw(idx, qvec, n)


def _hnsw(idx: IndexView, qvec: list[float], n: int) -> list[tuple[str, float]]:
    res = idx.coll.query(
        query_embeddings=[qvec], n_results=min(n, len(idx.chunks)), include=["distances"]
    )
    # Cosine space: distance = 1 - cosine similarity.
    return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]


def _bm25(scores: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` best chunks of `IndexView.bm25_scores`, best first (ties in corpus order, as
    bm25s breaks them)."""
    return sorted(scores.items(), key=lambda kv: -kv[1])[:n]


def _paper_scores(hits: list[tuple[str, float]], idx: IndexView) -> list[tuple[str, float]]:
    """Chunk hits → papers, best first, each with the score of its best chunk."""
    best: dict[str, float] = {}
    for cid, score in hits:
        c = idx.chunks.get(cid)
        if c and c.paper_id not in best:
            best[c.paper_id] = score
    return list(best.items())


@dataclass
class Candidates:
    """What fusion starts from: each retriever's papers (best chunk's score), best first, and
    the papers a name in the question singles out. ``dense_fill`` and ``sparse_fill`` score
    the candidate papers (the other retriever's, and the named ones) this retriever did not
    return (its best chunk's cosine, its best chunk's BM25 score, 0 if no term matches):
    `lists(filled=True)`."""

    dense: list[tuple[str, float]]
    sparse: list[tuple[str, float]]
    named: list[str]
    dense_fill: dict[str, float] = field(default_factory=dict)
    sparse_fill: dict[str, float] = field(default_factory=dict)

    def lists(self, filled: bool) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The two rankings to fuse. Filled, each ranks every candidate paper by its own
        score, so a paper that one retriever ranks 3rd and the other just past its cut-off is
        not scored as if the other had never seen it (what a missing rank means to RRF, and a
        zero to a convex sum). A paper no query term occurs in stays out of the BM25 list."""
        if not filled:
            return self.dense, self.sparse
        dense = sorted([*self.dense, *self.dense_fill.items()], key=lambda kv: -kv[1])
        sparse = sorted([*self.sparse, *((p, v) for p, v in self.sparse_fill.items() if v > 0)],
                        key=lambda kv: -kv[1])
        return dense, sparse


def _candidates(idx: IndexView, question: str, qvec: list[float], n: int, mode: str,
                phrases: bool = False, sentence_vectors: sentences.SentenceVectors | None = None,
                sentence_weight: float = 0.0
                ) -> tuple[Candidates, list[tuple[str, float]], list[tuple[str, float]]]:
    """(candidates, dense chunk hits, BM25 chunk hits) for one query. With sentence vectors
    and a weight, each paper's dense score mixes in its best sentence's cosine
    (`_with_sentences`)."""
    q = np.asarray(qvec, dtype=np.float32)
    dense_hits = _dense(idx, qvec, n) if mode != "bm25" else []
    bm25_all = idx.bm25_scores(question, phrases) if mode != "dense" else {}
    sparse_hits = _bm25(bm25_all, n)
    cands = Candidates(_paper_scores(dense_hits, idx), _paper_scores(sparse_hits, idx),
                       [p for name in sorted(idx.unique_names(question))
                        for p in idx.papers_with(name)])
    if mode == "hybrid":
        in_dense, in_sparse = dict(cands.dense), dict(cands.sparse)
        # A paper a name singles out is a candidate too, even when neither list reached it
        # (STEP: "step" is everywhere): scored like the others, it shows a real score.
        union = list(dict.fromkeys([*in_dense, *in_sparse, *cands.named]))
        cands.dense_fill = _best_cosines(idx, q, [p for p in union if p not in in_dense])
        cands.sparse_fill = _best_bm25(idx, bm25_all, [p for p in union if p not in in_sparse])
    if sentence_vectors is not None and sentence_weight > 0 and mode != "bm25":
        _with_sentences(cands, idx, q, bm25_all, sentence_vectors.best(q, n), sentence_weight)
    return cands, dense_hits, sparse_hits


def _with_sentences(cands: Candidates, idx: IndexView, qvec: np.ndarray,
                    bm25_all: dict[str, float], sent: dict[str, float], weight: float) -> None:
    """Every candidate's dense score becomes (1 - weight) x best chunk cosine + weight x best
    sentence cosine; papers whose best sentence ranks in the first ``len(cands.dense)`` join,
    even with no chunk among the hits (chunk cosine and BM25 score filled in, as for any)."""
    if not sent:
        return
    have = {p for p, _ in cands.dense} | set(cands.dense_fill)
    by_sentence = sorted(sent, key=lambda p: -sent[p])[: len(cands.dense)]
    extra = [p for p in by_sentence if p not in have]
    chunk = {**dict(cands.dense), **_best_cosines(idx, qvec, extra)}
    if bm25_all:
        found = {p for p, _ in cands.sparse}
        cands.sparse_fill.update(_best_bm25(idx, bm25_all, [p for p in extra if p not in found]))

    def mix(p: str, chunk_cos: float) -> float:
        return (1 - weight) * chunk_cos + weight * sent.get(p, chunk_cos)

    cands.dense = sorted(((p, mix(p, v)) for p, v in chunk.items()), key=lambda kv: -kv[1])
    cands.dense_fill = {p: mix(p, v) for p, v in cands.dense_fill.items()}


def _best_cosines(idx: IndexView, q: np.ndarray, papers: list[str]) -> dict[str, float]:
    """Each paper's best chunk cosine to the query (-1 for a paper with no chunk vector)."""
    cos = idx.cosines(q, [cid for p in papers for cid in idx.chunks_of.get(p, [])])
    return {p: max((cos[c] for c in idx.chunks_of.get(p, []) if c in cos), default=-1.0)
            for p in papers}


def _best_bm25(idx: IndexView, bm25_all: dict[str, float], papers: list[str]) -> dict[str, float]:
    """Each paper's best chunk BM25 score (0 when no query term occurs in it)."""
    return {p: max((bm25_all.get(c, 0.0) for c in idx.chunks_of.get(p, [])), default=0.0)
            for p in papers}


def _sentence_args(idx: IndexView, settings: Settings
                   ) -> tuple[sentences.SentenceVectors | None, float]:
    w = settings.sentence_weight
    return idx.sentence_vectors(settings) if w > 0 else None, w


def stored_sentence_vectors(settings: Settings | None = None) -> dict[str, np.ndarray]:
    """Sentence text -> its vector as stored at ingest (empty when not held in memory)."""
    settings = settings or get_settings()
    held = get_index(settings).sentence_vectors(settings)
    return held.by_text if held is not None else {}


def candidates(question: str, settings: Settings | None = None) -> Candidates:
    """Both retrievers' paper rankings for ``question``, unfused (for `rag eval --retrieval`,
    which scores every fusion rule on the same candidates)."""
    settings = settings or get_settings()
    idx = get_index(settings)
    qvec = get_encoder(settings).get_query_embedding(question)
    store.check_dimension(idx.coll, len(qvec))
    return _candidates(idx, question, qvec, settings.candidates, "hybrid",
                       settings.phrase_match, *_sentence_args(idx, settings))[0]


def retrieve(
    question: str,
    k: int | None = None,
    *,
    mode: str | None = None,
    settings: Settings | None = None,
    timings: dict[str, float] | None = None,
) -> list[Source]:
    """The ``k`` most relevant papers for ``question``, best first, each with its best passages."""
    settings = settings or get_settings()
    question = (question or "").strip()
    if not question:
        raise BadInput("The question is empty.")
    k = settings.top_k if k is None else k
    if k < 1:
        raise BadInput(f"k must be at least 1 (got {k}).")
    mode = (mode or settings.retrieval_mode).lower()
    if mode not in RETRIEVAL_MODES:
        raise BadInput(f"Unknown retrieval mode {mode!r}: use hybrid, dense or bm25.")
    t0 = time.perf_counter()
    idx = get_index(settings)
    qvec = get_encoder(settings).get_query_embedding(question)
    store.check_dimension(idx.coll, len(qvec))
    t1 = time.perf_counter()

    cands, dense, sparse = _candidates(idx, question, qvec, settings.candidates, mode,
                                       settings.phrase_match, *_sentence_args(idx, settings))
    ranked = fuse(*cands.lists(settings.fill_scores and mode == "hybrid"),
                  method=settings.fusion if mode == "hybrid" else "rrf", rrf_k=settings.rrf_k,
                  dense_weight=settings.dense_weight,
                  first=cands.named if settings.name_first and mode == "hybrid" else ())
    fused = dict(ranked)
    top = [p for p, _ in ranked[:k]]

    # Passages of the chosen papers, best first: rank chunks by their own fused score (with
    # RRF's usual k: a paper's 2-3 chunks need consensus, not one retriever's first hit).
    chunk_score: dict[str, float] = {}
    for hits in (dense, sparse):
        for rank, (cid, _) in enumerate(hits, start=1):
            chunk_score[cid] = chunk_score.get(cid, 0.0) + 1.0 / (PASSAGE_RRF_K + rank)
    sims = dict(dense)
    by_paper = {pid: [idx.chunks[cid] for cid in idx.chunks_of.get(pid, [])] for pid in top}
    missing = [c.id for cs in by_paper.values() for c in cs if c.id not in sims]
    sims.update(idx.cosines(np.asarray(qvec, dtype=np.float32), missing))

    sources = []
    for number, pid in enumerate(top, start=1):
        chunks = sorted(
            by_paper[pid], key=lambda c: (-chunk_score.get(c.id, 0.0), -sims.get(c.id, -1.0))
        )
        best = chunks[: settings.passages_per_source]
        first = chunks[0]
        sources.append(Source(
            number=number,
            paper_id=pid,
            title=first.title,
            score=round(fused[pid], 6),
            similarity=round(max(sims.get(c.id, -1.0) for c in chunks), 4),
            passages=[c.text for c in sorted(best, key=lambda c: c.chunk_index)],
            abstract=first.abstract,
            listing_date=first.listing_date,
        ))
    if timings is not None:
        timings["embed_query"] = t1 - t0
        timings["retrieve"] = time.perf_counter() - t0
    return sources


def dense_searcher(settings: Settings | None = None, hnsw: bool = False
                   ) -> Callable[[list[float], int], list[tuple[str, float]]]:
    """Search(query vector, n) for the ``n`` closest chunks, as retrieval finds them (exact
    while the index fits in memory) or (``hnsw``) through Chroma's HNSW index, the path past
    that: for `rag eval --retrieval`, which times the two. The index is looked up once, here:
    the lookup (~1.5 ms) costs more than the exact search it would otherwise be timed with."""
    idx = get_index(settings or get_settings())
    return (lambda qvec, n: _hnsw(idx, qvec, n)) if hnsw else (lambda qvec, n: _dense(idx, qvec, n))


def similarity_spread(question: str, settings: Settings | None = None) -> tuple[float, float]:
    """Mean and standard deviation, over the collection's papers, of each paper's best-chunk
    cosine to ``question`` — the background a paper on the asked topic stands out from
    (`Source.similarity` is on the same scale). A cut in standard deviations above the mean
    carries across questions where a share of the best paper's cosine does not: a broad topic
    has many close papers, a narrow one a single close paper and a long flat tail."""
    settings = settings or get_settings()
    idx = get_index(settings)
    held = idx.vectors()
    if len(held.papers) == 0:
        return 0.0, 0.0
    q = np.asarray(get_encoder(settings).get_query_embedding(question), dtype=np.float32)
    best = np.full(int(held.papers.max()) + 1, -np.inf, dtype=np.float32)
    np.maximum.at(best, held.papers, held.scores(q))
    best = best[np.isfinite(best)]
    return float(best.mean()), float(best.std())


def papers_mentioning(name: str, settings: Settings | None = None) -> int:
    """Number of indexed papers whose title or abstract contains ``name`` (a whole word)."""
    return get_index(settings or get_settings()).papers_mentioning(name)


def paper_names(settings: Settings | None = None) -> set[str]:
    """The names the collection's titles give their methods ("VeLO" for "VeLO: Training …")."""
    return get_index(settings or get_settings()).title_names


def papers_writing(phrase: str, settings: Settings | None = None) -> int:
    """Number of indexed papers whose title or abstract writes ``phrase``, loosely (case,
    hyphens and spacing ignored: "few shot" is in "Few-Shot")."""
    return get_index(settings or get_settings()).papers_writing(phrase)


def unique_names(question: str, settings: Settings | None = None) -> set[str]:
    """Names in ``question`` that occur in exactly one indexed paper (see rag/names.py)."""
    return get_index(settings or get_settings()).unique_names(question)


def papers_with(name: str, settings: Settings | None = None) -> frozenset[str]:
    """Ids of the indexed papers whose title or abstract contains ``name`` (a whole word)."""
    return get_index(settings or get_settings()).papers_with(name)


def unknown_names(question: str, settings: Settings | None = None) -> list[str]:
    """Names the question asks about (acronyms, coined words) that no indexed paper contains,
    even loosely: what the question is about is not in this collection."""
    return absent(named_terms(question), get_index(settings or get_settings()).normalised_text)
