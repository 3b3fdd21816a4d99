"""Token counts as chunking, evidence budgets and benchmarks count them (tiktoken, cl100k).

Its own module so the query path (evidence budgets, the prompt) counts tokens without
importing the ingest pipeline and llama-index with it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache


@cache
def tokenizer() -> Callable[[str], list[int]]:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base").encode


def token_len(text: str) -> int:
    """Tokens in ``text`` (cl100k_base)."""
    return len(tokenizer()(text))
