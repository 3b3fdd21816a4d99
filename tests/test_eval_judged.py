"""The eval's judged scores (eval/judged.py), its split selection and its intervals."""

from __future__ import annotations

import json

import pytest

from eval import metrics
from eval.judged import judge_answer
from eval.runner import calibrate, load_questions
from rag.types import Answer, Citation, Source
from rag.verify import Judge

A = Source(1, "a", "Task Interpolation", 0.1, 0.8, abstract="MLTI interpolates tasks to "
           "augment the task set; it was evaluated on eight datasets.", shown_to_llm=True)
B = Source(2, "b", "Barlow Twins", 0.1, 0.7, abstract="Barlow Twins measures the "
           "cross-correlation matrix of two embeddings.", shown_to_llm=True)


def test_a_withheld_draft_is_judged_not_dropped(fake_settings, llm):
    """The checker withheld this answer (refused=True): the judge still scores what the model
    wrote, so withheld answers stay in the faithfulness denominator."""
    answer = Answer("q", "The papers in this collection don't say.", sources=[A, B],
                    refused=True,
                    raw_text="MLTI was evaluated on eight datasets [1]. It uses 40 GPUs [1].")
    # both against [1]; then only the unsupported one against everything shown
    llm.enqueue("yes", "no", "no")
    j = judge_answer(answer, Judge(fake_settings))
    assert j.judged == "draft" and len(j.sentences) == 2
    assert [s.supported for s in j.sentences] == [True, False]
    assert [s.faithful for s in j.sentences] == [True, False]
    assert j.citation_recall == 0.5 and j.citation_precision == 0.5


def _passages(llm, n):
    return [m[-1]["content"].split("Passage:")[1].split("Claim:")[0] for m in llm.history[-n:]]


def test_verdicts_on_one_passage_are_asked_back_to_back(fake_settings, llm):
    """The judge prompt starts with the passage, so grouping by passage lets the server reuse
    its cached prompt prefix: four sentences citing one paper, shown two papers, two of them
    not supported by it, need exactly one passage switch (the cited paper, then the context
    block for the two), not one per call."""
    text = " ".join(f"MLTI claim number {w} holds [1]." for w in ("one", "two", "three", "four"))
    answer = Answer("q", text, sources=[A, B], citations=[Citation(1, "a", A.title, "", 1)])
    llm.enqueue("yes", "no", "yes", "no", "yes", "no")
    j = judge_answer(answer, Judge(fake_settings))
    passages = _passages(llm, 6)
    switches = sum(a != b for a, b in zip(passages, passages[1:]))
    assert len(llm.history) >= 6 and switches == 1
    assert [s.faithful for s in j.sentences] == [True, True, True, False]


def test_a_sentence_its_cited_paper_entails_is_faithful_without_reading_the_context(
        fake_settings, llm):
    """Entailed by a shown paper is entailed by everything shown: the longest prompt of the
    judged run (all shown abstracts) is only asked for sentences the cited papers don't
    support."""
    answer = Answer("q", "MLTI interpolates tasks [1]. MLTI was evaluated on eight datasets [1].",
                    sources=[A, B], citations=[Citation(1, "a", A.title, "", 1)])
    before = len(llm.history)
    llm.enqueue("yes", "yes")
    j = judge_answer(answer, Judge(fake_settings))
    asked = llm.history[before:]
    assert len(asked) == 2
    assert all("Barlow Twins" not in m[-1]["content"] for m in asked)  # context never read
    assert [s.faithful for s in j.sentences] == [True, True] and j.faithfulness == 1.0


