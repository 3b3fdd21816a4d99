"""Question -> (condensed question) -> sources -> prompt -> LLM -> checked, cited `Answer`.

This module runs the steps; each lives where its name says: `rag.turns` reads the question and
the conversation and plans what to search and show (follow-ups reuse the previous turn's
sources), `rag.messages` builds the prompt, `rag.citations` checks what the model wrote, and
`rag.listing` answers "which papers …" questions from retrieval alone.

Refusal has two gates. Before the LLM: if no retrieved paper clears the relevance floor, the
answer is a refusal in milliseconds and the model is never asked. After the LLM: if the model
says the papers don't answer, the answer is marked refused and its text normalised.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from rag import asked, citations, identify, listing, names, premises, quotes, refusals
from rag.errors import BadInput
from rag.llm import get_model

# Re-exported: callers written against the single-module layout import these from here.
from rag.messages import as_question, build_context, build_messages  # noqa: F401
from rag.retrieval import (
    paper_names,
    papers_mentioning,
    papers_writing,
    retrieve,
    similarity_spread,
    unique_names,
    unknown_names,
)
from rag.settings import Settings, get_settings
from rag.turns import (  # noqa: F401
    History,
    Plan,
    clean_question,
    condense,
    fresh_plan,
    normalise_history,
    plan_turn,
    refers_back,
    select_sources,
)
from rag.types import Answer, Citation, Status
from rag.verify import Judge

Event = str | Status | Answer

NOTHING_RELEVANT = (
    "The papers in this collection don't say anything about this: no paper I searched is "
    "relevant enough to answer from."
)


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
        plan = fresh_plan(standalone, k, mode, settings, timings)
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

    # A name the question asks about that the paper it is about never writes ("… on KITTI?"):
    # that detail is not given, whatever nearby number the model would offer for it.
    unique = unique_names(standalone, settings)

    def writing(phrase: str) -> int:  # how many papers write a phrase (rag/identify.py)
        return papers_writing(phrase, settings)

    missing, about = (names.details_not_given(standalone, selected, unique,
                                              lambda n: papers_mentioning(n, settings),
                                              paper_names(settings))
                      if settings.refuse_unknown_names and not plan.earlier else ([], None))
    lead = refusals.detail_missing(missing, about) if missing and about else ""
    denial = (premises.denied(standalone, about or selected[0])
              if settings.refuse_denied_premises and not lead and not plan.earlier else None)
    if denial:
        # "Why does X need large batches?" about a paper that "does not require large batches":
        # the paper's own sentence is the answer; the model would explain the premise.
        answer.text, answer.citations = refusals.premise_denied(standalone, denial)
        answer.refused = True
        answer.claims = quotes.claims(answer)
        yield answer.text
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
    if lead:
        yield lead + " "
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
    judge = Judge(settings)  # asks the model only when a check below needs it; caches verdicts
    draft = "".join(raw)
    if lead:
        draft = refusals.without_sentences_naming(draft, missing)
    checked = citations.check(draft, selected, question=standalone)
    # The shown papers a comparison names: the question and the prompt's papers settle it, and
    # three steps below ask.
    compared = identify.compared(standalone, selected, unique, writing)
    timings["check"] = time.perf_counter() - t
    answer.text = checked.text
    answer.citations = checked.citations
    answer.refused = checked.refused
    answer.unsupported = checked.unsupported
    answer.flagged_numbers = checked.flagged_numbers
    answer.flagged_terms = checked.flagged_terms
    answer.raw_text = "".join(raw)
    if checked.refused and not checked.citations and checked.unsupported:
        # The model tried to answer and nothing it said held: say what the paper it looked in
        # does say. A refusal of its own ("the papers don't say") stays as it is.
        rescued = None
        if (settings.judge_restatements and not lead and not checked.flagged_numbers
                and not checked.flagged_terms
                and refusals.restatable(checked.unsupported, selected, checked.closest)):
            yield Status("checking", "Checking the answer against the paper…")
            # An abstention is not a yes: the refusal stands.
            rescued = refusals.restated(
                standalone, checked.unsupported, selected, checked.closest,
                lambda c, p: judge.verdict(c, p).p or 0.0,
                lambda src: asked.answers(judge.answers(standalone, src).p))
        # A comparison of papers the collection has: each side in its own words, not "the
        # papers don't give this" with one of them as the closest.
        sides = None if rescued or lead else refusals.each_says(standalone, compared)
        said = rescued or sides
        if said:
            # The judge read the draft against the paper and it held, or only the papers' own
            # sentences are shown: nothing to flag (the draft is in raw_text).
            _replace(answer, said, refused=False)
        else:
            pointed = refusals.not_given(standalone, checked.unsupported, selected,
                                         checked.closest)
            if pointed:
                answer.text, answer.citations = pointed
    # A draft that stood on its own (not one a judge already rescued, nor a declined detail).
    rests_on = (asked.rests_on(answer) if settings.check_asked and not lead
                and not checked.refused else None)
    if rests_on and not plan.earlier and not compared:
        yield Status("checking", asked.CHECKING)
        if asked.does_not_answer(judge.answers(standalone, rests_on).p):
            # Every sentence may be the paper's own and still not answer the question (a
            # technique no paper proposes, a detail it does not give): say so, and quote it.
            _replace(answer, refusals.not_given(standalone, [], selected, rests_on.number)
                     or (NOTHING_RELEVANT, []), refused=True)
    pair = (asked.other_paper(answer, selected) if settings.recheck_paper and not lead
            and not answer.refused and not plan.earlier else None)
    if pair and not identify.named_in(standalone, pair[0], unique, writing) and not compared:
        cited, other = pair
        yield Status("checking", asked.CHECKING)
        if asked.does_not_answer(judge.answers(standalone, cited).p) \
                and asked.answers(judge.answers(standalone, other).p):
            # The model cited its [1]; the judge reads the other paper as the answer.
            _replace(answer, refusals.presented(other, quotes.naming_quote(standalone, other)),
                     refused=False)
    if not lead:
        # "Yes, there is a method that … [1]" names no paper; "How do A and B differ?" answered
        # about A alone: the paper's, or B's, own words are added, cited (rag/identify.py).
        added = identify.complete(answer, standalone, unique, writing)
        if added:
            yield " " + added
    if lead and about:
        # Declined as asked; then what the paper does say: the model's checked sentences, or
        # the paper's own sentence nearest the question.
        answer.text, answer.citations = refusals.declined_detail(
            lead, standalone, about, checked.text if checked.citations else "",
            checked.citations)
        answer.refused = True
    if settings.verify == "judge" and not answer.refused:
        # The cheap checks already ran in citations.check; the judge reads what they let pass.
        from rag.verify import verify_answer

        yield Status("checking", "Checking the answer against the papers…")
        t = time.perf_counter()
        v = verify_answer(answer, judge, claims=False)
        answer.unsupported = list(dict.fromkeys(answer.unsupported + v.unsupported))
        timings["verify"] = time.perf_counter() - t
    answer.claims = quotes.claims(answer)
    timings["total"] = time.perf_counter() - t_start
    yield answer


def _replace(answer: Answer, said: tuple[str, list[Citation]], *, refused: bool) -> None:
    """Put ``said`` (text, citations) in place of the model's checked text. What replaces it is
    the papers' own sentences, so the draft's flags (kept in raw_text) no longer apply."""
    answer.text, answer.citations = said
    answer.refused, answer.unsupported = refused, []
    answer.flagged_numbers, answer.flagged_terms = [], []


def _listing_answer(q: str, question: str, k: int, mode: str | None, settings: Settings,
                    timings: dict[str, float], t_start: float) -> Iterator[Event]:
    """A "which papers …" question: the list is built from retrieval (rag/listing.py)."""
    query = listing.search_query(question)
    sources = retrieve(query, k, mode=mode, settings=settings, timings=timings)
    passed = bool(select_sources(sources, settings, query))
    spread = similarity_spread(query, settings) if passed else None
    matches, possible = listing.choose(question, sources, spread) if passed else ([], [])
    used = matches + possible if matches else []
    for i, s in enumerate(used + [s for s in sources if s not in used], start=1):
        s.number, s.shown_to_llm = i, s in used
    answer = Answer(question=q, text=NOTHING_RELEVANT, refused=True,
                    sources=sorted(sources, key=lambda s: s.number), timings=timings,
                    standalone_question=query if query != q else None, model="retrieval only")
    if used:
        snippets = listing.clauses(question, used, settings, describe=matches)
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
