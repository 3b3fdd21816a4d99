"""An answer that leaves out which paper it is about names it (rag/identify.py)."""

from __future__ import annotations

from conftest import source as src
from rag.answer import ask
from rag.identify import (
    add_sides,
    adds_nothing,
    asks_which,
    compared,
    compared_among,
    contribution_sentence,
    named_in,
    names_paper,
    naming_sentence,
    sides_left_out,
)
from rag.types import Answer, Citation

MLTI = "Meta-Learning with Fewer Tasks through Task Interpolation"
SOLVER = src(1, "A Deep Conjugate Direction Method for Iteratively Solving Linear Systems",
             "We present a deep learning approach to approximate the solution of large, sparse "
             "linear systems. Motivated by the conjugate gradients algorithm that iteratively "
             "selects search directions, a convolutional network improves the search "
             "directions. We demonstrate it on Poisson equations from computational fluid "
             "dynamics.")
QUESTION = ("Is there a learned approach that speeds up iterative solvers for sparse linear "
            "systems by letting a convolutional network propose the search directions?")


def _answer(text: str, source=SOLVER) -> Answer:
    return Answer(question=QUESTION, text=text, sources=[source],
                  citations=[Citation(1, source.paper_id, source.title, "", source.number)])


def test_which_questions_and_restatements_are_told_apart():
    assert asks_which("Is there a method that …?") and asks_which("Which paper lays down …?")
    assert asks_which("What recent work studies …?") and asks_which("Are there papers on …?")
    assert not asks_which("What does the paper on task interpolation propose?")
    assert not asks_which("How can attributes regularise item vectors?")
    assert adds_nothing("Yes, there is a learned approach that speeds up iterative solvers [1].",
                        QUESTION)
    # words of its own, or a number the question did not give, are saying something
    assert not adds_nothing("It builds on the conjugate gradients algorithm [1].", QUESTION)
    assert not adds_nothing("It speeds up iterative solvers 10 times [1].", QUESTION)


def test_a_restating_answer_gets_the_papers_title_and_its_own_words():
    echo = _answer("Yes, there is a learned approach that speeds up iterative solvers for sparse "
                   "linear systems [1].")
    added = naming_sentence(echo, QUESTION)
    assert added.startswith(f'This is "{SOLVER.title}" [1], which says: "')
    assert "conjugate gradients algorithm" in added  # the paper's term, verbatim
    assert "Poisson" not in added  # only the sentences nearest the question


def test_the_paper_is_presented_with_its_own_sentence_on_what_it_proposes():
    from rag.quotes import contribution, naming_quote

    proposes = ("We present a deep learning approach to approximate the solution of large, "
                "sparse linear systems.")
    assert contribution(SOLVER) == proposes
    assert contribution(src(1, "T", "Transformers are popular. They scale well.")) == ""
    # nearest the question, plus what it proposes, in the paper's order and once
    quote = naming_quote(QUESTION, SOLVER)
    assert quote.startswith(proposes) and "conjugate gradients algorithm" in quote
    assert quote.count(proposes) == 1
    added = naming_sentence(_answer("Yes, there is such an approach [1]."), QUESTION)
    assert proposes in added
    # An answer that names the paper in the question's words gets its sentence, cited.
    named = _answer("A Deep Conjugate Direction Method for Iteratively Solving Linear Systems "
                    "lets a convolutional network propose the search directions [1].")
    assert contribution_sentence(named, QUESTION) == f'"{SOLVER.title}" [1] says: "{proposes}"'
    # not for other questions, nor when the answer already says it
    assert contribution_sentence(named, "How can iterative solvers be sped up?") == ""
    said = _answer(f"{SOLVER.title} says: {proposes} [1]")
    assert contribution_sentence(said, QUESTION) == ""
    # nor when it says what is proposed, whatever the sentence's lead-in adds
    mlti = src(1, MLTI, "To address the challenge that available tasks may not densely sample "
               "the space of tasks, we propose to augment the task set through interpolation.")
    told = _answer("MLTI proposes to augment the task set through interpolation [1].", mlti)
    assert contribution_sentence(told, "Which paper interpolates tasks?") == ""


