"""One turn of a conversation: the question cleaned, the history read, and the plan of what to
search for and which papers the model is shown.

Planning is retrieval only (no LLM) unless ``RAG_CONDENSE_MODE=llm`` asks for `condense`.
A follow-up ("which datasets did it use?") is answered from the previous turn's sources, laid
out exactly as before and first in the prompt, with any newly relevant paper appended. The
model server still holds the previous prompt's tokens, so it only reads what comes after
them: the follow-up's first token arrives in about a second instead of re-reading ~1k tokens
(and, with RAG_CONDENSE_MODE=llm, after an extra LLM call to rewrite the question).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace

import prompts
from rag.errors import BadInput
from rag.identify import compared_among
from rag.llm import get_model
from rag.messages import build_context
from rag.names import mentions
from rag.retrieval import papers_writing, retrieve, unique_names
from rag.settings import Settings
from rag.thresholds import CONDENSE_ANSWER_CHARS, CONDENSE_MAX_TOKENS
from rag.types import Source

History = Iterable[dict | tuple | list]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_question(question: str, settings: Settings) -> str:
    if not isinstance(question, str):
        raise BadInput("The question must be text.")
    # Lone surrogates (invalid Unicode from a broken client) become U+FFFD instead of crashing
    # the tokenizer later; control characters are dropped.
    q = _SURROGATE.sub("\ufffd", question)
    q = unicodedata.normalize("NFC", _CONTROL.sub(" ", q))
    q = " ".join(q.split())
    if not q:
        raise BadInput("The question is empty; type a question about the papers.")
    if len(q) > settings.max_question_chars:
        raise BadInput(
            f"The question is {len(q):,} characters long; the limit is "
            f"{settings.max_question_chars:,} (RAG_MAX_QUESTION_CHARS). Shorten it."
        )
    return q


def normalise_history(history: History | None) -> list[tuple[str, str]]:
    """Accepts [(user, assistant), ...] or OpenAI/Gradio-style [{'role','content'}, ...]."""
    turns: list[tuple[str, str]] = []
    pending_user: str | None = None
    for item in history or []:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if isinstance(content, list):  # Gradio 6: [{"type": "text", "text": ...}, ...]
                content = " ".join(p.get("text", "") for p in content
                                   if isinstance(p, dict) and p.get("type") == "text")
            if not isinstance(content, str):
                continue
            if role == "user":
                pending_user = content
            elif role == "assistant" and pending_user is not None:
                turns.append((pending_user, content))
                pending_user = None
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            u, a = item
            if isinstance(u, str):
                turns.append((u, a if isinstance(a, str) else ""))
    return turns


def condense(question: str, history: list[tuple[str, str]], settings: Settings) -> str:
    """Rewrite a follow-up into a standalone question (only the last two turns matter)."""
    lines = []
    for user, assistant in history[-2:]:
        lines.append(f"User: {user}")
        short = re.sub(r"\s*\[\d+\]", "", assistant)[:CONDENSE_ANSWER_CHARS]
        lines.append(f"Assistant: {short}")
    msg = prompts.render("condense", history="\n".join(lines), question=question)
    out = get_model(settings).complete(
        [{"role": "user", "content": msg}], max_tokens=CONDENSE_MAX_TOKENS, stop=["\n"]
    ).strip().strip('"')
    out = re.sub(r"^(standalone question:)\s*", "", out, flags=re.I).strip()
    return out if len(out) >= 3 else question


def select_sources(sources: list[Source], settings: Settings, question: str = ""
                   ) -> list[Source]:
    """Which retrieved papers go into the prompt: the relevance floor, then a score-gap rule
    (papers far below the best one are noise to a small model and cost prompt time).

    A paper the question names passes both: the one paper that contains a name it asks about
    (an acronym such as "MLTI": a small embedding model scores "How many datasets was MLTI
    evaluated on?" below the floor against the very paper that defines MLTI, while the exact
    name is decisive), and every paper a comparison names (`rag.identify.compared_among`):
    asked to compare "the distributed Shampoo implementation and the earlier scalable
    second-order optimization paper", the second scores far below the first, and without it
    the comparison has one side."""
    if not sources:
        return []
    names = unique_names(question, settings) if question else set()
    named = {s.paper_id for s in sources
             if any(mentions(f"{s.title} {s.abstract or s.text}", n) for n in names)}
    if question:
        named |= {s.paper_id for s in compared_among(
            question, sources, names, lambda p: papers_writing(p, settings))}
    best = max(s.similarity for s in sources)
    if best < settings.min_similarity and not named:
        return []
    cutoff = max(settings.min_similarity, best * settings.relative_floor)
    return [s for s in sources if s.similarity >= cutoff or s.paper_id in named]


_REFERS_BACK = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|she|his|her|"
    r"the (same|paper|papers|method|methods|model|models|approach|authors?|work|study|"
    r"technique|results?|dataset|datasets|benchmark|benchmarks|system|framework|one|ones|"
    r"above|former|latter)|former|latter|above|previous|earlier)\b", re.I)
_MAX_FOLLOW_TURNS = 3  # how many earlier turns a follow-up's sources are traced through
_MAX_NEW_SOURCES = 2  # papers a follow-up may add to the previous turn's


def refers_back(question: str) -> bool:
    """Does this question lean on the conversation (pronouns, "the paper", or very short)?"""
    words = question.split()
    return bool(_REFERS_BACK.search(question)) or len(words) <= 3


@dataclass
class Plan:
    """What one turn searched for and showed the LLM: ``selected`` numbered 1..n in prompt
    order, the rendered sources block, and every retrieved source (for the sources panel);
    ``earlier`` is the question a follow-up builds on."""

    query: str
    selected: list[Source]
    retrieved: list[Source]
    context: str
    earlier: str | None = None


def fresh_plan(query: str, k: int, mode: str | None, settings: Settings,
                timings: dict | None = None) -> Plan:
    return _plan_from(query, retrieve(query, k, mode=mode, settings=settings, timings=timings),
                      settings)


def _plan_from(query: str, sources: list[Source], settings: Settings) -> Plan:
    selected = select_sources(sources, settings, query)
    for i, s in enumerate(selected, start=1):
        s.number = i
    context = build_context(selected, settings, query, _focus(query, selected, settings)) \
        if selected else ""
    return Plan(query, selected, sources, context)


def _focus(query: str, selected: list[Source], settings: Settings) -> list[int]:
    """The numbers of the selected papers whose evidence goes in first (rag/evidence.py): the
    ones a comparison names (`compared_among`), else the top two when the runner-up's
    similarity is within ``RAG_RUNNER_UP_GAP`` of the best-ranked paper's (fusion ranked them,
    but which one the question is about is open), else none."""
    compared = compared_among(query, selected, unique_names(query, settings),
                              lambda p: papers_writing(p, settings))
    if compared:
        return [s.number for s in compared]
    gap = settings.runner_up_gap
    if gap >= 0 and len(selected) > 1 and selected[1].similarity >= selected[0].similarity - gap:
        return [selected[0].number, selected[1].number]
    return []


def _follow_plan(question: str, prev: Plan, k: int, mode: str | None, settings: Settings,
                 timings: dict | None = None) -> Plan:
    """The previous turn's sources, unchanged and first, plus up to two new relevant papers
    found by searching for the previous question and this one together."""
    query = f"{prev.query} {question}"
    sources = retrieve(query, k, mode=mode, settings=settings, timings=timings)
    if not prev.selected:
        return _plan_from(query, sources, settings)
    have = {s.paper_id for s in prev.selected}
    room = max(0, min(_MAX_NEW_SOURCES, k - len(prev.selected)))
    new = [s for s in select_sources(sources, settings, query) if s.paper_id not in have][:room]
    for i, s in enumerate(new, start=len(prev.selected) + 1):
        s.number = i
    context = prev.context
    if new:
        context += "\n\n" + build_context(new, settings, query)
    # Copies: the previous turn's Source objects keep their own numbering and flags.
    selected = [replace(s) for s in prev.selected] + new
    retrieved = selected + [s for s in sources if s.paper_id not in
                            {x.paper_id for x in selected}]
    return Plan(query, selected, retrieved, context, earlier=prev.query)


def plan_turn(question: str, turns: list[tuple[str, str]], k: int, mode: str | None,
              settings: Settings, timings: dict | None = None) -> Plan:
    """Retrieval for this turn, tracing the sources of the turns it follows up on.

    Earlier turns are re-planned (retrieval only, ~20 ms each, no LLM) so the sources block
    comes out byte-identical to what the model read last time.
    """
    chain: list[str] = []
    for user, _ in reversed(turns[-_MAX_FOLLOW_TURNS:]):
        try:
            chain.append(clean_question(user, settings))
        except BadInput:
            break
    chain.reverse()
    plan = None
    for i, q in enumerate(chain + [question]):
        t = timings if i == len(chain) else None  # only this turn's retrieval is timed
        if plan is None or not refers_back(q):
            plan = fresh_plan(q, k, mode, settings, t)
        else:
            plan = _follow_plan(q, plan, k, mode, settings, t)
    assert plan is not None  # the loop runs at least once, for the question itself
    return plan
