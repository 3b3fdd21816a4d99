"""The shape every embedder here shares (kept apart so rag/embeddings.py and
rag/remote_embed.py can both build on it without importing each other)."""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding


class BatchEmbedding(BaseEmbedding):
    """An embedder defined by one batch call, ``_embed(texts)``: queries and single texts are
    batches of one, so each backend writes only how it turns texts into vectors."""

    def _embed(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)
