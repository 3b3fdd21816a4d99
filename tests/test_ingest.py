import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import CORPUS, ROOT
from rag import store
from rag.corpus import load_corpus
from rag.errors import CorpusFormatError, IndexBusy, IndexCorrupt, IndexNotFound, IndexUnavailable
from rag.ingestion import chunk_papers, index_lock, index_stats, ingest, is_current
from rag.tokens import tokenizer

ABS = "We study {topic}. Our method improves accuracy by {n}% on three benchmarks. " * 3


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")


def corpus(n=5):
    return [{"title": f"Paper {i} on topic{i}", "abstract": ABS.format(topic=f"topic{i}", n=i)}
            for i in range(n)]


def ids(settings):
    return sorted(store.collection(settings).get()["ids"])


def test_chunks_are_token_counted_and_carry_title(empty_settings):
    papers = load_corpus(CORPUS)[:20]
    nodes = chunk_papers(papers, empty_settings)
    enc = tokenizer()
    assert all(len(enc(n.text)) <= empty_settings.chunk_size for n in nodes)
    assert all(n.metadata["title"] and n.metadata["paper_id"] for n in nodes)
    from llama_index.core.schema import MetadataMode
    n = nodes[0]
    assert n.metadata["title"] in n.get_content(MetadataMode.EMBED)
    assert "abstract:" not in n.get_content(MetadataMode.EMBED)  # only the title is embedded
    assert "paper_id:" not in n.get_content(MetadataMode.EMBED)
    # Stable ids: same input, same ids.
    assert [x.id_ for x in chunk_papers(papers, empty_settings)] == [x.id_ for x in nodes]


def test_ingest_is_idempotent_and_incremental(empty_settings, tmp_path):
    f = tmp_path / "c.jsonl"
    recs = corpus(5)
    write_jsonl(f, recs)
    r1 = ingest(f)
    assert r1.chunks_added == r1.chunks > 0 and len(r1.papers_added) == 5
    before = ids(empty_settings)
    r2 = ingest(f)
    assert r2.chunks_added == 0 and r2.chunks_removed == 0 and ids(empty_settings) == before
    assert is_current(f)

    recs[1]["abstract"] = "Completely rewritten abstract about graphs. " * 5
    del recs[3]
    recs.append({"title": "A brand new paper", "abstract": "New content here. " * 5})
    write_jsonl(f, recs)
    assert not is_current(f)
    r3 = ingest(f)
    assert r3.papers_updated == ["Paper 1 on topic1"]
    assert r3.papers_added == ["A brand new paper"]
    assert len(r3.papers_removed) == 1
    untouched = [i for i in before if i.startswith(("paper-0", "paper-2", "paper-4"))]
    assert set(untouched) <= set(ids(empty_settings))  # other papers' chunks kept as they were
    assert index_stats()["papers"] == 5


def test_bad_corpus_leaves_index_untouched(empty_settings, tmp_path):
    f = tmp_path / "c.jsonl"
    write_jsonl(f, corpus(3))
    ingest(f)
    before = ids(empty_settings)
    f.write_text(f.read_text() + "{broken\n")
    with pytest.raises(CorpusFormatError, match=r"c.jsonl:4"):
        ingest(f)
    assert ids(empty_settings) == before


def test_missing_index_is_a_clear_error(empty_settings):
    from rag.retrieval import retrieve

    with pytest.raises(IndexNotFound, match="rag ingest"):
        retrieve("anything")


def test_corrupted_index_is_a_clear_error(empty_settings):
    from rag.retrieval import retrieve

    path = empty_settings.chroma_dir
    path.mkdir(parents=True)
    (path / "chroma.sqlite3").write_bytes(b"this is not a database\x00" * 100)
    with pytest.raises(IndexCorrupt) as e:
        retrieve("anything")
    assert "rag ingest" in str(e.value) and str(path) in str(e.value)
    assert "damaged" in str(e.value)


def _failing_client(monkeypatch, failures: int):
    import chromadb

    real = chromadb.PersistentClient
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise AttributeError("'RustBindingsAPI' object has no attribute 'bindings'")
        return real(*args, **kwargs)

    store.reset_clients()
    monkeypatch.setattr(chromadb, "PersistentClient", flaky)
    return calls


