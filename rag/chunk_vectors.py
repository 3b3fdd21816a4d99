"""Chunk vectors held in memory: exact, reproducible dense search, and the cosines fusion
fills in for candidate papers one retriever did not return.

Why not only Chroma's HNSW index: it is approximate, and its answers are not the same from one
process to the next. The same query vector got a different 40-chunk candidate list (other
chunks, not just another order; from rank 11 to 37) in 22 of 400 eval questions across two
runs, so the papers a question is shown could change between sessions, and every eval A/B
carried that noise. Up to ``SAMPLE_PAPERS`` papers (449 bundled, 1,162 chunks, 1.8 MB) every
chunk vector is read once per index and one product scores them all: exact, the same in every
process, well under a millisecond. A larger collection keeps an even sample of papers in memory
(for `rag.retrieval.similarity_spread`) and is searched through HNSW as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Papers whose vectors are held in memory: the whole collection up to this size, an even
# sample beyond it (every n-th paper by id, the same on every call).
SAMPLE_PAPERS = 2000


class ChunkVectors:
    """The vectors of every chunk of the sampled papers, and which paper each row is."""

    def __init__(self, coll, paper_of: dict[str, str]):
        papers = sorted(set(paper_of.values()))
        step = max(1, -(-len(papers) // SAMPLE_PAPERS))
        chosen = {p: i for i, p in enumerate(papers[::step])}
        # Sorted ids: the rows, and so the order of equal scores, are the same in every process.
        ids = sorted(cid for cid, p in paper_of.items() if p in chosen)
        got = coll.get(ids=ids, include=["embeddings"]) if ids else {"ids": [],
                                                                      "embeddings": []}
        order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
        self.ids: list[str] = [got["ids"][i] for i in order]
        vecs = np.asarray(got["embeddings"], dtype=np.float32)
        self.vectors = vecs[order] if len(order) else np.zeros((0, 1), np.float32)
        self.row = {cid: i for i, cid in enumerate(self.ids)}
        # Each row's paper, as its index among the sampled papers (for per-paper maxima); the
        # chunk records already know each chunk's paper: no metadata to fetch.
        self.papers = np.asarray([chosen[paper_of[cid]] for cid in self.ids], dtype=np.int64)
        #: every chunk is held, so `nearest` is an exact search of the whole collection
        self.complete = len(self.ids) == len(paper_of)

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        """Cosine of every held chunk to the (unit) query vector, in row order."""
        # einsum, not `@`: see rag/sentences.py (OpenBLAS threads slow the next ONNX call).
        return np.einsum("ij,j->i", self.vectors, qvec)

    def nearest(self, qvec: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` chunks closest to the query, best first (ties by chunk id)."""
        s = self.scores(qvec)
        top = np.argsort(-s, kind="stable")[:n]
        return [(self.ids[i], float(s[i])) for i in top]

    def cosines(self, qvec: np.ndarray, ids: Iterable[str]) -> dict[str, float]:
        """Cosine of each held chunk in ``ids``; chunks not held are left out."""
        known = [cid for cid in ids if cid in self.row]
        if not known:
            return {}
        rows = np.fromiter((self.row[c] for c in known), dtype=np.int64)
        return dict(zip(known, np.einsum("ij,j->i", self.vectors[rows], qvec).tolist()))
