"""Listing questions answered from retrieval (rag/listing.py), not by the model."""

from __future__ import annotations

import pytest

import rag
from rag import listing
from rag.types import Source


@pytest.mark.parametrize("q", [
    "Which papers study federated learning?",
    "What work here generates or stylizes 3D avatars?",
    "Find all the papers that deal with quantizing neural networks to low-bit precision.",
    "List the papers on gradient-based saliency methods.",
    "Is there work in the collection on contrastive learning for graph data? List it.",
])
def test_listing_questions_are_recognised(q):
    assert listing.is_listing(q)


@pytest.mark.parametrize("q", [
    "Which paper proposes MLTI?",  # one paper, not a list
    "Which work shows that joint-embedding models learn one direction after another?",
    "What does STEP achieve?",
    "How do Barlow Twins and SimCLR differ?",
    "Does every paper on federated learning use FedAvg?",
])
def test_questions_about_one_paper_are_not_listings(q):
    assert not listing.is_listing(q)


def test_search_query_drops_the_scaffolding():
    assert listing.search_query("Which papers propose learned optimizers, and what does each "
                                "claim?") == "learned optimizers"
    assert listing.search_query("Which papers?") == "Which papers?"


def test_search_query_drops_latin_abbreviations():
    """"i.e." and "e.g." introduce the topic's gloss; as words they match every abstract that
    writes them."""
    assert listing.search_query("Which papers deal with active learning, i.e. choosing which "
                                "examples to label, e.g. by query?") == \
        "active learning choosing examples label query"


def _src(n, title, abstract, sim):
    return Source(n, f"p{n}", title, 0.1, sim, abstract=abstract)


def test_choose_needs_the_topic_not_just_a_close_score():
    q = "Which papers study federated learning?"
    srcs = [_src(1, "FedX", "We study federated learning with clients.", 0.60),
            _src(2, "Close but off-topic", "We study step sizes.", 0.58),
            _src(3, "Far but on topic", "A federated learning benchmark.", 0.30),
            _src(4, "Near", "Distributed optimisation of clients.", 0.50)]
    matches, possible = listing.choose(q, srcs)
    assert [s.title for s in matches] == ["FedX", "Far but on topic"]  # all topic words
    assert [s.title for s in possible] == ["Close but off-topic", "Near"]


def test_a_matching_paper_is_described_by_what_it_proposes(fake_settings):
    q = "Which papers study federated learning?"
    fed = _src(1, "FedX", "Federated learning suffers from client drift. We propose FedX, which "
                          "corrects drift with control variates.", 0.6)
    near = _src(2, "Near", "Distributed training across many clients. We introduce a compression "
                           "scheme for gradients.", 0.5)
    out = listing.clauses(q, [fed, near], fake_settings, describe=[fed])
    # The match says what it does; the possibly relevant one, why it may be relevant.
    assert out[1] == "We propose FedX, which corrects drift with control variates."
    assert out[2] == "Distributed training across many clients."


def test_a_listing_is_built_from_retrieval_with_one_sentence_per_paper(fake_settings, llm):
    a = rag.ask("Which papers study meta-learning with task interpolation?")
    assert llm.history == []  # the model was not called
    assert not a.refused and a.model == "retrieval only"
    lines = a.text.splitlines()
    assert lines[0].endswith("match:") or lines[0].endswith("matches:")
    by_number = {s.number: s for s in a.sources}
    entries = [ln for ln in lines if ln.startswith("- ")]
    assert entries and len(entries) == len(a.citations)
    for c, line in zip(a.citations, entries):
        src = by_number[c.source_number]
        assert line.startswith(f"- {src.title}: ") and line.endswith(f" [{c.number}].")
        sentence = line[len(src.title) + 4:-len(f" [{c.number}].")]
        assert sentence in src.abstract  # verbatim, from the paper's own abstract
    assert all(cl.quotes for cl in a.claims)


def test_a_listing_question_in_an_ongoing_chat_is_still_a_listing(fake_settings, llm):
    # Seen on a fresh start: after one question, "Which papers propose …?" went to the model
    # as a follow-up and came back as two bare titles.
    history = [("What does MLTI do?", "MLTI interpolates tasks [1].")]
    a = rag.ask("Which papers study meta-learning with task interpolation?", history=history)
    assert llm.history == [] and a.model == "retrieval only" and not a.refused
    llm.enqueue("Both of them use meta-learning [1].")
    b = rag.ask("Which of them also use few-shot benchmarks?", history=history)
    assert llm.history and b.model != "retrieval only"  # leans on the chat: a follow-up


def test_a_listing_about_a_topic_no_paper_covers_is_refused_with_the_closest(fake_settings,
                                                                            llm):
    a = rag.ask("Which papers use quantum annealing for protein folding in zebrafish?")
    assert a.refused and not a.citations and llm.history == []


def test_listing_answers_can_be_turned_off(fake_settings, llm):
    llm.enqueue("MLTI interpolates tasks [1].")
    s = fake_settings.with_overrides(listing_answers=False)
    a = rag.ask("Which papers study meta-learning with task interpolation?", settings=s)
    assert llm.history and a.model != "retrieval only"



def test_a_paper_that_stands_out_from_the_collection_matches_without_the_topic_words():
    """Worded differently from the question (no topic word), but its cosine is far above the
    collection's papers: a match. The same paper at an ordinary cosine is not."""
    q = "Which papers study learned optimizers?"
    near = _src(1, "VeLO: training versatile update rules", "A meta-trained update rule.", 0.62)
    other = _src(2, "Barlow Twins", "Redundancy reduction for self-supervision.", 0.30)
    spread = (0.20, 0.10)  # mean, sd of the collection's best cosines to the topic
    matches, _ = listing.choose(q, [near, other], spread)
    assert matches == [near]  # (0.62 - 0.20) / 0.10 = 4.2 sd above the collection
    assert listing.choose(q, [near, other], (0.55, 0.10))[0] == []  # 0.7 sd: ordinary
    assert listing.choose(q, [near, other])[0] == []  # no spread: only the word rules


def test_similarity_spread_is_the_collections_background(fake_settings):
    from rag.retrieval import retrieve, similarity_spread

    mean, sd = similarity_spread("task interpolation for meta-learning", fake_settings)
    top = retrieve("task interpolation for meta-learning", 3, settings=fake_settings)
    assert sd > 0 and -1.0 <= mean <= 1.0
    assert top[0].similarity > mean  # the best paper is above the collection's average
    assert similarity_spread("task interpolation for meta-learning", fake_settings) == (mean, sd)
