from conftest import source as src
from rag.citations import StreamRenumberer, check, is_refusal, numbers_in, split_sentences
from rag.types import Source

SOURCES = [
    src(1, "Sparse Mixture Models", "We propose SMM, which routes tokens to 8 experts and cuts "
        "training cost by 40% on language modelling."),
    src(2, "Graph Transformers at Scale", "GTS scales graph transformers to 1 billion edges with "
        "linear attention over node neighbourhoods."),
    src(3, "Diffusion for Audio", "A diffusion model generates speech at 24 kHz."),
]


def test_markers_renumbered_sequentially_by_first_use():
    a = check("GTS handles 1 billion edges [2]. SMM uses 8 experts [1].", SOURCES)
    assert a.text == "GTS handles 1 billion edges [1]. SMM uses 8 experts [2]."
    assert [(c.number, c.title) for c in a.citations] == [
        (1, "Graph Transformers at Scale"), (2, "Sparse Mixture Models")]
    assert a.citations[0].source_number == 2
    assert not a.unsupported and not a.flagged_numbers


def test_marker_to_missing_source_removed():
    a = check("SMM routes tokens to 8 experts [1][7].", SOURCES)
    assert a.text == "SMM routes tokens to 8 experts [1]."
    assert [c.source_number for c in a.citations] == [1]


def test_variants_of_marker_syntax():
    a = check("SMM routes tokens to experts [1, 2]. Speech at 24 kHz (Source 3).", SOURCES)
    assert "[1][2]" in a.text and "[3]" in a.text
    assert "Source" not in a.text


def test_marker_on_its_own_line_cites_previous_sentence():
    a = check("SMM cuts training cost by 40%.\n[1]", SOURCES)
    assert a.text == "SMM cuts training cost by 40% [1]."


def test_uncited_sentence_gets_best_matching_source_attached():
    a = check("GTS scales graph transformers to billions of edges with linear attention.", SOURCES)
    assert a.citations and a.citations[0].title == "Graph Transformers at Scale"
    assert a.text.endswith("[1].")


def test_uncited_unrelated_sentence_stays_unsupported():
    a = check("Quantum computers factor large primes.", SOURCES)
    assert not a.citations
    assert a.unsupported == ["Quantum computers factor large primes."]


def test_number_absent_from_cited_source_is_flagged():
    a = check("SMM cuts training cost by 45% [1]. GTS handles 1 billion edges [2].", SOURCES)
    assert a.flagged_numbers == ["45"]
    assert a.unsupported == ["SMM cuts training cost by 45%."]


def test_number_from_another_source_still_flagged():
    # 24 appears in source 3, but the sentence cites source 1.
    a = check("SMM runs at 24 kHz [1].", SOURCES)
    assert a.flagged_numbers == ["24"]


def test_refusal_detected_and_normalised():
    for text in ["The papers in this collection don't say.", "The sources do not mention this.",
                 "I cannot answer this from the sources.", ""]:
        a = check(text, SOURCES)
        assert a.refused and a.text == "The papers in this collection don't say."
    assert not is_refusal("SMM uses 8 experts [1].")


def test_snippet_is_the_supporting_passage():
    a = check("SMM cuts training cost by 40% [1].", SOURCES)
    assert "40%" in a.citations[0].snippet


def test_stream_renumberer_matches_final_numbering():
    r = StreamRenumberer({1, 2, 3})
    pieces = ["GTS ", "scales [", "2", "]. SMM [1", "][9] uses experts [1]."]
    shown = "".join(r.feed(p) for p in pieces) + r.flush()
    assert shown == "GTS scales [1]. SMM [2] uses experts [2]."
    final = check("GTS scales [2]. SMM [1][9] uses experts [1].", SOURCES)
    assert final.citations[0].source_number == 2


def test_helpers():
    assert split_sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]
    assert numbers_in("Up 12.5% over 2023 baselines [3].") == ["12.5", "2023"]
    # A name's initial is no sentence end; a lone letter before a sentence's opening word is.
    assert split_sentences("It owes to neuroscientist H. Barlow's principle. Next one.") == [
        "It owes to neuroscientist H. Barlow's principle.", "Next one."]
    assert split_sentences("The SDF of P from G. Afterwards, it extracts vertices.") == [
        "The SDF of P from G.", "Afterwards, it extracts vertices."]


