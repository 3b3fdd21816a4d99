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
from collections.abc import Callable, Collection, Sequence

from rag import components, quantities
from rag.types import Source

# Tokens such as MLTI, AdEMAMix, GPT-4, ResNet50, A-STAR.
_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:[-+][A-Za-z0-9]+)*\b")
# "STEP: Learning N:M Structured Sparsity …" → "STEP"; at most three words before the colon, so
# "Deep Learning for X: a survey" is not taken for a name.
_TITLE_NAME = re.compile(r"^\s*([A-Za-z0-9][\w+\-.'’]*(?:\s+[\w+\-.'’]+){0,2})\s*:\s+\S")


# "von Oswald et al.", "Kingma and Ba (2015)": authors, cited the way papers cite them.
_AUTHOR = re.compile(r"([A-Z][\w\-]+(?:\s+(?:and|&)\s+[A-Z][\w\-]+)?)\s+(?:et\s+al\b|\(\d{4}\))")


def _authors(question: str) -> set[str]:
    """Authors' names the question cites ("von Oswald et al.'s paper"): abstracts do not write
    their authors, so such a name is neither unknown to the collection nor a detail left out."""
    return {w for m in _AUTHOR.finditer(question) for w in re.findall(r"[A-Z][\w\-]+", m[1])}


#: A name in the plural: "GPUs", "CNNs", "T5s" — a lower-case "s" after a final capital or
#: digit.
_PLURAL_NAME = re.compile(r"^(.*[A-Z0-9])s$")


def singular_name(name: str) -> str | None:
    """"GPUs" → "GPU"; None for a name that is not a plural ("MLTI", "AdEMAMix")."""
    m = _PLURAL_NAME.match(name)
    return m.group(1) if m else None


def named_terms(question: str) -> set[str]:
    """Names a question asks about: acronyms and coined words (MLTI, AdEMAMix, GPT-4, ResNet50),
    i.e. two or more capitals, or letters mixed with digits."""
    out = set()
    authors = _authors(question)
    for w in _WORD.findall(question):
        if w in authors:
            continue
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


#: "How do A and B differ?", "Compare A with B", "What does each …": more than one paper is
#: asked about.
COMPARES = re.compile(r"\b(?:compare|comparison|differ|differs|difference|differences|versus|"
                      r"vs\.?|both|each)\b", re.I)


def joined(a: str, b: str, question: str) -> bool:
    """"A and B", "A, B", "A or B", "A vs B": two names asked about side by side (not "What FID
    does PQDiff reach on Places2?", where one is a dataset of the other)."""
    return re.search(rf"(?<!\w){re.escape(a)}(?:'s)?\s*(?:,|and|or|vs\.?|versus)\s+"
                     rf"(?:the\s+)?{re.escape(b)}(?!\w)", question) is not None


