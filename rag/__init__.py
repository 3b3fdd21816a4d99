"""Question answering over a collection of ML papers, with citations.

    >>> import rag
    >>> a = rag.ask("Which paper interpolates tasks for meta-learning?")
    >>> print(a.text); print(a.references())
"""

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
    "ask", "ask_stream", "retrieve", "ingest", "Answer", "Citation", "Claim", "Paper", "Quote",
    "Source",
    "RagError", "BadInput", "CorpusFormatError", "EmbeddingUnavailable", "IndexBusy",
    "IndexCorrupt", "IndexNotFound", "IndexUnavailable", "LLMUnavailable", "ModelNotPrepared",
    "SettingsError",
]


def __getattr__(name):
    # Heavy imports (torch, chromadb, llama-index) load on first use, so `import rag` stays fast.
    if name in {"ask", "ask_stream"}:
        from rag import answer

        return getattr(answer, name)
    if name == "retrieve":
        from rag.retrieval import retrieve

        return retrieve
    if name == "ingest":
        from rag.ingestion import ingest

        return ingest
    raise AttributeError(name)