def test_wrong_explicit_citation_is_repointed_to_the_paper_that_says_it():
    a = check("GTS scales graph transformers to 1 billion edges with linear attention [1].",
              SOURCES)
    assert [c.title for c in a.citations] == ["Graph Transformers at Scale"]
    assert not a.flagged_numbers


def test_plausible_explicit_citation_is_kept():
    a = check("SMM routes tokens to experts [1].", SOURCES)
    assert a.citations[0].source_number == 1


def test_name_absent_from_cited_source_is_flagged():
    a = check("SMM reaches 40% lower cost on WMT14 [1]. GTS uses linear attention [2].", SOURCES)
    assert a.flagged_terms == ["WMT14"]
    assert a.unsupported == ["SMM reaches 40% lower cost on WMT14."]
    assert not a.refused  # the second sentence is supported, so the answer stands


def test_a_name_in_the_plural_is_backed_by_the_singular():
    """"GTSs" where the paper writes "GTS" is the paper's name; "GTSx" is not, nor is "SMMs"
    in a sentence citing a paper that never writes "SMM"."""
    assert check("Several GTSs scale to 1 billion edges [2].", SOURCES).flagged_terms == []
    assert check("GTSx scales to 1 billion edges [2].", SOURCES).flagged_terms == ["GTSx"]
    assert check("SMMs scale to 1 billion edges [2].", SOURCES).flagged_terms == ["SMMs"]


def test_a_sentence_repeated_word_for_word_is_shown_once():
    """A model in a loop writes its sentences again; the first copy stays, and a sentence that
    only looks alike (another number, another paper) is not a repeat."""
    a = check("SMM routes tokens to 8 experts [1]. GTS scales to 1 billion edges [2]. SMM routes "
              "tokens to 8 experts [1]. GTS scales to 1 billion edges [2].", SOURCES)
    assert a.text == "SMM routes tokens to 8 experts [1]. GTS scales to 1 billion edges [2]."
    b = check("SMM routes tokens to 8 experts [1]. SMM routes tokens to 40 experts [1]. SMM "
              "routes tokens to 8 experts [1][2].", SOURCES)
    assert b.text.count("SMM routes tokens") == 3


def test_answer_with_no_supported_claim_is_withheld():
    a = check("SMM achieves a BLEU score of 41.0 on WMT14 [1].", SOURCES)
    assert a.refused and a.text == "The papers in this collection don't say."
    assert a.unsupported == ["SMM achieves a BLEU score of 41.0 on WMT14."]
    assert a.flagged_numbers == ["41.0"] and set(a.flagged_terms) == {"BLEU", "WMT14"}
    assert a.citations == []
    assert a.closest == 1  # where the draft looked: the refusal quotes that paper


def test_what_is_missing_is_kept_but_not_a_claim():
    a = check("SMM routes tokens to 8 experts [1]. The sources do not report the batch size.",
              SOURCES)
    assert not a.refused
    assert a.text.endswith("The sources do not report the batch size.")
    assert a.unsupported == []
    only_missing = check("The sources do not report the batch size.", SOURCES)
    assert only_missing.refused


def test_an_answer_that_opens_with_not_given_declines_but_keeps_its_evidence():
    a = check("The sources do not report the batch size. SMM routes tokens to 8 experts [1].",
              SOURCES)
    assert a.refused  # the question as asked is not answered
    assert a.text.startswith("The sources do not report the batch size.")
    assert [c.source_number for c in a.citations] == [1]


def test_sentence_mostly_absent_from_its_source_is_unsupported():
    a = check("SMM routes tokens [1]. Quantum annealers schedule photonic qubits [1].", SOURCES)
    assert a.unsupported == ["Quantum annealers schedule photonic qubits."]


PASCANU = src(1, "On the difficulty of training Recurrent Neural Networks",
              "There are two widely known issues with properly training Recurrent Neural Networks, "
              "the vanishing and the exploding gradient problems. We propose a gradient norm "
              "clipping strategy to deal with exploding gradients and a soft constraint for the "
              "vanishing gradients problem.")
PARAPHRASED = ("What simple remedy was proposed for the error signal blowing up when training "
               "networks with recurrent connections over long sequences?")


