"""A premise the asked-about paper itself denies (rag/premises.py) is declined with its words."""

from __future__ import annotations

from conftest import source as src
from rag.answer import ask
from rag.premises import denied

TWINS = src(1, "Twin Nets: Self-Supervised Learning",
            "We propose an objective that avoids collapse by measuring the cross-correlation "
            "matrix. Twin Nets does not require large batches nor a predictor network. It "
            "benefits from very high-dimensional outputs and reaches 73% on large benchmarks.")
BARLOW_Q = ("Why does Barlow Twins need very large batch sizes and a momentum encoder to avoid "
            "collapse?")


def test_a_pair_of_words_the_paper_only_writes_negated_is_a_denied_premise():
    d = denied("Why does Twin Nets need very large batch sizes to avoid collapse?", TWINS)
    assert d is not None and [w.lower() for w in d.words] == ["large", "batch"]
    assert d.sentence == "Twin Nets does not require large batches nor a predictor network."
    assert d.source is TWINS


def test_a_free_compound_in_a_name_does_not_make_the_question_ask_about_an_absence():
    mover = src(1, "Neural PDE Solvers Through Mesh Movers",
                "It changes the mesh by moving existing nodes rather than adding or deleting "
                "nodes and edges.")
    d = denied("In the Data-free Mesh Mover, how does it decide where to delete nodes?", mover)
    assert d is not None and [w.lower() for w in d.words] == ["delete", "nodes"]
    # a question that itself asks about an absence still agrees with the paper's negation
    assert denied("How does it move nodes when free of deleting nodes?", mover) is None


def test_a_negation_inside_a_hyphenated_compound_denies_nothing():
    """"our not-so-surprising finding that adding extra dimensions … helps" asserts the extra
    dimensions; the "not" modifies "surprising" only."""
    bt2 = src(1, "BT^2: Backward-compatible Training with Basis Transformation",
              "Modern retrieval systems often require recomputing the representation of every "
              "piece of data in the gallery. This paper reports our ``not-so-surprising'' "
              "finding that adding extra dimensions to the representation can help here.")
    q = ("How can a retrieval system avoid re-encoding the gallery by adding a few extra "
         "dimensions through a learned rotation?")
    assert denied(q, bt2) is None
    plain = src(2, bt2.title, bt2.abstract.replace("not-so-surprising", "not surprising"))
    assert denied(q, plain) is not None  # a spaced "not" still reads as a negation


def test_what_the_paper_also_says_plainly_or_softly_is_no_denial():
    # "avoids collapse": softening is not negating
    assert denied("How does Twin Nets measure the cross-correlation to avoid collapse?",
                  TWINS) is None
    # a yes/no question asks whether: the paper's "no" is its answer, not a false premise
    assert denied("Does Twin Nets need large batches?", TWINS) is None
    # "-free" denies the one word it is attached to, not the clause after it
    free = src(1, "P", "A tuning-free framework generates multiple subjects in seconds.")
    assert denied("How does it place multiple subjects?", free) is None
    # two negations about different things are not one denial of both words together
    apart = src(1, "P", "We assume no access to the original training data, and no increase "
                        "in the size of the network at all.")
    assert denied("How can they be fused keeping size, original quality?", apart) is None
    # a question about an absence agrees with the paper's negation
    assert denied("How can they be fused when the original training data is unavailable?",
                  apart) is None
    # words the paper writes together outside a negation somewhere are its claim
    both = src(1, "P", "It does not require large batches. Large batches help it here.")
    assert denied("Why does it need large batches?", both) is None


def test_ask_declines_a_denied_premise_with_the_papers_sentence_before_the_llm(fake_settings,
                                                                               llm):
    a = ask(BARLOW_Q)
    assert a.refused
    assert a.text.startswith("The question's premise does not hold: \"Barlow Twins: "
                             "Self-Supervised Learning via Redundancy Reduction\" [1] says: ")
    assert "does not require large batches" in a.text
    assert a.citations[0].title.startswith("Barlow Twins: Self-Supervised")
    assert llm.history == []  # the model was not asked to explain a false premise
    from ui import format as fmt

    # the page says the paper answers otherwise, not that the papers lack it
    assert fmt.answer_markdown(a).startswith("**The paper says otherwise.** The question's")


def test_the_setting_turns_it_off(fake_settings, llm, monkeypatch):
    from rag.settings import get_settings

    monkeypatch.setenv("RAG_REFUSE_DENIED_PREMISES", "false")
    get_settings.cache_clear()
    llm.enqueue("It needs large batches [1].")
    ask(BARLOW_Q)
    assert llm.history  # the question went to the model