def test_a_transient_open_failure_is_retried(fake_settings, monkeypatch):
    calls = _failing_client(monkeypatch, failures=1)
    assert store.collection(fake_settings).count() > 0
    assert len(calls) == 2


def test_an_intact_index_that_fails_to_open_is_never_called_broken(fake_settings, monkeypatch):
    _failing_client(monkeypatch, failures=99)
    with pytest.raises(IndexUnavailable) as e:
        store.collection(fake_settings)
    msg = str(e.value)
    assert "intact" in msg and "try again" in msg
    assert "delete" not in msg.lower().replace("nothing needs deleting", "")
    assert "rebuild" not in msg.lower() and "rag ingest" not in msg
    store.reset_clients()


def test_second_ingest_refuses_while_locked(empty_settings, tmp_path):
    f = tmp_path / "c.jsonl"
    write_jsonl(f, corpus(2))
    with index_lock(empty_settings):
        with pytest.raises(IndexBusy, match="Another ingest"):
            ingest(f)
    ingest(f)  # lock released


def test_sigkill_mid_ingest_then_rerun_equals_clean_ingest(empty_settings, tmp_path):
    """Kill the ingest process after some batches were written; the rerun completes it."""
    f = tmp_path / "c.jsonl"
    write_jsonl(f, corpus(60))
    env = dict(os.environ, RAG_EMBED_BATCH_SIZE="2")  # many small batches to kill between
    code = (
        "import time, rag\n"
        "from rag.ingestion import ingest\n"
        "def slow(done, total):\n"
        "    print(done, flush=True); time.sleep(0.2)\n"
        f"ingest({str(f)!r}, progress=slow)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in p.stdout:
        seen = int(line)
        if seen >= 16:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    partial = ids(empty_settings)
    assert 0 < len(partial)
    r = ingest(f)
    after = ids(empty_settings)
    assert len(after) == len(set(after))
    clean_home = tmp_path / "clean"
    clean = empty_settings.with_overrides(chroma_path=clean_home)
    ingest(f, settings=clean)
    assert after == sorted(store.collection(clean).get()["ids"])
    assert r.chunks_added == len(after) - len(partial)


def sentence_ids(settings):
    from rag import sentences

    return sorted(sentences.open_collection(settings).get()["ids"])


def test_sentence_vectors_follow_the_corpus(empty_settings, tmp_path):
    """Each paper's title and abstract sentences are stored beside its chunks, diffed the same
    way: re-ingesting embeds none, a changed paper replaces only its own, a removed one goes,
    and an index without them is not current (so `make index` adds them)."""
    from rag import sentences

    f = tmp_path / "c.jsonl"
    recs = corpus(3)
    write_jsonl(f, recs)
    r1 = ingest(f)
    before = sentence_ids(empty_settings)
    assert r1.sentences_added == len(before) == len(sentences.records(load_corpus(f)))
    assert len(before) == 3 * (1 + 6)  # the title and six sentences each
    assert ingest(f).sentences_added == 0 and sentence_ids(empty_settings) == before

    recs[1]["abstract"] = "One new sentence about graphs. And a second one."
    del recs[2]
    write_jsonl(f, recs)
    r3 = ingest(f)
    after = sentence_ids(empty_settings)
    assert (r3.sentences_added, r3.sentences_removed) == (2, 6 + 7)  # the title stays
    assert [i for i in before if i.startswith("paper-0")] == \
        [i for i in after if i.startswith("paper-0")]
    assert "sentences embedded 2, removed 13" in r3.summary()

    store.client(empty_settings).delete_collection(sentences.collection_name(empty_settings))
    assert not is_current(f)
    assert ingest(f).sentences_added == len(after) and is_current(f)


def test_rebuild_drops_the_sentence_vectors_too(empty_settings, tmp_path):
    f = tmp_path / "c.jsonl"
    write_jsonl(f, corpus(2))
    ingest(f)
    r = ingest(f, rebuild=True)
    assert r.sentences_added == len(sentence_ids(empty_settings)) == 2 * 7