def test_restating_a_paraphrased_question_does_not_withhold_a_right_answer():
    draft = ("A simple remedy proposed for the error signal blowing up when training networks "
             "with recurrent connections over long sequences is gradient norm clipping.")
    # Judged on all its words, the sentence is mostly the question's wording: withheld.
    assert check(draft, [PASCANU]).refused
    # The question's words are the user's; what the sentence adds is in the paper.
    c = check(draft, [PASCANU], question=PARAPHRASED)
    assert not c.refused and c.unsupported == []
    assert [x.number for x in c.citations] == [1] and c.text.endswith("[1].")


def test_repeating_a_false_premise_is_still_unsupported():
    # Adds one word of its own: judged on all its words, as before.
    q = "Which speech recognition tasks does the recurrent networks paper evaluate?"
    c = check("The paper evaluates speech recognition tasks [1].", [PASCANU], question=q)
    assert c.refused
    # And a sentence whose own words are not in the paper stays unsupported.
    c = check("Recurrent networks over long sequences need attention layers and beam search.",
              [PASCANU], question=PARAPHRASED)
    assert c.refused


def test_the_question_never_makes_a_supported_sentence_unsupported():
    paper = src(1, "AutoDiffusion: Training-Free Optimization of Time Steps",
                "AutoDiffusion reaches an FID of 17.86 on ImageNet 64x64 with only four steps, "
                "compared to 138.66 with DDIM.")
    q = "What FID does AutoDiffusion obtain on ImageNet 64x64 with only four steps, vs DDIM?"
    draft = ("AutoDiffusion obtains an FID score of 17.86 on ImageNet 64x64 with only four "
             "steps, compared to 138.66 with DDIM.")
    # Few words of its own ("obtains", "score"), none in the paper; judged on all its words
    # the uncited sentence is still attached to the paper and supported.
    c = check(draft, [paper], question=q)
    assert not c.refused and c.unsupported == [] and c.flagged_numbers == []
    assert [x.number for x in c.citations] == [1]


def test_markers_used_as_names_get_the_paper_title():
    a = src(1, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
            "Barlow Twins learns by reducing redundancy between embeddings.")
    b = src(2, "Mixed Barlow Twins", "Mixed Barlow Twins adds mixup to Barlow Twins.")
    c = check("The papers that use Barlow Twins are [1] and [2].", [a, b])
    # Not "The papers that use Barlow Twins are and [1][2]."
    assert c.text == ("The papers that use Barlow Twins are Barlow Twins: Self-Supervised Learning "
                      "via Redundancy Reduction and Mixed Barlow Twins [1][2].")
    c = check("[2] adds mixup to Barlow Twins, while [1] reduces redundancy between embeddings.",
              [a, b])
    assert c.text.startswith("Mixed Barlow Twins adds mixup to Barlow Twins, while Barlow Twins: "
                             "Self-Supervised")
    # Ordinary citations stay where they are.
    c = check("Mixed Barlow Twins adds mixup [2]. Barlow Twins [1] reduces redundancy.", [a, b])
    assert c.text == "Mixed Barlow Twins adds mixup [1]. Barlow Twins reduces redundancy [2]."


def test_marker_followed_by_its_title_is_not_named_twice():
    a = src(1, "Consistency Models", "Consistency models can be trained to distill diffusion "
            "models or as standalone generative models.")
    b = src(2, "Phased Consistency Model", "The consistency model accelerates diffusion models.")
    # The model copies the sources block's layout: "[n] Title" then a sentence from it.
    c = check("[1] Consistency Models\nConsistency models can be trained to distill diffusion "
              "models [1].\n[2] Phased Consistency Model\nThe consistency model accelerates "
              "diffusion models [2].", [a, b])
    assert "Consistency Models Consistency Models" not in c.text
    assert "Phased Consistency Model Phased Consistency Model" not in c.text
    assert c.text.startswith("Consistency Models [1]")


def test_marker_lists_are_named_or_grouped():
    a = src(1, "Brain Tumor Segmentation with U-Nets", "We segment brain tumors in MRI.")
    b = src(2, "Tumor Segmentation Benchmarks", "A benchmark for brain tumor segmentation.")
    c = src(3, "Federated Tumor Segmentation", "Federated brain tumor segmentation in MRI.")
    # A citation group: its commas go with the markers.
    out = check("Brain tumor segmentation in MRI is studied widely [1], [2], [3].", [a, b, c])
    assert ",," not in out.text
    assert out.text == "Brain tumor segmentation in MRI is studied widely [1][2][3]."
    # "…, and [3]" enumerates the papers: name them.
    out = check("The papers in the collection address brain tumor segmentation [1], [2], and "
                "[3].", [a, b, c])
    assert out.text == (
        "The papers in the collection address brain tumor segmentation: Brain Tumor "
        "Segmentation with U-Nets, Tumor Segmentation Benchmarks, and Federated Tumor "
        "Segmentation [1][2][3].")


