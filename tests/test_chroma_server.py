"""Chroma in server mode: the same ingest and the same answers through `HttpClient`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rag
from conftest import CORPUS
from rag import store
from rag.ingestion import ingest
from rag.settings import get_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = shutil.which("chroma")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_server_mode_matches_embedded(fake_settings, chroma_server, monkeypatch, tmp_path):
    question = "meta-learning with task interpolation for few tasks"
    embedded = [(s.paper_id, s.score) for s in rag.retrieve(question, k=5)]

    monkeypatch.setenv("RAG_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("RAG_CHROMA_PORT", str(chroma_server))
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    get_settings.cache_clear()
    settings = get_settings()
    report = ingest(CORPUS)
    assert report.papers == 449 and report.chunks_added == report.chunks
    assert store.collection(settings).count() == report.chunks
    assert ingest(CORPUS).chunks_added == 0  # idempotent over HTTP too
    served = [(s.paper_id, s.score) for s in rag.retrieve(question, k=5)]
    assert served == embedded
    a = rag.ask(question)
    assert a.citations and a.sources[0].paper_id == embedded[0][0]


def test_server_down_is_a_clear_error(empty_settings, monkeypatch):
    monkeypatch.setenv("RAG_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("RAG_CHROMA_PORT", str(free_port()))
    get_settings.cache_clear()
    with pytest.raises(rag.RagError, match="Chroma server"):
        rag.retrieve("anything")
