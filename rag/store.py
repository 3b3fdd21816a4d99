"""The Chroma collection: embedded `PersistentClient` by default, a Chroma server when
`RAG_CHROMA_HOST` is set (several app processes sharing one index, or a corpus too big for one
laptop process).

Why this shape:

* **One client per process and location.** Chroma's shared-system setup (the per-path
  `System` it builds on first use) is not safe to race: eight threads opening the same path at
  once failed with `'RustBindingsAPI' object has no attribute 'bindings'` or "Could not connect
  to tenant default_tenant". The Gradio page fires its header, tabs and first question at the
  same moment, so clients are created once, behind a lock, and reused by ingest, retrieval and
  the UI.
* **Errors never advise destroying a good index.** A failure to open is retried once with a
  fresh Chroma system; only when the files are verifiably damaged (SQLite's integrity check
  fails) is the user told to set the folder aside and rebuild. Anything else is reported as the
  transient failure it is (`IndexUnavailable`), with the index left alone.
* Embeddings are always computed by us and passed in: Chroma's default embedding function would
  download an ONNX model at run time, which fails offline.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings

from rag.errors import (
    EmbeddingUnavailable,
    IndexCorrupt,
    IndexNotFound,
    IndexUnavailable,
    RagError,
)
from rag.settings import Settings

log = logging.getLogger(__name__)

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
#: Bumped whenever this process wrote to an index or dropped its clients: readers holding an
#: in-memory view (rag/index_view.py) check the store again at once, not after their recheck
#: interval.
_generation = 0


def changed() -> None:
    """Record that this process changed an index (`generation`)."""
    global _generation
    _generation += 1


def generation() -> int:
    """How many times this process has changed an index (`changed`)."""
    return _generation


SQLITE_FILE = "chroma.sqlite3"


def _key(settings: Settings) -> tuple:
    if settings.chroma_host:
        return ("http", settings.chroma_host, settings.chroma_port)
    return ("path", str(Path(settings.chroma_dir).resolve()))


def client(settings: Settings, create: bool = False):
    """The process's Chroma client for ``settings``' location, created on first use.

    ``create`` allows making a new, empty index folder (ingest); otherwise a missing index is
    `IndexNotFound`. Failures are not cached: the next call tries again.
    """
    key = _key(settings)
    with _clients_lock:
        c = _clients.get(key)
        if c is not None:
            return c
        c = _open_http(settings) if settings.chroma_host else _open_path(settings, create)
        _clients[key] = c
        return c


def reopen(settings: Settings):
    """The collection through a fresh client: for after another process changed the index.

    An embedded client keeps the vector index it loaded; it never sees vectors another process
    (`rag ingest` while the UI runs) added, and fetching their ids fails inside Chroma. A new
    Chroma system for the path reads the index as it is on disk now. A server needs nothing."""
    if not settings.chroma_host:
        key = _key(settings)
        with _clients_lock:
            _clients.pop(key, None)
            _forget_chroma_systems(key[1])
    changed()
    return collection(settings)


def reset_clients() -> None:
    """Forget every cached client (tests; after the index folder was removed by hand)."""
    with _clients_lock:
        _clients.clear()
    _forget_chroma_systems()
    changed()


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _open_http(settings: Settings):
    assert settings.chroma_host  # only called when a server is configured
    try:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=_chroma_settings()
        )
    except Exception as e:
        raise RagError(
            f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
            f"({e}); start it (`chroma run --path DIR --host 127.0.0.1`) or unset "
            "RAG_CHROMA_HOST to use the embedded store."
        ) from None


def _open_path(settings: Settings, create: bool):
    path = Path(settings.chroma_dir).resolve()  # also the key Chroma caches its system under
    if not create and not (path / SQLITE_FILE).exists():
        raise IndexNotFound(
            f"No index at {path}. Build it with `rag ingest` (or `make run`), or set "
            "RAG_CHROMA_PATH to an existing index."
        )
    path.mkdir(parents=True, exist_ok=True)
    first: Exception | None = None
    for attempt in (1, 2):
        try:
            return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as e:  # Chroma raises many types here; all are diagnosed below
            first = first or e
            log.warning("opening the index at %s failed (attempt %d): %s: %s",
                        path, attempt, type(e).__name__, e)
            # A half-built shared system from a failed attempt would be handed back again.
            _forget_chroma_systems(str(path))
    raise diagnose(path, first)


def _forget_chroma_systems(identifier: str | None = None) -> None:
    try:
        from chromadb.api.shared_system_client import SharedSystemClient
    except ImportError:  # pragma: no cover - Chroma moved it
        return
    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    if not isinstance(systems, dict):  # pragma: no cover
        return
    if identifier is None:
        systems.clear()
    else:
        systems.pop(identifier, None)


def integrity_problem(path: Path) -> str | None:
    """What SQLite's integrity check says is wrong with the index at ``path`` (None if fine).

    Opened read-only, so checking never changes the index."""
    db = Path(path) / SQLITE_FILE
    if not db.exists():
        return f"{db.name} is missing"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            return None  # another process is writing: that is not damage
        return f"SQLite cannot read {db.name}: {e}"
    except sqlite3.DatabaseError as e:
        return f"SQLite cannot read {db.name}: {e}"
    verdict = [r[0] for r in rows]
    return None if verdict == ["ok"] else "; ".join(verdict[:3])


def diagnose(path: Path, error: Exception | None) -> RagError:
    """The error to raise after an index failed to open twice: corrupt only if verifiably so."""
    what = f"{type(error).__name__}: {error}" if error else "unknown error"
    problem = integrity_problem(path)
    if problem:
        return IndexCorrupt(
            f"The index at {path} is damaged ({problem}). Move that folder aside (keep it if "
            "you want to inspect it) and run `rag ingest` to build a new one."
        )
    return IndexUnavailable(
        f"The index at {path} could not be opened just now ({what}). Its files look intact "
        "(SQLite integrity check passed), so nothing needs deleting: try again in a moment. "
        "If it keeps failing, check that no other program holds it."
    )


def collection(settings: Settings, create: bool = False, name: str | None = None):
    """The index's chunk collection, or the one called ``name`` in the same store (the
    sentence vectors, rag/sentences.py)."""
    name = name or settings.collection
    c = client(settings, create=create)
    if create:
        try:
            return c.get_or_create_collection(
                name,
                metadata={"hnsw:space": "cosine", "embed_model": settings.embedder_id},
                embedding_function=None,
            )
        except Exception as e:
            raise RagError(f"Cannot create collection {name!r}: {e}") from None
    first: Exception | None = None
    for _ in (1, 2):
        try:
            return c.get_collection(name, embedding_function=None)
        except Exception as e:
            if _is_missing_collection(e):
                raise IndexNotFound(
                    f"The index has no collection {name!r}; run `rag ingest`."
                ) from None
            first = first or e
    if settings.chroma_host:
        raise IndexUnavailable(
            f"The Chroma server at {settings.chroma_host}:{settings.chroma_port} failed to "
            f"return collection {name!r} ({type(first).__name__}: {first}); "
            "try again."
        )
    raise diagnose(Path(settings.chroma_dir), first)


def _is_missing_collection(e: Exception) -> bool:
    from chromadb.errors import NotFoundError

    return isinstance(e, NotFoundError) or "does not exist" in str(e)


def stamp(coll) -> None:
    """Mark the collection as changed (after an ingest that added or removed chunks), so other
    processes reading it rebuild their in-memory view even when the chunk count is unchanged."""
    import uuid

    meta = dict(coll.metadata or {})
    meta["ingest_stamp"] = uuid.uuid4().hex
    meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses to "change" it
    coll.modify(metadata=meta)
    changed()


def fingerprint(coll) -> tuple:
    """What changes whenever an ingest changed the collection (any process's ingest)."""
    meta = coll.metadata or {}
    return (coll.count(), meta.get("embed_model"), meta.get("ingest_stamp"))


def check_embed_model(coll, settings: Settings) -> None:
    used = (coll.metadata or {}).get("embed_model")
    if used and used != settings.embedder_id:
        raise RagError(
            f"The index was built with embedder {used!r} but the settings select "
            f"{settings.embedder_id!r} (RAG_EMBED_MODEL, RAG_EMBED_BASE_URL, "
            "RAG_EMBED_API_MODEL); set them back or rebuild with `rag ingest --rebuild`."
        )


def check_dimension(coll, dim: int) -> None:
    """A vector of another length than the index's is an embedder mismatch, said as one (Chroma
    would raise an internal error). Old indexes without the record are not checked."""
    want = (coll.metadata or {}).get("embed_dim")
    if want and int(want) != dim:
        raise EmbeddingUnavailable(
            f"The embedder returned {dim}-d vectors but the index holds {want}-d ones: it is "
            "not the model that built the index. Point the settings at that model, or rebuild "
            "with `rag ingest --rebuild`."
        )


def record_dimension(coll, dim: int) -> None:
    meta = dict(coll.metadata or {})
    if meta.get("embed_dim") != dim:
        meta["embed_dim"] = dim
        meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses to "change" it
        coll.modify(metadata=meta)
