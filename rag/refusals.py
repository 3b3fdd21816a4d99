"""What a refusal after the LLM says: that the papers don't give it, and what the closest one
does say.

A bare "The papers don't say" leaves a researcher to open the sources and look; and for a false
premise ("What FID does X reach on CIFAR-10?" about a paper that reports none) the useful answer
is "not given" next to what the paper does report. The paper is the one the withheld draft cited
first (the model's own pick of where the answer should be), else the top-ranked source; its
sentences nearest the question and the draft are quoted verbatim, so nothing unchecked is said.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from rag.citations import (
    MARKER,
    cited_numbers,
    is_non_answer,
    sentence_lines,
    strip_markers,
)
from rag.identify import asks_which
from rag.names import naming
from rag.premises import Denial
from rag.quotes import naming_quote, quote_text
from rag.thresholds import JUDGE_THRESHOLD
from rag.types import Citation, Source

NOT_GIVEN = "The papers in this collection don't give this."
PREMISE_DENIED = "The question's premise does not hold:"


def _quoted(text: str, src: Source) -> tuple[str, Citation] | None:
    """``src``'s sentences nearest ``text``, verbatim and joined, with their citation as [1];
    None when none shares a word with it."""
    quote = quote_text(text, src)
    if not quote:
        return None
    return quote, Citation(1, src.paper_id, src.title, quote, src.number)


def not_given(question: str, draft: list[str], sources: list[Source],
              closest: int | None = None) -> tuple[str, list[Citation]] | None:
    """(refusal text quoting the closest paper as [1], its citation), or None when no source
    shares a word with the question."""
    if not sources:
        return None
    by_num = {s.number: s for s in sources}
    src = by_num.get(closest, sources[0]) if closest is not None else sources[0]
    quoted = _quoted(" ".join([question, *draft]), src)
    if not quoted:
        return None
    quote, cite = quoted
    return f'{NOT_GIVEN} The closest paper, "{src.title}" [1], says: "{quote}"', [cite]


def detail_missing(names: list[str], source: Source) -> str:
    """The answer's first sentence when the paper asked about never writes a name the question
    asks about (`rag.names.details_not_given`): it declines the detail, then the answer goes
    on with what the paper does say."""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f'"{source.title}" does not mention {listed}, so the papers here don\'t give this.'


def each_says(question: str, papers: list[Source]) -> tuple[str, list[Citation]] | None:
    """For a comparison whose drafted answer did not hold: each paper the question names, in
    its own words nearest the question, cited [1], [2], … — the reader still gets both sides,
    and nothing unchecked is said. None when fewer than two have a sentence to quote."""
    parts: list[str] = []
    cites: list[Citation] = []
    for src in papers:
        quote = quote_text(question, src)
        if quote:
            n = len(cites) + 1
            cites.append(Citation(n, src.paper_id, src.title, quote, src.number))
            parts.append(f'- "{src.title}" [{n}] says: "{quote}"')
    if len(cites) < 2:
        return None
    # One line a paper, so each quote is its own claim with its own evidence card.
    return "\n".join(["In each paper's own words:", *parts]), cites


def premise_denied(question: str, denial: Denial) -> tuple[str, list[Citation]]:
    """The answer to a question whose premise its paper denies (`rag.premises.denied`): the
    paper's denying sentence, verbatim, then its sentences nearest the question if they add
    anything. All of it is the paper's own text, cited as [1]."""
    src, said = denial.source, denial.sentence
    text = f'{PREMISE_DENIED} "{src.title}" [1] says: "{said}"'
    quoted = _quoted(question, src)
    if quoted and said not in quoted[0]:
        text += f' It also says: "{quoted[0]}"'
        said = f"{said} {quoted[0]}"
    return text, [Citation(1, src.paper_id, src.title, said, src.number)]


def without_sentences_naming(raw: str, names: list[str]) -> str:
    """The model's text less its sentences that write one of ``names``: a paper that never
    mentions KITTI backs no sentence about KITTI, however close a number it reports."""
    lines = [" ".join(x for x in sents if not naming(x, names)) for sents in sentence_lines(raw)]
    return "\n".join(line for line in lines if line)


