"""How the dense and BM25 paper rankings become one: the fusion rules `rag eval --retrieval`
compares.

Why not plain reciprocal rank fusion with k=60 (the RRF paper's value, our old default): with a
60-rank cushion, first place in one list is worth 1/61 and nothing in the other, which loses to
a paper ranked 10th by both (2/70). The two retrievers here are *not* noisy voters on the same
evidence — BM25 is sure when a rare name matches, dense is sure when a paraphrase lands — so a
fusion has to keep each one's confident first hits. The candidates, all measured on the eval's
dev split (`rag eval --retrieval`), are:

* ``rrf``    — Σ 1/(k + rank) with ``RAG_RRF_K`` (60 reproduces the old ranking);
* ``convex`` — a weighted sum of per-query normalised scores: dense cosine and BM25 score each
               divided by that list's best, so a retriever whose top hit stands far above the
               rest moves the fused ranking and a flat list does not (the "score-normalised
               convex combination" of Bruch et al., 2023, *An Analysis of Fusion Functions for
               Hybrid Retrieval*, which beats RRF in their experiments when the weight is tuned).

Whatever the rule, papers that a rare name in the question singles out (`rag.names`) come
first: an acronym or a title's coined name found in one or two papers is decisive evidence
that neither score expresses well.
"""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[str, float]]  # (paper id, that retriever's score), best first


def rrf(rankings: Sequence[Ranking], k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking, start=1):
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
