"""Papers -> token-counted chunks -> embeddings -> Chroma, idempotently.

Chroma is the single source of truth: each chunk's id is a hash of (paper id, chunk text, chunk
position), so the set of ids the corpus *should* have is computed without embedding anything.
A run diffs it against the ids already stored, embeds and adds only the missing chunks, and
deletes the stale ones. Consequences:

* re-running on an unchanged corpus embeds nothing (about a second);
* a changed paper replaces only its own chunks;
* an interrupted run (Ctrl-C, SIGKILL) leaves a subset of correct chunks, which the next run
  completes — never duplicates, because an id can only be added once.

Deletions happen after additions, so a crash mid-run never leaves a paper with no chunks when it
had some before. A file lock keeps two ingests from interleaving on the same index. Each title
and abstract sentence is kept the same way, with its own vector, in a second collection
(rag/sentences.py).

Speed (issue #17; `bench/embed_endpoint.py` measures it): llama-index's `SentenceSplitter`
still decides every chunk, but it is called on each abstract directly instead of through
`get_nodes_from_documents` (its per-document instrumentation, node copies and uuids were
10–30% of chunking's CPU, 2,000 papers in four runs).
Chunks are written with Chroma's own `collection.add` — the same ids, documents and metadata
as llama-index's `ChromaVectorStore` wrote, minus its node bookkeeping that nothing reads back.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, TextNode

from rag import sentences, store
from rag.corpus import load_corpus
from rag.embeddings import get_embedder
from rag.errors import IndexBusy
from rag.settings import Settings, get_settings
from rag.tokens import tokenizer
from rag.types import Paper

# Metadata the LLM never needs and the embedding must not see: only the title is embedded with
# the chunk text (it carries much of a paper's topic in few words).
_HIDDEN = ["paper_id", "listing_date", "chunk_index", "n_chunks", "abstract", "source_files"]


@dataclass
class IngestReport:
    papers: int = 0
    chunks: int = 0
    papers_added: list[str] = field(default_factory=list)
    papers_updated: list[str] = field(default_factory=list)
    papers_removed: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    sentences_added: int = 0
    sentences_removed: int = 0
    seconds: float = 0.0
    # where the time went: "parse" (corpus + chunking), "embed", "store" (Chroma adds/deletes)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.papers} papers, {self.chunks} chunks in the index — papers added "
            f"{len(self.papers_added)}, updated {len(self.papers_updated)}, removed "
            f"{len(self.papers_removed)}; chunks embedded {self.chunks_added}, removed "
            f"{self.chunks_removed}; sentences embedded {self.sentences_added}, removed "
            f"{self.sentences_removed}; {self.seconds:.1f} s"
        )


@cache
def _splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    return SentenceSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer())


def chunk_papers(papers: list[Paper], settings: Settings) -> list[TextNode]:
    """Each paper's abstract cut into chunks of at most ``chunk_size`` tokens, title included.

    The chunks are exactly what `SentenceSplitter.get_nodes_from_documents` made of a
    `Document` per paper (texts, metadata, its order, ids; tests/test_ingest_speed.py compares
    them on the whole corpus): the splitter's own `split_text_metadata_aware` decides the cuts,
    with the metadata string that path measured — the longer of the embed and LLM metadata
    strings, here ``title: <title>`` — and the nodes are assembled here the way it assembled
    them. Going around it saves its per-document instrumentation, node copies and uuids.
    Its sentence splitting (NLTK Punkt, then regexes, with token counts at every step) is kept
    rather than rewritten: a rewrite would have to reproduce Punkt to keep every chunk id, and
    a changed id means re-embedding the whole index. (Worker processes were tried: with the
    other core busy, 2 workers took 27.9 s for 20k papers against 12.9 s in one process; on
    an idle machine the gain was not measured, so chunking stays in one process.)
    """
    split = _splitter(settings.chunk_size, settings.chunk_overlap).split_text_metadata_aware
    splits = [split(p.abstract, metadata_str=f"title: {p.title}") for p in papers]
    nodes: list[TextNode] = []
    for p, pieces in zip(papers, splits):
        search = 0
        for i, text in enumerate(pieces):
            # Where llama-index's post-processing placed the chunk in the abstract.
            start = p.abstract.find(text, search)
            if start >= 0:
                search = start + 1
            key = f"{p.paper_id}\x1f{i}\x1f{text}".encode()
            nodes.append(TextNode(
                id_=f"{p.paper_id}:{i}:{hashlib.sha1(key).hexdigest()[:12]}",
                text=text,
                metadata={
                    "title": p.title,
                    "paper_id": p.paper_id,
                    "listing_date": p.listing_date or "",
                    "abstract": p.abstract,
                    "source_files": ",".join(p.source_files),
                    "chunk_index": i,
                    "n_chunks": len(pieces),
                },
                excluded_embed_metadata_keys=list(_HIDDEN),
                excluded_llm_metadata_keys=_HIDDEN + ["title"],
                start_char_idx=start if start >= 0 else None,
                end_char_idx=start + len(text) if start >= 0 else None,
                # No relationships: llama-index's pointed at in-memory ids and only bloated
                # the store.
            ))
    return nodes


_Record = tuple[str, str, dict[str, str | int | float | bool]]  # (id, document, metadata)


def _record(node: TextNode) -> _Record:
    """(id, document, metadata) as stored: the chunk text, and its metadata with None as ""
    (Chroma stores no None; llama-index's vector store wrote "" too).

    llama-index's `ChromaVectorStore` also wrote its node bookkeeping: the whole node again as
    JSON (`_node_content`, ~2.5 KB a chunk, the abstract a second time), `_node_type`,
    `doc_id`, `document_id`, `ref_doc_id`. Nothing reads them back (retrieval reads the
    document and paper_id, title, abstract, listing_date, chunk_index; ingest reads paper_id),
    and leaving them out made Chroma's adds ~10% cheaper (CPU s for 6,000 chunks, 2026-12-06).
    Indexes built before keep them; the ids, so what is current, are unchanged."""
    meta = {k: ("" if v is None else v) for k, v in node.metadata.items()}
    return node.id_, node.text, meta


@contextmanager
def index_lock(settings: Settings, wait: bool = False) -> Iterator[None]:
    lock_dir = settings.chroma_dir if not settings.chroma_host else settings.home / ".index"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / ".ingest.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise IndexBusy(
                f"Another ingest is running on {lock_dir}; wait for it to finish and try again."
            ) from None
        yield
    finally:
        os.close(fd)
        store.changed()  # whatever was written, even if the ingest failed half-way


def _max_batch(settings: Settings) -> int:
    """The most records one Chroma add takes (5,461 for the embedded store)."""
    return int(store.client(settings).get_max_batch_size())


def _existing(coll) -> dict[str, str]:
    """id -> paper_id for every record stored (chunks, or the sentences of rag/sentences.py)."""
    out: dict[str, str] = {}
    total = coll.count()
    batch = 5000
    for offset in range(0, total, batch):
        got = coll.get(include=["metadatas"], limit=batch, offset=offset)
        for i, m in zip(got["ids"], got["metadatas"]):
            out[i] = (m or {}).get("paper_id", i.split(":", 1)[0])
    return out


def ingest(
    path: str | Path | None = None,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
    rebuild: bool = False,
    wait_for_lock: bool = False,
) -> IngestReport:
    """Bring the index in line with the corpus at ``path`` (default: the bundled corpus).

    ``progress(done, total)`` is called as chunks are embedded. Returns what changed.
    """
    settings = settings or get_settings()
    started = time.perf_counter()
    # Parse and validate everything first: a bad file must not leave a half-updated index.
    papers = load_corpus(path or settings.corpus_dir)
    nodes = chunk_papers(papers, settings)
    report = IngestReport(papers=len(papers), chunks=len(nodes))
    report.timings = {"parse": time.perf_counter() - started, "embed": 0.0, "store": 0.0}

    with index_lock(settings, wait=wait_for_lock):
        if rebuild:
            for name in (settings.collection, sentences.collection_name(settings)):
                try:
                    store.client(settings, create=True).delete_collection(name)
                except Exception:
                    pass  # nothing to delete
        coll = store.collection(settings, create=True)
        store.check_embed_model(coll, settings)
        existing = _existing(coll)
        wanted = {n.id_: n for n in nodes}
        to_add = [n for i, n in wanted.items() if i not in existing]
        to_remove = [i for i in existing if i not in wanted]

        old_papers = set(existing.values())
        touched = {n.metadata["paper_id"] for n in to_add} | {existing[i] for i in to_remove}
        new_papers = {p.paper_id for p in papers}
        titles = {p.paper_id: p.title for p in papers}
        report.papers_added = sorted(titles[p] for p in touched if p not in old_papers)
        report.papers_updated = sorted(
            titles[p] for p in touched if p in old_papers and p in new_papers
        )
        report.papers_removed = sorted(p for p in old_papers if p not in new_papers)

        # The sentence vectors (rag/sentences.py) are diffed the same way, in their own
        # collection, in the same run: every addition before any deletion.
        s_coll = sentences.open_collection(settings, create=True)
        s_wanted = sentences.records(papers)
        s_existing = _existing(s_coll)
        s_add = [i for i in s_wanted if i not in s_existing]
        s_remove = [i for i in s_existing if i not in s_wanted]

        texts = {n.id_: n.get_content(metadata_mode=MetadataMode.EMBED) for n in to_add}
        jobs: list[tuple[Any, list[_Record], dict[str, str]]] = [
            (coll, [_record(n) for n in to_add], texts),
            (s_coll, [(i, s_wanted[i][1], {"paper_id": s_wanted[i][0]}) for i in s_add],
             {i: s_wanted[i][1] for i in s_add})]
        total, done = len(to_add) + len(s_add), 0
        for target, recs, embed_texts in jobs:
            if not recs:
                continue
            embedder = get_embedder(settings)
            batch = min(settings.embed_batch_size * 4, _max_batch(settings))
            # Longest first: a batch is padded to its longest text, so batches of similar
            # lengths waste less work (bench/embed.py measures it). Ids are content hashes,
            # so the order records are stored in changes nothing.
            recs.sort(key=lambda r: -len(embed_texts[r[0]]))
            for start in range(0, len(recs), batch):
                part = recs[start : start + batch]
                t0 = time.perf_counter()
                vectors = embedder.get_text_embedding_batch([embed_texts[r[0]] for r in part])
                t1 = time.perf_counter()
                if vectors:
                    store.check_dimension(coll, len(vectors[0]))
                ids, docs, metas = zip(*part)
                # Committed batch by batch: a crash keeps what was embedded so far.
                target.add(ids=list(ids), documents=list(docs), metadatas=list(metas),
                           embeddings=vectors)
                if target is coll and start == 0 and vectors:
                    store.record_dimension(coll, len(vectors[0]))
                report.timings["embed"] += t1 - t0
                report.timings["store"] += time.perf_counter() - t1
                done += len(part)
                if progress:
                    progress(done, total)
        t0 = time.perf_counter()
        for target, stale in ((coll, to_remove), (s_coll, s_remove)):
            for start in range(0, len(stale), 5000):
                target.delete(ids=stale[start : start + 5000])
        report.timings["store"] += time.perf_counter() - t0
        if to_add or to_remove or s_add or s_remove:
            store.stamp(coll)
        report.sentences_added = len(s_add)
        report.sentences_removed = len(s_remove)
        report.chunks_added = len(to_add)
        report.chunks_removed = len(to_remove)
    report.seconds = time.perf_counter() - started
    return report


def index_stats(settings: Settings | None = None) -> dict[str, int]:
    settings = settings or get_settings()
    coll = store.collection(settings)
    ids = _existing(coll)
    return {"papers": len(set(ids.values())), "chunks": len(ids)}


def is_current(path: str | Path | None = None, settings: Settings | None = None) -> bool:
    """True when the index holds exactly the chunks the corpus at ``path`` should produce."""
    from rag.errors import RagError

    settings = settings or get_settings()
    try:
        coll = store.collection(settings)
        store.check_embed_model(coll, settings)
    except RagError:
        return False
    papers = load_corpus(path or settings.corpus_dir)
    wanted = {n.id_ for n in chunk_papers(papers, settings)}
    if set(_existing(coll)) != wanted:
        return False
    try:
        s_coll = sentences.open_collection(settings)
    except RagError:
        return False
    return set(_existing(s_coll)) == set(sentences.records(papers))
