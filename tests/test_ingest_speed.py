"""The fast ingest path keeps every chunk and every stored record of the llama-index path.

`chunk_papers` calls `SentenceSplitter.split_text_metadata_aware` directly and assembles the
nodes itself, and ingest writes with Chroma's `collection.add` instead of llama-index's
`ChromaVectorStore`. Chunk ids are content hashes, so any drift would re-embed a whole index:
these tests compare both against the llama-index path it replaced (`_reference_chunks` is that
path, kept here as the yardstick), on the whole bundled corpus and on edge cases. No timings:
speed is measured by `python -m bench.embed_endpoint`.
"""

import hashlib
import json
from typing import cast

import pytest
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, MetadataMode, TextNode

from conftest import CORPUS
from rag import store
from rag.corpus import load_corpus
from rag.embeddings import get_embedder
from rag.ingestion import _HIDDEN, chunk_papers, ingest, is_current
from rag.tokens import tokenizer
from rag.types import Paper

# What llama-index's ChromaVectorStore wrote besides our metadata; nothing reads it back.
LLAMA_INDEX_KEYS = {"_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id"}


def _reference_chunks(papers, settings) -> list[TextNode]:
    """The chunking ingest used before: a Document per paper through get_nodes_from_documents."""
    splitter = SentenceSplitter(chunk_size=settings.chunk_size,
                                chunk_overlap=settings.chunk_overlap, tokenizer=tokenizer())
    nodes: list[TextNode] = []
    for p in papers:
        doc = Document(
            text=p.abstract, id_=p.paper_id,
            metadata={"title": p.title, "paper_id": p.paper_id,
                      "listing_date": p.listing_date or "", "abstract": p.abstract,
                      "source_files": ",".join(p.source_files)},
            excluded_embed_metadata_keys=_HIDDEN,
            excluded_llm_metadata_keys=_HIDDEN + ["title"],
        )
        pieces = cast(list[TextNode], splitter.get_nodes_from_documents([doc]))
        for i, node in enumerate(pieces):
            node.metadata["chunk_index"] = i
            node.metadata["n_chunks"] = len(pieces)
            key = f"{p.paper_id}\x1f{i}\x1f{node.text}".encode()
            node.id_ = f"{p.paper_id}:{i}:{hashlib.sha1(key).hexdigest()[:12]}"
            node.relationships = {}
            nodes.append(node)
    return nodes


def _as_rows(nodes: list[TextNode]) -> list[tuple]:
    """Everything a chunk carries that ingest or the index could see, metadata in order."""
    return [(n.id_, n.text, list(n.metadata.items()),
             n.get_content(metadata_mode=MetadataMode.EMBED),
             n.get_content(metadata_mode=MetadataMode.LLM),
             n.excluded_embed_metadata_keys, n.excluded_llm_metadata_keys,
             n.start_char_idx, n.end_char_idx, n.relationships) for n in nodes]


def _paper(i: int, abstract: str, title: str | None = None) -> Paper:
    return Paper(paper_id=f"edge-{i}", title=title or f"Edge case {i}", abstract=abstract,
                 listing_date=f"2024-01-0{i % 9 + 1}" if i % 2 else None,
                 source_files=(f"f{i}.txt", "g.txt") if i % 3 else ())


EDGE_ABSTRACTS = [
    "Tiny.",  # very short
    "x",
    # one sentence far longer than a chunk: split on commas, then words
    "We " + ", and ".join(f"consider variant {k} of the model" for k in range(120)) + ".",
    # no punctuation and no spaces at all: split character by character
    "a" * 3000,
    "word " * 900,
    # unicode: accents, CJK sentence marks, emoji, RTL, combining characters
    "Les réseaux de neurones généralisent. " * 20 + "模型很好。我们提出一种新方法！它有效吗？" * 15,
    "🙂 Emoji-heavy text 🚀🚀. " * 40 + "שלום עולם. " * 10 + "e\u0301t\u00e9 " * 50,
    # paragraphs and line breaks, which the splitter tries first
    "First paragraph. It has two sentences.\n\n\nSecond paragraph here.\n\n\n" * 12,
    "Line one.\nLine two.\n\nLine three.\r\n" * 30,
    # repeated sentences: a chunk's position must be found after the previous one's
    "The same sentence again and again. " * 60,
    # abbreviations and decimals Punkt has to get right
    "We use e.g. Adam (lr 3.5e-4) vs. SGD. Dr. Smith et al. found 2.5x gains, i.e. more. " * 15,
    "  Leading and trailing whitespace.   " * 30,
]


