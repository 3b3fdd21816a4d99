"""The in-memory view of one index: its chunk records, names, BM25 and vectors, read from
Chroma once and kept while the collection is unchanged (rag/retrieval.py searches it)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from rag import sentences, store
from rag.bm25 import BM25
from rag.chunk_vectors import ChunkVectors
from rag.errors import IndexNotFound
from rag.names import mentions, named_terms, normalised, singular_name, title_name
from rag.settings import Settings


@dataclass
class Chunk:
    id: str
    paper_id: str
    title: str
    text: str
    abstract: str
    listing_date: str | None
    chunk_index: int


class IndexView:
    """The in-memory side of one collection: chunk records and the BM25 index over them.

    Built from Chroma on first use and rebuilt when the collection changes (count or an
    ingest stamp differs; asked at most once per `RECHECK_SECONDS`, at once after this
    process's own writes), so BM25 cannot drift from the dense store.
    """

    def __init__(self, coll):
        self.coll = coll
        got = coll.get(include=["documents", "metadatas"])
        self.chunks: dict[str, Chunk] = {}
        for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
            meta = meta or {}
            self.chunks[cid] = Chunk(
                cid, meta.get("paper_id", ""), meta.get("title", ""), doc or "",
                meta.get("abstract", doc or ""), meta.get("listing_date") or None,
                int(meta.get("chunk_index", 0)),
            )
        self.fingerprint = store.fingerprint(coll)
        self.checked = (store.generation(), time.monotonic())  # see `get_index`
        self._with: dict[str, frozenset[str]] = {}
        self._writing: dict[str, int] = {}
        titles = {c.paper_id: c.title for c in self.chunks.values()}
        abstracts = {c.paper_id: f"{c.title} {c.abstract}" for c in self.chunks.values()}
        self.normalised_papers = [normalised(t) for t in abstracts.values()]
        self.normalised_text = "|".join(self.normalised_papers)
        self.title_names = {n for n in map(title_name, titles.values()) if n}
        self._bm25: BM25 | None = None  # built on first use
        self._bm25_lock = threading.Lock()
        self._vectors: ChunkVectors | None = None  # read on first use
        self._vectors_lock = threading.Lock()
        self.chunks_of: dict[str, list[str]] = {}
        for c in self.chunks.values():
            self.chunks_of.setdefault(c.paper_id, []).append(c.id)
        self._sentences: sentences.SentenceVectors | None = None
        self._sentences_read = False
        self._sentences_lock = threading.Lock()

    def sentence_vectors(self, settings: Settings) -> sentences.SentenceVectors | None:
        """The index's sentence vectors (rag/sentences.py), read on first use."""
        with self._sentences_lock:
            if not self._sentences_read:
                self._sentences = sentences.load(settings, sorted(self.chunks_of))
                self._sentences_read = True
            return self._sentences

    def vectors(self) -> ChunkVectors:
        """The chunk vectors held in memory (rag/chunk_vectors.py), read once per index."""
        with self._vectors_lock:
            if self._vectors is None:
                self._vectors = ChunkVectors(
                    self.coll, {cid: c.paper_id for cid, c in self.chunks.items()})
            return self._vectors

    def papers_with(self, name: str) -> frozenset[str]:
        """The papers whose title or abstract contains ``name`` as a whole word; cached."""
        if name not in self._with:
            self._with[name] = frozenset(c.paper_id for c in self.chunks.values()
                                         if mentions(f"{c.title} {c.abstract}", name))
        return self._with[name]

    def papers_mentioning(self, name: str) -> int:
        """How many papers write ``name``, or its singular when it is a plural."""
        return len(self._with_singular(name))

    def papers_writing(self, phrase: str) -> int:
        """Papers whose title or abstract writes ``phrase`` loosely (`normalised`); cached,
        as `papers_with`: a comparison question asks it for every run of every title."""
        text = normalised(phrase)
        if text not in self._writing:
            self._writing[text] = sum(text in t for t in self.normalised_papers)
        return self._writing[text]

    def unique_names(self, question: str) -> set[str]:
        """Names in the question (acronyms, coined words, titles' names) found in one paper."""
        names = named_terms(question) | {n for n in self.title_names if mentions(question, n)}
        return {n for n in names if len(self._with_singular(n)) == 1}

    def _with_singular(self, name: str) -> frozenset[str]:
        """`papers_with` the name, and with its singular when it is a plural: "GPUs" in one
        abstract names no paper when others write "a GPU"."""
        one = singular_name(name)
        return self.papers_with(name) | self.papers_with(one) if one else self.papers_with(name)

    def bm25(self) -> BM25 | None:
        with self._bm25_lock:
            if self._bm25 is None and self.chunks:
                self._bm25 = BM25(self.chunks.values())
            return self._bm25

    def bm25_scores(self, question: str, phrases: bool = False) -> dict[str, float]:
        """BM25 score of every chunk that shares a term with ``question`` (chunk id → score):
        every chunk's, not a top-k, so a paper the other retriever found can be given its
        BM25 score too (`Candidates.lists`). bm25s scores all documents in one sparse pass
        either way. ``phrases``: plus the score of the question's set phrases."""
        bm = self.bm25()
        return bm.scores(question, phrases) if bm is not None else {}

    def cosines(self, qvec: np.ndarray, ids: list[str]) -> dict[str, float]:
        """Cosine of each chunk in ``ids`` to the (unit) query vector: from the vectors held
        in memory, else fetched from Chroma."""
        held = self.vectors()
        out = held.cosines(qvec, ids)
        rest = [cid for cid in ids if cid not in out]
        if rest:
            got = self.coll.get(ids=rest, include=["embeddings"])
            out.update(zip(got["ids"], (np.asarray(got["embeddings"], dtype=np.float32)
                                        @ qvec).tolist()))
        return out


_cache: dict[tuple, IndexView] = {}
_cache_lock = threading.Lock()
#: How long a checked index is trusted before asking the store whether an ingest changed it.
#: One answer looks the index up 9-18 times (names, retrieval, comparisons), each check ~2 ms
#: of Chroma count and metadata; this process's own ingests are seen at once
#: (`store.generation`), another process's within this many seconds.
RECHECK_SECONDS = 1.0


def get_index(settings: Settings) -> IndexView:
    key = (str(settings.chroma_dir), settings.chroma_host, settings.collection)
    with _cache_lock:
        idx = _cache.get(key)
        if idx is not None and idx.checked[0] == store.generation() \
                and time.monotonic() - idx.checked[1] < RECHECK_SECONDS:
            store.check_embed_model(idx.coll, settings)
            return idx
        coll = store.collection(settings)
        store.check_embed_model(coll, settings)
        if idx is not None and idx.fingerprint == store.fingerprint(coll):
            idx.checked = (store.generation(), time.monotonic())
            return idx
        if idx is not None:
            # Changed since we read it, maybe by another process's ingest: a fresh client sees
            # its vectors (the old one would miss them, and fail fetching their ids).
            coll = store.reopen(settings)
        if coll.count() == 0:
            raise IndexNotFound("The index is empty; run `rag ingest`.")
        idx = IndexView(coll)  # checked as of now (its __init__)
        _cache[key] = idx
    return idx


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
