"""An answer that leaves out which paper it is about names it, in the paper's own words.

Someone who asks a paraphrased question ("Is there a learned approach that speeds up iterative
solvers … by letting a convolutional network propose the search directions?") does not know
the paper; that is why they ask. A small model often answers by restating the question ("Yes,
there is a learned approach that … [1]"): the citation is right, but the reader learns neither
the paper nor what it calls things (conjugate gradients, Poisson equations). When the question
asks which paper or method it is and the answer does not name the paper it cites, or when no
sentence of the answer says anything the question did not, the answer gains one sentence: the
cited paper's title and its sentences nearest the question, verbatim, so nothing unchecked is
added. The sentences nearest a paraphrased question are often the problem the paper states, in
the question's words, so the paper's own sentence on what it proposes ("We propose …") is quoted
with them; and a which-paper answer that names the paper but describes it in the question's
words gains that sentence alone.

A comparison has the same gap one paper over: asked how A and B differ, the model often
describes A and drops B although B's evidence was in the prompt. Each paper the question names
that the answer leaves uncited gets its sentences nearest the question, quoted and cited, so
every side of the comparison is in the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.citations import (
    content_words,
    is_non_answer,
    numbers_in,
    split_sentences,
    strip_markers,
    terms_in,
)
from rag.names import COMPARES, joined, mentions, normalised
from rag.quotes import contribution, naming_quote, proposed, quote_text
from rag.types import Answer, Citation, Source

#: Words an answer uses to point at a paper rather than to say anything about it.
_POINTING = frozenset(
    "yes there paper papers work works study studies approach approaches method methods "
    "technique techniques authors author propose proposes proposed proposing present presents "
    "presented introduce introduces introduced research describe describes described known "
    "called also way ways model models framework one".split())
#: A sentence says something of its own when it adds at least this many words to the question.
MIN_OWN_WORDS = 2
# "Is there a method …", "Which paper …", "What work …": the paper is the answer.
_ASKS_WHICH = re.compile(
    r"^\s*(?:is|are) there\b|^\s*(?:which|what)\s+"
    r"(?!(?:does|do|did|is|are|was|were|has|have|can)\b)(?:\w+\s+){0,2}?"
    r"(?:papers?|works?|methods?|approach(?:es)?|stud(?:y|ies)|techniques?|frameworks?|models?)\b",
    re.I)


def asks_which(question: str) -> bool:
    """Whether the question asks which paper or method something is."""
    return bool(_ASKS_WHICH.search(question))


def adds_nothing(sentence: str, question: str) -> bool:
    """A sentence whose words, but for at most one and words that only point at a paper, are
    the question's own, and that gives no number the question did not: it restates the
    question."""
    body = strip_markers(sentence)
    if set(numbers_in(body)) - set(numbers_in(question)):
        return False
    own = content_words(body) - content_words(question) - _POINTING
    return len(own) < MIN_OWN_WORDS


def restatements(unsupported: list[str], question: str) -> list[str]:
    """The unsupported sentences that only restate ``question`` (`adds_nothing`): no claim, so
    the UI and the CLI show them apart from the sentences the papers do not back."""
    return [u for u in unsupported if question and adds_nothing(u, question)]


def names_paper(text: str, source: Source, question: str = "") -> bool:
    """Whether ``text`` writes the paper's title, the name before its colon ("LaSO: …"), or a
    name of the paper's own (an acronym or coined word: "MLTI") that the question did not."""
    flat = normalised(text)
    title = normalised(source.title)
    head = normalised(source.title.split(":", 1)[0]) if ":" in source.title else ""
    if title in flat or head and head in flat:
        return True
    paper = f"{source.title} {source.abstract}"
    return bool(set(terms_in(text)) - set(terms_in(question)) & set(terms_in(paper)))


def _first_cited(answer: Answer) -> tuple[Citation, Source | None]:
    """The answer's first citation and the source it points to."""
    first = answer.citations[0]
    return first, next((s for s in answer.sources if s.paper_id == first.paper_id), None)


def naming_sentence(answer: Answer, question: str) -> str:
    """The sentence to add to a checked answer ("" when it needs none): 'This is "<title>" [n],
    which says: "<its sentences nearest the question>"'."""
    if answer.refused or not answer.citations or not answer.text.strip():
        return ""
    claims = [s for s in split_sentences(answer.text) if not is_non_answer(s)]
    if not claims:
        return ""
    first, src = _first_cited(answer)
    if src is None or names_paper(answer.text, src, question):
        return ""
    if not (asks_which(question) or all(adds_nothing(s, question) for s in claims)):
        return ""
    quote = naming_quote(question, src)
    return f'This is "{src.title}" [{first.number}], which says: "{quote}"' if quote else ""


