"""rag.verify: cheap checks, ALCE citation support/precision, judge scoring, claim faithfulness."""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import httpx
import openai
import pytest

import prompts
from rag.llm import OpenAIChat
from rag.types import Answer, Citation, Source
from rag.verify import (
    Judge,
    p_yes_from_text,
    p_yes_from_top_logprobs,
    verify_answer,
)

MLTI = Source(
    number=1, paper_id="mlti", title="Meta-Learning with Fewer Tasks through Task Interpolation",
    score=1.0, similarity=0.9, shown_to_llm=True,
    abstract="We propose to augment the task set through interpolation. Meta-learning with task "
             "interpolation (MLTI) generates additional tasks by randomly sampling a pair of tasks "
             "and interpolating the corresponding features and labels. MLTI outperforms other "
             "augmentation strategies on eight datasets.")
BARLOW = Source(
    number=2, paper_id="barlow", title="Barlow Twins: Self-Supervised Learning via Redundancy "
    "Reduction", score=0.5, similarity=0.5, shown_to_llm=True,
    abstract="We propose an objective function that naturally avoids collapse by measuring the "
             "cross-correlation matrix between the outputs of two identical networks fed with "
             "distorted versions of a sample.")


def answer(text: str, cites: list[int], refused: bool = False) -> Answer:
    """An Answer whose display numbers [n] map to sources MLTI (1) and BARLOW (2)."""
    by = {1: MLTI, 2: BARLOW}
    return Answer(question="q", text=text, sources=[MLTI, BARLOW], refused=refused,
                  citations=[Citation(number=n, paper_id=by[n].paper_id, title=by[n].title,
                                      snippet="", source_number=n) for n in cites])


# ------------------------------------------------------------------------- logprobs → P(yes)

def test_p_yes_renormalises_over_yes_and_no_tokens():
    top = [{"token": "Yes", "logprob": math.log(0.6)}, {"token": " yes", "logprob": math.log(0.2)},
           {"token": "No", "logprob": math.log(0.1)}, {"token": "The", "logprob": math.log(0.1)}]
    assert p_yes_from_top_logprobs(top) == pytest.approx(0.8 / 0.9)


def test_p_yes_accepts_openai_objects_and_legacy_dicts():
    objs = [NS(token="no", logprob=math.log(0.7)), NS(token="yes", logprob=math.log(0.3))]
    assert p_yes_from_top_logprobs(objs) == pytest.approx(0.3)
    assert p_yes_from_top_logprobs({" Yes": -0.1, " No": -0.1}) == pytest.approx(0.5)


def test_p_yes_is_none_without_yes_or_no_tokens():
    assert p_yes_from_top_logprobs([{"token": "Maybe", "logprob": -0.1}]) is None
    assert p_yes_from_top_logprobs([]) is None
    assert p_yes_from_top_logprobs(None) is None


def test_text_verdicts():
    assert p_yes_from_text("Yes.") == 1.0
    assert p_yes_from_text(" no, it does not") == 0.0
    assert p_yes_from_text("The papers in this collection don't say.") is None
    assert p_yes_from_text("") is None


class _Completions:
    def __init__(self, reply, reject_logprobs=False):
        self.reply, self.reject, self.calls = reply, reject_logprobs, []

    def create(self, **kw):
        self.calls.append(kw)
        if kw.get("logprobs") and self.reject:
            req = httpx.Request("POST", "http://judge/v1/chat/completions")
            raise openai.InternalServerError(
                "logprobs is not supported for models created with logits_all=False",
                response=httpx.Response(500, request=req), body=None)
        return self.reply(kw)


def _judge_with(completions) -> Judge:
    settings = NS(model="m", llm_timeout=1, llm_retries=0, temperature=0.0)
    model = OpenAIChat(settings, "http://judge/v1", "key")  # type: ignore[arg-type]
    model.client = NS(chat=NS(completions=completions))
    return Judge(settings, model=model)  # type: ignore[arg-type]


def test_judge_scores_from_first_token_logprobs():
    def reply(kw):
        top = [NS(token="Yes", logprob=math.log(0.9)), NS(token="No", logprob=math.log(0.1))]
        lp = NS(content=[NS(token="Yes", logprob=math.log(0.9), top_logprobs=top)])
        return NS(choices=[NS(message=NS(content="Yes"), logprobs=lp)])

    comp = _Completions(reply)
    j = _judge_with(comp)
    assert j.judge("MLTI interpolates tasks.", MLTI.abstract) == pytest.approx(0.9)
    call = comp.calls[0]
    assert call["logprobs"] is True and call["top_logprobs"] == 5 and call["max_tokens"] == 1
    assert j.logprobs_supported is True
    j.judge("MLTI interpolates tasks.", MLTI.abstract)
    assert len(comp.calls) == 1  # cached


def test_judge_falls_back_to_text_when_server_refuses_logprobs():
    comp = _Completions(lambda kw: NS(choices=[NS(message=NS(content="No"), logprobs=None)]),
                        reject_logprobs=True)
    j = _judge_with(comp)
    assert j.judge("MLTI uses 40 datasets.", MLTI.abstract) == 0.0
    assert j.logprobs_supported is False
    j.judge("another claim", MLTI.abstract)
    assert "logprobs" not in comp.calls[-1]  # learnt: no more logprob requests


