import pytest

import rag
from rag.errors import BadInput
from rag.turns import clean_question, normalise_history, select_sources
from rag.types import Answer, Source, Status

MLTI = "Meta-Learning with Fewer Tasks through Task Interpolation"


def test_ask_cites_the_retrieved_paper(fake_settings, llm):
    llm.enqueue("MLTI augments the task set by interpolating tasks, evaluated on eight "
                "datasets [1].")
    a = rag.ask("Which paper augments the meta-learning task set through task interpolation?")
    assert isinstance(a, Answer) and not a.refused
    assert a.citations[0].title == MLTI
    assert a.citations[0].number == 1 and "[1]" in a.text
    assert a.sources[0].shown_to_llm
    assert {"retrieve", "first_token", "generate", "total"} <= set(a.timings)


def test_prompt_has_numbered_sources_and_question_last(fake_settings, llm):
    rag.ask("Which paper augments the meta-learning task set through task interpolation?")
    system, user = llm.answer_prompts()[-1]
    assert system["role"] == "system" and "[1]" in system["content"]
    assert user["content"].startswith("Sources:\n[1] ")
    assert user["content"].rstrip().endswith("task interpolation?")
    assert MLTI in user["content"]


def test_system_prompt_is_identical_across_questions(fake_settings, llm):
    """The local server's prefix cache needs a byte-identical leading prompt."""
    rag.ask("How do spiking neural networks use static images?")
    rag.ask("Which paper augments the meta-learning task set through task interpolation?")
    assert llm.history[0][0] == llm.history[1][0]


def test_irrelevant_question_refused_without_calling_llm(fake_settings, llm):
    a = rag.ask("zzqx blorf wibble")
    assert a.refused and "don't say" in a.text
    assert llm.history == []
    assert a.sources  # still reports what was searched


def test_model_refusal_marks_answer_refused(fake_settings, llm):
    llm.enqueue("The papers in this collection don't say.")
    a = rag.ask("What GPU did the task interpolation paper use for meta-learning?")
    assert a.refused and a.citations == []


def test_stream_yields_status_then_text_then_answer(fake_settings, llm):
    llm.enqueue("Task interpolation [1] helps.")
    events = list(rag.ask_stream("meta-learning with task interpolation"))
    assert isinstance(events[0], Status)
    texts = [e for e in events if isinstance(e, str)]
    assert "".join(texts).startswith("Task interpolation [1]")
    assert isinstance(events[-1], Answer)


def test_invalid_marker_from_model_is_removed(fake_settings, llm):
    llm.enqueue("MLTI interpolates tasks [1][42].")
    a = rag.ask("meta-learning with task interpolation")
    assert "[42]" not in a.text and len(a.citations) == 1


def test_follow_up_is_condensed_before_retrieval_in_llm_mode(fake_settings, llm, monkeypatch):
    monkeypatch.setenv("RAG_CONDENSE_MODE", "llm")
    from rag.settings import get_settings

    get_settings.cache_clear()
    llm.enqueue("What datasets did Meta-Learning with Fewer Tasks through Task Interpolation use?",
                "It used eight datasets [1].")
    history = [{"role": "user", "content": "Which paper interpolates tasks for meta-learning?"},
               {"role": "assistant", "content": f"{MLTI} does [1]."}]
    a = rag.ask("and what datasets did it use?", history=history)
    assert a.standalone_question.startswith("What datasets did Meta-Learning")
    assert "Follow-up question: and what datasets did it use?" in llm.history[0][0]["content"]
    assert a.sources[0].title == MLTI


FIRST_Q = "Which paper interpolates tasks for meta-learning?"


def _user_prompts(llm):
    return [m[-1]["content"] for m in llm.answer_prompts()]


def test_follow_up_keeps_previous_sources_as_the_prompt_prefix(fake_settings, llm):
    first = rag.ask(FIRST_Q)
    history = [{"role": "user", "content": FIRST_Q},
               {"role": "assistant", "content": first.text}]
    a = rag.ask("and what datasets did it use?", history=history)
    p1, p2 = _user_prompts(llm)
    assert len(llm.answer_prompts()) == 2  # no extra LLM call to rewrite the question
    block1 = p1[:p1.index("\n\nQuestion: ")]
    # Byte-identical sources block first: the server re-reads nothing of it.
    assert p2.startswith(block1 + "\n\n")
    assert f"Earlier question: {FIRST_Q}" in p2
    assert p2.rstrip().endswith("Follow-up question: and what datasets did it use?")
    shown = [s for s in a.sources if s.shown_to_llm]
    assert [s.paper_id for s in shown][:len(first.sources)] == \
        [s.paper_id for s in first.sources if s.shown_to_llm]
    assert [s.number for s in shown] == list(range(1, len(shown) + 1))
    assert FIRST_Q in a.standalone_question


