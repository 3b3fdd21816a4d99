"""Per-claim evidence (rag/quotes.py): each answer sentence carries the sentences behind it."""

from __future__ import annotations

import json

import rag
from rag.quotes import claims, quotes_for
from rag.types import Answer, Citation, Claim, Quote, Source
from ui import format as fmt

ABSTRACT = ("Meta-learning needs many tasks. We propose MLTI, which interpolates pairs of tasks "
            "to augment the task set. MLTI was evaluated on eight datasets and beats all "
            "baselines. Code is public.")
A = Source(1, "mlti", "Task Interpolation", 0.1, 0.8, abstract=ABSTRACT, shown_to_llm=True)
B = Source(2, "bt", "Barlow Twins", 0.1, 0.7, shown_to_llm=True,
           abstract="Barlow Twins measures the cross-correlation matrix of two embeddings.")


def test_the_quote_is_the_abstract_sentence_the_claim_comes_from():
    assert quotes_for("MLTI was tested on eight datasets.", A) == [
        "MLTI was evaluated on eight datasets and beats all baselines."]
    # A claim joining two sentences of the paper gets both, in the paper's order.
    assert quotes_for("MLTI interpolates tasks to augment the task set and was evaluated on "
                      "eight datasets.", A) == [
        "We propose MLTI, which interpolates pairs of tasks to augment the task set.",
        "MLTI was evaluated on eight datasets and beats all baselines."]
    assert quotes_for("Quantum gravity is hard.", A) == []
    # Quoted word for word (as a listing entry is): that sentence alone, not the title's too.
    assert quotes_for("Task Interpolation: MLTI was evaluated on eight datasets and beats all "
                      "baselines [1].", A) == [
        "MLTI was evaluated on eight datasets and beats all baselines."]


def test_claims_follow_display_numbers_and_carry_the_checkers_verdict():
    answer = Answer("q", "MLTI interpolates tasks [1]. Barlow Twins uses cross-correlation [2]. "
                    "It needs 40 GPUs [1].", sources=[A, B],
                    citations=[Citation(1, "mlti", A.title, "", 1),
                               Citation(2, "bt", B.title, "", 2)],
                    unsupported=["It needs 40 GPUs."])
    got = claims(answer)
    assert [c.sentence for c in got] == ["MLTI interpolates tasks.",
                                         "Barlow Twins uses cross-correlation.",
                                         "It needs 40 GPUs."]
    assert got[1].quotes == [Quote(2, "bt", B.abstract)]
    assert [c.supported for c in got] == [True, True, False]
    assert claims(Answer("q", "The papers do not say.", refused=True)) == []


def test_ask_returns_quotes_verbatim_from_the_cited_paper(fake_settings, llm):
    llm.enqueue("MLTI augments the task set by interpolating tasks [1].")
    a = rag.ask("Which paper augments the meta-learning task set through task interpolation?")
    assert a.claims and a.claims[0].quotes
    cited = {s.paper_id: s for s in a.sources}
    for q in a.claims[0].quotes:
        assert q.text in cited[q.paper_id].abstract


def test_ui_card_and_api_show_each_quote_with_the_sentence_it_supports():
    answer = Answer("q", "MLTI interpolates tasks [1].", sources=[A],
                    citations=[Citation(1, "mlti", A.title, "Code is public.", 1)],
                    claims=[Claim("MLTI interpolates tasks.", [Quote(1, "mlti", "We propose "
                                  "MLTI, which interpolates pairs of tasks.")], True)])
    panel = fmt.sources_markdown(answer)
    assert "> We propose MLTI, which interpolates pairs of tasks." in panel
    assert "supports: “MLTI interpolates tasks.”" in panel
    assert "> Code is public." not in panel  # the quote replaces the generic snippet
    data = fmt.answer_json(answer)
    assert data["sources"][0]["quotes"][0]["supports"] == "MLTI interpolates tasks."
    assert data["claims"][0]["quotes"][0]["citation"] == 1
    json.dumps(data)


def test_cli_quotes_flag(fake_settings, capsys):
    from rag.cli import main

    assert main(["ask", "--quotes", "meta-learning with task interpolation"]) == 0
    out = capsys.readouterr().out
    assert "Evidence per sentence:" in out
    assert "    [1] “" in out  # a quoted sentence of the cited paper under its claim
