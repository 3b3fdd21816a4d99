"""What a refusal after the LLM says: that the papers don't give it, and what the closest one
does say.

A bare "The papers don't say" leaves a researcher to open the sources and look; and for a false
premise ("What FID does X reach on CIFAR-10?" about a paper that reports none) the useful answer
is "not given" next to what the paper does report. The paper is the one the withheld draft cited
first (the model's own pick of where the answer should be), else the top-ranked source; its
sentences nearest the question and the draft are quoted verbatim, so nothing unchecked is said.
"""

from __future__ import annotations

from rag.quotes import quotes_for
from rag.types import Citation, Source

NOT_GIVEN = "The papers in this collection don't give this."


def not_given(question: str, draft: list[str], sources: list[Source],
              closest: int | None = None) -> tuple[str, list[Citation]] | None:
    """(refusal text quoting the closest paper as [1], its citation), or None when no source
    shares a word with the question."""
    if not sources:
        return None
    by_num = {s.number: s for s in sources}
    src = by_num.get(closest, sources[0]) if closest is not None else sources[0]
    quotes = quotes_for(" ".join([question, *draft]), src)
    if not quotes:
        return None
    quote = " ".join(q.strip() for q in quotes)
    text = f'{NOT_GIVEN} The closest paper, "{src.title}" [1], says: "{quote}"'
    return text, [Citation(1, src.paper_id, src.title, quote, src.number)]