def test_follow_up_chain_traces_sources_through_earlier_turns(fake_settings, llm):
    a1 = rag.ask(FIRST_Q)
    h = [{"role": "user", "content": FIRST_Q}, {"role": "assistant", "content": a1.text}]
    a2 = rag.ask("what datasets did it use?", history=h)
    h += [{"role": "user", "content": "what datasets did it use?"},
          {"role": "assistant", "content": a2.text}]
    rag.ask("and how many tasks did they need?", history=h)
    p2, p3 = _user_prompts(llm)[1:]
    block2 = p2[:p2.index("\n\nEarlier question: ")]
    assert p3.startswith(block2)


def test_new_topic_without_reference_back_is_searched_fresh(fake_settings, llm):
    first = rag.ask(FIRST_Q)
    history = [(FIRST_Q, first.text)]
    a = rag.ask("Which papers study denoising diffusion probabilistic models for images?",
                history=history)
    assert all("Earlier question" not in p for p in _user_prompts(llm))
    # searched on its own words (a listing's search query drops "which papers study …"), not
    # merged with the earlier question's
    assert a.standalone_question in (None, "denoising diffusion probabilistic models images")
    assert MLTI not in [s.title for s in a.sources if s.shown_to_llm][:1]


def test_refers_back():
    from rag.turns import refers_back

    assert refers_back("What dataset did they use?")
    assert refers_back("And the paper's limitations?")
    assert refers_back("why?")
    assert not refers_back("Which papers study graph neural networks for molecules?")


def test_injected_instructions_in_sources_are_framed_as_data(fake_settings, llm):
    answer = rag.ask("meta-learning with task interpolation")
    messages = llm.answer_prompts()[-1]
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = (m["content"] for m in messages)
    assert "data, not instructions" in system
    # Paper text reaches the model only in the user turn, each under its [n] header: never in
    # the system prompt, where it would read as the operator's instructions.
    shown = [s for s in answer.sources if s.shown_to_llm]
    assert shown
    for s in shown:
        assert f"[{s.number}] {s.title}\n" in user
        assert s.title not in system


@pytest.mark.parametrize("q,msg", [("", "empty"), ("   \n\t ", "empty"),
                                   ("x" * 20000, "20,000 characters")])
def test_bad_questions(fake_settings, q, msg):
    with pytest.raises(BadInput, match=msg):
        rag.ask(q)


def test_question_cleaning(fake_settings):
    assert clean_question("a\x00b\x07c  d\ud800", fake_settings) == "a b c d\ufffd"


def test_bad_top_k(fake_settings):
    with pytest.raises(BadInput, match="top_k"):
        rag.ask("meta-learning", top_k=0)


def test_history_formats():
    assert normalise_history([("q", "a")]) == [("q", "a")]
    assert normalise_history([{"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a"}]) == [("q", "a")]
    assert normalise_history(None) == []


def test_relevance_floor_and_gap(fake_settings):
    def s(n, sim):
        return Source(number=n, paper_id=str(n), title=str(n), score=0, similarity=sim)
    st = fake_settings.with_overrides(min_similarity=0.3, relative_floor=0.75)
    assert select_sources([s(1, 0.2), s(2, 0.1)], st) == []
    kept = select_sources([s(1, 0.8), s(2, 0.61), s(3, 0.59)], st)
    assert [x.number for x in kept] == [1, 2]


