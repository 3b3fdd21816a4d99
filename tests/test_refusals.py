from conftest import source as src
from rag.answer import ask
from rag.refusals import NOT_GIVEN, not_given
from rag.types import Citation

SOURCES = [
    src(1, "Reversible 3D U-Net", "We propose a memory-efficient reversible 3D U-Net. It reaches "
        "a Dice score of 0.91 on the whole-tumor class of BraTS. Training fits on one GPU."),
    src(2, "Audio Diffusion", "A diffusion model generates speech at 24 kHz."),
]


def test_not_given_quotes_the_paper_the_draft_cited_nearest_the_question():
    text, cites = not_given("What Dice score does the reversible 3D U-Net reach on the "
                            "enhancing-tumor class of BraTS?",
                            ["It reaches a Dice score of 0.78 on enhancing tumor."], SOURCES, 1)
    assert text.startswith(NOT_GIVEN)
    assert '"Reversible 3D U-Net" [1]' in text
    assert "Dice score of 0.91 on the whole-tumor class" in text  # verbatim, not the draft's 0.78
    assert "0.78" not in text
    assert [(c.number, c.source_number) for c in cites] == [(1, 1)]


def test_not_given_falls_back_to_the_top_source_and_to_nothing():
    text, cites = not_given("How is speech generated?", [], SOURCES[::-1])
    assert '"Audio Diffusion" [1]' in text and cites[0].paper_id == "p2"
    assert not_given("zebra quokka?", [], SOURCES) is None
    assert not_given("speech?", [], []) is None


def test_a_withheld_false_premise_answer_says_not_given_with_the_papers_evidence(
        fake_settings, llm):
    # A number the paper does not give: the draft is withheld, and the refusal quotes what
    # the paper the draft cited does say, verbatim and cited.
    llm.enqueue("MLTI improves accuracy by 17.3% over the baselines [1].")
    a = ask("By how much does MLTI (task interpolation) improve accuracy?")
    assert a.refused and a.text.startswith(NOT_GIVEN)
    assert "17.3" not in a.text
    assert a.citations[0].title == "Meta-Learning with Fewer Tasks through Task Interpolation"
    assert a.claims and a.claims[-1].quotes  # the quoted sentence is its own evidence
    assert "17.3%" in " ".join(a.unsupported)  # the withheld draft, for anyone who looks


def test_a_bare_model_refusal_stays_bare_when_nothing_is_close(fake_settings, llm):
    llm.enqueue("The papers in this collection don't say.")
    a = ask("Which paper augments the meta-learning task set through task interpolation?")
    assert a.refused


def test_the_page_shows_a_pointed_refusal_as_a_refusal_with_its_quoted_source(fake_settings,
                                                                              llm):
    from ui.format import answer_markdown, sources_markdown

    llm.enqueue("MLTI improves accuracy by 17.3% over the baselines [1].")
    a = ask("By how much does MLTI (task interpolation) improve accuracy?")
    chat, panel = answer_markdown(a), sources_markdown(a)
    assert chat.startswith("**Not in these papers.**") and "*Sources:* [1]" in chat
    assert "17.3" not in chat
    assert "**[1] Meta-Learning with Fewer Tasks through Task Interpolation**" in panel


# --- a name the question asks about that the paper it is about never writes ---------------

def test_a_name_the_asked_about_paper_never_writes_is_a_detail_not_given():
    from rag.names import details_not_given

    missing, about = details_not_given(
        "What Dice score does the reversible 3D U-Net reach on KITTI?", SOURCES)
    assert missing == ["KITTI"] and about is SOURCES[0]
    # ... even when another shown paper mentions it in passing: that paper is not the one the
    # question is about, and its GPU is not the audio model's.
    other = [src(1, "Audio Diffusion", "A diffusion model generates speech at 24 kHz."),
             src(2, "Reversible 3D U-Net", "It fits on one GPU.")]
    assert details_not_given("How much GPU memory does Audio-Diffusion need?", other) == (
        ["GPU"], other[0])
    # No name of the question written by any shown paper: not about a named paper, no verdict.
    assert details_not_given("What does ZetaNet reach on KITTI?", SOURCES) == ([], None)