#: What the paper's sentence on its contribution must add to an answer to be worth quoting.
MIN_CONTRIBUTION_WORDS = 3


def contribution_sentence(answer: Answer, question: str) -> str:
    """For a which-paper question whose answer names the paper: the paper's own sentence on
    what it proposes ('"<title>" [n] says: "We propose …"') when it adds at least
    `MIN_CONTRIBUTION_WORDS` words to the answer; "" otherwise. The model tends to describe the
    paper in the question's words; the reader asked in order to learn the paper's."""
    if answer.refused or not answer.citations or not asks_which(question):
        return ""
    first, src = _first_cited(answer)
    own = contribution(src) if src else ""
    # What it proposes ("… we propose <this>") is what the answer may lack, not the sentence's
    # lead-in about the problem.
    if not src or len(content_words(proposed(own)) - content_words(answer.text)) < \
            MIN_CONTRIBUTION_WORDS:
        return ""
    return f'"{src.title}" [{first.number}] says: "{own}"'


def _title_runs(title: str, question: str) -> list[str]:
    """Runs of two or more of the title's words, with two content words or more, that the
    question writes ("Scalable Second Order Optimization …" in "the scalable second-order
    optimization paper"), as the question writes them, longest first. A plural "-s" on either
    side does not count: "the MMD GAN paper" writes "Demystifying MMD GANs"."""
    words, asked = normalised(title).split(), normalised(question).split()
    mine, theirs = [_singular(w) for w in words], [_singular(w) for w in asked]
    runs = []
    for i in range(len(words)):
        for j in range(i + 2, len(words) + 1):
            at = next((k for k in range(len(theirs) - (j - i) + 1)
                       if theirs[k:k + j - i] == mine[i:j]), None)
            if at is None:
                break
            run = " ".join(asked[at:at + j - i])
            if len(content_words(run)) >= 2:
                runs.append(run)
    return sorted(runs, key=len, reverse=True)


