"""A premise the asked-about paper itself denies.

"Why does Barlow Twins need very large batch sizes to avoid collapse?" asks about a paper that
says "Barlow Twins does not require large batches". A small model answers the question as put
("it needs large batches because …"), and every word of that answer is in the paper, so the
word checks let it pass. The paper's own negation is the evidence: when two words the question
asserts side by side occur in the paper only inside a negated phrase ("does not require large
batches", "without any predefined inputs (e.g., layout)"), the premise is false by the paper's
own account, and the answer says so, quoting that sentence.

Negations are read plainly: a cue ("not", "no", "nor", "without", "never", "neither",
"instead of", "rather than") and the few words after it in its clause. Words that merely soften
("avoid", "reduce", "eliminate") are not negations ("avoids collapse" does not deny that
collapse is the topic), nor is "-free" ("tuning-free" denies only tuning). A yes/no question
("Does VeLO need tuning?") is not a premise: the paper's "no" is its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import Stemmer

from rag.citations import content_words, split_sentences
from rag.types import Source

# A cue that starts a hyphenated compound ("not-so-surprising finding", "no-reference metric")
# modifies one word; it denies nothing in the clause.
_CUE = re.compile(
    r"\b(?:not|no|nor|without|never|neither|cannot|instead\s+of|rather\s+than)\b(?![-‐])"
    r"|n't\b", re.I)
# A negation covers the few words after it, within its clause: "does not require large batches",
# "without any predefined inputs (e.g., layout)"; not "no access to the original training data,
# and (2) without increasing the size" read as one denial of "original size".
SCOPE_WORDS = 6
_CLAUSE_END = re.compile(r"[.;:!?](?=\s+[A-Z(]|\s*$)|\b(?:but|however|whereas|while|yet)\b")
# A question that negates something itself ("… when the original data is unavailable") asks
# about an absence; the paper writing "no access to the original data" agrees with it. A
# "-free" compound is a name or a property ("Data-free Mesh Mover"), not the question's denial.
_ASKS_ABSENCE = re.compile(
    r"\b(?:un(?:available|seen|known|labell?ed)|missing|absent|lack\w*|gone|(?<!-)free|removed|"
    r"without|not|no|never|nor|neither|cannot)\b|n't\b", re.I)
# "Does VeLO need hyperparameter tuning?" asks whether: "it requires no tuning" answers it.
_YES_NO = re.compile(r"^\s*(?:does|do|did|is|are|was|were|can|could|will|would|should|has|have|"
                     r"had|must|may)\b", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")
_stemmer = Stemmer.Stemmer("english")


@dataclass
class Denial:
    words: list[str]  # the question's words the paper denies, as the question writes them
    sentence: str  # the paper's sentence that denies them, verbatim
    source: Source


def _stem(word: str) -> str:
    return _stemmer.stemWord(word.lower())


def _scopes(text: str) -> tuple[set[str], list[set[str]]]:
    """(stems of words outside any negation, [stems of each negated clause]) of ``text``."""
    plain: set[str] = set()
    negated: list[set[str]] = []
    pos = 0
    for cue in _CUE.finditer(text):
        if cue.start() < pos:
            continue
        plain |= {_stem(w) for w in _WORD.findall(text[pos:cue.start()])}
        end = _CLAUSE_END.search(text, cue.end())
        words = list(_WORD.finditer(text, cue.end(), end.start() if end else len(text)))
        words = words[:SCOPE_WORDS]
        negated.append({_stem(w.group()) for w in words})
        pos = words[-1].end() if words else cue.end()
    plain |= {_stem(w) for w in _WORD.findall(text[pos:])}
    return plain, negated


def _pairs(question: str) -> list[tuple[str, str]]:
    """Adjacent content words of the question (stop words skipped)."""
    words = [w for w in _WORD.findall(question) if w.lower() in content_words(w)]
    return list(zip(words, words[1:]))


def denied(question: str, source: Source) -> Denial | None:
    """The first pair of words the question asserts that ``source``'s abstract only ever
    writes under a negation, with that sentence; None when there is none."""
    if _YES_NO.search(question) or _ASKS_ABSENCE.search(question):
        return None
    scoped = [(s, *_scopes(s)) for s in split_sentences(source.abstract)]
    title = {_stem(w) for w in _WORD.findall(source.title)}
    for a, b in _pairs(question):
        pair = {_stem(a), _stem(b)}
        if pair & title or len(pair) < 2 or any(pair <= plain for _, plain, _ in scoped):
            continue  # the paper's own name, or words it also writes together plainly
        for sentence, _, negated in scoped:
            if any(pair <= scope for scope in negated):
                return Denial([a, b], sentence.strip(), source)
    return None
