"""Embeddings from an OpenAI-compatible endpoint (`RAG_EMBED_BASE_URL`), against a real HTTP
server on 127.0.0.1 (bench/fake_embed_server.py): ingest and retrieval through it, the
collection remembering which embedder built it, and each fault a user can meet — server down,
HTTP 500, too slow, vectors of the wrong dimension — as an `EmbeddingUnavailable` that says
what to do."""

from __future__ import annotations

import json

import pytest

from bench.fake_embed_server import FakeEmbedServer
from conftest import free_port
from rag import index_view, store
from rag.errors import EmbeddingUnavailable, RagError, SettingsError
from rag.ingestion import ingest
from rag.retrieval import retrieve
from rag.settings import Settings

PAPERS = [
    {"title": "Zorblat Networks for tide forecasting",
     "abstract": "Zorblat Networks forecast coastal tides from sparse buoy readings."},
    {"title": "Gradient clipping from norm history",
     "abstract": "We choose a gradient clipping threshold from the history of gradient norms."},
    {"title": "Learned optimizers at scale",
     "abstract": "Learned optimizers meta-trained on small tasks generalize to bigger models."},
]


@pytest.fixture
def server():
    with FakeEmbedServer(free_port(), dim=32) as srv:
        yield srv


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n")
    return path


def _settings(tmp_path, base_url: str, **kw) -> Settings:
    index_view.clear_cache()
    return Settings(home=tmp_path, chroma_path=tmp_path / "chroma", provider="fake",
                    embed_base_url=base_url, embed_api_model="fake-minilm",
                    embed_timeout=kw.pop("embed_timeout", 5.0),
                    embed_retries=kw.pop("embed_retries", 0), **kw)


def test_ingest_and_retrieve_through_the_endpoint(server, corpus, tmp_path):
    s = _settings(tmp_path, server.base_url, embed_batch_size=2)
    report = ingest(corpus, settings=s)
    assert report.chunks_added == 3 and report.timings["embed"] > 0
    assert server.state["requests"] >= 2  # batched: 3 chunks, 2 per request
    assert retrieve("tides from buoy readings", k=1, settings=s)[0].title.startswith("Zorblat")
    meta = store.collection(s).metadata
    assert meta["embed_model"] == f"api:fake-minilm@{server.base_url}"
    assert meta["embed_dim"] == 32
    # Re-ingest embeds nothing.
    before = server.state["texts"]
    assert ingest(corpus, settings=s).chunks_added == 0
    assert server.state["texts"] == before


def test_querying_with_another_embedder_is_an_error(server, corpus, tmp_path):
    s = _settings(tmp_path, server.base_url)
    ingest(corpus, settings=s)
    other = s.with_overrides(embed_api_model="another-model")
    with pytest.raises(RagError, match="built with embedder 'api:fake-minilm@.*rebuild"):
        retrieve("tides", settings=other)
    local = Settings(home=tmp_path, chroma_path=tmp_path / "chroma", embed_model="fake")
    with pytest.raises(RagError, match="built with embedder"):
        retrieve("tides", settings=local)


def test_a_transient_failure_is_retried(server, corpus, tmp_path):
    server.state["fail_first"] = 2  # two 503s, then fine
    s = _settings(tmp_path, server.base_url, embed_retries=2)
    assert ingest(corpus, settings=s).chunks_added == 3
    assert server.state["requests"] >= 3


def test_server_down(corpus, tmp_path):
    s = _settings(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(EmbeddingUnavailable, match="Cannot reach the embedding endpoint.*start it"):
        ingest(corpus, settings=s)


def test_server_error_500(server, corpus, tmp_path):
    server.state["mode"] = "error"
    s = _settings(tmp_path, server.base_url, embed_retries=1)
    with pytest.raises(EmbeddingUnavailable, match="HTTP 500 after 1 retries: model crashed"):
        ingest(corpus, settings=s)
    assert server.state["requests"] == 2  # the first try and one retry


def test_server_too_slow(server, corpus, tmp_path):
    server.state.update(mode="slow", delay=3.0)
    s = _settings(tmp_path, server.base_url, embed_timeout=0.3)
    with pytest.raises(EmbeddingUnavailable,
                       match=r"did not answer within 0.3 s.*RAG_EMBED_TIMEOUT"):
        ingest(corpus, settings=s)


def test_wrong_dimension_at_query_time(server, corpus, tmp_path):
    s = _settings(tmp_path, server.base_url)
    ingest(corpus, settings=s)
    server.state["dim"] = 16  # the server now serves another model under the same name
    with pytest.raises(EmbeddingUnavailable, match="16-d vectors but the index holds 32-d"):
        retrieve("tides", settings=s)


def test_wrong_dimension_when_adding_to_an_index(server, corpus, tmp_path):
    s = _settings(tmp_path, server.base_url)
    ingest(corpus, settings=s)
    server.state["dim"] = 16
    more = tmp_path / "more.jsonl"
    more.write_text(corpus.read_text() + json.dumps(
        {"title": "A new paper", "abstract": "Something else entirely."}) + "\n")
    with pytest.raises(EmbeddingUnavailable, match="16-d vectors but the index holds 32-d"):
        ingest(more, settings=s)


def test_expected_dimension_setting(server, corpus, tmp_path):
    s = _settings(tmp_path, server.base_url, embed_api_dim=384)
    with pytest.raises(EmbeddingUnavailable, match="returned 32-d vectors but RAG_EMBED_API_DIM "
                                                   "is 384"):
        ingest(corpus, settings=s)


def test_base_url_needs_a_model_name(monkeypatch):
    from rag.settings import load_settings

    monkeypatch.setenv("RAG_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(SettingsError, match="RAG_EMBED_API_MODEL"):
        load_settings()
