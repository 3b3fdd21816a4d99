"""Shared fixtures: an isolated environment, the fake LLM and a fake-embedded index.

Default tests never touch the real models: `RAG_PROVIDER=fake` (scripted/extractive LLM) and
`RAG_EMBED_MODEL=fake` (deterministic hashed bag-of-words) keep them fast and offline.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import rag  # noqa: F401  (offline env first)
from rag import index_view
from rag import llm as llm_mod
from rag.fake_llm import FakeChat, shared_fake
from rag.settings import Settings, get_settings
from rag.types import Source

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus"
# The model file lives in the project (assembled by `make model`), not in the temp homes.
GGUF = Settings(home=ROOT).gguf_path

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**values: str) -> dict[str, str]:
    """This process's environment without any RAG_/OPENAI_ setting, plus ``values``: what a
    child process (a fresh `rag ui`, `rag ingest`, a race script) should start from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(values)
    return env


_RAG_VARS = [k for k in os.environ if k.startswith("RAG_") or k.startswith("OPENAI_")]


def source(n: int, title: str, abstract: str) -> Source:
    """A retrieved paper whose one passage is its abstract, numbered [n], id "p<n>"."""
    return Source(number=n, paper_id=f"p{n}", title=title, score=1.0, similarity=0.5,
                  passages=[abstract], abstract=abstract)


def fake_env(home: Path) -> dict[str, str]:
    return {
        "RAG_HOME": str(home),
        "RAG_CHROMA_PATH": str(home / "chroma"),
        "RAG_CORPUS_PATH": str(CORPUS),
        "RAG_EMBED_MODEL": "fake",
        "RAG_PROVIDER": "fake",
    }


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    for k in _RAG_VARS:
        monkeypatch.delenv(k, raising=False)
    get_settings.cache_clear()
    # Tests on the fake index get a fresh scripted model injected (fake_settings,
    # empty_settings, llm); the rest (integration, endpoint faults) use what their settings
    # say. Child processes get theirs from RAG_PROVIDER=fake (fake_env).
    llm_mod.use_model(None)
    shared_fake().replies.clear()
    shared_fake().history.clear()
    yield
    llm_mod.use_model(None)
    get_settings.cache_clear()
    index_view.clear_cache()


@pytest.fixture(scope="session")
def fake_index_home(tmp_path_factory) -> Path:
    """The bundled corpus ingested once with the fake embedder."""
    from rag.ingestion import ingest

    home = tmp_path_factory.mktemp("fake-index")
    env = fake_env(home)
    ingest(CORPUS, settings=Settings(**{k[4:].lower(): v for k, v in env.items()}))
    return home


@pytest.fixture(scope="session")
def real_home(tmp_path_factory) -> Path:
    """The bundled corpus ingested once with the real embedding model (integration tests)."""
    from rag.ingestion import ingest

    home = tmp_path_factory.mktemp("real-index")
    settings = Settings(home=home, chroma_path=home / "chroma", corpus_path=CORPUS)
    report = ingest(CORPUS, settings=settings)
    assert report.papers == 449 and report.chunks_added == report.chunks
    return home


@pytest.fixture
def fake_settings(fake_index_home, monkeypatch) -> Settings:
    """Env pointing at the shared fake index, with the fake LLM; `get_settings()` agrees."""
    for k, v in fake_env(fake_index_home).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    index_view.clear_cache()
    llm_mod.use_model(FakeChat())
    return get_settings()


@pytest.fixture
def empty_settings(tmp_path, monkeypatch) -> Settings:
    """Fake models and a fresh, empty home: for tests that ingest their own corpus."""
    for k, v in fake_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    index_view.clear_cache()
    llm_mod.use_model(FakeChat())
    return get_settings()


@pytest.fixture
def llm():
    """The fake LLM: `llm.enqueue("reply")`; `llm.history` holds every prompt sent."""
    model = llm_mod.get_model(Settings(provider="fake"))
    if model is shared_fake():  # nothing injected yet
        model = FakeChat()
        llm_mod.use_model(model)
    assert isinstance(model, FakeChat)
    return model


CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def _unavailable(reason: str):
    # Locally a missing browser is a skip; in CI the browser test must run.
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for Playwright (Playwright's own browser download is blocked)."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            _unavailable("chromium is missing and we are not root: apt-get install chromium")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run("apt-get update -qq && apt-get install -y -qq chromium", shell=True,
                           check=True, env=env, timeout=900, capture_output=True)
        except (subprocess.SubprocessError, OSError) as e:
            _unavailable(f"could not install chromium with apt-get: {e}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    return CHROMIUM