def test_prompt_layout_written_back_is_not_part_of_the_answer():
    c = check("Answer: SMM cuts training cost by 40% [1].\nQuestion: How much does SMM cut?",
              SOURCES)
    assert c.text == "SMM cuts training cost by 40% [1]."
    c = check("Sources:\n[1] Sparse Mixture Models\n[2] Graph Transformers at Scale", SOURCES)
    assert "Sources" not in c.text
    assert c.text.startswith("Sparse Mixture Models [1]")


def test_the_models_lines_survive_checking():
    c = check("Two papers:\n- Sparse Mixture Models routes tokens to 8 experts [1].\n"
              "- Graph Transformers at Scale uses linear attention [2].", SOURCES)
    assert c.text.split("\n") == [
        "Two papers:",
        "- Sparse Mixture Models routes tokens to 8 experts [1].",
        "- Graph Transformers at Scale uses linear attention [2]."]


def test_marker_before_a_name_only_cites_it():
    a = src(1, "Negative Token Merging", "NegToMe pushes apart matching features of a reference "
            "image during reverse diffusion.")
    b = src(2, "Perp-Neg", "Perp-Neg uses the geometry of the score space.")
    c = check("Perp-Neg uses the geometry of the score space [2]. [1] NegToMe, on the other "
              "hand, pushes apart matching features of a reference image.", [a, b])
    assert "Negative Token Merging" not in c.text
    assert c.text.endswith("NegToMe, on the other hand, pushes apart matching features of a "
                           "reference image [2].")


def test_tidy_repairs_marker_leftovers_and_doubled_titles():
    from rag.citations import check, tidy

    title = "diffGrad: An Optimization Method for Convolutional Neural Networks"
    assert tidy("The first paper,, focuses on X.") == "The first paper, focuses on X."
    assert tidy("It works , and well ,.") == "It works, and well."
    assert tidy(f"{title} {title} adapts the step size.", [title]) == (
        f"{title} adapts the step size.")
    assert tidy("GAN GAN is fine.", ["GAN"]) == "GAN GAN is fine."  # short names may repeat
    assert tidy("A ratio of 3:1, as reported.") == "A ratio of 3:1, as reported."
    src = Source(1, "d", title, 0.1, 0.9, abstract="diffGrad adapts the step size of each "
                 "parameter using the change in its gradient.", shown_to_llm=True)
    out = check(f"{title} [1] {title} adapts the step size of each parameter [1].", [src])
    assert out.text.count(title) == 1 and not out.refused


COMPARED = [
    src(1, "RestoreFormer++: Towards Real-World Blind Face Restoration",
        "RestoreFormer++ introduces fully-spatial attention mechanisms to model the contextual "
        "information and the interplay with the priors."),
    src(2, "DifFace: Blind Face Restoration with Diffused Error Contraction",
        "DifFace does not rely on a restoration backbone trained with an L2 loss on synthetic "
        "data; it samples from a diffusion model, as MAML-style methods do not."),
    src(3, "Neural Fields with MAML", "We compare with MAML and RestoreFormer baselines."),
]


def test_a_sentence_naming_two_papers_cites_both():
    a = check("RestoreFormer++ introduces fully-spatial attention to model the interplay with "
              "the priors, while DifFace samples from a diffusion model instead of a backbone "
              "trained with an L2 loss.", COMPARED)
    assert not a.refused and not a.unsupported
    assert [c.source_number for c in a.citations] == [1, 2]


def test_a_name_the_model_did_not_cite_is_added_to_its_citation():
    a = check("RestoreFormer++ models the priors with fully-spatial attention [1], while "
              "DifFace samples from a diffusion model [1].", COMPARED)
    assert {c.source_number for c in a.citations} == {1, 2}


def test_a_name_several_sources_write_names_none_of_them():
    from rag.names import names_in, source_names

    assert "MAML" not in source_names(COMPARED)[3]  # another abstract writes it too
    names_of = source_names(COMPARED)
    assert names_in("MAML is a baseline.", names_of) == []
    assert names_in("DifFace beats RestoreFormer++.", names_of) == [2, 1]