def declined_detail(lead: str, question: str, source: Source, rest: str,
                    cites: list[Citation]) -> tuple[str, list[Citation]]:
    """`detail_missing`'s sentence, then ``rest`` (the model's checked text and its
    citations) less its sentences that cite another paper, or, when none is left, the
    asked-about paper's sentence nearest the question, quoted. After "PatchmatchNet does not
    mention KITTI", a sentence on another paper's KITTI numbers would read as PatchmatchNet's."""
    rest, cites = _citing_only(rest, cites, source)
    if rest:
        return f"{lead} {rest}", cites
    quoted = _quoted(question, source)
    if not quoted:
        return lead, []
    quote, cite = quoted
    return f'{lead} It says: "{quote}" [1]', [cite]


_POINTS_BACK = re.compile(r"(?:this|these|that|those|it|they|such|its|their)\b", re.I)


def _citing_only(text: str, cites: list[Citation], source: Source
                 ) -> tuple[str, list[Citation]]:
    """The sentences of ``text`` that cite ``source`` and no other paper, their markers
    renumbered [1], with its citation; ("", []) when there are none."""
    mine = next((c for c in cites if c.paper_id == source.paper_id), None)
    if mine is None:
        return "", []
    kept = [s for sents in sentence_lines(text) for s in sents
            if (marks := set(cited_numbers(s))) and marks <= {mine.number}]
    # Right after "… does not mention X", "This approach …" points at nothing (the sentence it
    # followed named X and was dropped).
    while kept and _POINTS_BACK.match(kept[0]):
        kept.pop(0)
    if not kept:
        return "", []
    return MARKER.sub("[1]", " ".join(kept)), [replace(mine, number=1)]


def restatable(draft: list[str], sources: list[Source], closest: int | None) -> Source | None:
    """The paper `restated` would ask the judge about, or None when it would not ask: the draft
    cited no paper, or it declines ("the sources do not say …")."""
    if closest is None or not draft or any(is_non_answer(d) for d in draft):
        return None
    return next((s for s in sources if s.number == closest), None)


def restated(question: str, draft: list[str], sources: list[Source], closest: int | None,
             judge: Callable[[str, str], float],
             answers: Callable[[Source], bool]) -> tuple[str, list[Citation]] | None:
    """An answer for a draft that only restated the question about the paper it cited.

    Asked "Which paper lays down two properties an attribution method should satisfy?", a small
    model often writes "The paper [1] lays down two properties …" and nothing else: no word of
    it comes from the paper, so the checks withhold it, though the model picked the right
    paper. Whether that paper really is the answer is a question of meaning. For a which-paper
    question (`rag.identify.asks_which`) the paper is the answer, so ``answers(paper)`` (the
    judge reading the paper with the question, rag/asked.py) decides; otherwise the judge reads
    the draft's claim against the paper (``judge(claim, passage)`` → P(supported), title and
    abstract, as the eval's judge does). If it holds, the answer names the paper and quotes its
    sentences nearest the question; if not, None, and the refusal stands (a nearby paper must
    not be presented as the one asked about)."""
    src = restatable(draft, sources, closest)
    if src is None:
        return None
    if asks_which(question):
        held = answers(src)
    else:
        claim = " ".join(strip_markers(d) for d in draft)
        held = judge(claim, f"{src.title}. {src.abstract or src.text}") >= JUDGE_THRESHOLD
    quote = naming_quote(" ".join([question, *draft]), src) if held else ""
    return presented(src, quote) if quote else None


def presented(src: Source, quote: str) -> tuple[str, list[Citation]]:
    """'This is "<title>" [1], which says: "<quote>"' and its citation: a paper given as the
    answer in its own words (a confirmed restatement, or the recheck's other paper)."""
    return (f'This is "{src.title}" [1], which says: "{quote}"',
            [Citation(1, src.paper_id, src.title, quote, src.number)])
