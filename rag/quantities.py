"""Quantities written with a scale: "one million classes", "1.5B tokens", "100K images".

The number check (rag/citations.py) compares the digits a sentence writes with the digits of
the papers it cites. A quantity spelled with a scale word escapes it: "one million object
classes" has no digits, and "1.2 billion" would pass against a paper's "1.2%". A false premise
built on a wrong order of magnitude ("How does it fit one million classes into one CNN?" about
a paper on 100K classes) is then restated by the model and let through. Here each scaled
quantity is read as a value and must be a value the cited papers state, in any spelling
("1M", "1 million", "1,000,000").

A question's own figures are read the same way (`rag.names.details_not_given`): a share or
factor it asserts ("20x faster", "at a 90% compression rate") that the paper states in no
spelling (`claimed_missing`), and a count the paper gives only with other numbers ("from 5
labeled images" where it writes "50 labeled images", `contradicted`). Both were found on the
dev false premises added 2026-12-07; on the 291 dev questions the model answers they decline 8
false premises and no answerable question.
"""

from __future__ import annotations

import math
import re

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
          "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
          "seven": 7, "eight": 8, "nine": 9, "ten": 10, "hundred": 100}
_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
# "one million", "1.2 billion", "ten-thousand"; "100K", "1.5B", "7B" (a suffix letter only when
# glued to the digits: "7 B" is not a scale).
_SCALED = re.compile(
    rf"(?<![\w.])(?:({_NUM}|{'|'.join(_COUNT)})[\s-]*(thousand|million|billion|trillion)\b"
    rf"|({_NUM})([kKMBT])\b)", re.I)
_PLAIN = re.compile(rf"(?<![\w.]){_NUM}")
# A share or a factor a question asserts: "90%", "90 percent", "20x", "20×", "100 times faster",
# "3-fold". These carry a claim; a bare count ("5 images", "512x512") often does not.
_CLAIMED = re.compile(
    rf"(?<![\w.×-])({_NUM})(?:\s*(?:%|percent\b)|\s*[x×](?![\w×])|\s*-?\s*fold\b"
    rf"|\s+times\b(?!\s+(?:as|the|a|an|that|per|in|on)\b))", re.I)
# How abstracts write a factor after the scraper drops the sign: "times1000", "5times speedup".
_GLUED = re.compile(rf"(?:times|×)\s*({_NUM})|({_NUM})\s*(?:times|×)", re.I)
# Factors in words: "three times", "ten-fold", "twice", "halves", "an order of magnitude".
_WORD_FACTOR = re.compile(rf"\b({'|'.join(_COUNT)})[\s-]*(?:times|fold)\b", re.I)
_WORD_VALUES = ((re.compile(r"\b(?:twice|double[ds]?|doubling|halv(?:e[ds]?|ing))\b", re.I), 2.0),
                (re.compile(r"\border[s]? of magnitude\b", re.I), 10.0))


def _value(count: str, scale: str) -> float:
    c = count.lower()
    base = _COUNT[c] if c in _COUNT else float(c.replace(",", ""))
    return base * _SCALE[scale.lower()]


def scaled(text: str) -> list[tuple[str, float]]:
    """(as written, value) of every scaled quantity in ``text``."""
    out = []
    for m in _SCALED.finditer(text):
        count, scale = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out.append((m.group(0), _value(count, scale)))
    return out


def values(text: str) -> set[float]:
    """Every quantity ``text`` states: its scaled ones and its plain numbers."""
    plain = {float(n.replace(",", "")) for n in _PLAIN.findall(text)}
    return plain | {v for _, v in scaled(text)}


def stated(text: str) -> set[float]:
    """`values`, the factors an abstract writes glued to a scraped "×" sign ("times1000"), and
    factors in words ("ten-fold", "twice", "an order of magnitude")."""
    glued = {float((a or b).replace(",", "")) for a, b in _GLUED.findall(text)}
    words = {float(_COUNT[w.lower()]) for w in _WORD_FACTOR.findall(text)}
    words |= {v for pattern, v in _WORD_VALUES if pattern.search(text)}
    return values(text) | glued | words