def test_a_citation_after_the_period_cites_the_sentence_before_it():
    # Seen in the page: "…threshold. [1] diffGrad, on the other hand, …" came out as "…
    # threshold [1]. AutoClip: Adaptive Gradient Clipping … diffGrad, on the other hand …":
    # the marker was taken for a name (diffGrad starts lower-case) and given its title.
    a = src(1, "AutoClip: Adaptive Gradient Clipping for Source Separation Networks",
            "AutoClip chooses a gradient clipping threshold from the history of gradient norms.")
    b = src(2, "diffGrad: An Optimization Method for Convolutional Neural Networks",
            "diffGrad uses the difference between the present and the immediate past gradient.")
    c = check("AutoClip chooses a gradient clipping threshold from the history of gradient "
              "norms. [1] diffGrad, on the other hand, uses the difference between the present "
              "and the immediate past gradient. [2]", [a, b])
    assert c.text == ("AutoClip chooses a gradient clipping threshold from the history of "
                      "gradient norms [1]. diffGrad, on the other hand, uses the difference "
                      "between the present and the immediate past gradient [2].")


def test_an_abbreviations_period_does_not_end_the_sentence():
    a = src(1, "LIMoE", "LIMoE achieves 78.6% zero-shot ImageNet accuracy (vs. CLIP-L/14).")
    c = check("LIMoE achieves 78.6% zero-shot ImageNet accuracy (vs. CLIP-L/14) [1].", [a])
    assert c.text == "LIMoE achieves 78.6% zero-shot ImageNet accuracy (vs. CLIP-L/14) [1]."
    from rag.citations import split_sentences

    assert split_sentences("It beats A, e.g. B. No. It does not.") == [
        "It beats A, e.g. B.", "No.", "It does not."]


def test_a_sentence_after_a_citation_or_starting_with_a_lower_case_name_is_its_own():
    from rag.citations import split_sentences

    # The page's evidence cards showed one claim for two sentences: "… threshold [1]. diffGrad,
    # on the other hand, …" was not split, so both papers' quotes "supported" the whole text.
    assert split_sentences("AutoClip picks a threshold [1]. diffGrad, on the other hand, "
                           "uses the gradient change [2].") == [
        "AutoClip picks a threshold [1].",
        "diffGrad, on the other hand, uses the gradient change [2]."]
    assert split_sentences("It works [1]. then it stops.") == ["It works [1].", "then it stops."]
    # A lower-case word after a plain period still continues the sentence.
    assert split_sentences("The value is approx. five times larger.") == [
        "The value is approx. five times larger."]


def test_a_scaled_amount_must_be_one_the_cited_paper_states():
    # "one million" has no digits for the number check; "1.2 billion" would pass on a "1.2".
    a = check("GTS scales graph transformers to one million edges [2].", SOURCES)
    assert a.flagged_numbers == ["one million"] and a.refused
    a = check("GTS scales graph transformers to 1B edges with linear attention [2].", SOURCES)
    assert a.flagged_numbers == [] and not a.refused  # "1 billion", spelled another way


def test_scaled_quantities_are_read_as_values():
    from rag import quantities

    found = quantities.scaled("one million classes, 1.5B tokens, 100K images, ten-thousand, "
                              "7 B, 2,000 steps")
    assert found == [("one million", 1e6), ("1.5B", 1.5e9), ("100K", 1e5),
                     ("ten-thousand", 1e4)]
    assert quantities.missing("one million classes", "Learning 100K Object Classifiers") == [
        "one million"]
    assert quantities.missing("a million images", "trained on 1,000,000 images") == []
    assert quantities.missing("1.2 billion tokens", "improves by 1.2%") == ["1.2 billion"]


def test_a_withheld_draft_points_at_the_paper_its_own_marker_cites():
    # "SGD" (the question's word) attaches the paper whose title writes it, ahead of the marker
    # the model put after the period; that marker says it answered from the other paper.
    papers = [src(1, "Statistical Mechanics of Continual Learning", "A variational principle "
                  "for learning tasks in sequence with binary weights."),
              src(2, "DoG is SGD's Best Friend", "A parameter-free step size for SGD.")]
    a = check("Yes, there is a theory of sequential tasks checked against SGD runs. [1]", papers)
    assert a.refused and a.closest == 1
