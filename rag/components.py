"""A component the question says a named paper uses, which the paper never mentions.

"How does WISE use reinforcement learning to pick filter parameters?" takes for granted that
WISE uses reinforcement learning. Its abstract never says "reinforcement", so the model can only
explain a premise the paper does not state, and a small model does: it borrows the question's
words and cites WISE. The same holds for "What new attention architecture does Gen4Gen
introduce?" when Gen4Gen's abstract never writes "attention".

This module reads only the two ways of asking that state such a premise outright:
"How/Why does <paper> use|add|introduce … <component> …?" and "What/Which <component> does
<paper> use|add|introduce …?". It reads them only when <paper> is written in the paper's own
title, or is a name the question writes that the paper's abstract writes ("MLTI"), so a
paraphrased question that names no paper is never read this way. A component is
missing when one of its words is in no form (stem, hyphenated part) in the title or abstract.
Descriptive words such as "new", "kind" and "method" do not count: they describe a component
rather than name it. The abstract is all the collection has, so "not given" is the honest answer
even when the full paper might say more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

import Stemmer

_stemmer = Stemmer.Stemmer("english")

_VERBS = (r"(?:uses?|adds?|introduces?|employs?|adopts?|appl(?:y|ies)|leverages?|"
          r"incorporates?|relies on|rely on)")
_STOP = (r"(?:\s+(?:to|for|in|so|during|when|while|that|on|at|with|from|by|and|or|than|"
         r"compared|unlike|versus|vs)\b|[?,;.]|$)")
_HOW = re.compile(rf"\b(?:how|why)\s+(?:does|do|did)\s+(?P<paper>[^?,;]+?)\s+{_VERBS}\s+"
                  rf"(?P<part>[^?,;]+?){_STOP}", re.I)
_WHAT = re.compile(rf"\b(?:what|which)\s+(?P<part>[^?,;]+?)\s+(?:does|do|did)\s+"
                   rf"(?P<paper>[^?,;]+?)\s+{_VERBS}\b", re.I)
#: Words that describe a component rather than name it.
_DESCRIBING = frozenset(
    "a an the its their his her new novel kind kinds type types sort sorts form specific "
    "particular exact exactly additional extra own special different method methods approach "
    "approaches technique techniques component components module modules mechanism "
    "mechanisms strategy strategies way ways trick tricks idea ideas of based style like "
    "driven aware".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _flat(text: str) -> str:
    """Lower-case alphanumeric tokens, space-padded (as `rag.names.normalised`, which imports
    this module)."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _stems(text: str) -> set[str]:
    return set(_stemmer.stemWords(w.lower() for w in _WORD.findall(text)))


#: A missing word must be a term of the field, written by at least MIN_PAPERS papers of the
#: collection ("discriminator" 9 of the shipped 449, "reinforcement" 14), not a rare word of
#: the user's own for something the paper names otherwise ("net", 3, for "network"); and by
#: at most MAX_PAPERS (a tenth of the shipped collection): a word that many papers write
#: ("neural" 123, "large" 112) is the field's common vocabulary, whose absence from one
#: abstract says nothing ("How does WISE use neural networks?" of a paper on "parameter
#: prediction networks").
MIN_PAPERS = 5
MAX_PAPERS = 45


def missing(question: str, title: str, abstract: str,
            frequency: Callable[[str], int] | None = None,
            names: Collection[str] = ()) -> list[str]:
    """[the component, as the question writes it] when the question asks how the paper titled
    ``title`` uses (adds, introduces …) it and a word of it is in no form in the title or
    abstract, and (with ``frequency``: how many papers of the collection write a word) other
    papers write that word; [] otherwise. The paper is named by its title's words or by one
    of ``names`` (the question's names that its abstract writes: "MLTI")."""
    m = _HOW.search(question) or _WHAT.search(question)
    if not m:
        return []
    paper = re.sub(r"^(?:the|a|an)\s+", "", m.group("paper").strip(), flags=re.I)
    if not paper or (_flat(paper) not in _flat(title)
                     and _flat(paper) not in {_flat(n) for n in names}):
        return []
    part = _WORD.findall(m.group("part"))
    words = [w for w in part if w.lower() not in _DESCRIBING]
    # "What benchmarks (metric, backbone) does X use?" asks which one: the head noun names the
    # kind asked for, which an abstract names by instance ("DTU"), not by that word. Only the
    # words before it ("What *attention* architecture …") say what X is taken to have.
    named = [w for w in (part[:-1] if m.re is _WHAT else part) if w.lower() not in _DESCRIBING]
    if not named:
        return []
    have = _stems(f"{title} {abstract}")
    absent = [w for w in named if len(w) > 2 and _stemmer.stemWord(w.lower()) not in have]
    if frequency is not None:
        absent = [w for w in absent if MIN_PAPERS <= frequency(w) <= MAX_PAPERS]
    return [" ".join(words)] if absent else []