def claimed(question: str) -> bool:
    """Whether ``question`` asserts a share or a factor at all."""
    return bool(_CLAIMED.search(question))


def claimed_missing(question: str, text: str) -> list[str]:
    """The shares and factors ``question`` asserts ("about 20x faster", "at a 90% compression
    rate") that ``text`` states in no spelling: a question built on a wrong number, about a paper
    that gives another ("5x", "75%"). Any number of the paper with that value counts as stated,
    so a question quoting the paper's own figure is never caught."""
    have = stated(text)
    return list(dict.fromkeys(
        m.group(0).strip() for m in _CLAIMED.finditer(question)
        if not any(math.isclose(float(m.group(1).replace(",", "")), h, rel_tol=1e-6)
                   for h in have)))


# A count and the noun it counts: "5 labeled images", "a single sampling step". Not a number
# inside a name or size ("CIFAR-10", "L/16", "64x64"), a range's end, or a compound that names
# a kind rather than a count ("single-stage models", "4-step sampler").
_COUNTED = re.compile(
    rf"(?<![\w./\-×~–])({_NUM}|{'|'.join(w for w in _COUNT if w not in ('a', 'an', 'hundred'))}"
    r"|single)(?![\w.×/%~–-])(?!\s*to\s*\d)", re.I)
_NOUN_WORDS = re.compile(r"[-\s]*([A-Za-z][A-Za-z\-]*)")
_stemmer = Stemmer.Stemmer("english")
_STOP = set(STOPWORDS_EN_PLUS)


def _counted(text: str) -> list[tuple[float, str, str]]:
    """(count, stem of a word it counts, the phrase as written) for the first two content words
    after every count in ``text``."""
    out = []
    for m in _COUNTED.finditer(text):
        word = m.group(1).lower()
        value = 1.0 if word == "single" else float(_COUNT.get(word, 0) or word.replace(",", ""))
        pos = m.end()
        stems: list[str] = []
        while len(stems) < 2:
            w = _NOUN_WORDS.match(text, pos)
            if not w:
                break
            pos = w.end()
            if len(w.group(1)) >= 3 and w.group(1).lower() not in _STOP:
                stems.append(_stemmer.stemWord(w.group(1).lower()))
        phrase = text[m.start():pos].strip()
        phrase = f"a {phrase}" if word == "single" else phrase
        out += [(value, stem, phrase) for stem in stems]
    return out


def counts_agree(question: str, text: str) -> bool:
    """Whether ``text`` gives any count of ``question`` as the question does ("50 labeled
    images" in both)."""
    have = {(v, stem) for v, stem, _ in _counted(text)}
    return any((v, stem) in have for v, stem, _ in _counted(question))


def contradicted(question: str, text: str) -> list[str]:
    """The counts of ``question`` ("adapts from at most 5 labeled images") where ``text`` counts
    the same thing with other numbers only ("at most 50 labeled images"): the question's figure
    is not the paper's. A noun the paper gives a range for ("2-8 steps") is left alone."""
    counts: dict[str, set[float]] = {}
    for value, stem, _ in _counted(text):
        counts.setdefault(stem, set()).add(value)
    ranged = {_stemmer.stemWord(w.lower()) for w in re.findall(
        rf"{_NUM}\s*(?:-|–|~|to)\s*{_NUM}\s*[-\s]*([A-Za-z][A-Za-z\-]*)", text)}
    out: list[str] = []
    for value, stem, phrase in _counted(question):
        if stem in counts and stem not in ranged and value not in counts[stem] \
                and phrase not in out:
            out.append(phrase)
    return out


def missing(sentence: str, text: str) -> list[str]:
    """The scaled quantities of ``sentence`` (as written) that ``text`` does not state."""
    have = values(text)
    return [w for w, v in scaled(sentence)
            if not any(math.isclose(v, h, rel_tol=1e-6) for h in have)]
