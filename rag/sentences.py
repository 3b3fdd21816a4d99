"""Sentence vectors: a paper's dense score also counts its single best-matching sentence.

Why: a chunk vector averages a whole abstract's worth of topics, so a question that describes
one idea of a paper in other words (a paraphrase: "a method that trains a model to undo noise
added step by step…") lands closer to a paper whose abstract is broadly on that area than to
the one whose single sentence states the idea. Scoring each paper by a mix of its best chunk's
cosine and its best sentence's cosine (the max-similarity of late-interaction retrievers, at
sentence rather than token grain) keeps the chunk's topic signal and adds the sentence's
precision. Measured on the eval's dev split (`rag eval --retrieval`, 2026-12-07): the weight is
chosen there; see `RAG_SENTENCE_WEIGHT` in rag/settings.py.

Storage: a second Chroma collection (``<collection>__sentences``) holding the title and every
sentence of every abstract (rag.citations.split_sentences, the splitter the quotes use),
embedded with the same model as the chunks, ids hashed from (paper, position, text) so ingest
diffs them exactly as it diffs chunks. Scoring is exact and in memory up to ``MEMORY_CAP``
sentences: all sentence vectors are read once per index (1.5 KB a sentence: ~6.5 MB for the
449 bundled papers' 4,267) and one product scores them (~0.2 ms here). Beyond the cap (~20k
papers) the collection's HNSW index is queried for the best sentences instead, and a paper
with none among them keeps its chunk cosine in place of a sentence score.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from rag import store
from rag.citations import split_sentences
from rag.errors import IndexNotFound
from rag.settings import Settings
from rag.types import Paper

log = logging.getLogger(__name__)

SUFFIX = "__sentences"
# Sentences held in memory at most (~300 MB of float32 384-d vectors); above, HNSW queries.
MEMORY_CAP = 200_000


def collection_name(settings: Settings) -> str:
    return settings.collection + SUFFIX


def records(papers: list[Paper]) -> dict[str, tuple[str, str]]:
    """id -> (paper id, text) for each paper's title and each sentence of its abstract."""
    out: dict[str, tuple[str, str]] = {}
    for p in papers:
        texts = [p.title, *split_sentences(p.abstract)]
        for i, text in enumerate(t for t in texts if t.strip()):
            key = f"{p.paper_id}\x1f{i}\x1f{text}".encode()
            out[f"{p.paper_id}:s{i}:{hashlib.sha1(key).hexdigest()[:12]}"] = (p.paper_id, text)
    return out


def open_collection(settings: Settings, create: bool = False):
    return store.collection(settings, create=create, name=collection_name(settings))


class SentenceVectors:
    """Every stored sentence vector of one index, and which paper each belongs to (or, past
    ``cap`` sentences, the collection to query)."""

    def __init__(self, coll, paper_ids: list[str], cap: int | None = None):
        self.coll = coll
        self.in_memory = coll.count() <= (MEMORY_CAP if cap is None else cap)
        self.vectors = np.zeros((0, 1), np.float32)
        self.starts = np.zeros(0, np.int64)
        self.owners: list[str] = []
        self.by_text: dict[str, np.ndarray] = {}  # for rag/evidence.py: no second embedding
        self.known = set(paper_ids)
        if not self.in_memory:
            return
        got = coll.get(include=["embeddings", "metadatas", "documents"])
        vectors = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1)
        row = {p: i for i, p in enumerate(paper_ids)}
        # A sentence of a paper the chunk collection no longer has (a crash between the two
        # collections' deletes) is left out rather than scored.
        keep = [i for i, m in enumerate(got["metadatas"]) if (m or {}).get("paper_id") in row]
        if not keep:
            return
        rows = np.asarray([row[got["metadatas"][i]["paper_id"]] for i in keep], dtype=np.int64)
        # Grouped by paper, so a paper's best sentence is one `maximum.reduceat` segment.
        order = np.argsort(rows, kind="stable")
        self.vectors = vectors[np.asarray(keep, dtype=np.int64)[order]]
        rows = rows[order]
        self.starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        self.owners = [paper_ids[r] for r in rows[self.starts]]
        self.by_text = {got["documents"][i]: vectors[i] for i in keep}

    def best(self, qvec: np.ndarray, n: int) -> dict[str, float]:
        """Paper id -> cosine of its best sentence to the query: every paper's when held in
        memory, else the papers among the ``n`` best sentences of an HNSW query."""
        if not self.in_memory:
            res = self.coll.query(query_embeddings=[qvec.tolist()], n_results=n,
                                  include=["metadatas", "distances"])
            out: dict[str, float] = {}
            for m, d in zip(res["metadatas"][0], res["distances"][0]):
                p = (m or {}).get("paper_id")
                if p in self.known and p not in out:
                    out[p] = 1.0 - float(d)  # cosine space: distance = 1 - cosine
            return out
        if not self.owners:
            return {}
        # einsum, not `@`: OpenBLAS runs a product this size on both cores and its threads
        # then spin, slowing the ONNX query embedding that follows (retrieve() p50 13 -> 32
        # ms here); einsum's own loop takes ~0.2 ms on one core.
        best = np.maximum.reduceat(np.einsum("ij,j->i", self.vectors, qvec), self.starts)
        return dict(zip(self.owners, best.tolist()))


def load(settings: Settings, paper_ids: list[str], cap: int | None = None
         ) -> SentenceVectors | None:
    """The index's sentence vectors, or None when it has none (an index built before them:
    `rag ingest` adds them without re-embedding the chunks)."""
    try:
        coll = open_collection(settings)
    except IndexNotFound:
        log.warning("The index has no sentence vectors; ranking by chunks only. Run `rag "
                    "ingest` to add them.")
        return None
    return SentenceVectors(coll, paper_ids, cap)