def test_judged_scores_do_not_use_the_checkers_rules(fake_settings, llm):
    """A sentence the cheap checks would veto (a number in no source) is decided by the judge
    alone here; an uncited sentence is unsupported without asking."""
    answer = Answer("q", "MLTI was evaluated on 12 datasets [1]. Barlow Twins is great.",
                    sources=[A, B], citations=[Citation(1, "a", A.title, "", 1)])
    llm.enqueue("yes", "yes")  # the first against [1]; the uncited one against the context
    j = judge_answer(answer, Judge(fake_settings))
    assert [s.supported for s in j.sentences] == [True, False]
    assert j.sentences[1].cited == [] and j.sentences[1].p is None


def test_a_true_refusal_is_not_judged(fake_settings):
    answer = Answer("q", "The papers in this collection don't say.", sources=[A], refused=True)
    assert judge_answer(answer, Judge(fake_settings)).judged == "none"


def test_split_selection(tmp_path):
    p = tmp_path / "q.jsonl"
    rows = [{"id": "fact-001", "split": "dev"}, {"id": "fact-002", "split": "test"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["id"] for r in load_questions(p, split="test")] == ["fact-002"]
    assert [r["id"] for r in load_questions(p, split="dev")] == ["fact-001"]
    assert len(load_questions(p, split="all")) == 2
    unsplit = tmp_path / "mine.jsonl"
    unsplit.write_text(json.dumps({"id": "x"}) + "\n")
    assert len(load_questions(unsplit, split="test")) == 1  # your own set is not split


def test_the_bundled_set_defaults_to_the_frozen_test_split():
    from eval.runner import DEFAULT_SET, build_parser

    assert build_parser().parse_args([]).split == "test"
    test = load_questions(DEFAULT_SET, split="test")
    assert test and all(q["split"] == "test" for q in test)


def test_bootstrap_interval_contains_the_mean_and_narrows_with_n():
    small = [1, 0, 1, 1, 0]
    lo, hi = metrics.bootstrap_ci(small)
    assert lo <= metrics.mean(small) <= hi
    lo2, hi2 = metrics.bootstrap_ci(small * 20)
    assert hi2 - lo2 < hi - lo
    assert metrics.bootstrap_ci([1.0]) is None


def test_paired_difference_interval():
    old = {str(i): 0.0 for i in range(30)}
    better = {str(i): 1.0 for i in range(30)}
    lo, hi = metrics.bootstrap_diff_ci(better, old)
    assert lo > 0  # excludes 0
    lo, hi = metrics.bootstrap_diff_ci(old, dict(old))
    assert lo == hi == 0.0


def test_a_run_calibrates_on_its_own_half_of_the_pairs(fake_settings, llm, tmp_path):
    from eval.runner import _calibration

    (tmp_path / "questions.jsonl").write_text("")
    rows = [{"id": f"c{i}", "claim": f"claim {i}", "passage": f"passage {i}",
             "supported": True, "split": "test" if i < 3 else "dev"} for i in range(5)]
    (tmp_path / "judge_calibration.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    out.mkdir()
    before = len(llm.history)
    llm.enqueue("yes", "yes", "yes")
    cal = _calibration(Judge(fake_settings), tmp_path / "questions.jsonl", None, out, "test")
    assert cal["n"] == 3 and set(cal["splits"]) == {"test"}
    assert len(llm.history) - before == 3  # the dev pairs were not asked


def test_calibration_reports_each_half(fake_settings, llm, tmp_path):
    p = tmp_path / "cal.jsonl"
    rows = [{"id": f"c{i}", "claim": f"claim {i}", "passage": f"passage {i}",
             "supported": i % 2 == 0, "split": "test" if i < 4 else "dev"} for i in range(6)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    llm.enqueue("yes", "no", "no", "no", "yes", "no")
    cal = calibrate(Judge(fake_settings), p)
    assert cal["splits"]["test"]["n"] == 4 and cal["splits"]["dev"]["n"] == 2
    assert cal["splits"]["test"]["accuracy"] == pytest.approx(0.75)
    assert cal["splits"]["test"]["accuracy_supported"] == 0.5
    assert cal["splits"]["dev"]["accuracy"] == 1.0
