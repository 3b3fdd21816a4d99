"""Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (TEI, vLLM, Ollama,
Infinity, OpenAI itself): `RAG_EMBED_BASE_URL` + `RAG_EMBED_API_MODEL`.

Why this shape:

* **The `openai` client, not hand-written HTTP.** It retries connection errors, 408/409/429 and
  5xx with backoff (`RAG_EMBED_RETRIES`), enforces `RAG_EMBED_TIMEOUT`, and asks for base64
  vectors, which are ~4× smaller on the wire than JSON floats and decode with numpy — what
  lets ingest keep up with a fast server (`bench/embed_endpoint.py`). Servers that answer with
  float lists work too.
* **Batched** by llama-index (`RAG_EMBED_BATCH_SIZE` texts per request).
* **Every failure is an `EmbeddingUnavailable` saying what to do**: the server is down, timed
  out, answered with an error, or returned vectors that cannot be this index's (wrong count,
  mixed dimensions, not `RAG_EMBED_API_DIM`). A dimension that differs from the index's is
  caught by `store.check_dimension`, before Chroma reports it as an internal error.
* **Vectors are L2-normalised here**: retrieval and evidence selection read dot products as
  cosines, and not every server normalises (Ollama does not).
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import PrivateAttr

from rag.embedding_base import BatchEmbedding
from rag.errors import EmbeddingUnavailable
from rag.settings import Settings


class EndpointEmbedding(BatchEmbedding):
    base_url: str
    expected_dim: int | None = None  # RAG_EMBED_API_DIM (the index's own is checked in store)
    _client: object = PrivateAttr(default=None)
    _timeout: float = PrivateAttr(default=30.0)
    _retries: int = PrivateAttr(default=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> EndpointEmbedding:
        from openai import OpenAI

        assert settings.embed_base_url and settings.embed_api_model  # validated in Settings
        e = cls(model_name=settings.embed_api_model, base_url=settings.embed_base_url,
                embed_batch_size=settings.embed_batch_size, expected_dim=settings.embed_api_dim)
        e._timeout, e._retries = settings.embed_timeout, settings.embed_retries
        e._client = OpenAI(base_url=settings.embed_base_url,
                           api_key=settings.embed_api_key or "unused",
                           timeout=settings.embed_timeout, max_retries=settings.embed_retries)
        return e

    def _where(self) -> str:
        return f"The embedding endpoint {self.base_url} (model {self.model_name!r})"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        try:
            resp = self._client.embeddings.create(  # type: ignore[attr-defined]
                model=self.model_name, input=texts)
        except openai.APITimeoutError:
            raise EmbeddingUnavailable(
                f"{self._where()} did not answer within {self._timeout:g} s "
                f"({self._retries} retries); check that it is not overloaded, or raise "
                "RAG_EMBED_TIMEOUT."
            ) from None
        except openai.APIConnectionError as e:
            where = self._where()
            raise EmbeddingUnavailable(
                f"Cannot reach {where[0].lower()}{where[1:]} ({e.__cause__ or e}); start it, "
                "or unset "
                "RAG_EMBED_BASE_URL to embed with the packaged model (then the index must be "
                "rebuilt)."
            ) from None
        except openai.APIStatusError as e:
            raise EmbeddingUnavailable(
                f"{self._where()} answered HTTP {e.status_code}"
                f"{f' after {self._retries} retries' if e.status_code >= 500 else ''}: "
                f"{_short(re.sub(r'^Error code: [0-9]+ - ', '', e.message))}. Check the "
                "server's log and RAG_EMBED_API_MODEL."
            ) from None
        except (openai.APIError, ValueError) as e:
            raise EmbeddingUnavailable(f"{self._where()} sent an unusable reply: {e}") from None
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise EmbeddingUnavailable(
                f"{self._where()} returned {len(data)} vectors for {len(texts)} texts.")
        dims = sorted({len(d.embedding) for d in data})
        if len(dims) > 1 or dims == [0]:
            raise EmbeddingUnavailable(
                f"{self._where()} returned vectors of dimensions {dims}: not one model's.")
        vecs = np.asarray([d.embedding for d in data], dtype=np.float32)
        if self.expected_dim and vecs.shape[1] != self.expected_dim:
            raise EmbeddingUnavailable(
                f"{self._where()} returned {vecs.shape[1]}-d vectors but RAG_EMBED_API_DIM is "
                f"{self.expected_dim}: it serves another model than the one expected. Check "
                "RAG_EMBED_API_MODEL (or the server's model), or fix RAG_EMBED_API_DIM."
            )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return (vecs / np.clip(norms, 1e-12, None)).tolist()


def _short(text: str, n: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n] + "…"
