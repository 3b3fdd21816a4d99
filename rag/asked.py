"""Is the paper an answer rests on an answer to what was asked?

A small model answers from whatever it is shown. Asked about a technique no paper proposes, or
for a detail a paper does not give ("What Dice score does the reversible 3D U-Net reach on the
enhancing-tumour class?"), it presents the nearest paper's sentences as the answer: each is the
paper's own, so the word checks pass, yet the paper does not answer the question. Whether it does
is a question of meaning, so the judge reads the paper's title and abstract with the question
(`prompts/asked.md`, `rag.verify.Judge.answers`). It does not read the model's draft: asked in
the same conversation whether the source it cited states what was asked, the model said yes to
all 149 of its dev drafts, the 22 false premises and 15 out-of-corpus questions among them.
Reading the abstract with the question instead, the same model said no for 27 of those 37, and
for 2 of the 90 fact and paraphrase answers that cited the right paper.

The judge's verdict on a paper (cached, so a paper is read once per answer) decides three
things:

* (opt-in, ``RAG_CHECK_ASKED``) an answer that rests on one paper is declined when the judge
  says that paper does not answer the question, and that paper's sentences nearest the question
  are quoted instead (a comparison or a follow-up is left alone: one abstract does not answer
  "how do A and B differ?", and a follow-up leans on the conversation);
* a withheld draft that only restated a which-paper question ("Is there work arguing …?") is
  answered with the paper it cited when the judge says that paper answers it
  (`rag.refusals.restated`; on with ``RAG_JUDGE_RESTATEMENTS``);
* (``RAG_RECHECK_PAPER``, on) an answer resting on a paper the question does not name, when
  the judge says that paper does not answer it and says the other of the two best-ranked papers
  does, is given with that paper instead: the small model cites its [1], and a paraphrased
  question's paper is often ranked second (`other_paper`; on 97 answered dev paraphrases it
  moved 3 answers, all to the gold paper, none away from it).

The first is off by default: on dev it raised false-premise refusals 0.70 -> 0.85 and declined
no answerable paraphrase, but on the test split (reported, not tuned on) it declined 6 more of 27
answerable paraphrases for 1 more of 22 false premises.
"""

from __future__ import annotations

from rag.thresholds import JUDGE_THRESHOLD
from rag.types import Answer, Source

#: The answer's status line while the judge reads.
CHECKING = "Checking that the paper answers the question…"


def answers(p: float | None) -> bool:
    """The judge's P(yes) says the paper answers (text "yes" is 1.0; with log-probabilities, any
    P above the threshold). An abstention (None) is not a yes."""
    return p is not None and p >= JUDGE_THRESHOLD


def does_not_answer(p: float | None) -> bool:
    """The judge says it does not. An abstention is not a no either: the answer stands."""
    return p is not None and p < JUDGE_THRESHOLD


def rests_on(answer: Answer) -> Source | None:
    """The one paper a standing answer cites; None when it is refused or cites none or several
    (several papers share the answer; no one abstract has to hold all of it)."""
    if answer.refused:
        return None
    cited = {c.paper_id for c in answer.citations}
    if len(cited) != 1:
        return None
    return next((s for s in answer.sources if s.paper_id in cited), None)


def other_paper(answer: Answer, shown: list[Source]) -> tuple[Source, Source] | None:
    """(the one paper the answer rests on, the other of the two best-ranked shown papers), or
    None when the answer rests on no single paper or only one paper was shown."""
    cited = rests_on(answer)
    if cited is None:
        return None
    other = next((s for s in shown[:2] if s.paper_id != cited.paper_id), None)
    return (cited, other) if other else None