def test_a_benchmark_only_a_lower_ranked_paper_names_is_not_given_by_the_asked_paper():
    from rag.names import details_not_given

    pm = [src(1, "PatchmatchNet: Learned Multi-View Patchmatch Stereo",
              "PatchmatchNet is evaluated on DTU and Tanks & Temples."),
          src(2, "ECoDepth", "Monocular depth on NYU Depth v2 and KITTI.")]
    unique = {"PatchmatchNet", "KITTI"}  # each written by one paper of the collection
    q = "What accuracy does PatchmatchNet reach on the KITTI stereo benchmark?"
    assert details_not_given(q, pm, unique) == (["KITTI"], pm[0])
    # Asked about side by side, KITTI's paper is a side of its own: nothing is missing.
    assert details_not_given("How do PatchmatchNet and KITTI results differ?", pm, unique)[0] == []
    # A paper ranked above the one asked about that writes the name may be what is asked.
    ranked = [pm[1], pm[0]]
    assert details_not_given(q, ranked, unique)[0] == []


def test_an_amount_the_asked_about_paper_never_states_is_a_detail_not_given():
    from rag.names import details_not_given

    kc = [src(1, "Knowledge Concentration: Learning 100K Object Classifiers in a Single CNN",
              "Knowledge Concentration distils dozens of expert networks into one student.")]
    question = "How does Knowledge Concentration fit one million object classes into a CNN?"
    assert details_not_given(question, kc) == (["one million"], kc[0])
    assert details_not_given(question.replace("one million", "100K"), kc) == ([], kc[0])


def test_a_share_or_factor_the_paper_never_states_is_a_detail_not_given():
    from rag.names import details_not_given

    neumeta = [src(1, "Neural Metamorphosis", "NeuMeta sustains full-size performance even at a "
                   "75% compression rate, and renders 5times faster."),
               src(2, "Pruning Survey", "Pruning removes weights.")]
    q = "I remember NeuMeta keeping full-size performance at a 90% compression rate. Where?"
    assert details_not_given(q, neumeta) == (["90%"], neumeta[0])
    assert details_not_given(q.replace("90%", "75%"), neumeta) == ([], neumeta[0])
    # The scraper writes the factor glued to "times"; words spell factors too.
    assert details_not_given("Is NeuMeta 5x faster?", neumeta) == ([], neumeta[0])
    assert details_not_given("Is NeuMeta 50x faster?", neumeta) == (["50x"], neumeta[0])
    halves = [src(1, "Progressive Distillation", "Each round halves the number of steps.")]
    assert details_not_given("How does a 2x cut in sampling steps work?", halves) == ([], None)
    # No name in the question: the best-ranked paper is asked about, unless another shown paper
    # states the figure.
    q = "Has the locally regularized differential equation work made predictions 10x faster?"
    ndes = [src(1, "Locally Regularized Neural Differential Equations",
                "Our method accelerates predictions by 1.3-2x."),
            src(2, "Adaptive Solvers", "Adaptive step sizes save function evaluations.")]
    assert details_not_given(q, ndes) == (["10x"], ndes[0])
    ndes[1] = src(2, "Fast Solvers", "A 10x faster solver.")
    assert details_not_given(q, ndes) == ([], None)
    # Counts, sizes and "times as" are not claims this reads.
    assert details_not_given("Does it train 3 models on 512x512 images?", ndes) == ([], None)


