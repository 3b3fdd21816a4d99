"""A component the question says a named paper uses, which its abstract never writes
(rag/components.py)."""

from __future__ import annotations

from conftest import source as src
from rag.components import missing
from rag.names import details_not_given

WISE = ("WISE: Whitebox Image Stylization by Example-based Learning",
        "We present WISE, a framework for example-based image stylization. By training "
        "parameter prediction networks for global and local filter parameterizations, we "
        "optimize the filter pipeline.")
#: How many papers of a collection write each word (the check's notion of a field term).
PAPERS = {"reinforcement": 14, "neural": 123, "attention": 41, "net": 3, "discriminator": 9}


def papers(word: str) -> int:
    return PAPERS.get(word, 0)


def test_a_field_term_the_named_paper_never_writes_is_missing():
    q = "How does WISE use reinforcement learning to pick filter parameters for each effect?"
    assert missing(q, *WISE, papers) == ["reinforcement learning"]
    assert missing("What attention architecture does WISE introduce?", *WISE, papers) == [
        "attention architecture"]
    # Described, not named: "new" and "kind of" are not part of what is missing.
    assert missing("What new kind of attention module does WISE add?", *WISE, papers) == [
        "attention"]


def test_the_kind_a_which_question_asks_for_is_not_missing():
    counts = {**PAPERS, "benchmarks": 30, "metric": 20}
    # WISE's abstract names neither word; it would name its benchmarks and metric by instance.
    assert missing("What benchmarks does WISE use?", *WISE, lambda w: counts.get(w, 0)) == []
    assert missing("Which metric does WISE use to compare styles?", *WISE,
                   lambda w: counts.get(w, 0)) == []


def test_words_the_paper_writes_common_words_and_rare_words_are_not_missing():
    # Written, in another form: "networks" -> "network", "filters" -> "filter".
    assert missing("How does WISE use a prediction network for its filters?", *WISE,
                   papers) == []
    # "neural" is the field's common vocabulary; "net" a user's own word.
    assert missing("How does WISE use neural networks?", *WISE, papers) == []
    assert missing("How does WISE use a small net?", *WISE, papers) == []


def test_only_a_question_that_names_the_paper_and_states_the_premise_is_read():
    # No named paper: a paraphrase, not a premise about WISE.
    assert missing("How does a stylization method use reinforcement learning?", *WISE,
                   papers) == []
    # Another paper named: not a premise about this one.
    assert missing("How does VeLO use reinforcement learning?", *WISE, papers) == []
    # A question that asks whether, rather than how, states no premise.
    assert missing("Does WISE rely on reinforcement learning?", *WISE, papers) == []


def test_the_asked_about_paper_declines_a_component_it_never_mentions():
    wise = [src(1, *WISE), src(2, "Other", "Reinforcement learning for control.")]
    q = "How does WISE use reinforcement learning to pick filter parameters?"
    assert details_not_given(q, wise, {"WISE"}, papers) == (["reinforcement learning"], wise[0])
    assert details_not_given("How does WISE use parameter prediction networks?", wise,
                             {"WISE"}, papers) == ([], wise[0])


def test_a_paper_named_by_a_name_its_abstract_writes_is_read_too():
    """"How does MLTI use reinforcement learning …?" names the paper by the acronym its
    abstract writes, not by its title's words: the premise is read all the same, but only for
    a name the question and that abstract share."""
    mlti = ("Meta-Learning with Fewer Tasks through Task Interpolation",
            "We propose MLTI, which generates additional tasks by randomly sampling a pair of "
            "tasks and interpolating the corresponding features and labels.")
    q = "How does MLTI use reinforcement learning to pick which tasks to interpolate?"
    assert missing(q, *mlti, papers) == []  # not named by its title
    assert missing(q, *mlti, papers, names={"MLTI"}) == ["reinforcement learning"]
    assert missing(q, *mlti, papers, names={"MAML"}) == []
    sources = [src(1, *mlti)]
    assert details_not_given(q, sources, {"MLTI"}, papers)[0] == ["reinforcement learning"]
