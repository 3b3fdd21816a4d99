"""Listing questions ("Which papers …?") answered by construction, not by the model.

Why: asked for a list, the local 1.5B model drops papers it was shown (retrieval@10 ≈ 0.97,
cited ≈ 0.63 on questions written independently of the project), writes bare titles, and
copies facts between entries. A list is a retrieval result, so it is built from one: every
retrieved paper that clears a relevance cut is listed with one sentence of its own abstract,
verbatim, so every entry is faithful and quotable: the one saying what the paper proposes
("We propose …"), so the entry says what the paper does, else the one that bears most on the
question (`rag.evidence`). Papers near the cut are listed apart as "possibly relevant", with the
sentence that bears most on the question: why they may be. (On the 65 dev listing items the
proposing sentence raised key facts 0.515 -> 0.629; listing recall and precision unchanged.)

The cuts, chosen on the eval's dev listing items only (`python -m eval.listing_bench`):

* a paper *matches* when its title and abstract contain every topic word of the question
  (stemmed; the question's scaffolding — "which papers in the collection propose …" — removed),
  or its best passage is within ``MATCH_REL`` of the best paper's cosine similarity and it
  has at least half the topic words (so the closest paper to a topic nobody wrote about is
  not presented as a match);
* or its cosine to the topic stands ``MATCH_Z`` standard deviations above the collection's
  papers (`retrieval.similarity_spread`): a paper that clearly stands out is on the topic even
  when it words it differently;
* it is *possibly relevant* when it is among the first ``POSSIBLE_RANK`` retrieved and within
  ``POSSIBLE_REL`` of the best.

On dev (18 items, 65 gold papers) matches alone are 0.93 precise at 0.63 recall; with the
possibly-relevant papers, 0.79 recall at 0.79 precision (retrieval only, 2026-12-01; the test
split, reported only: 0.35 / 0.78 and 0.67 / 0.46 — see the README).
"""

from __future__ import annotations

import re

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from rag import evidence
from rag.citations import content_words
from rag.quotes import CONTRIBUTES, contribution
from rag.settings import Settings
from rag.thresholds import (
    LISTING_MATCH_MIN_TOPIC,
    LISTING_MATCH_REL,
    LISTING_MATCH_Z,
    LISTING_POSSIBLE_RANK,
    LISTING_POSSIBLE_REL,
)
from rag.types import Source

# The cuts and the measurement that chose them: rag/thresholds.py.
MATCH_REL = LISTING_MATCH_REL
MATCH_MIN_TOPIC = LISTING_MATCH_MIN_TOPIC
MATCH_Z = LISTING_MATCH_Z
POSSIBLE_REL = LISTING_POSSIBLE_REL
POSSIBLE_RANK = LISTING_POSSIBLE_RANK

_PLURAL = r"(?:papers|works|studies|articles|abstracts|publications)"
_LISTING = re.compile(
    rf"^\s*(?:which|what)\s+(?:other\s+)?{_PLURAL}\b"  # "Which papers …" (not "Which paper")
    r"|^\s*what\s+work\b"  # "What work here is about …" (a mass noun: all of it)
    rf"|^\s*(?:list|name|find|show)\b.*\b{_PLURAL}\b"  # "Find all the papers that …"
    rf"|^\s*(?:is|are)\s+there\s+(?:any\s+)?(?:{_PLURAL}|work)\b.*\blist\b"
    r"|\blist\s+(?:it|them|those|these)\s*[.!?]?\s*$",  # "… on graphs? List it."
    re.I,
)
# Words that frame a listing question rather than name its topic (generic English, not taken
# from eval items): they are dropped before the topic-word match.
_SCAFFOLD = """paper papers work works study studies studied collection abstract abstracts
article articles publication publications research propose proposes proposed method methods
approach approaches which what list find show name all any every deal deals address addresses
discuss discusses involve involves use uses using used about here this these there
specifically including include includes related concern concerns focus focuses present
presents introduce introduces each claim claims describe describes other
i.e e.g etc""".split()
_stemmer = Stemmer.Stemmer("english")
_SCAFFOLD_STEMS = set(_stemmer.stemWords(_SCAFFOLD))