def mentions(text: str, name: str) -> bool:
    """``name`` occurs in ``text`` as a whole word, case-sensitive ("MLTI" not in "MLTIX")."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


_TOKEN = re.compile(r"[a-z0-9]+")


def normalised(text: str) -> str:
    """Lower-case alphanumeric tokens, space-separated and padded: "ND-loss" → " nd loss "."""
    return " " + " ".join(_TOKEN.findall(text.lower())) + " "


def absent(names: set[str], collection_text: str, by_parts: bool = True) -> list[str]:
    """The names that occur nowhere in ``collection_text`` (a `normalised` string), matched
    loosely — case, hyphens and spacing ignored ("ND-loss" matches "ND loss", "ML-TI" matches
    "MLTI"), and (``by_parts``) a name with plain words hyphenated to it by the name alone
    ("GPT-style") — so that only
    a name the collection really never writes counts as absent."""
    def found(name: str) -> bool:
        spaced = normalised(name)
        if spaced in collection_text or f" {spaced.replace(' ', '')} " in collection_text:
            return True
        # "GPT-style", "BERT-like", "one-step-GD": a name joined to plain words describes by
        # that name; the collection writing the name is enough.
        one = singular_name(name)  # "GPUs" where the papers write "a GPU"
        if one and found(one):
            return True
        parts = name.split("-")
        named = [p for p in parts if not (p.isalpha() and p.islower())]
        return by_parts and 0 < len(named) < len(parts) and all(found(p) for p in named)

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


def _written(name: str, text: str, by_parts: bool = True) -> bool:
    """`absent`'s loose match, also accepting a plural's singular ("SDEs" → "SDE")."""
    forms = {name} | ({name[:-1]} if len(name) > 3 and name.endswith("s") else set())
    return any(not absent({f}, text, by_parts) for f in forms)


# A capitalised word inside a sentence: a dataset or a name ("Omniglot", "Wasserstein").
_PROPER = re.compile(r"(?<![.!?:;\"'(\[]\s)(?<=\s)[A-Z][a-z][A-Za-z0-9\-]+")


def asked_names(question: str) -> set[str]:
    """`named_terms`, and capitalised words that do not start a sentence ("What 20-way
    Omniglot accuracy …" → Omniglot): what a question asks about by name, for
    `details_not_given`. (The collection-wide check, `unknown_names`, keeps to `named_terms`:
    there a capitalised word refused too many answerable questions.)"""
    words = {m.group(0) for m in _PROPER.finditer(question)} - _authors(question)
    # "Adam-style optimizers" asks about Adam.
    heads = {w.split("-", 1)[0] if "-" in w and w.split("-", 1)[1].islower() else w
             for w in words}
    return named_terms(question) | heads


def details_not_given(question: str, sources: Sequence[Source], unique: Collection[str] = (),
                      frequency: Callable[[str], int] | None = None,
                      paper_names: Collection[str] = ()
                      ) -> tuple[list[str], Source | None]:
    """Names the question asks about that the paper it is about never writes.

    "What accuracy does PatchmatchNet reach on KITTI?": the question is about the shown paper
    whose title has one of its names (PatchmatchNet's), else the one writing its rarest name
    (``frequency``: how many papers of the collection write it), else the one writing most of
    them — not a paper that writes "ImageNet" and "top-1" like many others — and if it never
    writes "KITTI", no answer from it can be about KITTI, however close a number it reports
    (a false premise, or a detail its abstract leaves out). Another shown paper that mentions
    KITTI in passing does not give PatchmatchNet's result. A name that is another shown
    paper's own (in its title, or in ``unique``: names the collection writes in one paper
    only), or the name a title of the collection gives its method (``paper_names``: "VeLO"
    for "VeLO: Training …", shown or not), is asked about in its own right ("How do A and B
    differ?"), so it does not count.
    An amount the question writes with a scale ("one million classes"), a share or factor it
    asserts ("20x faster") that the paper states in no spelling, and a count the paper gives
    only otherwise ("5 labeled images" where it writes "50 labeled images") count as such names
    (`rag.quantities`).
    Returns (those names, the paper the question is about); no names when no shown paper
    writes any of them: then the question is not about a named paper, and this check has
    nothing to say."""
    names = asked_names(question)
    if not sources:
        return [], None
    if not names:
        return _figures_not_given(question, sources)
    texts = [normalised(s.title + " " + s.abstract) for s in sources]
    titles = [normalised(s.title) for s in sources]
    # Which paper the question is about: by the names it writes as written ("CLIP-conditioned"
    # singles out the paper writing that, not every paper writing "CLIP").
    covered = [{n for n in names if _written(n, t, by_parts=False)} for t in texts]

    def rarity(i: int) -> tuple[bool, int, int]:
        own = any(_written(n, titles[i]) for n in covered[i])
        rarest = min((frequency(n) for n in covered[i]), default=1 << 30) if frequency else 0
        return not own, rarest, -len(covered[i])

    best = min(range(len(sources)), key=rarity)
    if not covered[best]:
        return [], None
    other_titles = [t for i, t in enumerate(titles) if i != best]
    own = {normalised(n) for n in paper_names}
    # A name only another shown paper writes is that paper's, asked about in its own right,
    # when the question asks about several ("How do GAM and SAM differ?"), and may be what
    # the question is about when that paper is ranked above this one; in "What accuracy does
    # PatchmatchNet reach on KITTI?" KITTI is a benchmark PatchmatchNet's abstract never
    # names, whichever lower-ranked paper does.
    several = bool(COMPARES.search(question)) or any(
        joined(a, b, question) for a in names for b in names if a != b)
    theirs = [t for i, t in enumerate(texts) if i != best and (several or i < best)]
    missing = sorted(n for n in names - covered[best]
                     if normalised(n) not in own and not _written(n, texts[best])
                     and not any(_written(n, t) for t in other_titles)
                     and not (n in unique and any(_written(n, t) for t in theirs)))
    # "How does it fit one million classes into one CNN?" of a paper on 100K classes: an
    # amount the paper never states is a detail it does not give, as a name is.
    about = sources[best]
    missing += quantities.missing(question, f"{about.title} {about.abstract}")
    missing += quantities.claimed_missing(question, f"{about.title} {about.abstract}")
    # "adapts from at most 5 labeled images" of a paper on "at most 50 labeled images" (one
    # reason is enough: a question missing a name is declined for the name).
    if not missing:
        missing += quantities.contradicted(question, f"{about.title} {about.abstract}")
    # "How does WISE use reinforcement learning …?" of a paper that never writes it.
    if not missing:
        missing += components.missing(question, about.title, about.abstract, frequency,
                                      covered[best])
    return missing, about


def _figures_not_given(question: str, sources: Sequence[Source]
                       ) -> tuple[list[str], Source | None]:
    """A question that names no paper but asserts a share or factor ("Has the locally
    regularized NDE work made predictions 10x faster?") or a count ("adapts from 5 labeled
    images") is about the best-ranked paper, unless another shown paper states that figure
    (then the question may be about that one)."""
    texts = [f"{s.title} {s.abstract}" for s in sources]

    def states_a_figure(text: str) -> bool:
        return (quantities.claimed(question) and not quantities.claimed_missing(question, text)
                or quantities.counts_agree(question, text))

    wrong = quantities.claimed_missing(question, texts[0])
    wrong += quantities.contradicted(question, texts[0])
    if not wrong or any(states_a_figure(t) for t in texts[1:]):
        return [], None
    return wrong, sources[0]


def naming(sentence: str, names: Collection[str]) -> bool:
    """Whether ``sentence`` writes any of ``names`` (loosely, as `details_not_given` reads)."""
    text = normalised(sentence)
    return any(_written(n, text) for n in names)
