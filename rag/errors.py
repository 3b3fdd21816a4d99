"""Errors a user can act on.

Every failure that reaches a person (CLI, UI, `ask()` caller) is one of these, and its message
says what happened and what to do next. Anything else escaping is a bug.
"""


class RagError(Exception):
    """Base class: the message is meant to be shown to a user as is."""


class BadInput(RagError, ValueError):
    """The question or an argument is unusable (empty, too long, out of range)."""


class SettingsError(RagError, ValueError):
    """An environment variable holds a value that cannot be used."""


class CorpusFormatError(RagError, ValueError):
    """A corpus file cannot be parsed; the message names the file and line."""


class IndexNotFound(RagError):
    """There is no index (or it is empty or unreadable): run `rag ingest`."""


class IndexCorrupt(IndexNotFound):
    """The index files are verifiably damaged (SQLite's integrity check fails): rebuild it."""


class IndexUnavailable(RagError):
    """The index could not be opened or read just now, but its files are intact: try again.

    Never a reason to delete the index."""


class IndexBusy(RagError):
    """Another ingest holds the index lock."""


class LLMUnavailable(RagError):
    """The LLM endpoint cannot be reached or keeps failing."""


class ModelNotPrepared(RagError):
    """The embedded local model's weights are not assembled yet."""


class EmbeddingUnavailable(RagError):
    """The embedding model cannot be used: an endpoint is down, slow, failing or returns
    vectors that do not fit the index."""


class PortInUse(RagError):
    """A server cannot listen on its port: another program (often an earlier `rag ui`) has it."""