def test_an_answer_that_names_the_paper_or_says_something_is_left_alone():
    assert naming_sentence(_answer("A Deep Conjugate Direction Method for Iteratively Solving "
                                   "Linear Systems does this [1]."), QUESTION) == ""
    assert names_paper("LaSO networks [1] do it.", src(1, "LaSO: Label-Set Operations", "x"))
    # the method's own name, which the question did not give, names it too
    mlti = src(1, MLTI, "By meta-learning with task interpolation (MLTI), we generate tasks.")
    assert names_paper("MLTI interpolates tasks [1].", mlti, "Which paper interpolates tasks?")
    assert not names_paper("MLTI interpolates tasks [1].", mlti, "What does MLTI do?")
    # not a "which paper" question, and the answer adds the paper's own words: nothing to add
    told = _answer("A convolutional network improves the search directions of the conjugate "
                   "gradients algorithm on Poisson equations [1].")
    assert naming_sentence(told, "How can iterative solvers be sped up?") == ""
    refused = _answer("The papers in this collection don't say.")
    refused.refused, refused.citations = True, []
    assert naming_sentence(refused, QUESTION) == ""


def test_ask_names_the_paper_a_restating_answer_cited(fake_settings, llm):
    question = ("Is there a paper that augments the task set through interpolation so "
                "meta-learning works with fewer tasks?")
    llm.enqueue("Yes, there is a paper that augments the task set through interpolation so "
                "meta-learning works with fewer tasks [1].")
    a = ask(question)
    assert not a.refused
    assert f'This is "{MLTI}" [1], which says: "' in a.text
    assert "we propose to augment the task set" in a.text  # the paper's own words, verbatim
    assert a.citations[0].title == MLTI


# --- a comparison answered about one side only --------------------------------------------

SAM = src(2, "Sharpness-Aware Minimization for Efficiently Improving Generalization",
          "We introduce Sharpness-Aware Minimization (SAM), which minimizes loss value and loss "
          "sharpness. We find that it improves generalization across benchmarks.")
GAM = src(1, "Gradient Norm Aware Minimization Seeks First-Order Flatness",
          "GAM seeks minima with uniformly small curvature across all directions.")
CMP_Q = ("How does the flatness targeted by GAM differ from what Sharpness-Aware Minimization "
         "minimizes?")


def _cmp_answer(text: str) -> Answer:
    for s in (GAM, SAM):
        s.shown_to_llm = True
    return Answer(question=CMP_Q, text=text, sources=[GAM, SAM],
                  citations=[Citation(1, GAM.paper_id, GAM.title, "", GAM.number)])


def test_a_named_side_the_answer_leaves_out_is_quoted_and_cited():
    rare = {"sharpness aware minimization": 1}.get
    a = _cmp_answer("GAM seeks minima with uniformly small curvature [1].")
    sides = sides_left_out(a, CMP_Q, {"GAM"}, lambda p: rare(p, 9))
    assert sides == [SAM]
    added = add_sides(a, CMP_Q, sides)
    assert added.startswith(f'"{SAM.title}" [2] says: "We introduce Sharpness-Aware Minimization')
    assert a.text.endswith(added)
    assert [(c.number, c.paper_id, c.source_number) for c in a.citations] == [
        (1, GAM.paper_id, 1), (2, SAM.paper_id, 2)]


