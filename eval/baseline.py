"""The no-retrieval baseline: the same LLM answering from its own weights, with no sources.

It tells what retrieval buys. A 1.5B model knows little about specific 2023-24 papers, so its
key-fact coverage should sit far below the RAG numbers; if it does not, the questions are
answerable from general knowledge and test the model, not the retrieval. It is scored only on
what makes sense without sources: key-fact coverage and refusal.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import prompts
from eval import metrics
from rag.llm import get_model
from rag.settings import Settings


@dataclass
class BaselineResult:
    text: str
    refused: bool
    total: float  # seconds
    key_fact_coverage: float | None
    refusal_correct: bool | None
    false_refusal: bool | None

    def to_dict(self) -> dict:
        return asdict(self)


def answer_without_sources(item: dict, settings: Settings) -> BaselineResult:
    msg = prompts.render("no_retrieval", question=item["question"])
    t0 = time.perf_counter()
    text = get_model(settings).complete([{"role": "user", "content": msg}],
                                        max_tokens=settings.max_tokens).strip()
    total = time.perf_counter() - t0
    refused = metrics.looks_refused(text)
    answerable = bool(item.get("answerable", True))
    return BaselineResult(
        text=text, refused=refused, total=round(total, 3),
        key_fact_coverage=(metrics.key_fact_coverage(text, item.get("key_facts") or [])
                           if answerable else None),
        refusal_correct=metrics.refusal_correct(answerable, refused),
        false_refusal=metrics.false_refusal(answerable, refused),
    )