def test_a_count_the_paper_gives_only_otherwise_is_a_detail_not_given():
    from rag.names import details_not_given
    from rag.quantities import contradicted

    paper = "It adapts to new tasks with at most 50 labeled images, in 4 steps or 8192 steps."
    assert contradicted("How does it adapt from at most 5 labeled images?", paper) == [
        "5 labeled images"]
    assert contradicted("How does it adapt with 50 labeled images?", paper) == []
    assert contradicted("What FID with a single sampling step?", paper) == [
        "a single sampling step"]
    # Names, sizes, compounds and ranges are no counts; a noun the paper does not count is
    # not contradicted.
    assert contradicted("On CIFAR-10 with 64x64 images and a single-stage model?", paper) == []
    assert contradicted("At 4 sampling steps?", "It needs only 2-8 sampling steps.") == []
    assert contradicted("With 3 GPUs?", paper) == []
    cham = [src(1, "Chameleon: A Data-Efficient Generalist", paper),
            src(2, "Few-Shot Survey", "Few-shot learners use labeled images.")]
    q = "Chameleon adapts from at most 5 labeled images. How?"  # no name the check reads
    assert details_not_given(q, cham) == (["5 labeled images"], cham[0])
    cham[1] = src(2, "Other", "Adapts from at most 5 labeled images.")
    assert details_not_given(q, cham) == ([], None)  # another shown paper says it


def test_names_of_other_shown_papers_and_plurals_are_not_missing_details():
    from rag.names import details_not_given

    two = [src(1, "ViDA: Visual Domain Adapter", "ViDA adapts at test time."),
           src(2, "Meta-DMoE: Adapting to Domain Shift", "Meta-DMoE distils experts.")]
    # A comparison names each paper; each name is in its own paper's title.
    assert details_not_given("How do ViDA and Meta-DMoE differ?", two)[0] == []
    # A name the collection writes in one paper only, and that paper is shown: its own name.
    plain = [src(1, "Visual Domain Adapter", "ViDA adapts at test time."),
             src(2, "Distilling Experts", "Meta-DMoE distils experts.")]
    assert details_not_given("How do ViDA and Meta-DMoE differ?", plain)[0] == ["Meta-DMoE"]
    assert details_not_given("How do ViDA and Meta-DMoE differ?", plain,
                             unique={"Meta-DMoE"})[0] == []
    sde = [src(1, "Score-Based Generative Modeling through SDE", "An SDE maps data to noise.")]
    assert details_not_given("What do SDEs map data to?", sde)[0] == []


def test_an_answer_about_a_detail_the_paper_never_writes_declines_it_first(fake_settings,
                                                                             llm):
    # MLTI's abstract never writes "GPU" (other papers do); the model offers a sentence about
    # it anyway. That sentence goes, the answer opens by declining, and what the paper does
    # say stays, cited.
    llm.enqueue("MLTI saves 40% of GPU memory [1]. MLTI generates additional tasks by "
                "interpolating the features and labels of a pair of tasks [1].")
    a = ask("How much GPU memory does MLTI save?")
    assert a.refused
    assert a.text.startswith('"Meta-Learning with Fewer Tasks through Task Interpolation" does '
                             "not mention GPU, so the papers here don't give this.")
    assert "40%" not in a.text and "interpolating the features" in a.text
    assert [c.title for c in a.citations] == [
        "Meta-Learning with Fewer Tasks through Task Interpolation"]


def test_a_declined_detail_quotes_the_paper_when_nothing_the_model_said_stands(fake_settings,
                                                                                 llm):
    llm.enqueue("MLTI saves 40% of GPU memory [1].")
    a = ask("How much GPU memory does MLTI save?")
    assert a.refused and "does not mention GPU" in a.text
    assert 'It says: "' in a.text and a.citations and "40%" not in a.text