def test_sides_need_a_comparison_two_named_papers_and_a_rare_name():
    rare = {"sharpness aware minimization": 1}.get
    a = _cmp_answer("GAM seeks minima with uniformly small curvature [1].")
    # words of the title many papers write do not name one paper
    assert sides_left_out(a, CMP_Q, {"GAM"}, lambda p: 40) == []
    # not a comparison
    assert sides_left_out(a, "What does GAM do, unlike Sharpness-Aware Minimization?", {"GAM"},
                          lambda p: rare(p, 9)) == []
    # both sides cited already
    a.citations.append(Citation(2, SAM.paper_id, SAM.title, "", 2))
    assert sides_left_out(a, CMP_Q, {"GAM"}, lambda p: rare(p, 9)) == []


def test_ask_adds_the_side_a_comparison_answer_left_out(fake_settings, llm):
    question = "How do MLTI and AutoClip differ in what they choose automatically?"
    llm.enqueue("MLTI augments the task set through interpolation [2].")  # AutoClip is [1]
    a = ask(question)
    titles = [c.title for c in a.citations]
    assert titles[0] == MLTI
    assert titles[1].startswith("AutoClip: Adaptive Gradient Clipping")
    assert '"AutoClip: Adaptive Gradient Clipping' in a.text and '[2] says: "' in a.text


def test_two_names_side_by_side_make_a_comparison_without_a_cue_word():
    for s in (GAM, SAM):
        s.shown_to_llm = True
    never = lambda p: 40  # noqa: E731 - no title words name a paper here
    assert compared("What do GAM and SAM each seek?", [GAM, SAM], {"GAM", "SAM"}, never) == [
        GAM, SAM]
    assert compared("What strategies do GAM and SAM use?", [GAM, SAM], {"GAM", "SAM"},
                    never) == [GAM, SAM]
    # a name and a dataset of another paper, not side by side: not a comparison
    assert compared("What loss does GAM reach on SAM?", [GAM, SAM], {"GAM", "SAM"},
                    never) == []


def test_ask_answers_a_comparison_whose_draft_failed_with_each_papers_words(fake_settings, llm):
    llm.enqueue("They differ in 97% of the 412 zebra benchmarks [1].")  # nothing of it holds
    a = ask("How do MLTI and AutoClip differ in what they choose automatically?")
    assert not a.refused
    assert a.text.startswith("In each paper's own words:\n- \"")
    assert len(a.text.splitlines()) == 3  # one line a paper: a claim and a card each
    assert [len(c.quotes) for c in a.claims] == [1, 1]
    assert {c.title for c in a.citations} == {
        MLTI, "AutoClip: Adaptive Gradient Clipping for Source Separation Networks"}
    assert "97%" not in a.text and "97%" in a.raw_text
    # the page must not flag the papers' own sentences, nor the draft's numbers
    assert a.unsupported == [] and a.flagged_numbers == [] and a.flagged_terms == []


def test_a_unique_name_names_a_paper_only_as_written():
    wise = src(1, "WISE: Whitebox Image Stylization by Example-based Learning",
               "We present WISE, a framework for example-based image stylization.")
    other = src(2, "Step-aware Preference Optimization",
                "A pixel-wise loss at each step of denoising.")
    q = "How does WISE pick filter parameters?"
    assert named_in(q, wise, {"WISE"}, lambda p: 40)
    assert not named_in(q, other, {"WISE"}, lambda p: 40)


def test_a_title_run_inside_another_papers_longer_run_names_neither_twice():
    multistep = src(1, "Multistep Consistency Models", "Multistep consistency models interpolate.")
    phased = src(2, "Phased Consistency Model", "The phased consistency model splits the ODE.")
    mlcm = src(3, "MLCM: Multistep Consistency Distillation of Latent Diffusion Model",
               "Multistep consistency distillation of latent diffusion models.")
    papers = {"multistep consistency models": 1, "multistep consistency": 2,
              "phased consistency model": 1, "phased consistency": 1}
    q = ("Multistep Consistency Models and the Phased Consistency Model both move beyond "
         "single-step consistency models. How do they differ?")
    # "multistep consistency" is written by MLCM's title too, but here it is part of
    # "Multistep Consistency Models", which names the first paper.
    assert compared_among(q, [multistep, mlcm, phased], set(),
                          lambda p: papers.get(p, 40)) == [multistep, phased]
    # Alone, the shorter run still names its paper.
    q2 = "How do multistep consistency distillation and the Phased Consistency Model differ?"
    assert compared_among(q2, [mlcm, phased], set(), lambda p: papers.get(p, 40)) == [mlcm,
                                                                                     phased]


