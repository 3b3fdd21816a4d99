"""What the model is sent: the sources block (the evidence of each selected paper, numbered
as the model must cite it) and the chat messages around it.

The prompt is built so the local model's prefix cache works for us: the system prompt is fixed
(same tokens every call), and the variable part (sources, question) comes last. Evidence is the
sentences of the selected papers closest to the question within a token budget, not whole
abstracts: on 2 CPU cores prompt processing (~80 tokens/s) dominates the wait.
"""

from __future__ import annotations

import re

import prompts
from rag import evidence
from rag.guard import neutralise
from rag.settings import Settings
from rag.thresholds import MAX_ANSWER_SENTENCES
from rag.tokens import token_len
from rag.types import Source


def build_context(selected: list[Source], settings: Settings, question: str = "",
                  focus: list[int] | None = None) -> str:
    """The sources block. ``RAG_EVIDENCE=sentences`` (default): only the sentences that bear on
    the question (rag/evidence.py); ``passages``: each paper's best retrieved chunk, then second
    chunks while the token budget lasts (cheaper to pick, but the fact asked about is often in a
    chunk left out: `rag bench levers`);
    ``abstracts``: whole abstracts (slowest; kept as the reference the others are measured by).
    ``focus``: the numbers of the papers filled first (`rag.evidence.select`)."""
    budget = settings.context_tokens
    if settings.evidence == "sentences" and question:

        chosen = evidence.select(question, selected, settings, budget, focus)
        return "\n\n".join(
            prompts.render("source", number=s.number, title=neutralise(s.title),
                           text=neutralise(chosen.get(s.number) or s.text))
            for s in selected
        )
    if settings.evidence == "abstracts":
        # The slow baseline the levers are measured against: every abstract in full, no budget.
        return "\n\n".join(
            prompts.render("source", number=s.number, title=neutralise(s.title),
                           text=neutralise(s.abstract or s.text))
            for s in selected
        )
    texts = {s.number: [s.passages[0]] if s.passages else [s.abstract] for s in selected}
    used = sum(token_len(t[0]) for t in texts.values())
    for s in selected:
        for extra in s.passages[1:]:
            cost = token_len(extra)
            if used + cost > budget:
                break
            texts[s.number].append(extra)
            used += cost
    return "\n\n".join(
        prompts.render("source", number=s.number, title=neutralise(s.title),
                       text=neutralise(" … ".join(texts[s.number])))
        for s in selected
    )


_QUESTION_START = re.compile(
    r"^(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had|list|name|give|tell|explain|describe|compare|summari[sz]e|"
    r"show|find)\b", re.I)


def as_question(text: str) -> str:
    """People type topics into a search box ("learned optimizers for big models"); a small model
    answers those with "the sources do not say". Phrase a topic as the question it stands for."""
    if text.rstrip().endswith("?") or _QUESTION_START.match(text.strip()):
        return text
    return f"What do the sources say about: {text.strip().rstrip('.')}?"


def system_message() -> dict[str, str]:
    """The answering system prompt: the same tokens on every call, so the local model keeps
    them cached (a judge call that starts with it reads only its own part)."""
    return {"role": "system",
            "content": prompts.render("answer_system", max_sentences=MAX_ANSWER_SENTENCES)}


def build_messages(question: str, selected: list[Source], settings: Settings,
                   context: str | None = None, earlier: str | None = None) -> list[dict]:
    sources = context if context is not None else build_context(selected, settings, question)
    if earlier:
        user = prompts.render("answer_followup", sources=sources, earlier=earlier,
                              question=question)
    else:
        user = prompts.render("answer_user", sources=sources, question=as_question(question))
    return [system_message(), {"role": "user", "content": user}]
