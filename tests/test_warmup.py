"""The background warm-up of a server, and the malloc arena cap."""

from __future__ import annotations

import subprocess
import sys

import rag
from rag import retrieval, warmup
from rag.answer import build_messages


def test_warm_up_loads_the_index_and_leaves_the_fake_model_alone(fake_settings, llm):
    retrieval.clear_cache()
    done = warmup.warm_up(fake_settings)
    assert done == {"retrieval": True, "model": False}
    assert retrieval._cache  # the index (and its BM25) is read: the first question reuses it
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
