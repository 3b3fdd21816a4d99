"""Question answering over a collection of ML papers, with citations.

    >>> import rag
    >>> a = rag.ask("Which paper interpolates tasks for meta-learning?")
    >>> print(a.text); print(a.references())
"""

import threading as _threading

from rag import offline as _offline  # noqa: F401  (must run before llama-index/tiktoken load)
from rag.errors import (
    BadInput,
    CorpusFormatError,
    EmbeddingUnavailable,
    IndexBusy,
    IndexCorrupt,
    IndexNotFound,
    IndexUnavailable,
    LLMUnavailable,
    ModelNotPrepared,
    RagError,
    SettingsError,
)
from rag.types import Answer, Citation, Claim, Paper, Quote, Source

__all__ = [
    "ask", "ask_stream", "retrieve", "ingest", "preload",
    "Answer", "Citation", "Claim", "Paper", "Quote", "Source",
    "RagError", "BadInput", "CorpusFormatError", "EmbeddingUnavailable", "IndexBusy",
    "IndexCorrupt", "IndexNotFound", "IndexUnavailable", "LLMUnavailable", "ModelNotPrepared",
    "SettingsError",
]


# One lock for the heavy first imports made through this package (preload and the lazy names
# below): a server's request threads that arrive while another thread is importing wait for it.
_import_lock = _threading.RLock()


def preload() -> None:
    """Import the modules that answer, retrieve and ingest, now, in the calling thread.

    They load lazily so `import rag` stays fast, but a server must not let its first requests
    race to import them: llama-index's package has import cycles, and a second thread importing
    it while the first is half-way gets "cannot import name … from partially initialized module"
    (seen on a fresh `make run`: the page header's load and the first question arrived together
    and the header failed). Servers call this once they listen, and every request handler that
    needs these modules calls it first: the first call imports, a concurrent one waits for it,
    later ones return at once."""
    with _import_lock:
        from rag import answer, ingestion, retrieval  # noqa: F401


def __getattr__(name):
    # Heavy imports (torch, chromadb, llama-index) load on first use, so `import rag` stays fast.
    if name in {"ask", "ask_stream"}:
        with _import_lock:
            from rag import answer

        return getattr(answer, name)
    if name == "retrieve":
        with _import_lock:
            from rag.retrieval import retrieve

        return retrieve
    if name == "ingest":
        with _import_lock:
            from rag.ingestion import ingest

        return ingest
    raise AttributeError(name)
