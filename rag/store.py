"""The Chroma collection: embedded `PersistentClient` by default, a Chroma server when
`RAG_CHROMA_HOST` is set (several app processes sharing one index, or a corpus too big for one
laptop process).

Embeddings are always computed by us and passed in: Chroma's default embedding function would
download an ONNX model at run time, which fails offline.
"""

from __future__ import annotations

import chromadb
from chromadb.config import Settings as ChromaSettings
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import IndexNotFound, RagError
from rag.settings import Settings


def client(settings: Settings, create: bool = False):
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        except Exception as e:
            raise RagError(
                f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"({e}); start it (`chroma run --path DIR --host 127.0.0.1`) or unset "
                "RAG_CHROMA_HOST to use the embedded store."
            ) from None
    path = settings.chroma_dir
    if not create and not (path / "chroma.sqlite3").exists():
        raise IndexNotFound(
            f"No index at {path}. Build it with `rag ingest` (or `make run`), or set "
            "RAG_CHROMA_PATH to an existing index."
        )
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as e:
        raise IndexNotFound(
            f"The index at {path} cannot be opened ({type(e).__name__}: {e}). Delete that folder "
            "and run `rag ingest` to rebuild it."
        ) from None


def collection(settings: Settings, create: bool = False, embed_model: str | None = None):
    c = client(settings, create=create)
    try:
        if create:
            return c.get_or_create_collection(
                settings.collection,
                metadata={"hnsw:space": "cosine", "embed_model": embed_model or settings.embed_model},
                embedding_function=None,
            )
        return c.get_collection(settings.collection, embedding_function=None)
    except Exception as e:
        if create:
            raise RagError(f"Cannot create collection {settings.collection!r}: {e}") from None
        raise IndexNotFound(
            f"The index has no collection {settings.collection!r}; run `rag ingest`."
        ) from None


def vector_store(coll) -> ChromaVectorStore:
    return ChromaVectorStore(chroma_collection=coll)


def check_embed_model(coll, settings: Settings) -> None:
    used = (coll.metadata or {}).get("embed_model")
    if used and used != settings.embed_model:
        raise RagError(
            f"The index was built with embedding model {used!r} but RAG_EMBED_MODEL is "
            f"{settings.embed_model!r}; set it back or rebuild with `rag ingest --rebuild`."
        )
