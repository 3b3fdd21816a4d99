"""Query-time embedding without llama-index (`rag.query_encoder.get_encoder` picks it).

Why a second door to the same models: the embedders in rag/embeddings.py are llama-index
`BaseEmbedding`s, and importing that class imports all of `llama_index.core` — ~1.3 s on an
idle 2-core machine, 3 s on a loaded one, more than half of what `rag retrieve` took before it
printed anything. A query needs one vector from the same model, not the framework. So the
packaged MiniLM (ONNX) and the test embedder are reached here directly; `rag/embeddings.py`
wraps the *same* encoder objects for ingest, so a query and the chunks it is compared with
always come from one model instance. The torch fallback and an embeddings endpoint go
through the llama-index classes, which already answer `get_query_embedding` and
`get_text_embedding_batch` the same way.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Protocol

import numpy as np

from rag.settings import Settings

_WORD = re.compile(r"[a-z0-9]+")


class Encoder(Protocol):
    def get_query_embedding(self, query: str) -> list[float]: ...

    def get_text_embedding_batch(self, texts: list[str], **kw) -> list[list[float]]: ...


def hash_vector(text: str, dim: int = 256) -> list[float]:
    """The fake embedder's vector: a hashed, signed bag of words, normalised. Texts sharing
    words get similar vectors, so retrieval tests stay meaningful without a model."""
    v = np.zeros(dim, dtype=np.float32)
    for w in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        v[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    n = float(np.linalg.norm(v))
    return (v / n).tolist() if n else v.tolist()


class HashEncoder:
    def __init__(self, dim: int = 256):
        self.dim = dim

    def get_query_embedding(self, query: str) -> list[float]:
        return hash_vector(query, self.dim)

    def get_text_embedding_batch(self, texts: list[str], **kw) -> list[list[float]]:
        return [hash_vector(t, self.dim) for t in texts]


class OnnxEncoder:
    """The exported MiniLM (rag/onnxmodel.py): one loaded session, shared with ingest."""

    def __init__(self, model, batch_size: int):
        self.model = model
        self.batch_size = batch_size

    def get_query_embedding(self, query: str) -> list[float]:
        return self.model.encode([query])[0].tolist()

    def get_text_embedding_batch(self, texts: list[str], **kw) -> list[list[float]]:
        return self.model.encode(list(texts), batch_size=self.batch_size).tolist()


_encoders: dict[tuple, Encoder] = {}
_lock = threading.Lock()


def direct(settings: Settings) -> Encoder | None:
    """The llama-index-free encoder for ``settings``, or None when it needs the framework
    (an endpoint, the torch fallback, or no ONNX export yet — `rag.embeddings` explains
    which and says what to run)."""
    if settings.embed_base_url:
        return None
    key = (settings.embed_model, settings.embed_backend, str(settings.onnx_dir),
           settings.embed_batch_size)
    with _lock:
        enc = _encoders.get(key)
        if enc is None:
            if settings.embed_model == "fake":
                enc = HashEncoder()
            elif settings.embed_backend != "torch":
                from rag import onnxmodel

                if not onnxmodel.is_ready(settings.onnx_dir):
                    return None
                enc = OnnxEncoder(onnxmodel.OnnxMiniLM(settings.onnx_dir),
                                  settings.embed_batch_size)
            else:
                return None
            _encoders[key] = enc
        return enc