def _singular(word: str) -> str:
    """The word without an English plural ending. Crude ("bias" -> "bia"), but applied to the
    title and the question alike, so a wrong cut matches only the same word cut the same way."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith("ss"):
        return word
    if word.endswith("sses"):  # "processes", "classes"
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:  # "studies"
        return word[:-3] + "y"
    return word[:-1]


#: A run of title words names its paper when at most this many papers of the collection write
#: it: "progressive distillation" does, "knowledge distillation" (in many) does not.
MAX_PAPERS_PER_NAME = 2


def named_in(question: str, source: Source, unique: set[str],
             frequency: Callable[[str], int]) -> bool:
    """Whether the question names this paper: a name only it writes (``unique``, e.g.
    "NegToMe"), or a run of its title's words few papers write (``frequency``: how many papers
    of the collection write a phrase)."""
    if _writes_unique(source, unique):
        return True
    return any(frequency(run) <= MAX_PAPERS_PER_NAME
               for run in _title_runs(source.title, question) + _title_names(source.title,
                                                                             question))


def _writes_unique(source: Source, unique: set[str]) -> bool:
    """The paper writes one of ``unique`` (names the collection writes in one paper only) as
    written: "STEP" and "WISE" name one paper each, "step-aware" and "pixel-wise" do not."""
    return any(mentions(f"{source.title} {source.abstract}", n) for n in unique)


def _title_names(title: str, question: str) -> list[str]:
    """Capitalised words of the title that the question also writes capitalised, not as its
    first word ("the distributed Shampoo implementation" names "… the Distributed Shampoo
    Optimizer …"; "distributed" in lower case does not)."""
    body = question.split(None, 1)[1] if " " in question.strip() else ""
    return [w for w in dict.fromkeys(re.findall(r"[A-Z][A-Za-z0-9]{3,}", title))
            if mentions(body, w)]


def compared(question: str, sources: list[Source], unique: set[str],
             frequency: Callable[[str], int]) -> list[Source]:
    """The shown papers a comparison question names (`compared_among`)."""
    return compared_among(question, [s for s in sources if s.shown_to_llm], unique, frequency)


def compared_among(question: str, shown: list[Source], unique: set[str],
                   frequency: Callable[[str], int]) -> list[Source]:
    """The papers of ``shown`` a comparison question names, in rank order; empty unless it
    names two or more of them: by names only they write ("What do WSC-swap and ReliableSwap
    use …?"), or also by their titles' words when it asks to compare ("compare", "differ",
    "both", "each") or writes two titles side by side ("'A' and 'B'"). A paper named only by
    words inside a longer run naming another is not named (`_inside_another`)."""
    named = []
    if any(joined(a, b, question) for a in unique for b in unique if a != b):
        named = [s for s in shown if named_in(question, s, unique, lambda _: 1 << 30)]
    if len(named) < 2:
        by_words = [s for s in shown if named_in(question, s, unique, frequency)]
        spans = {s.paper_id: _span(question, s, frequency) for s in by_words}
        by_words = [s for s in by_words if _writes_unique(s, unique)
                    or not _inside_another(spans[s.paper_id], list(spans.values()))]
        if COMPARES.search(question) or _side_by_side(
                question, [spans[s.paper_id] for s in by_words]):
            named = by_words
    return named if len(named) >= 2 else []


#: What stands between two titles asked about together ("'A' and 'B'", "A, B", "A vs B").
_BETWEEN = frozenset({"and", "or", "vs", "versus", "and the", "or the", "vs the"})


def _side_by_side(question: str, spans: list[tuple[int, int] | None]) -> bool:
    """Two papers' titles (their `_span`s) written one after the other, joined by "and", "or"
    or "vs": "Which alternatives do 'Transductive Few-Shot Learning: …' and 'Pushing the Limits
    of Simple Pipelines …' advocate?" asks about both, with no word that says "compare"."""
    text = normalised(question)
    ordered = sorted(sp for sp in spans if sp)
    return any(b[0] >= a[1] and text[a[1]:b[0]].strip() in _BETWEEN
               for a, b in zip(ordered, ordered[1:]))


def _span(question: str, source: Source, frequency: Callable[[str], int]
          ) -> tuple[int, int] | None:
    """Where in the (normalised) question the longest run of the paper's title that names it
    stands, as (start, end); None when no run does."""
    text = normalised(question)
    run = next((r for r in _title_runs(source.title, question)
                if frequency(r) <= MAX_PAPERS_PER_NAME), None)
    if run is None:
        return None
    start = text.find(f" {run} ")
    return start, start + len(run) + 2


def _inside_another(mine: tuple[int, int] | None, spans: list[tuple[int, int] | None]
                    ) -> bool:
    """A paper named only by words (``mine``) that are part of a longer run naming another
    paper: in "Multistep Consistency Models and the Phased Consistency Model", "multistep
    consistency" names "Multistep Consistency Models", not "MLCM: Multistep Consistency
    Distillation …"."""
    return mine is not None and any(
        theirs and theirs[0] <= mine[0] and mine[1] <= theirs[1]
        and theirs[1] - theirs[0] > mine[1] - mine[0] for theirs in spans)


def sides_left_out(answer: Answer, question: str, unique: set[str],
                   frequency: Callable[[str], int]) -> list[Source]:
    """The shown papers a comparison question names that the answer does not cite (empty
    when the question names fewer than two shown papers or the answer was refused)."""
    if answer.refused or not answer.citations:
        return []
    cited = {c.paper_id for c in answer.citations}
    return [s for s in compared(question, answer.sources, unique, frequency)
            if s.paper_id not in cited]


def add_sides(answer: Answer, question: str, sides: list[Source]) -> str:
    """Append each left-out side's sentences nearest the question, quoted and cited with the
    next citation number; returns the text added ("" if none had a sentence to quote)."""
    added = []
    for src in sides:
        quote = quote_text(question, src)
        if not quote:
            continue
        n = max(c.number for c in answer.citations) + 1
        answer.citations.append(Citation(n, src.paper_id, src.title, quote, src.number))
        added.append(f'"{src.title}" [{n}] says: "{quote}"')
    return _append(answer, " ".join(added))


def _append(answer: Answer, text: str) -> str:
    if text:
        answer.text = f"{answer.text.rstrip()} {text}"
    return text


def complete(answer: Answer, question: str, unique: set[str],
             frequency: Callable[[str], int]) -> str:
    """Add to a checked answer what it leaves out (`naming_sentence`, else
    `contribution_sentence`, then `sides_left_out`);
    returns the text added, for a stream to send on ("" when nothing was)."""
    named = _append(answer, naming_sentence(answer, question)
                    or contribution_sentence(answer, question))
    sides = sides_left_out(answer, question, unique, frequency)
    added = add_sides(answer, question, sides) if sides else ""
    return " ".join(t for t in (named, added) if t)
