"""Question -> (condensed question) -> sources -> prompt -> LLM -> checked, cited `Answer`.

The prompt is built so the local model's prefix cache works for us: the system prompt is fixed
(same tokens every call), and the variable part (sources, question) comes last. Evidence is the
sentences of the selected papers closest to the question within a token budget, not whole
abstracts: on 2 CPU cores prompt processing (~80 tokens/s) dominates the wait.

Refusal has two gates. Before the LLM: if no retrieved paper clears the relevance floor, the
answer is a refusal in milliseconds and the model is never asked. After the LLM: if the model
says the papers don't answer, the answer is marked refused and its text normalised.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import replace

import prompts
from rag import citations, evidence, listing, quotes
from rag.errors import BadInput
from rag.guard import neutralise
from rag.ingestion import token_len
from rag.llm import get_model
from rag.names import mentions
from rag.retrieval import retrieve, unique_names, unknown_names
from rag.settings import Settings, get_settings
from rag.types import Answer, Citation, Source, Status

Event = str | Status | Answer
History = Iterable[dict | tuple | list]

NOTHING_RELEVANT = (
    "The papers in this collection don't say anything about this: no paper I searched is "
    "relevant enough to answer from."
)
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
        short = re.sub(r"\s*\[\d+\]", "", assistant)[:400]
        lines.append(f"Assistant: {short}")
    msg = prompts.render("condense", history="\n".join(lines), question=question)
    out = get_model(settings).complete(
        [{"role": "user", "content": msg}], max_tokens=80, stop=["\n"]
    ).strip().strip('"')
    out = re.sub(r"^(standalone question:)\s*", "", out, flags=re.I).strip()
    return out if len(out) >= 3 else question


def select_sources(sources: list[Source], settings: Settings, question: str = ""
                   ) -> list[Source]:
    """Which retrieved papers go into the prompt: the relevance floor, then a score-gap rule
    (papers far below the best one are noise to a small model and cost prompt time).

    The one paper that contains a name the question asks about (an acronym such as "MLTI")
    passes both: a small embedding model scores "How many datasets was MLTI evaluated on?" below the
    floor against the very paper that defines MLTI, while the exact name is decisive."""
    if not sources:
        return []
    names = unique_names(question, settings) if question else set()
    named = {s.paper_id for s in sources
             if any(mentions(f"{s.title} {s.abstract or s.text}", n) for n in names)}
    best = max(s.similarity for s in sources)
    if best < settings.min_similarity and not named:
        return []
    cutoff = max(settings.min_similarity, best * settings.relative_floor)
    return [s for s in sources if s.similarity >= cutoff or s.paper_id in named]


def build_context(selected: list[Source], settings: Settings, question: str = "") -> str:
    """The sources block. ``RAG_EVIDENCE=sentences`` (default): only the sentences that bear on
    the question (rag/evidence.py); ``passages``: each paper's best retrieved chunk, then second
    chunks while the token budget lasts (cheaper to pick, but the fact asked about is often in a
    chunk left out: `rag bench levers`);
    ``abstracts``: whole abstracts (slowest; kept as the reference the others are measured by)."""
    budget = settings.context_tokens
    if settings.evidence == "sentences" and question:

        chosen = evidence.select(question, selected, settings, budget)
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


def build_messages(question: str, selected: list[Source], settings: Settings,
                   context: str | None = None, earlier: str | None = None) -> list[dict]:
    system = prompts.render("answer_system", max_sentences=4)
    sources = context if context is not None else build_context(selected, settings, question)
    if earlier:
        user = prompts.render("answer_followup", sources=sources, earlier=earlier,
                              question=question)
    else:
        user = prompts.render("answer_user", sources=sources, question=as_question(question))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ------------------------------------------------------------------------- follow-ups
#
# A follow-up ("which datasets did it use?") is answered from the previous turn's sources, laid
# out exactly as before and first in the prompt, with any newly relevant paper appended. The
# model server still holds the previous prompt's tokens, so it only reads what comes after
# them: the follow-up's first token arrives in about a second instead of re-reading ~1k tokens
# (and, with RAG_CONDENSE_MODE=llm, after an extra LLM call to rewrite the question).

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


class _Plan:
    """What one turn searched for and showed the LLM: ``selected`` numbered 1..n in prompt
    order, the rendered sources block, and every retrieved source (for the sources panel)."""

    def __init__(self, query: str, selected: list[Source], retrieved: list[Source],
                 context: str, earlier: str | None = None):
        self.query, self.selected, self.retrieved = query, selected, retrieved
        self.context, self.earlier = context, earlier


def _fresh_plan(query: str, k: int, mode: str | None, settings: Settings,
                timings: dict | None = None) -> _Plan:
    return _plan_from(query, retrieve(query, k, mode=mode, settings=settings, timings=timings),
                      settings)


def _plan_from(query: str, sources: list[Source], settings: Settings) -> _Plan:
    selected = select_sources(sources, settings, query)
    for i, s in enumerate(selected, start=1):
        s.number = i
    context = build_context(selected, settings, query) if selected else ""
    return _Plan(query, selected, sources, context)


def _follow_plan(question: str, prev: _Plan, k: int, mode: str | None, settings: Settings,
                 timings: dict | None = None) -> _Plan:
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
    return _Plan(query, selected, retrieved, context, earlier=prev.query)


def plan_turn(question: str, turns: list[tuple[str, str]], k: int, mode: str | None,
              settings: Settings, timings: dict | None = None) -> _Plan:
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
            plan = _fresh_plan(q, k, mode, settings, t)
        else:
            plan = _follow_plan(q, plan, k, mode, settings, t)
    assert plan is not None  # the loop runs at least once, for the question itself
    return plan


def ask_stream(
    question: str,
    *,
    history: History | None = None,
    top_k: int | None = None,
    mode: str | None = None,
    settings: Settings | None = None,
) -> Iterator[Event]:
    """Yield `Status` progress events and answer text deltas, then the final `Answer`.

    Text deltas carry citation markers already renumbered as the final answer will show them;
    the final `Answer.text` is authoritative: it adds citations attached after generation, puts
    paper titles where the model used a marker as a name ("are [1] and [2]"), drops prompt
    layout the model wrote back, and is a refusal when no sentence is supported — show it in
    place of the streamed text, as the UI and CLI do.
    """
    settings = settings or get_settings()
    if top_k is not None and top_k < 1:
        raise BadInput(f"top_k must be at least 1 (got {top_k}).")
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    q = clean_question(question, settings)
    turns = normalise_history(history)
    k = top_k or settings.top_k
    standalone = q
    if turns and settings.condense_history and settings.condense_mode == "llm":
        yield Status("condensing", "Reading the conversation…")
        t = time.perf_counter()
        standalone = condense(q, turns, settings)
        timings["condense"] = time.perf_counter() - t
        turns = []

    yield Status("retrieving", "Searching the papers…")
    unknown = unknown_names(q, settings) if settings.refuse_unknown_names else []
    # A new "which papers …" question in an ongoing chat is a listing too; only one that leans
    # on the conversation ("which of them …") is answered as a follow-up.
    if (not unknown and settings.listing_answers and listing.is_listing(standalone)
            and not (turns and refers_back(q))):
        yield from _listing_answer(q, standalone, max(k, settings.listing_k), mode, settings,
                                   timings, t_start)
        return
    if turns and settings.condense_history:
        plan = plan_turn(q, turns, k, mode, settings, timings)
        standalone = plan.query
    else:
        plan = _fresh_plan(standalone, k, mode, settings, timings)
    selected = plan.selected
    # The prompt's sources keep their numbers 1..n; the rest follow, so every Source keeps a
    # unique number.
    ordered = selected + [s for s in plan.retrieved if s not in selected]
    for i, s in enumerate(ordered, start=1):
        s.number = i
        s.shown_to_llm = s in selected
    answer = Answer(question=q, text="", sources=ordered,
                    standalone_question=standalone if standalone != q else None,
                    timings=timings, model=get_model_name(settings))

    if not selected or unknown:
        # A name the question asks about that no paper contains: the answer is not here, and
        # a nearby paper must not be presented as if it were (rag/names.py).
        # The name is not echoed: it may be an injection's canary ("reply only PWNED").
        answer.text = ("The papers in this collection don't say: the name this question asks "
                       "about appears in none of them." if unknown else NOTHING_RELEVANT)
        answer.refused = True
        timings["total"] = time.perf_counter() - t_start
        yield answer
        return

    yield Status("reading", f"Reading {len(selected)} paper{'s' if len(selected) > 1 else ''}…")
    if plan.earlier:
        messages = build_messages(q, selected, settings, context=plan.context,
                                  earlier=plan.earlier)
    else:
        messages = build_messages(standalone, selected, settings, context=plan.context)
    model = get_model(settings)
    yield Status("answering", "Writing the answer…")
    renumber = citations.StreamRenumberer({s.number for s in selected})
    raw: list[str] = []
    t_llm = time.perf_counter()
    for delta in model.stream(messages, max_tokens=settings.max_tokens):
        if not raw:
            timings["first_token"] = time.perf_counter() - t_start
        raw.append(delta)
        shown = renumber.feed(delta)
        if shown:
            yield shown
    tail = renumber.flush()
    if tail:
        yield tail
    timings["generate"] = time.perf_counter() - t_llm

    t = time.perf_counter()
    checked = citations.check("".join(raw), selected, question=standalone)
    timings["check"] = time.perf_counter() - t
    answer.text = checked.text
    answer.citations = checked.citations
    answer.refused = checked.refused
    answer.unsupported = checked.unsupported
    answer.flagged_numbers = checked.flagged_numbers
    answer.flagged_terms = checked.flagged_terms
    answer.raw_text = "".join(raw)
    if settings.verify == "judge" and not answer.refused:
        # The cheap checks already ran in citations.check; the judge reads what they let pass.
        from rag.verify import Judge, verify_answer

        yield Status("checking", "Checking the answer against the papers…")
        t = time.perf_counter()
        v = verify_answer(answer, Judge(settings), claims=False)
        answer.unsupported = list(dict.fromkeys(answer.unsupported + v.unsupported))
        timings["verify"] = time.perf_counter() - t
    answer.claims = quotes.claims(answer)
    timings["total"] = time.perf_counter() - t_start
    yield answer


def _listing_answer(q: str, question: str, k: int, mode: str | None, settings: Settings,
                    timings: dict[str, float], t_start: float) -> Iterator[Event]:
    """A "which papers …" question: the list is built from retrieval (rag/listing.py)."""
    query = listing.search_query(question)
    sources = retrieve(query, k, mode=mode, settings=settings, timings=timings)
    passed = bool(select_sources(sources, settings, query))
    matches, possible = listing.choose(question, sources) if passed else ([], [])
    used = matches + possible if matches else []
    for i, s in enumerate(used + [s for s in sources if s not in used], start=1):
        s.number, s.shown_to_llm = i, s in used
    answer = Answer(question=q, text=NOTHING_RELEVANT, refused=True,
                    sources=sorted(sources, key=lambda s: s.number), timings=timings,
                    standalone_question=query if query != q else None, model="retrieval only")
    if used:
        snippets = listing.clauses(question, used, settings)  # each entry's sentence, once
        answer.text, answer.refused = listing.render(matches, possible, snippets), False
        answer.citations = [Citation(s.number, s.paper_id, s.title, snippets.get(s.number, ""),
                                     s.number) for s in used]
        answer.claims = quotes.claims(answer)
    elif possible:  # nothing matches the topic: say so, and name the closest papers
        answer.text = listing.no_match(possible)
    answer.raw_text = answer.text
    yield answer.text
    timings["total"] = time.perf_counter() - t_start
    yield answer


def ask(
    question: str,
    *,
    history: History | None = None,
    top_k: int | None = None,
    mode: str | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer ``question`` from the papers, with citations. See `ask_stream` for streaming."""
    for event in ask_stream(question, history=history, top_k=top_k, mode=mode, settings=settings):
        if isinstance(event, Answer):
            return event
    raise AssertionError("ask_stream ended without an Answer")  # pragma: no cover


def get_model_name(settings: Settings) -> str:
    from rag.llm import describe

    return describe(settings)