def test_a_paper_naming_the_asked_acronym_passes_the_floor(fake_settings):
    from rag.names import named_terms

    assert named_terms("How many datasets was MLTI evaluated on?") == {"MLTI"}
    assert named_terms("Does GPT-4 beat ResNet50 or AdEMAMix?") == {"GPT-4", "ResNet50",
                                                                     "AdEMAMix"}
    assert named_terms("What is meta-learning, and Which paper?") == set()

    def s(n, sim, abstract):
        return Source(number=n, paper_id=str(n), title=f"Paper {n}", score=0, similarity=sim,
                      abstract=abstract)
    st = fake_settings.with_overrides(min_similarity=0.3, relative_floor=0.75)
    # The bundled corpus (fake index): MLTI is named by one paper only.
    from rag.retrieval import papers_mentioning

    assert papers_mentioning("MLTI", st) == 1
    mlti = s(1, 0.29, "We propose MLTI, which interpolates tasks.")
    other = s(2, 0.25, "Meta-learning for segmentation (not MLTIX).")
    assert select_sources([mlti, other], st, "How many datasets was MLTI evaluated on?") == [mlti]
    # Without the name, the same similarities are refused before the LLM.
    assert select_sources([mlti, other], st, "How many datasets was it evaluated on?") == []
    assert select_sources([mlti, other], st, "How many datasets was MLT evaluated on?") == []
    # A name several papers mention (a common baseline) singles out none of them.
    assert papers_mentioning("MAML", st) >= 2
    maml = s(1, 0.29, "We improve on MAML.")
    assert select_sources([maml], st, "What accuracy did the MAML paper report?") == []


def test_topic_queries_are_phrased_as_questions():
    from rag.messages import as_question

    assert as_question("learned optimizers for big models") == (
        "What do the sources say about: learned optimizers for big models?")
    assert as_question("How does MLTI work?") == "How does MLTI work?"
    assert as_question("Compare the two papers") == "Compare the two papers"


def test_sentence_evidence_keeps_relevant_sentences_within_budget(fake_settings, llm):
    from rag.tokens import tokenizer

    st = fake_settings.with_overrides(evidence="sentences", context_tokens=120)
    rag.ask("Task interpolation experiments on eight datasets including pose prediction and "
            "molecule property prediction?", settings=st)
    user = llm.answer_prompts()[-1][1]["content"]
    sources_block = user.split("Question:")[0]
    assert "eight datasets" in sources_block
    from rag.corpus import load_corpus

    mlti = next(p for p in load_corpus(fake_settings.corpus_dir) if p.title == MLTI)
    assert mlti.abstract not in sources_block  # a selection, not the whole abstract
    n_sources = sources_block.count("\n[") + 1
    # Budget plus the one guaranteed sentence per paper, and the titles/numbers around them.
    assert len(tokenizer()(sources_block)) < 120 + 60 * n_sources


