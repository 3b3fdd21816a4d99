"""The in-memory view of the index is read once and trusted for `RECHECK_SECONDS`: one answer
looks it up many times, and asking Chroma each time cost ~2 ms a look-up. This process's own
ingests are seen at once; another process's once the interval has passed."""

import json

import pytest

from rag import index_view, store
from rag.ingestion import ingest


def _corpus(tmp_path, *titles):
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps({"title": t, "abstract": f"{t} studies alpha beta."}) + "\n"
                         for t in titles))
    return f


@pytest.fixture
def counted(monkeypatch):
    """How many times the store was asked whether the index changed."""
    calls = []
    real = store.fingerprint
    monkeypatch.setattr(store, "fingerprint", lambda coll: calls.append(1) or real(coll))
    return calls


def _titles(settings) -> set[str]:
    return {c.title for c in index_view.get_index(settings).chunks.values()}


@pytest.mark.parametrize("seconds, asks", [(3600, 0), (0, 3)])
def test_the_store_is_asked_only_once_the_interval_passed(empty_settings, tmp_path, counted,
                                                          monkeypatch, seconds, asks):
    """Within the interval no look-up asks the store; past it each one does, and an unchanged
    collection keeps the same view."""
    monkeypatch.setattr(index_view, "RECHECK_SECONDS", seconds)
    ingest(_corpus(tmp_path, "Paper one"))
    first = index_view.get_index(empty_settings)
    asked = len(counted)
    assert all(index_view.get_index(empty_settings) is first for _ in range(3))
    assert len(counted) == asked + asks


def test_this_process_ingest_is_seen_at_once(empty_settings, tmp_path, monkeypatch):
    monkeypatch.setattr(index_view, "RECHECK_SECONDS", 3600)
    ingest(_corpus(tmp_path, "Paper one"))
    assert _titles(empty_settings) == {"Paper one"}
    ingest(_corpus(tmp_path, "Paper one", "Paper two"))
    assert _titles(empty_settings) == {"Paper one", "Paper two"}


def test_a_change_behind_our_back_is_seen_after_the_interval(empty_settings, tmp_path,
                                                             monkeypatch):
    """Another process's ingest: the collection changes without this process's ingest code
    (here written through Chroma directly, as that process would)."""
    monkeypatch.setattr(index_view, "RECHECK_SECONDS", 3600)
    ingest(_corpus(tmp_path, "Paper one"))
    view = index_view.get_index(empty_settings)
    coll = store.collection(empty_settings)
    got = coll.get(include=["embeddings", "documents", "metadatas"])
    meta = dict(got["metadatas"][0], title="Paper three", paper_id="paper-three")
    coll.add(ids=["paper-three:0"], embeddings=[got["embeddings"][0]],
             documents=[got["documents"][0]], metadatas=[meta])
    assert index_view.get_index(empty_settings) is view  # trusted within the interval
    monkeypatch.setattr(index_view, "RECHECK_SECONDS", 0)
    assert _titles(empty_settings) == {"Paper one", "Paper three"}


def test_the_embedder_check_still_runs_within_the_interval(empty_settings, tmp_path,
                                                           monkeypatch):
    from rag.errors import RagError

    monkeypatch.setattr(index_view, "RECHECK_SECONDS", 3600)
    ingest(_corpus(tmp_path, "Paper one"))
    index_view.get_index(empty_settings)
    other = empty_settings.with_overrides(embed_model="minilm")
    assert other.embedder_id != empty_settings.embedder_id
    with pytest.raises(RagError, match="rebuild"):
        index_view.get_index(other)


def test_a_plural_name_is_not_unique_when_other_papers_write_its_singular(empty_settings,
                                                                          tmp_path):
    """One abstract writes "GPUs", two others "a GPU": "GPUs" singles out no paper (it used to
    put that paper first for "… meta-factorization report on GPUs?"), and it counts as written
    by all three."""
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in [
        {"title": "Paper one", "abstract": "We train on eight GPUs."},
        {"title": "Paper two", "abstract": "It runs on a GPU."},
        {"title": "Paper three", "abstract": "One GPU suffices. MLTIs are new."}]))
    ingest(f)
    view = index_view.get_index(empty_settings)
    assert view.unique_names("What speedup does it report on GPUs?") == set()
    assert view.papers_mentioning("GPUs") == 3 and view.papers_mentioning("GPU") == 2
    assert view.unique_names("How fast are MLTIs?") == {"MLTIs"}  # its singular: nowhere


def test_singular_names_and_absent_plurals():
    from rag.names import absent, normalised, singular_name

    assert [singular_name(n) for n in ("GPUs", "CNNs", "T5s", "MLTI", "AdEMAMix", "Bus")] \
        == ["GPU", "CNN", "T5", None, None, None]
    text = normalised("We train a CNN on one GPU.")
    assert absent({"CNNs", "GPUs", "TPUs"}, f" {text} ") == ["TPUs"]