def test_a_declined_detail_keeps_only_what_the_asked_about_paper_says():
    from rag.refusals import declined_detail

    pm = src(1, "PatchmatchNet", "PatchmatchNet is evaluated on DTU.")
    eco = src(2, "ECoDepth", "ECoDepth reaches Sq Rel 0.139 on KITTI.")
    cites = [Citation(1, pm.paper_id, pm.title, "", 1), Citation(2, eco.paper_id, eco.title, "", 2)]
    lead = '"PatchmatchNet" does not mention KITTI, so the papers here don\'t give this.'
    rest = ("PatchmatchNet achieves Sq Rel 0.139 [1][2]. ECoDepth is best on KITTI [2]. "
            "PatchmatchNet is evaluated on DTU [1].")
    text, kept = declined_detail(lead, "What does PatchmatchNet reach on KITTI?", pm, rest, cites)
    assert text == f"{lead} PatchmatchNet is evaluated on DTU [1]."
    assert [(c.number, c.paper_id) for c in kept] == [(1, pm.paper_id)]
    # The asked-about paper cited as [2]: its sentences stay, renumbered [1].
    text, kept = declined_detail(lead, "q", pm, "PatchmatchNet is evaluated on DTU [2].",
                                 [Citation(1, eco.paper_id, eco.title, "", 2),
                                  Citation(2, pm.paper_id, pm.title, "", 1)])
    assert text.endswith("evaluated on DTU [1].") and [c.number for c in kept] == [1]
    # A first sentence that points back at a dropped one ("These networks …") goes too.
    text, _ = declined_detail(lead, "q", pm, "These networks are tuned [1]. PatchmatchNet is "
                              "evaluated on DTU [1].", cites)
    assert text == f"{lead} PatchmatchNet is evaluated on DTU [1]."
    # Nothing of it cites the asked-about paper alone: its own sentence is quoted instead.
    text, kept = declined_detail(lead, "What does PatchmatchNet reach on DTU?", pm,
                                 "ECoDepth is best on KITTI [2].", cites)
    assert 'It says: "PatchmatchNet is evaluated on DTU."' in text


# --- a draft that only restates the question about the paper it cites ---------------------

# Every word of it from the question, none from the paper: the cheap checks cannot back it.
RESTATED = "Yes, the paper [1] grows a small pool of few-shot episodes by blending pairs of them."
RESTATE_Q = "Does MLTI grow a small pool of few-shot episodes by blending pairs of them?"


def test_a_restated_question_the_judge_confirms_names_the_paper_and_quotes_it(fake_settings,
                                                                                llm):
    llm.enqueue(RESTATED, "yes")
    a = ask(RESTATE_Q)
    assert not a.refused
    assert a.text.startswith('This is "Meta-Learning with Fewer Tasks through Task '
                             'Interpolation" [1], which says: "')
    assert a.citations[0].title == "Meta-Learning with Fewer Tasks through Task Interpolation"
    assert "interpolat" in a.citations[0].snippet  # the quote is the paper's own sentence
    assert a.unsupported == []  # the page must not flag the draft the judge confirmed
    judged = llm.history[-1][-1]["content"]
    assert "Passage:" in judged and "blending pairs of them" in judged


def test_a_restated_question_the_judge_rejects_stays_a_refusal(fake_settings, llm):
    llm.enqueue(RESTATED, "no")
    a = ask(RESTATE_Q)
    assert a.refused and a.text.startswith(NOT_GIVEN)


def test_a_judge_abstention_or_an_invented_number_never_rescues_a_draft(fake_settings, llm):
    llm.enqueue(RESTATED, "maybe")
    assert ask(RESTATE_Q).refused
    # A draft with a number the paper does not give is not a restatement: no judge is asked.
    llm.enqueue("The paper [1] improves accuracy by 17.3% through task interpolation.", "yes")
    a = ask("By how much does MLTI (task interpolation) improve accuracy?")
    assert a.refused and "17.3" not in a.text
    assert llm.replies  # the "yes" was never used


def test_restatements_are_not_judged_when_the_setting_is_off(fake_settings, llm, monkeypatch):
    from rag.settings import get_settings

    monkeypatch.setenv("RAG_JUDGE_RESTATEMENTS", "false")
    get_settings.cache_clear()
    llm.enqueue(RESTATED, "yes")
    a = ask(RESTATE_Q)
    assert a.refused and list(llm.replies) == ["yes"]


