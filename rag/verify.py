"""Does each answer sentence follow from what it cites? (used by eval/, and later live in ask())

Two layers, cheapest first:

1. Cheap checks, reused from `rag.citations`: a claim sentence must cite something, every
   number and name-like term in it must appear in the cited sources, and most of its content
   words must too. A missing number or name is a hard failure (a fabricated "40%" is never
   supported, whatever a judge says), so the judge is not even asked. Low word coverage alone
   is only a hint: paraphrases have it, so the judge decides those.
2. An entailment judge (`Judge`): the LLM is asked "does this passage support this claim?";
   the score is P(yes) from the first token's log-probabilities when the endpoint returns them,
   else the text ("yes" → 1.0, "no" → 0.0). A reply that is neither is an abstention (None):
   the cheap checks' verdict stands.

Three scores come out of it (formulas in eval/metrics.py):

* citation recall (ALCE): a claim sentence is supported if its cited sources, joined, entail it;
* citation precision (ALCE): a citation is imprecise if the sentence is not supported at all,
  or if the citation alone does not support it AND removing it leaves the sentence supported
  (it adds nothing). With one citation, precise == the sentence is supported;
* faithfulness (RAGAS): the answer is split into atomic claims (`prompts/claims.md`), each judged
  against the text of all the sources the answer cites; score = supported / total. When the model
  gives nothing usable (the fake LLM, or no judge at all) the claim sentences are the claims.

Sources are judged by title + abstract (the paper's text), not only the passages the model saw:
the question is whether the answer is true to the paper it cites.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import prompts
from rag import citations
from rag.citations import content_words, split_sentences, strip_markers, support
from rag.guard import neutralise
from rag.llm import ChatModel, LogprobsRejected
from rag.messages import system_message
from rag.settings import Settings, get_settings
from rag.thresholds import JUDGE_THRESHOLD, MIN_COVERAGE
from rag.types import Answer, Source

# Re-exported under their old names (eval/ imports THRESHOLD from here).
THRESHOLD = JUDGE_THRESHOLD
_YES = {"yes", "true", "supported", "correct"}
_NO = {"no", "false", "unsupported", "not", "incorrect"}


# ------------------------------------------------------------------------- judge scoring

def _tok(entry: Any) -> tuple[str, float]:
    if isinstance(entry, dict):
        return str(entry.get("token", "")), float(entry.get("logprob", -math.inf))
    return str(getattr(entry, "token", "")), float(getattr(entry, "logprob", -math.inf))


def _word(token: str) -> str:
    return re.sub(r"[^a-z]", "", token.lower())


def p_yes_from_top_logprobs(top: Any) -> float | None:
    """P(yes) from the first token's top log-probabilities, renormalised over yes/no tokens.

    Accepts the OpenAI shape (a list of objects or dicts with ``token`` and ``logprob``) or the
    legacy completion shape (a dict ``{token: logprob}``). Tokens are compared case- and
    space-insensitively, so "Yes", " yes" and "YES" all add to yes. Returns None when no yes/no
    token is among them (the judge said something else): the caller treats that as abstaining.

        P(yes) = Σ exp(lp_yes) / (Σ exp(lp_yes) + Σ exp(lp_no))
    """
    if not top:
        return None
    entries = [{"token": k, "logprob": v} for k, v in top.items()] if isinstance(top, dict) \
        else list(top)
    yes = no = 0.0
    for e in entries:
        token, lp = _tok(e)
        w = _word(token)
        if w in _YES:
            yes += math.exp(lp)
        elif w in _NO:
            no += math.exp(lp)
    if yes + no <= 0.0:
        return None
    return yes / (yes + no)


def p_yes_from_text(text: str) -> float | None:
    """1.0 for a reply starting with yes, 0.0 for no, None for anything else."""
    m = re.search(r"[A-Za-z]+", text or "")
    if not m:
        return None
    w = m.group(0).lower()
    return 1.0 if w in _YES else 0.0 if w in _NO else None


@dataclass
class Verdict:
    p: float | None  # P(supported); None = the judge gave no usable answer
    via: str  # "logprobs" | "text" | "none"
    raw: str = ""


class Judge:
    """LLM entailment judge: ``judge(claim, passage)`` → P(passage supports claim).

    Uses the configured chat model, or a separate endpoint/model from ``RAG_JUDGE_BASE_URL`` /
    ``RAG_JUDGE_MODEL`` (a bigger judge than the answering model is the usual choice). Verdicts
    are cached per (claim, passage): the same pair recurs across sentence, citation and claim
    checks.
    """

    def __init__(self, settings: Settings | None = None, model: ChatModel | None = None):
        self.settings = settings or get_settings()
        self._model = model  # who judges; by default from the settings, on first use
        self.logprobs_supported: bool | None = None  # learnt on the first call
        self.calls = 0
        self._cache: dict[tuple[str, str], Verdict] = {}

    # --- where to send it
    def _judge_model(self) -> ChatModel:
        if self._model is not None:
            return self._model
        base = self.settings.judge_base_url
        if base:
            from rag.llm import OpenAIChat

            key = (self.settings.judge_api_key or self.settings.openai_api_key
                   or os.environ.get("OPENAI_API_KEY") or "none")
            settings = self.settings.with_overrides(model=self.settings.judge_model)
            self._model = OpenAIChat(settings, base, key)
        else:
            from rag.llm import get_model

            # RAG_JUDGE_MODEL alone: another model name on the answering endpoint.
            self._model = get_model(self.settings.with_overrides(model=self.settings.judge_model))
        return self._model

    @property
    def _text_only(self) -> bool:
        # The test double (rag/fake_llm.py) has no log-probabilities to offer.
        return self._judge_model().name == "fake"

    @property
    def identity(self) -> str:
        """Which model at which endpoint judges (what a cached calibration is valid for)."""
        if self._text_only:
            return "fake"
        return f"{self._judge_model().name} @ {self.settings.judge_base_url or 'answer endpoint'}"

    @property
    def description(self) -> str:
        if self._text_only:
            return "fake model (text yes/no)"
        how = {True: "logprobs", False: "text yes/no", None: "not called yet"}[
            self.logprobs_supported]
        base = self.settings.judge_base_url or "answer model endpoint"
        return f"{self._judge_model().name} @ {base} ({how})"

    # --- scoring
    def verdict(self, claim: str, passage: str) -> Verdict:
        key = (claim, passage)
        if key not in self._cache:
            self._cache[key] = self._ask(claim, passage)
        return self._cache[key]

    def judge(self, claim: str, passage: str) -> float:
        """P(supported). An abstention scores 0.5: the judge does not know."""
        v = self.verdict(claim, passage)
        return 0.5 if v.p is None else v.p

    def answers(self, question: str, source: Source) -> Verdict:
        """Does ``source``'s abstract answer ``question``? (`prompts/asked.md`; rag/asked.py)

        The answering system prompt goes first, unchanged: with the answering model as judge,
        llama.cpp keeps it cached, so neither this call nor the next question reads it again."""
        passage = neutralise(f"{source.title}. {source.abstract or source.text}")
        key = (f"asked: {question}", passage)
        if key not in self._cache:
            self._cache[key] = self._ask_messages([
                system_message(),
                {"role": "user", "content": prompts.render(
                    "asked", question=question.strip(), passage=passage.strip())}])
        return self._cache[key]

    def _ask(self, claim: str, passage: str) -> Verdict:
        return self._ask_messages([{"role": "user", "content": prompts.render(
            "judge", claim=claim.strip(), passage=passage.strip())}])

    def _ask_messages(self, messages: list[dict[str, str]]) -> Verdict:
        model = self._judge_model()
        self.calls += 1
        if self._text_only:
            text, _ = model.verdict(messages, logprobs=False)
            p = p_yes_from_text(text)
            return Verdict(p, "text" if p is not None else "none", text)
        if self.logprobs_supported is not False:
            try:
                text, top = model.verdict(messages, logprobs=True)
            except LogprobsRejected:
                # llama-cpp-python's server refuses logprobs unless started with
                # --logits_all True; other servers reject the parameter. Fall back to text.
                self.logprobs_supported = False
            else:
                p = p_yes_from_top_logprobs(top)
                if p is not None:
                    self.logprobs_supported = True
                    return Verdict(p, "logprobs", text)
                if self.logprobs_supported is None and top is None:
                    self.logprobs_supported = False
                p = p_yes_from_text(text)
                return Verdict(p, "text" if p is not None else "none", text)
        text, _ = model.verdict(messages, logprobs=False)
        p = p_yes_from_text(text)
        return Verdict(p, "text" if p is not None else "none", text)


# ------------------------------------------------------------------------- answer checks

@dataclass
class SentenceCheck:
    sentence: str  # without markers
    cited: list[int]  # display numbers, as the user sees them ([1], [2] …)
    source_numbers: list[int]  # the Sources those citations point to
    is_claim: bool  # False for "The sources do not report …" sentences
    problems: list[str] = field(default_factory=list)  # cheap-check findings
    judge_score: float | None = None  # P(cited sources, joined, entail the sentence)
    supported: bool = False


@dataclass
class CitationCheck:
    sentence_index: int
    number: int  # display number
    paper_id: str
    alone: bool  # this source by itself supports the sentence
    precise: bool  # ALCE: the citation is needed or sufficient for a supported sentence


@dataclass
class ClaimCheck:
    claim: str
    score: float | None
    supported: bool


@dataclass
class VerifyResult:
    sentences: list[SentenceCheck] = field(default_factory=list)
    citations: list[CitationCheck] = field(default_factory=list)
    claims: list[ClaimCheck] = field(default_factory=list)
    claims_from: str = "none"  # "llm" (claims prompt) | "sentences" (fallback) | "none"
    judged: bool = False  # an LLM judge was used (False: cheap checks only)

    @property
    def unsupported(self) -> list[str]:
        """Claim sentences the checks could not support: what `Answer.unsupported` should hold."""
        return [s.sentence for s in self.sentences if s.is_claim and not s.supported]


def _source_text(sources: Iterable[Source]) -> str:
    return "\n\n".join(f"{s.title}\n{s.abstract or s.text}" for s in sources)


def cheap_problems(sentence: str, cited: list[Source], question: str = ""
                   ) -> tuple[list[str], list[str]]:
    """(hard problems, soft problems) of a claim sentence against the sources it cites.

    Hard: no citation, or a number / name that none of the cited sources contains.
    Soft: fewer than half of its content words appear in them (a paraphrase can do that; words
    repeated from ``question`` may be set aside, as in the live check).
    """
    if not cited:
        return ["cites no source"], []
    bad_nums, bad_terms, coverage = support(sentence, cited, question)
    hard = [f"number {n} not in cited sources" for n in bad_nums]
    hard += [f"term {t} not in cited sources" for t in bad_terms]
    soft = [f"word coverage {coverage:.2f} < {MIN_COVERAGE}"] if coverage < MIN_COVERAGE else []
    return hard, soft


def _supports(sentence: str, cited: list[Source], judge: Judge | None, question: str = ""
              ) -> tuple[bool, float | None, list[str]]:
    """Cheap checks veto; the judge (when there is one and it answers) decides the rest."""
    hard, soft = cheap_problems(sentence, cited, question)
    if hard:
        return False, None, hard + soft
    if judge is None:
        return not soft, None, soft
    v = judge.verdict(sentence, _source_text(cited))
    if v.p is None:
        return not soft, None, soft
    return v.p >= THRESHOLD, v.p, soft


def _parse_claims(text: str) -> list[str]:
    out = []
    for line in (text or "").splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
        line = strip_markers(line)
        if line.lower().startswith(("claims:", "answer:")):
            continue
        if len(content_words(line)) < 2 or citations.is_non_answer(line):
            continue
        out.append(line)
    return out


def extract_claims(answer_text: str, settings: Settings | None = None) -> list[str]:
    """Atomic claims of an answer, one per line from the LLM (RAGAS's decomposition step)."""
    from rag.llm import get_model

    settings = settings or get_settings()
    msg = prompts.render("claims", answer=strip_markers(answer_text))
    out = get_model(settings).complete([{"role": "user", "content": msg}], max_tokens=200)
    return _parse_claims(out)


def verify_answer(answer: Answer, judge: Judge | None = None, *, claims: bool = True
                  ) -> VerifyResult:
    """Check every sentence of ``answer`` against the sources it cites (see module docstring).

    A refused answer has nothing to check: the result is empty.
    """
    result = VerifyResult(judged=judge is not None)
    if answer.refused or not answer.text.strip():
        return result
    by_display = {c.number: c for c in answer.citations}
    by_source = {s.number: s for s in answer.sources}
    question = answer.standalone_question or answer.question

    for sent in split_sentences(answer.text):
        shown = [n for n in citations.cited_numbers(sent) if n in by_display]
        body = strip_markers(sent)
        if not body or not re.search(r"\w", body):
            continue
        src_nums = [by_display[n].source_number for n in shown
                    if by_display[n].source_number in by_source]
        cited = [by_source[n] for n in src_nums]
        is_claim = not citations.is_non_answer(body)
        check = SentenceCheck(body, shown, src_nums, is_claim)
        result.sentences.append(check)
        if not is_claim:
            continue
        check.supported, check.judge_score, check.problems = _supports(body, cited, judge,
                                                                       question)
        # ALCE precision, per citation.
        idx = len(result.sentences) - 1
        for num, src in zip(shown, cited):
            if len(cited) == 1:
                alone, precise = check.supported, check.supported
            else:
                alone = _supports(body, [src], judge, question)[0]
                rest = [s for s in cited if s is not src]
                precise = check.supported and (
                    alone or not _supports(body, rest, judge, question)[0])
            result.citations.append(CitationCheck(idx, num, src.paper_id, alone, precise))

    if claims:
        _faithfulness(answer, result, judge)
    return result


def _faithfulness(answer: Answer, result: VerifyResult, judge: Judge | None) -> None:
    claim_sents = [s for s in result.sentences if s.is_claim]
    if not claim_sents:
        return
    cited_sources = answer.cited_sources
    claims: list[str] = []
    if judge is not None:
        claims = extract_claims(answer.text, judge.settings)
    if claims:
        result.claims_from = "llm"
        for c in claims:
            ok, score, _ = _supports(c, cited_sources, judge)
            result.claims.append(ClaimCheck(c, score, ok))
        return
    # No decomposition available: each claim sentence is a claim, judged on what it cites.
    result.claims_from = "sentences"
    result.claims = [ClaimCheck(s.sentence, s.judge_score, s.supported) for s in claim_sents]
