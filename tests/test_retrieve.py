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