def test_two_titles_side_by_side_make_a_comparison_without_a_cue_word():
    a = src(1, "Transductive Few-Shot Learning: Clustering is All You Need?",
            "We investigate clustering for transductive few-shot learning.")
    b = src(2, "Pushing the Limits of Simple Pipelines for Few-Shot Learning",
            "A simple pipeline with external data and fine-tuning.")
    for s in (a, b):
        s.shown_to_llm = True
    rare = lambda p: 1  # noqa: E731 - every title run here is one paper's
    q = ("Which simple alternatives to meta-learning do 'Transductive Few-Shot Learning: "
         "Clustering is All You Need?' and 'Pushing the Limits of Simple Pipelines for "
         "Few-Shot Learning' advocate?")
    assert compared(q, [a, b], set(), rare) == [a, b]
    # One run both titles share ("few-shot learning") is no pair of papers.
    assert compared("Which simple alternatives help few-shot learning?", [a, b], set(),
                    rare) == []
    # Two titles' words, but not one after the other: one is asked about within the other.
    assert compared("How does transductive few-shot learning use simple pipelines?", [a, b],
                    set(), rare) == []


def test_a_capitalised_title_word_the_question_writes_names_the_paper():
    shampoo = src(1, "A Distributed Data-Parallel PyTorch Implementation of the Distributed "
                     "Shampoo Optimizer", "Shampoo is a second-order method.")
    scalable = src(2, "Scalable Second Order Optimization for Deep Learning",
                   "A second-order preconditioner at scale.")
    for s in (shampoo, scalable):
        s.shown_to_llm = True
    counts = {"shampoo": 2, "scalable second order optimization": 1}

    def few(phrase: str, default: int) -> int:  # as `papers_writing`: case and hyphens aside
        return counts.get(phrase.lower(), default)
    q = ("Compare what the distributed PyTorch Shampoo implementation and the scalable "
         "second-order optimization paper claim about speed.")
    assert compared(q, [shampoo, scalable], set(), lambda p: few(p, 40)) == [shampoo, scalable]
    # Written in lower case ("distributed") or as the question's first word, a title word is
    # no name; nor is one many papers write.
    assert not named_in("Distributed training: what does the distributed one claim?", shampoo,
                        set(), lambda p: few(p, 40))
    assert not named_in(q, shampoo, set(), lambda p: 40)


def test_a_title_run_written_in_the_singular_or_plural_names_the_paper():
    mmd = src(1, "Demystifying MMD GANs", "We investigate the training of MMD GANs.")
    wgan = src(2, "Wasserstein GAN", "We introduce a new algorithm named WGAN.")
    for s in (mmd, wgan):
        s.shown_to_llm = True
    counts = {"mmd gan": 1, "wasserstein gan": 2}
    q = "What do the Wasserstein GAN and MMD GAN papers each claim about their critics?"
    # "MMD GAN" is the title's "MMD GANs" in the singular; the run is counted as the question
    # writes it.
    assert compared(q, [mmd, wgan], set(), lambda p: counts.get(p, 40)) == [mmd, wgan]
    assert compared(q, [mmd, wgan], set(), lambda p: 40) == []
    # "-ss" is no plural: "process" does not write "proce".
    proc = src(3, "Neural Processes Meet Gaussian Process",
               "Neural processes learn stochastic processes.")
    assert not named_in("How does the gaussian proce method work?", proc, set(), lambda p: 1)
    assert named_in("What do gaussian processes meet here?", proc, set(), lambda p: 1)