def is_listing(question: str) -> bool:
    """Does the question ask for every paper on a topic, rather than about one?"""
    return bool(_LISTING.search(question))


_WORDS = re.compile(r"[A-Za-z0-9][\w\-+.'’]*[\w+]|[A-Za-z0-9]")


def search_query(question: str) -> str:
    """The question without its listing scaffolding, for retrieval: "Which papers propose
    learned optimizers, and what does each claim?" → "learned optimizers". The scaffolding
    words match half the collection ("propose", "papers") and pull the dense query away from
    the topic. Falls back to the question when nothing is left."""
    kept = [w for w in _WORDS.findall(question) if w.lower() not in STOPWORDS_EN_PLUS
            and _stemmer.stemWord(w.lower()) not in _SCAFFOLD_STEMS]
    return " ".join(kept) if kept else question


def _stems(text: str) -> set[str]:
    return set(_stemmer.stemWords(sorted(content_words(text))))


def topic_words(question: str) -> set[str]:
    return _stems(question) - _SCAFFOLD_STEMS


def choose(question: str, sources: list[Source], spread: tuple[float, float] | None = None
           ) -> tuple[list[Source], list[Source]]:
    """(papers that match, papers possibly relevant), each in retrieval order. ``spread`` is
    the (mean, sd) of the collection's cosines to the topic (`retrieval.similarity_spread`);
    without it only the word and share-of-best rules apply."""
    if not sources:
        return [], []
    topic = topic_words(question)
    best = max(s.similarity for s in sources)
    mean, sd = spread or (0.0, 0.0)
    matches, possible = [], []
    for rank, s in enumerate(sources, start=1):
        rel = s.similarity / best if best > 0 else 0.0
        share = len(topic & _stems(f"{s.title} {s.abstract or s.text}")) / max(1, len(topic))
        stands_out = sd > 0 and (s.similarity - mean) / sd >= MATCH_Z
        if share == 1 and topic or rel >= MATCH_REL and share >= MATCH_MIN_TOPIC or stands_out:
            matches.append(s)
        elif rank <= POSSIBLE_RANK and rel >= POSSIBLE_REL:
            possible.append(s)
    return matches, possible


def clauses(question: str, sources: list[Source], settings: Settings,
            describe: list[Source] | None = None) -> dict[int, str]:
    """Source number → one sentence of its abstract: for the papers in ``describe`` (those that
    match), the sentence saying what the paper proposes ("We propose …"), so each entry says
    what the paper does; else, and for the others, the sentence that bears most on the
    question (for a possibly relevant paper, why it may be)."""
    near = evidence.select(question, sources, settings, budget=0)
    for s in describe or []:
        own = contribution(s)
        if own and not CONTRIBUTES.search(near.get(s.number, "")):
            near[s.number] = own
    return near


def render(matches: list[Source], possible: list[Source], clause: dict[int, str]) -> str:
    """The answer text; sources must already carry their final numbers ([n])."""

    def entry(s: Source) -> str:
        sentence = (clause.get(s.number) or (s.abstract or s.text).split(". ")[0]).strip()
        body = sentence.rstrip(".!?")
        end = sentence[len(body):] or "."
        return f"- {s.title}: {body.rstrip()} [{s.number}]{end}"

    lines = [f"{len(matches)} paper{'s' if len(matches) > 1 else ''} in this collection "
             f"match{'es' if len(matches) == 1 else ''}:"]
    lines += [entry(s) for s in matches]
    if possible:
        lines.append("Possibly relevant:")
        lines += [entry(s) for s in possible]
    return "\n".join(lines)


def no_match(possible: list[Source]) -> str:
    """The refusal for a list nobody wrote: the topic is in no paper; the closest ones."""
    return ("No paper in this collection clearly matches. The closest, which may not be about "
            "it: " + "; ".join(s.title for s in possible[:5]) + ".")