def test_the_paper_asked_about_is_the_one_whose_title_has_the_questions_name():
    from rag.names import details_not_given

    # The NAS paper writes more of the question's names (ImageNet, top-1) than VeLO's does;
    # the question is still about VeLO, whose title names it.
    nas = src(1, "Accuracy Prediction for Neural Architecture Search",
              "We reach 80% top-1 accuracy on ImageNet.")
    velo = src(2, "VeLO: Training Versatile Learned Optimizers", "VeLO is a learned optimizer.")
    missing, about = details_not_given(
        "What top-1 ImageNet accuracy does VeLO reach?", [nas, velo])
    assert about is velo and missing == ["ImageNet", "top-1"]
    # With no title naming it, the rarest name decides, then the count.
    plain = src(2, "Learned Optimizers at Scale", "VeLO is a learned optimizer.")
    freq = {"VeLO": 1, "ImageNet": 51, "top-1": 7}.__getitem__
    assert details_not_given("What top-1 ImageNet accuracy does VeLO reach?", [nas, plain],
                             frequency=freq)[1] is plain
    assert details_not_given("What top-1 ImageNet accuracy does VeLO reach?",
                             [nas, plain])[1] is nas


def test_a_capitalised_dataset_inside_the_question_is_asked_about_by_name():
    from rag.names import asked_names, details_not_given

    assert asked_names("What 20-way 1-shot Omniglot accuracy did the MAML paper report?") == {
        "MAML", "Omniglot"}
    # Not a sentence's first word, not a compound's lower-case tail ("Adam-style" asks about
    # Adam), not a lone capital.
    assert asked_names("Why? How should the step size grow for Adam-style optimizers?") == {
        "Adam"}
    maml = src(1, "Model-Agnostic Meta-Learning", "MAML reaches state-of-the-art accuracy on "
               "two few-shot image classification benchmarks.")
    assert details_not_given("What 20-way 1-shot Omniglot accuracy did the MAML paper report?",
                             [maml]) == (["Omniglot"], maml)


def test_checking_is_only_shown_when_the_judge_is_asked(fake_settings, llm):
    from rag.answer import ask_stream
    from rag.types import Status

    def statuses() -> list[str]:
        return [e.stage for e in ask_stream(RESTATE_Q) if isinstance(e, Status)]

    llm.enqueue(RESTATED, "no")
    assert "checking" in statuses()
    # The same words citing no paper: nothing for the judge to read, so no "Checking…" line.
    llm.enqueue(RESTATED.replace(" [1]", ""))
    assert "checking" not in statuses()
    assert not llm.replies


def test_a_paper_of_the_collection_named_in_the_question_is_no_missing_detail():
    from rag.names import details_not_given

    mlti = src(1, "Meta-Learning with Fewer Tasks through Task Interpolation",
               "By meta-learning with task interpolation (MLTI), we generate additional tasks.")
    question = "How do MLTI and VeLO differ in what they learn?"
    # VeLO's own paper was not shown: without the collection's names it reads as a detail
    # the MLTI paper does not give; with them, it is the other side of a comparison.
    assert details_not_given(question, [mlti])[0] == ["VeLO"]
    assert details_not_given(question, [mlti], paper_names={"VeLO", "PQDiff"}) == ([], mlti)
    # a name no title gives still counts ("… on KITTI?")
    assert details_not_given("What accuracy does MLTI reach on KITTI?", [mlti],
                             paper_names={"VeLO"})[0] == ["KITTI"]


def test_ask_does_not_decline_a_comparison_with_a_paper_retrieval_left_out(fake_settings, llm):
    llm.enqueue("MLTI augments the task set through interpolation [1].")
    a = ask("How do MLTI and VeLO differ in what they learn?")
    assert "does not mention VeLO" not in a.text
    assert not a.refused
