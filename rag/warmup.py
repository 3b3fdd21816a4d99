"""Warm a long-running server before its first question: embedder, index and local model.

Without it the first question after `make run` pays for loading the embedding model, reading the
index into BM25 and starting llama.cpp, and then for the model reading the whole system prompt
(~250 tokens, several seconds on a 2-core laptop). The warm-up does all of that in a background
thread while the user reads the page; the model server keeps the system prompt's tokens in its
prompt cache, so the first real prompt, which starts with the same system message, only reads
what follows it. Everything here is best effort: a failure is logged and the question that
follows reports it properly.
"""

from __future__ import annotations

import logging
import threading

from rag.settings import Settings

log = logging.getLogger(__name__)

#: What the embedded model is doing, for a page that says when the first answer will be quick:
#: "" (not started here, or not the embedded model), "loading" (starting the server or reading
#: the system prompt into its cache), "ready", or "failed" (the first question reports why).
model_state = ""


def _set_state(state: str) -> None:
    global model_state
    model_state = state


def warm_up(settings: Settings) -> dict[str, bool]:
    """Load what the first answer needs; returns which parts succeeded (for tests and logs)."""
    from rag.answer import build_messages
    from rag.llm import get_model
    from rag.retrieval import retrieve
    from rag.tokens import token_len

    done = {"retrieval": False, "model": False}
    try:
        retrieve("warm up the retriever", k=1, settings=settings)
        # Evidence budgets count tokens: loading tiktoken's encoding was ~0.2 s of the first
        # answer's own time, about a sixth of a short answer's time to first text.
        token_len("warm up the token counter")
        done["retrieval"] = True
    except Exception as e:  # the header and the first question say what is wrong
        log.info("warm-up: retrieval not ready (%s)", e)
    # Only the embedded model: a remote endpoint would bill for the tokens, the fake needs none.
    if settings.uses_local_llm and settings.provider != "fake":
        _set_state("loading")
        try:
            # An answer's own messages with no sources: the same system message comes first.
            get_model(settings).complete(build_messages("Hi", [], settings, context=""),
                                         max_tokens=1)
            done["model"] = True
            _set_state("ready")
        except Exception as e:
            log.info("warm-up: model not ready (%s)", e)
            _set_state("failed")
    return done


def start_model_server(settings: Settings) -> threading.Thread | None:
    """Start the embedded model server now, in the background, before the caller imports its
    web framework: loading llama.cpp and the 1.1 GB model then overlaps Gradio's ~4 s of
    imports instead of following them, so less of it is left when the first question comes
    (`bench/page_vs_cli.py` measures that first question against a warm one). `warm_up` later
    finds the server starting or up and only reads the system prompt into its cache."""
    if not (settings.warm_up and settings.uses_local_llm and settings.provider != "fake"):
        return None
    from rag.llm import local_server

    _set_state("loading")

    def run() -> None:
        try:
            local_server(settings).ensure()
        except Exception as e:  # the first question reports it properly
            log.info("early model start failed (%s)", e)

    t = threading.Thread(target=run, name="rag-model-start", daemon=True)
    t.start()
    return t


def start(settings: Settings) -> threading.Thread:
    t = threading.Thread(target=warm_up, args=(settings,), name="rag-warm-up", daemon=True)
    t.start()
    return t


def prepare_server(settings: Settings) -> None:
    """What a long-running server (the UI, `rag serve`) does before it accepts requests."""
    import rag
    from rag.memory import limit_arenas

    limit_arenas()  # before its worker threads exist (rag/memory.py has the numbers)
    rag.preload()  # its first concurrent requests must not race to import llama-index
    if settings.warm_up:
        start(settings)  # while the first page or request arrives
