import pytest

import rag
from rag.errors import BadInput

MLTI = "Meta-Learning with Fewer Tasks through Task Interpolation"


def test_sources_ranked_by_paper_with_passages(fake_settings):
    srcs = rag.retrieve("meta-learning task interpolation with fewer tasks", k=5)
    assert len(srcs) == 5
    assert [s.number for s in srcs] == [1, 2, 3, 4, 5]
    assert len({s.paper_id for s in srcs}) == 5  # grouped: one source per paper
    assert srcs[0].title == MLTI
    assert all(s.passages and s.text and s.abstract for s in srcs)
    assert srcs[0].score >= srcs[-1].score


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes(fake_settings, mode):
    srcs = rag.retrieve("task interpolation meta-learning MLTI", k=3, mode=mode)
    assert MLTI in [s.title for s in srcs]


def test_bm25_finds_exact_acronym(fake_settings):
    assert rag.retrieve("MLTI", k=3, mode="bm25")[0].title == MLTI


def test_top_k_and_errors(fake_settings):
    assert len(rag.retrieve("diffusion", k=2)) == 2
    with pytest.raises(BadInput):
        rag.retrieve("diffusion", k=0)
    with pytest.raises(BadInput):
        rag.retrieve("   ")
    with pytest.raises(BadInput):
        rag.retrieve("x", mode="magic")


def test_a_set_phrase_outranks_its_words_apart():
    """RAG_PHRASE_MATCH: a paper naming the topic as a phrase ("gradient boosting of trees")
    outranks one that has the same words apart and more of the question's others; a
    word pair that two papers write together and most papers with its rarer word write so is
    a set phrase, a pair met once is not."""
    from rag.bm25 import BM25
    from rag.index_view import Chunk

    papers = {
        "passing": "We fit a gradient boosting model to tabular features of students.",
        "trees": "Gradient boosting of decision trees for learning to rank.",
        "apart": "A new gradient penalty can boost accuracy of the model at every stage.",
        "f1": "Image classification with convolutional networks.",
        "f2": "Language models for translation of text.",
        "f3": "Reinforcement learning for robot control.",
    }
    bm = BM25([Chunk(p, p, p.title(), t, t, None, 0) for p, t in papers.items()])
    assert bm.phrases == {"gradient boost"}
    q = "gradient boosting stage"
    plain, phrased = bm.scores(q), bm.scores(q, phrases=True)
    assert max(plain, key=plain.__getitem__) == "apart"
    assert max(phrased, key=phrased.__getitem__) == "trees"
    assert phrased["passing"] > plain["passing"] and phrased["apart"] == plain["apart"]
    assert phrased["apart"] == plain["apart"]


def test_phrase_match_adds_nothing_without_a_phrase_and_is_off_by_default(fake_settings):
    from rag.index_view import get_index

    assert not fake_settings.phrase_match  # dev gain within noise (README, Phrases)
    idx = get_index(fake_settings.with_overrides(phrase_match=True))
    assert idx.bm25_scores("MLTI", phrases=True) == idx.bm25_scores("MLTI")
    q = "meta-learning with few tasks"
    assert idx.bm25_scores(q, phrases=True) != idx.bm25_scores(q)


def _two_papers(tmp_path):
    """A paper broadly on the query's words (its chunk is closest) and one that states the
    query in a single sentence among unrelated ones (its sentence is closest)."""
    import json

    from rag.ingestion import ingest

    f = tmp_path / "c.jsonl"
    papers = [
        {"title": "Paper one", "abstract": "Alpha beta rho. Gamma delta sigma."},
        {"title": "Paper two", "abstract": "Alpha beta gamma delta epsilon. Zeta eta theta "
                                           "iota kappa. Lambda mu nu xi omicron pi."},
    ]
    f.write_text("\n".join(json.dumps(p) for p in papers) + "\n")
    ingest(f)


def test_a_paper_stating_the_question_in_one_sentence_ranks_first(empty_settings, tmp_path):
    """RAG_SENTENCE_WEIGHT: with sentence vectors the paper whose one sentence says what is
    asked outranks the one whose whole abstract is merely closer; ranked by chunks only
    (weight 0, the default) the order is the other way. Source.similarity stays the chunk
    cosine."""
    _two_papers(tmp_path)
    q = "alpha beta gamma delta"
    by_chunks = rag.retrieve(q, k=2, mode="dense",
                             settings=empty_settings.with_overrides(sentence_weight=0.0))
    by_sentence = rag.retrieve(q, k=2, mode="dense",
                               settings=empty_settings.with_overrides(sentence_weight=0.4))
    assert [s.title for s in by_chunks] == ["Paper one", "Paper two"]
    assert [s.title for s in by_sentence] == ["Paper two", "Paper one"]
    assert {s.title: s.similarity for s in by_chunks} == \
        {s.title: s.similarity for s in by_sentence}


def test_an_index_without_sentence_vectors_still_ranks_by_chunks(empty_settings, tmp_path):
    """An index built before the sentence vectors answers as before (chunks only) until
    `rag ingest` adds them."""
    from rag import sentences, store
    from rag.index_view import clear_cache

    _two_papers(tmp_path)
    store.client(empty_settings).delete_collection(sentences.collection_name(empty_settings))
    clear_cache()
    srcs = rag.retrieve("alpha beta gamma delta", k=2, mode="dense",
                        settings=empty_settings.with_overrides(sentence_weight=0.4))
    assert [s.title for s in srcs] == ["Paper one", "Paper two"]


def test_past_the_memory_cap_the_sentence_collection_is_queried(empty_settings, tmp_path,
                                                                 monkeypatch):
    """A collection too big to hold in memory is searched through its HNSW index instead,
    with the same ranking on this small case."""
    from rag import sentences
    from rag.index_view import clear_cache

    _two_papers(tmp_path)
    monkeypatch.setattr(sentences, "MEMORY_CAP", 0)
    clear_cache()
    srcs = rag.retrieve("alpha beta gamma delta", k=2, mode="dense",
                        settings=empty_settings.with_overrides(sentence_weight=0.4))
    assert [s.title for s in srcs] == ["Paper two", "Paper one"]
    from rag.index_view import get_index

    held = get_index(empty_settings).sentence_vectors(empty_settings)
    assert held is not None and not held.in_memory and not len(held.owners)
