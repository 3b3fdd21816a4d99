"""Quantities written with a scale: "one million classes", "1.5B tokens", "100K images".

The number check (rag/citations.py) compares the digits a sentence writes with the digits of
the papers it cites. A quantity spelled with a scale word escapes it: "one million object
classes" has no digits, and "1.2 billion" would pass against a paper's "1.2%". A false premise
built on a wrong order of magnitude ("How does it fit one million classes into one CNN?" about
a paper on 100K classes) is then restated by the model and let through. Here each scaled
quantity is read as a value and must be a value the cited papers state, in any spelling
("1M", "1 million", "1,000,000").
"""

from __future__ import annotations

import math
import re

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


def missing(sentence: str, text: str) -> list[str]:
    """The scaled quantities of ``sentence`` (as written) that ``text`` does not state."""
    have = values(text)
    return [w for w, v in scaled(sentence)
            if not any(math.isclose(v, h, rel_tol=1e-6) for h in have)]
