"""Per-claim evidence: for every answer sentence, the exact sentences of each cited paper that
support it (`Answer.claims`), so a reader checks a claim against its source in one glance.

Why by word overlap and not by embedding or the LLM: the quote has to be where the sentence's
*words* came from — the small model copies phrases from its evidence — and content-word
overlap (numbers and names counted twice, because they are what a reader checks) finds that
sentence in microseconds, deterministically, with no second model call. A sentence whose cited
papers hold no overlapping sentence gets no quote; the checker's verdict travels beside it
(`Claim.supported`), so a quote never makes an unsupported sentence look checked.
"""

from __future__ import annotations

import re

from rag.citations import (
    cited_numbers,
    content_words,
    is_non_answer,
    numbers_in,
    sentence_lines,
    split_sentences,
    strip_markers,
    terms_in,
)
from rag.types import Answer, Claim, Quote, Source

MAX_QUOTES = 2  # per citation: the best sentence, and a second only if it adds to it
MIN_NEW_WORDS = 2  # what the second sentence must add: a single shared word is chance


def _keys(text: str) -> set[str]:
    """What a quote should share with a claim: content words, plus numbers and names."""
    return (content_words(text) | {f"#{n}" for n in numbers_in(text)}
            | {f"@{t.lower()}" for t in terms_in(text)})


def _weight(keys: set[str]) -> int:
    return sum(2 if k[0] in "#@" else 1 for k in keys)


def quotes_for(sentence: str, source: Source) -> list[str]:
    """The sentences of ``source``'s abstract that best cover ``sentence``, in paper order."""
    want = _keys(sentence)
    cands = split_sentences(source.abstract or source.text)
    if not want or not cands:
        return []
    # A sentence the claim quotes word for word (a listing entry, a copied sentence) is the
    # evidence itself; overlap scoring would add a second sentence for the title's words.
    flat = " ".join(strip_markers(sentence).split()).rstrip(".!?")
    verbatim = [c for c in cands if len(c) > 20 and " ".join(c.split()).rstrip(".!?") in flat]
    if verbatim:
        return verbatim[:MAX_QUOTES]
    keyed = [(i, s, _keys(s)) for i, s in enumerate(cands)]
    picked: list[tuple[int, str]] = []
    covered: set[str] = set()
    for _ in range(MAX_QUOTES):
        best = max(keyed, key=lambda c: (_weight((c[2] & want) - covered), -c[0]))
        gain = _weight((best[2] & want) - covered)
        if gain == 0 or picked and gain < MIN_NEW_WORDS:
            break
        picked.append((best[0], best[1]))
        covered |= best[2] & want
        keyed = [c for c in keyed if c[0] != best[0]]
        if not keyed:
            break
    return [s for _, s in sorted(picked)]


def quote_text(text: str, source: Source) -> str:
    """`quotes_for` as one string: ``source``'s sentences nearest ``text``, verbatim and
    joined ("" when none shares a word with it)."""
    return " ".join(q.strip() for q in quotes_for(text, source))


#: Where an abstract says what the paper itself contributes ("We propose …", "This paper
#: introduces …"): the sentence that carries its own name for the method.
CONTRIBUTES = re.compile(
    r"\b(?:we|this (?:paper|work)|our (?:method|approach))\s+(?:\w+\s+){0,2}?"
    r"(?:propose|introduce|present|develop|call|name|term|dub)", re.I)


def contribution(source: Source) -> str:
    """The abstract's first sentence saying what the paper proposes ("" when none does)."""
    return next((s for s in split_sentences(source.abstract or source.text)
                 if CONTRIBUTES.search(s)), "")


def proposed(sentence: str) -> str:
    """What a `contribution` sentence says is proposed: its words after "we propose" ("" when
    it has no such phrase)."""
    m = CONTRIBUTES.search(sentence)
    return sentence[m.end():] if m else ""


def naming_quote(text: str, source: Source) -> str:
    """What to quote when a paper is presented as the answer: its sentences nearest ``text``
    and, if they leave it out, the one saying what it proposes, in paper order. The sentences
    nearest a paraphrased question are often the problem the paper states, in the question's
    words; the reader also needs the paper's own name for its method (on dev paraphrases the
    key facts in the quote went from 0.35 to 0.57 of those asked for)."""
    near = quotes_for(text, source)
    own = contribution(source)
    if own and own not in near:
        order = split_sentences(source.abstract or source.text)
        near = sorted([*near, own], key=order.index)  # both are sentences of ``order``
    return " ".join(q.strip() for q in near)


def claims(answer: Answer) -> list[Claim]:
    """Every sentence of the answer's final text with the quotes of the papers it cites."""
    if answer.refused and not answer.citations or not answer.text.strip():
        return []  # a bare refusal; one that points at the closest paper quotes it
    by_source = {s.number: s for s in answer.sources}
    by_display = {c.number: c for c in answer.citations}
    unsupported = {" ".join(u.split()) for u in answer.unsupported}
    out = []
    for sent in (x for line in sentence_lines(answer.text) for x in line):
        body = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", strip_markers(sent))  # list bullets
        if not re.search(r"\w", body) or is_non_answer(body) or body.endswith(":"):
            continue  # a line ending in a colon introduces a list; it claims nothing
        nums = cited_numbers(sent)
        quotes = []
        for n in nums:
            c = by_display.get(n)
            src = by_source.get(c.source_number) if c else None
            if c and src:
                quotes += [Quote(n, c.paper_id, q) for q in quotes_for(body, src)]
        out.append(Claim(body, quotes, supported=" ".join(body.split()) not in unsupported
                         and bool(nums)))
    return out