def test_chunks_equal_llama_index_nodes_on_the_whole_corpus(empty_settings):
    papers = load_corpus(CORPUS)
    got = chunk_papers(papers, empty_settings)
    assert len(got) > 1000
    assert _as_rows(got) == _as_rows(_reference_chunks(papers, empty_settings))


def test_chunks_equal_llama_index_nodes_on_edge_cases(empty_settings, capsys):
    papers = [_paper(i, a) for i, a in enumerate(EDGE_ABSTRACTS)]
    # A title so long the metadata leaves under 50 tokens for text (the splitter warns).
    papers.append(_paper(99, EDGE_ABSTRACTS[4], title="A very long title " * 30))
    got = chunk_papers(papers, empty_settings)
    assert len(got) > 3 * len(papers)  # the long ones really were split
    assert _as_rows(got) == _as_rows(_reference_chunks(papers, empty_settings))
    assert "close to chunk size" in capsys.readouterr().out  # same warning, same path


def test_stored_records_are_the_llama_index_vector_stores_minus_its_bookkeeping(
        empty_settings, tmp_path):
    """Same ids, documents, vectors and metadata as ChromaVectorStore.add wrote."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    papers = load_corpus(CORPUS)[:40]
    f = tmp_path / "c.jsonl"
    _write(f, [(p.title, p.abstract) for p in papers])
    ingest(f)
    coll = store.collection(empty_settings)

    nodes = chunk_papers(load_corpus(f), empty_settings)
    vectors = get_embedder(empty_settings).get_text_embedding_batch(
        [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
    for n, v in zip(nodes, vectors):
        n.embedding = v
    ref = store.client(empty_settings).create_collection(
        "reference", metadata={"hnsw:space": "cosine"}, embedding_function=None)
    ChromaVectorStore(chroma_collection=ref).add(cast(list[BaseNode], nodes))

    def records(c, drop=frozenset()):
        got = c.get(include=["documents", "metadatas", "embeddings"])
        return sorted((i, d, {k: v for k, v in m.items() if k not in drop}, list(e))
                      for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"],
                                            got["embeddings"]))

    assert records(coll) == records(ref, drop=LLAMA_INDEX_KEYS)
    assert LLAMA_INDEX_KEYS <= set(ref.get(limit=1)["metadatas"][0])


def test_an_index_built_through_llama_index_stays_current(empty_settings, tmp_path):
    """An index written the old way (with llama-index's bookkeeping) needs no re-embedding of
    its chunks: ingest only adds the sentence vectors (rag/sentences.py) it lacks."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    f = tmp_path / "c.jsonl"
    _write(f, [(f"Paper {i}", a) for i, a in enumerate(EDGE_ABSTRACTS)])
    nodes = chunk_papers(load_corpus(f), empty_settings)
    vectors = get_embedder(empty_settings).get_text_embedding_batch(
        [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
    for n, v in zip(nodes, vectors):
        n.embedding = v
    coll = store.collection(empty_settings, create=True)
    ChromaVectorStore(chroma_collection=coll).add(cast(list[BaseNode], nodes))

    assert not is_current(f)  # no sentence vectors yet
    report = ingest(f)
    assert report.chunks_added == 0 and report.chunks_removed == 0
    assert report.sentences_added > 0 and is_current(f)


@pytest.mark.parametrize("batch", [1, 7])
def test_small_batches_commit_everything_once(empty_settings, tmp_path, monkeypatch, batch):
    monkeypatch.setenv("RAG_EMBED_BATCH_SIZE", str(batch))
    from rag.settings import get_settings

    get_settings.cache_clear()
    f = tmp_path / "c.jsonl"
    _write(f, [(f"Paper {i}", a) for i, a in enumerate(EDGE_ABSTRACTS[:6])])
    seen = []
    report = ingest(f, progress=lambda done, total: seen.append((done, total)))
    ids = store.collection(get_settings()).get()["ids"]
    assert len(ids) == len(set(ids)) == report.chunks == report.chunks_added
    # progress counts chunks and sentence vectors alike
    done = report.chunks + report.sentences_added
    assert seen[-1] == (done, done) and len(seen) > 1
    assert ingest(f).chunks_added == 0


def _write(path, papers: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"title": t, "abstract": a}) + "\n" for t, a in papers))


def test_endpoint_bench_reports_stages_and_load():
    """`python -m bench.embed_endpoint` end to end on a few papers (its numbers are not checked)."""
    from bench.embed_endpoint import run

    r = run(30, 16)
    assert r["papers"] == 30 and r["chunks"] >= 30
    assert set(r["stages_s"]) == set(r["stages_share"]) == {"parse", "embed", "store"}
    assert len(r["load_avg_start"]) == len(r["load_avg"]) == 3 and r["papers_per_cpu_s"] > 0
