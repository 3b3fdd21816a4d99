"""The one call the query path embeds with: `get_encoder(settings)`.

The llama-index-free encoder (`rag.encoders.direct`) when there is one; otherwise the
llama-index embedder of rag/embeddings.py (an endpoint, the torch fallback, or an ONNX model
not exported yet, where it says what to run) — the same model, the same vectors. Its own module
because rag/embeddings.py builds on rag/encoders.py, and this needs both.
"""

from __future__ import annotations

from rag.encoders import Encoder, direct
from rag.settings import Settings


def get_encoder(settings: Settings) -> Encoder:
    enc = direct(settings)
    if enc is not None:
        return enc
    from rag.embeddings import get_embedder

    return get_embedder(settings)
