"""The background warm-up of a server, and the malloc arena cap."""

from __future__ import annotations

import subprocess
import sys

import rag
from rag import index_view, tokens, warmup
from rag.answer import build_messages


def test_warm_up_loads_the_index_and_leaves_the_fake_model_alone(fake_settings, llm):
    index_view.clear_cache()
    tokens.tokenizer.cache_clear()
    done = warmup.warm_up(fake_settings)
    assert done == {"retrieval": True, "model": False}
    assert index_view._cache  # the index (and its BM25) is read: the first question reuses it
    assert tokens.tokenizer.cache_info().currsize == 1  # tiktoken's encoding is loaded too
    assert llm.history == []  # no tokens spent on a model that has no prompt cache


def test_warm_up_primes_the_local_model_with_the_answers_system_message(fake_settings,
                                                                        monkeypatch):
    sent = []

    class Recorder:
        def complete(self, messages, *, max_tokens, stop=None):
            sent.append((messages, max_tokens))
            return ""

    monkeypatch.setattr("rag.llm.get_model", lambda settings: Recorder())
    local = fake_settings.with_overrides(provider="openai")
    assert local.uses_local_llm
    assert warmup.warm_up(local)["model"] is True
    (messages, max_tokens), = sent
    real = build_messages("What does MLTI do?", rag.retrieve("MLTI", k=1), local)
    # The server's prompt cache only helps if the first real prompt starts the same way.
    assert messages[0] == real[0] and messages[0]["role"] == "system" and max_tokens == 1


def test_warm_up_survives_a_missing_index(tmp_path, fake_settings):
    broken = fake_settings.with_overrides(chroma_path=tmp_path / "nothing-here")
    assert warmup.warm_up(broken) == {"retrieval": False, "model": False}


def test_limit_arenas_takes_effect_on_glibc():
    code = "from rag.memory import limit_arenas; import sys; sys.exit(0 if limit_arenas() else 1)"
    env = {"PATH": "/usr/bin:/bin"}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
    env["MALLOC_ARENA_MAX"] = "4"  # the user's own setting wins
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 1


def test_the_model_server_starts_in_the_background_before_the_ui_imports(fake_settings,
                                                                          monkeypatch):
    """`rag ui` and `rag serve` start llama.cpp first, so loading it overlaps their imports;
    never for the fake model or an endpoint, and a failure is left to the first question."""
    import threading

    started, release = [], threading.Event()

    class Server:
        def ensure(self):
            started.append(threading.current_thread().name)
            release.wait(5)  # a real server takes seconds: the caller must not wait
            raise RuntimeError("port taken")

    monkeypatch.setattr("rag.llm.local_server", lambda settings: Server())
    assert warmup.start_model_server(fake_settings) is None  # the fake model
    remote = fake_settings.with_overrides(provider="openai", openai_base_url="http://x/v1")
    assert warmup.start_model_server(remote) is None
    local = fake_settings.with_overrides(provider="openai")
    t = warmup.start_model_server(local)
    assert t is not None and t.is_alive()
    release.set()
    t.join(5)
    assert started == ["rag-model-start"] and not t.is_alive()


def test_the_header_says_the_model_is_warming_up_until_it_is_ready(fake_settings,
                                                                   monkeypatch):
    """The page's header notes that the first answer waits for the model while it loads, and
    the page stops polling once the warm-up has read the system prompt."""
    from concurrent.futures import Future

    from ui.handlers import header_while_warming

    class Slow:
        def complete(self, messages, *, max_tokens, stop=None):
            assert warmup.model_state == "loading"  # while the system prompt is read
            return ""

    monkeypatch.setattr("rag.llm.get_model", lambda settings: Slow())
    monkeypatch.setattr(warmup, "model_state", "")
    warm: Future = Future()
    warm.set_result({"papers": 449, "chunks": 1162})
    monkeypatch.setattr(warmup, "model_state", "loading")
    text, again = header_while_warming(fake_settings, warm)
    assert "warming up: the first answer waits for it" in text and again
    assert "449 papers" in text
    warmup.warm_up(fake_settings.with_overrides(provider="openai"))
    assert warmup.model_state == "ready"
    text, again = header_while_warming(fake_settings, warm)
    assert "warming up" not in text and not again

    def broken(settings):
        raise RuntimeError("no model")

    monkeypatch.setattr("rag.llm.get_model", broken)
    warmup.warm_up(fake_settings.with_overrides(provider="openai"))
    assert warmup.model_state == "failed"  # the first question says what is wrong
    assert not header_while_warming(fake_settings, warm)[1]
    pending: Future = Future()
    assert header_while_warming(fake_settings, pending)[1]  # the index is not open yet
