"""Judged citation quality and faithfulness: the eval's own verdicts, independent of the checker.

The live checker (`rag.citations.check`, via `support()`) decides which sentences users see; if
the eval scored answers with the same function, a checker that wrongly passes a sentence would
also score it as supported, and withheld answers (turned into refusals) would leave the
denominator. So here:

* every verdict comes from the LLM entailment judge (`rag.verify.Judge`, calibrated on the
  labelled pairs of eval/data/judge_calibration.jsonl) — no number/term/word-coverage veto; the
  only code shared with `rag.citations` is parsing (sentence splitting, `[n]` markers, spotting
  "the papers do not say" sentences), never `support()`;
* answers the checker withheld are judged too: the model's raw draft, with its citations as it
  wrote them ([n] = the n-th source in the prompt), so the denominator is every item where the
  model wrote an answer;
* an uncited claim sentence is unsupported (ALCE); a judge abstention counts as unsupported and
  is counted.

Scores per item (formulas as in eval/metrics.py):

* citation recall: claim sentences whose cited papers (title + abstract, joined) entail them;
* citation precision (ALCE): a citation is precise if its sentence is supported and it either
  supports the sentence alone or removing it breaks the support;
* faithfulness: claim sentences entailed by the papers the model was shown (RAGAS's "faithful
  to the retrieved context"; sentences are the claims — decomposing them with the 1.5B model
  cost a generation per answer and split them unreliably). A sentence its cited papers entail
  is faithful without asking again: the cited papers are part of what was shown, and entailment
  by part of the context is entailment by all of it. Asking anyway cost the longest prompt of
  the run (every shown abstract, ~1,500 tokens) on almost every answer, and the 1.5B judge,
  distracted by the other abstracts, sometimes said no where the cited paper alone said yes
  (faithfulness 0.82 below citation recall 0.86 on the first judged test items — impossible
  for a consistent judge).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from rag import citations
from rag.citations import split_sentences, strip_markers
from rag.types import Answer, Source
from rag.verify import THRESHOLD, Judge


@dataclass
class JudgedSentence:
    sentence: str
    cited: list[int]  # source numbers as in the judged text's frame
    supported: bool  # entailed by the cited papers, joined
    p: float | None
    faithful: bool  # entailed by the papers the model was shown
    p_context: float | None
    precise: list[bool] = field(default_factory=list)  # per citation, ALCE


@dataclass
class JudgedAnswer:
    judged: str  # "final" (what the user saw) | "draft" (withheld by the checker) | "none"
    sentences: list[JudgedSentence] = field(default_factory=list)
    abstentions: int = 0

    @property
    def citation_recall(self) -> float | None:
        return _share([s.supported for s in self.sentences])

    @property
    def citation_precision(self) -> float | None:
        return _share([p for s in self.sentences for p in s.precise])

    @property
    def faithfulness(self) -> float | None:
        return _share([s.faithful for s in self.sentences])

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(citation_recall=self.citation_recall,
                 citation_precision=self.citation_precision, faithfulness=self.faithfulness)
        return d


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _text(sources: list[Source]) -> str:
    return "\n\n".join(f"{s.title}\n{s.abstract or s.text}" for s in sources)


def _frame(answer: Answer) -> tuple[str, str, dict[int, Source]] | None:
    """(which text, the text, marker number → Source) to judge, or None for a true refusal."""
    by_source = {s.number: s for s in answer.sources}
    if not answer.refused and answer.text.strip():
        by_display = {c.number: by_source[c.source_number] for c in answer.citations
                      if c.source_number in by_source}
        return "final", answer.text, by_display
    draft = (answer.raw_text or "").strip()
    if draft and not citations.is_non_answer(strip_markers(draft)):
        shown = {n: s for n, s in by_source.items() if s.shown_to_llm}
        return "draft", draft, shown
    return None


def judge_answer(answer: Answer, judge: Judge) -> JudgedAnswer:
    """Judge every claim sentence of what the model wrote (see the module docstring).

    The verdicts are asked for grouped by passage, not sentence by sentence: the judge prompt
    puts the passage before the claim, and llama.cpp (like most OpenAI-compatible servers with
    a prompt cache) reuses the evaluated prefix of the previous request, so consecutive calls
    on the same passage only pay for the claim. Sentence order would alternate between the
    shown context and each sentence's cited papers and re-read every passage each time.
    """
    frame = _frame(answer)
    if frame is None:
        return JudgedAnswer("none")
    which, text, numbers = frame
    context = [s for s in answer.sources if s.shown_to_llm]
    out = JudgedAnswer(which)

    claims: list[tuple[str, list[int], list[Source]]] = []
    for sent in split_sentences(text):
        body = strip_markers(sent)
        if not re.search(r"\w{3,}", body) or citations.is_non_answer(body):
            continue
        cited_nums = [n for n in citations.cited_numbers(sent) if n in numbers]
        claims.append((body, cited_nums, [numbers[n] for n in cited_nums]))

    # Pass 1: each sentence against its cited papers.
    _ask_grouped(judge, [(body, cited) for body, _, cited in claims])

    def verdict(claim: str, sources: list[Source]) -> tuple[bool, float | None]:
        if not sources:
            return False, None
        v = judge.verdict(claim, _text(sources))  # cached after _ask_grouped
        if v.p is None:
            out.abstentions += 1
            return False, None
        return v.p >= THRESHOLD, v.p

    supported_by = {i: verdict(body, cited) for i, (body, _, cited) in enumerate(claims)}

    def within_context(cited: list[Source]) -> bool:
        return bool(cited) and all(any(s is c for c in context) for s in cited)

    # Pass 1b: against everything shown, only where the cited papers did not settle it.
    _ask_grouped(judge, [(body, context) for i, (body, _, cited) in enumerate(claims)
                         if not (supported_by[i][0] and within_context(cited))])
    # Pass 2 (ALCE precision): a supported sentence with several citations, each left out.
    _ask_grouped(judge, [pair for i, (body, _, cited) in enumerate(claims)
                         if supported_by[i][0] and len(cited) > 1
                         for src in cited
                         for pair in ((body, [src]), (body, [s for s in cited if s is not src]))])

    for i, (body, cited_nums, cited) in enumerate(claims):
        supported, p = supported_by[i]
        if cited == context or (supported and within_context(cited)):
            faithful, p_ctx = supported, p  # p_context is then the cited papers' p
        else:
            faithful, p_ctx = verdict(body, context)
        js = JudgedSentence(body, cited_nums, supported, p, faithful, p_ctx)
        for src in cited:
            if len(cited) == 1:
                js.precise.append(supported)
                continue
            alone = verdict(body, [src])[0]
            rest = [s for s in cited if s is not src]
            js.precise.append(supported and (alone or not verdict(body, rest)[0]))
        out.sentences.append(js)
    return out


def _ask_grouped(judge: Judge, pairs: list[tuple[str, list[Source]]]) -> None:
    """Fill the judge's cache for these (claim, sources) pairs, one passage after another."""
    by_passage: dict[str, list[str]] = {}
    for claim, sources in pairs:
        if sources:
            by_passage.setdefault(_text(sources), []).append(claim)
    for passage, claims in by_passage.items():
        for claim in dict.fromkeys(claims):
            judge.verdict(claim, passage)
