"""An answer that leaves out which paper it is about names it, in the paper's own words.

Someone who asks a paraphrased question ("Is there a learned approach that speeds up iterative
solvers … by letting a convolutional network propose the search directions?") does not know
the paper; that is why they ask. A small model often answers by restating the question ("Yes,
there is a learned approach that … [1]"): the citation is right, but the reader learns neither
the paper nor what it calls things (conjugate gradients, Poisson equations). When the question
asks which paper or method it is and the answer does not name the paper it cites, or when no
sentence of the answer says anything the question did not, the answer gains one sentence: the
cited paper's title and its sentences nearest the question, verbatim, so nothing unchecked is
added.
"""

from __future__ import annotations

import re

from rag.citations import (
    content_words,
    is_non_answer,
    numbers_in,
    split_sentences,
    strip_markers,
    terms_in,
)
from rag.names import normalised
from rag.quotes import quotes_for
from rag.types import Answer, Source

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


def naming_sentence(answer: Answer, question: str) -> str:
    """The sentence to add to a checked answer ("" when it needs none): 'This is "<title>" [n],
    which says: "<its sentences nearest the question>"'."""
    if answer.refused or not answer.citations or not answer.text.strip():
        return ""
    claims = [s for s in split_sentences(answer.text) if not is_non_answer(s)]
    if not claims:
        return ""
    first = answer.citations[0]
    src = next((s for s in answer.sources if s.paper_id == first.paper_id), None)
    if src is None or names_paper(answer.text, src, question):
        return ""
    if not (asks_which(question) or all(adds_nothing(s, question) for s in claims)):
        return ""
    quotes = quotes_for(question, src)
    if not quotes:
        return ""
    quote = " ".join(q.strip() for q in quotes)
    return f'This is "{src.title}" [{first.number}], which says: "{quote}"'
