"""Names in a question that single out a paper: acronyms, coined words, and titles' own names.

A small embedding model blurs "STEP" or "CustomContrast" into generic words, and BM25 can rank
a paper that merely repeats the question's other words above the one the name belongs to. A
name that occurs in exactly one paper of the collection is stronger evidence than either
score, so retrieval puts that paper first and the relevance floor lets it through
(`rag.retrieval`, `rag.turns.select_sources`). Names found in several papers ("MAML", a
baseline many meta-learning papers mention) say nothing about which one answers, and a false
premise about a real name would slip through if they counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import Source

# Tokens such as MLTI, AdEMAMix, GPT-4, ResNet50, A-STAR.
_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:[-+][A-Za-z0-9]+)*\b")
# "STEP: Learning N:M Structured Sparsity …" → "STEP"; at most three words before the colon, so
# "Deep Learning for X: a survey" is not taken for a name.
_TITLE_NAME = re.compile(r"^\s*([A-Za-z0-9][\w+\-.'’]*(?:\s+[\w+\-.'’]+){0,2})\s*:\s+\S")


def named_terms(question: str) -> set[str]:
    """Names a question asks about: acronyms and coined words (MLTI, AdEMAMix, GPT-4, ResNet50),
    i.e. two or more capitals, or letters mixed with digits."""
    out = set()
    for w in _WORD.findall(question):
        caps = sum(c.isupper() for c in w)
        if len(w) >= 3 and (caps >= 2 or (any(c.isdigit() for c in w) and
                                          any(c.isalpha() for c in w))):
            out.add(w)
    return out


def title_name(title: str) -> str | None:
    """The name a title gives its method before a colon ("Chameleon: …" → "Chameleon"), if it
    looks like one: capitalised or containing a capital/digit after the first letter."""
    m = _TITLE_NAME.match(title or "")
    if not m:
        return None
    name = m.group(1).strip()
    if len(name) < 3 or not name[0].isupper() and not any(c.isupper() for c in name[1:]):
        return None
    return name


def mentions(text: str, name: str) -> bool:
    """``name`` occurs in ``text`` as a whole word, case-sensitive ("MLTI" not in "MLTIX")."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


_TOKEN = re.compile(r"[a-z0-9]+")


def normalised(text: str) -> str:
    """Lower-case alphanumeric tokens, space-separated and padded: "ND-loss" → " nd loss "."""
    return " " + " ".join(_TOKEN.findall(text.lower())) + " "


def absent(names: set[str], collection_text: str) -> list[str]:
    """The names that occur nowhere in ``collection_text`` (a `normalised` string), matched
    loosely — case, hyphens and spacing ignored ("ND-loss" matches "ND loss", "ML-TI" matches
    "MLTI") — so that only
    a name the collection really never writes counts as absent."""
    def found(name: str) -> bool:
        spaced = normalised(name)
        return spaced in collection_text or f" {spaced.replace(' ', '')} " in collection_text

    return sorted(n for n in names if not found(n))


def source_names(sources: Sequence[Source]) -> dict[int, list[str]]:
    """The names that single out each source among ``sources``: its title, the name its title
    gives before a colon ("DifFace: …" → "DifFace"), and the coined terms of its title
    ("Coordinate-Aware Modulation …" → "Coordinate-Aware") that no other source's title or
    abstract writes. A baseline every abstract mentions ("MAML") names none of them."""
    texts = {s.number: (s.title + " " + s.abstract).lower() for s in sources}
    out: dict[int, list[str]] = {}
    for s in sources:
        names = [s.title.strip().rstrip(".")] if len(s.title) >= 12 else []
        lead = title_name(s.title)
        for name in ([lead] if lead else []) + sorted(named_terms(s.title)):
            others = [n for n, t in texts.items() if n != s.number
                      and re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", t)]
            if not others and name not in names:
                names.append(name)
        out[s.number] = names
    return out


def names_in(sentence: str, names_of: dict[int, list[str]]) -> list[int]:
    """The sources a sentence names (``names_of`` from `source_names`), in the order they occur
    in it."""
    found: dict[int, int] = {}
    for n, names in names_of.items():
        spots = [sentence.find(name) for name in names if mentions(sentence, name)]
        if spots:
            found[n] = min(spots)
    return sorted(found, key=lambda n: found[n])