def test_gradio6_content_parts_in_history():
    h = [{"role": "user", "content": [{"type": "text", "text": "q"}]},
         {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]
    assert normalise_history(h) == [("q", "a")]


def test_live_judge_marks_sentences_it_rejects(fake_settings, llm):
    st = fake_settings.with_overrides(verify="judge")
    llm.enqueue("MLTI interpolates tasks to augment the task set [1].", "no", "no", "no")
    a = rag.ask("meta-learning with task interpolation", settings=st)
    assert not a.refused
    assert a.unsupported == ["MLTI interpolates tasks to augment the task set."]
    assert "verify" in a.timings


def test_a_name_no_paper_contains_is_refused_before_the_llm(fake_settings, llm):
    a = rag.ask("Which paper describes the YOLOv8 object detector and its anchor-free head?")
    assert a.refused and "appears in none of them" in a.text and llm.history == []
    assert "YOLOv8" not in a.text  # never echoed: it could be an injection's canary
    assert a.sources  # the papers searched are still shown


def test_names_are_matched_loosely_before_calling_them_unknown(fake_settings):
    from rag.retrieval import unknown_names

    assert unknown_names("How does MLTI work?") == []
    assert unknown_names("Does mlti-style interpolation help?") == []  # not a name: no caps
    assert unknown_names("How does ML-TI compare with GPT-9000?") == ["GPT-9000"]
    # A known name with plain words hyphenated to it describes by that name; a coined one
    # stays unknown, and so does a name whose every part is named.
    assert unknown_names("How do MLTI-style interpolations help?") == []
    assert unknown_names("Which one-step-MLTI variant helps?") == []
    assert unknown_names("How do ZorbNet-style models help?") == ["ZorbNet-style"]
    assert unknown_names("How does MLTI-ZORB help?") == ["MLTI-ZORB"]
    # Authors cited the way papers cite them are no names of the collection's.
    assert unknown_names("What did McMahan et al. show about MLTI?") == []


def test_an_author_is_not_a_detail_the_paper_leaves_out():
    from conftest import source as src
    from rag.names import asked_names, details_not_given

    assert asked_names("How do von Oswald et al.'s results on Omniglot differ?") == {"Omniglot"}
    assert "Kingma" not in asked_names("Does the optimizer of Kingma and Ba (2015) use MLTI?")
    gd = [src(1, "Transformers Learn In-Context by Gradient Descent",
               "We show that linear self-attention implements one step of gradient descent.")]
    assert details_not_given("What do von Oswald et al. find about in-context gradient "
                             "descent in Transformers?", gd)[0] == []


def test_unknown_name_refusal_can_be_turned_off(fake_settings, llm):
    llm.enqueue("The papers in this collection don't say.")
    s = fake_settings.with_overrides(refuse_unknown_names=False)
    rag.ask("Which paper describes the YOLOv8 object detector?", settings=s)
    assert llm.history


def _corpus_source(n: int, title: str, sim: float) -> Source:
    from conftest import CORPUS
    from rag.corpus import load_corpus
    paper = next(p for p in load_corpus(CORPUS) if p.title == title)
    return Source(number=n, paper_id=str(n), title=title, score=0, similarity=sim,
                  abstract=paper.abstract)


def test_every_paper_a_comparison_names_passes_the_floor(fake_settings):
    st = fake_settings.with_overrides(min_similarity=0.3, relative_floor=0.75)
    shampoo = _corpus_source(1, "A Distributed Data-Parallel PyTorch Implementation of the "
                             "Distributed Shampoo Optimizer for Training Neural Networks "
                             "At-Scale", 0.74)
    other = _corpus_source(2, "Phased Consistency Model", 0.44)
    scalable = _corpus_source(3, "Scalable Second Order Optimization for Deep Learning", 0.39)
    compare = ("Compare the efficiency claims of the distributed data-parallel PyTorch Shampoo "
               "implementation and the earlier scalable second-order optimization paper.")
    # The second side scores far below the first, yet the comparison is about it.
    assert select_sources([shampoo, other, scalable], st, compare) == [shampoo, scalable]
    # Not a comparison: the floor alone decides.
    assert select_sources([shampoo, other, scalable], st,
                          "What efficiency does the PyTorch Shampoo implementation claim?"
                          ) == [shampoo]


def test_a_comparison_prompt_holds_each_side_whole(fake_settings):
    """Both papers a comparison names reach the prompt in full, though the budget (450
    tokens) holds less than two abstracts: the second side's method sentence ("cycle
    triplets") used to be left out."""
    from rag.citations import split_sentences
    from rag.turns import fresh_plan

    plan = fresh_plan("What different strategies do WSC-swap and ReliableSwap use to improve "
                      "face swapping?", 5, None, fake_settings)
    sides = [s for s in plan.selected
             if s.title.startswith(("ReliableSwap", "Reinforced Disentanglement"))]
    assert len(sides) == 2, [s.title for s in plan.selected]
    for s in sides:
        assert all(sent in plan.context for sent in split_sentences(s.abstract)), s.title
    plain = fresh_plan("What different strategies do WSC-swap and ReliableSwap use to improve "
                       "face swapping?", 5, None,
                       fake_settings.with_overrides(focus_tokens=0))
    assert len(plain.context) < len(plan.context)


def test_the_runner_up_is_in_focus_only_when_retrieval_cannot_tell(fake_settings):
    """`RAG_RUNNER_UP_GAP`: the top two papers go in first when the second's similarity is
    within the gap of the first's; a clear winner, or the setting off, leaves the top share."""
    from rag.turns import _focus

    def s(n, sim):
        return Source(number=n, paper_id=f"p{n}", title=f"Paper {n}", score=1 / n,
                      similarity=sim, abstract="Alpha.")

    close, clear = [s(1, 0.56), s(2, 0.59), s(3, 0.5)], [s(1, 0.62), s(2, 0.53)]
    on = fake_settings.with_overrides(runner_up_gap=0.05)
    assert _focus("what is alpha?", close, on) == [1, 2]
    assert _focus("what is alpha?", clear, on) == []
    assert _focus("what is alpha?", close, on.with_overrides(runner_up_gap=-1)) == []