def test_judge_without_logprobs_in_reply_reads_text():
    comp = _Completions(lambda kw: NS(choices=[NS(message=NS(content="Yes"), logprobs=None)]))
    assert _judge_with(comp).judge("c", "p") == 1.0


def test_fake_chat_judge_maps_yes_no(fake_settings, llm):
    llm.enqueue("yes", "No")
    j = Judge(fake_settings)
    assert j.judge("MLTI interpolates tasks.", MLTI.abstract) == 1.0
    assert j.judge("MLTI needs 40 GPUs.", MLTI.abstract) == 0.0
    prompt = llm.history[0][-1]["content"]
    assert "MLTI interpolates tasks." in prompt and "eight datasets" in prompt
    assert j.judge("something else", "p") == 0.5  # unscripted fake says neither: abstains


# ------------------------------------------------------------------------- cheap checks

def test_supported_sentence_passes_cheap_checks():
    v = verify_answer(answer("MLTI generates additional tasks by interpolating features and "
                             "labels [1].", [1]), judge=None, claims=False)
    (s,) = v.sentences
    assert s.supported and s.problems == [] and s.source_numbers == [1]
    assert v.citations[0].precise


def test_number_missing_from_cited_source_is_unsupported_without_asking_judge(fake_settings, llm):
    v = verify_answer(answer("MLTI outperforms other strategies on 12 datasets [1].", [1]),
                      judge=Judge(fake_settings), claims=False)
    (s,) = v.sentences
    assert not s.supported and any("12" in p for p in s.problems)
    assert llm.history == []  # the cheap check vetoed: no judge call
    assert v.unsupported == [s.sentence]


def test_uncited_sentence_and_non_answer_sentence():
    v = verify_answer(answer("MLTI interpolates tasks. The sources do not report training time.",
                             []), judge=None, claims=False)
    first, second = v.sentences
    assert not first.supported and first.problems == ["cites no source"]
    assert not second.is_claim


def test_fabricated_extra_citation_is_imprecise():
    v = verify_answer(answer("MLTI generates additional tasks by interpolating features and "
                             "labels [1][2].", [1, 2]), judge=None, claims=False)
    (s,) = v.sentences
    assert s.supported  # [1] carries it
    prec = {c.number: c.precise for c in v.citations}
    assert prec == {1: True, 2: False}


def test_citation_to_the_wrong_paper_is_unsupported_and_imprecise():
    v = verify_answer(answer("MLTI generates additional tasks by interpolating features [2].", [2]),
                      judge=None, claims=False)
    assert not v.sentences[0].supported and not v.citations[0].precise


def test_refused_answer_has_nothing_to_check():
    v = verify_answer(answer("The papers in this collection don't say.", [], refused=True), None)
    assert v.sentences == [] and v.claims == []


# ------------------------------------------------------------------------- judge in the loop

def test_judge_decides_paraphrase_and_can_reject(fake_settings, llm):
    para = "Mixing pairs of episodes creates more training problems [1]."  # low word overlap
    assert not verify_answer(answer(para, [1]), None, claims=False).sentences[0].supported
    llm.enqueue("yes")
    s = verify_answer(answer(para, [1]), Judge(fake_settings), claims=False).sentences[0]
    assert s.supported and s.judge_score == 1.0
    llm.enqueue("no")
    s = verify_answer(answer("MLTI generates additional tasks by interpolation [1].", [1]),
                      Judge(fake_settings), claims=False).sentences[0]
    assert not s.supported and s.judge_score == 0.0


def test_claims_from_llm_are_each_judged(fake_settings, llm):
    # sentence judge, then the claims prompt, then one judge call per claim
    llm.enqueue("yes",
                "- MLTI generates additional tasks.\n2. MLTI outperforms other augmentation "
                "strategies on eight datasets.\nThe sources do not report speed.",
                "yes", "no")
    v = verify_answer(answer("MLTI generates additional tasks and outperforms other augmentation "
                             "strategies on eight datasets [1].", [1]), Judge(fake_settings))
    assert v.claims_from == "llm"
    assert [c.claim for c in v.claims] == [
        "MLTI generates additional tasks.",
        "MLTI outperforms other augmentation strategies on eight datasets."]
    assert [c.supported for c in v.claims] == [True, False]
    assert "Answer: MLTI generates" in llm.history[1][-1]["content"]


def test_claims_fall_back_to_sentences_when_model_gives_nothing_usable(fake_settings, llm):
    v = verify_answer(answer("MLTI generates additional tasks by interpolating features and "
                             "labels [1]. MLTI outperforms strategies on 12 datasets [1].", [1]),
                      Judge(fake_settings))
    assert v.claims_from == "sentences"
    assert [c.supported for c in v.claims] == [True, False]


@pytest.mark.parametrize("name,values", [
    ("judge", {"claim": "C", "passage": "P"}), ("claims", {"answer": "A"}),
    ("no_retrieval", {"question": "Q"})])
def test_eval_prompts_render(name, values):
    out = prompts.render(name, **values)
    assert all(v in out for v in values.values())


def test_cheap_checks_set_aside_words_repeated_from_the_question():
    text = ("A scheme that makes up extra episodes for learners starved of training problems "
            "randomly samples a pair of tasks and interpolates features [1].")
    q = "What scheme makes up extra episodes for learners starved of training problems?"
    assert not verify_answer(answer(text, [1]), claims=False).sentences[0].supported
    a = answer(text, [1])
    a.question = q
    assert verify_answer(a, claims=False).sentences[0].supported
