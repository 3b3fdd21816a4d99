"""How the dense and BM25 paper rankings become one: the fusion rules `rag eval --retrieval`
compares.

Why not plain reciprocal rank fusion with k=60 (the RRF paper's value, our old default): with a
60-rank cushion, first place in one list is worth 1/61 and nothing in the other, which loses to
a paper ranked 10th by both (2/70). The two retrievers here are *not* noisy voters on the same
evidence — BM25 is sure when a rare name matches, dense is sure when a paraphrase lands — so a
fusion has to keep each one's confident first hits. The candidates, all measured on the eval's
dev split (`rag eval --retrieval`), are:

* ``rrf``    — Σ 1/(k + rank) with ``RAG_RRF_K`` (60 and unfilled reproduce the old ranking);
* ``convex`` — a weighted sum of per-query normalised scores: dense cosine and BM25 score each
               divided by that list's best, so a retriever whose top hit stands far above the
               rest moves the fused ranking and a flat list does not (the "score-normalised
               convex combination" of Bruch et al., 2023, *An Analysis of Fusion Functions for
               Hybrid Retrieval*, which beats RRF in their experiments when the weight is tuned).

Both rules also suffered from what a candidate list leaves out: a paper BM25 ranks 5th but
dense returns 60th is, to RRF, a paper dense never saw (and to a convex sum, a dense score of
0). So before fusing, every candidate paper is scored by *both* retrievers
(`rag.retrieval.Candidates.lists(filled=True)`, ``RAG_FILL_SCORES``): its best chunk's cosine,
its best chunk's BM25 score. That costs a dot product per missing chunk and nothing for BM25
(bm25s scores every chunk in one pass anyway), and it is what lifted listing recall.

Chosen on the dev split (`rag eval --retrieval`, 2026-12-06, 209 answerable dev items):
filled RRF with k=10 and the name rule — macro recall@5 0.976 against 0.974 for the old RRF
k=60; listing recall@10 0.96 against 0.93, paraphrase recall@5 unchanged (0.95).

Whatever the rule, papers that a rare name in the question singles out (`rag.names`) come
first: an acronym or a title's coined name found in one or two papers is decisive evidence
that neither score expresses well.
"""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[str, float]]  # (paper id, that retriever's score), best first


def rrf(rankings: Sequence[Ranking], k: int) -> dict[str, float]:
    """Σ 1/(k + rank). Papers with the same score share the best rank of their group: a
    retriever that cannot tell them apart (BM25 when only a word every paper has matches)
    must not order them by accident of storage order."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        rank, last = 0, None
        for i, (pid, score) in enumerate(ranking, start=1):
            if score != last:
                rank, last = i, score
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
    return fused


def _normalised(ranking: Ranking) -> dict[str, float]:
    """Scores divided by the list's best, clipped at 0: 1.0 for the top hit, and how close
    the others come to it. (Min-max would map the worst candidate to 0 whatever its score,
    which turns a flat, uninformative list into a steep one.)"""
    if not ranking:
        return {}
    top = max(s for _, s in ranking)
    if top <= 0:
        return {pid: 0.0 for pid, _ in ranking}
    return {pid: max(0.0, s) / top for pid, s in ranking}


def convex(dense: Ranking, sparse: Ranking, dense_weight: float) -> dict[str, float]:
    d, b = _normalised(dense), _normalised(sparse)
    if not b:
        return d
    if not d:
        return b
    return {pid: dense_weight * d.get(pid, 0.0) + (1 - dense_weight) * b.get(pid, 0.0)
            for pid in {**d, **b}}


def fuse(dense: Ranking, sparse: Ranking, *, method: str, rrf_k: int, dense_weight: float,
         first: Sequence[str] = ()) -> list[tuple[str, float]]:
    """Papers best first with their fused score; ``first`` (papers a rare name singles out)
    are moved to the front, in fused order, keeping their own scores."""
    rankings = [r for r in (dense, sparse) if r]
    if method == "rrf":
        scores = rrf(rankings, rrf_k)
    elif method == "convex":
        scores = convex(dense, sparse, dense_weight)
    else:
        raise ValueError(f"unknown fusion {method!r}")
    order = sorted(scores, key=lambda p: -scores[p])
    pinned = [p for p in order if p in set(first)]
    pinned += [p for p in first if p not in scores]  # named, yet in neither candidate list
    rest = [p for p in order if p not in set(pinned)]
    return [(p, scores.get(p, 0.0)) for p in pinned + rest]
