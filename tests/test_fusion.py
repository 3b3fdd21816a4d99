"""Fusion rules (rag/fusion.py) and the rare-name rule (rag/names.py) in retrieval."""

from __future__ import annotations

import pytest

import rag
from rag.fusion import convex, fuse, rrf
from rag.names import named_terms, title_name

STEP = "STEP: Learning N:M Structured Sparsity Masks from Scratch with Precondition"


def test_rrf_with_k60_is_the_old_ranking_and_small_k_keeps_a_confident_first_hit():
    dense = [(p, 0.0) for p in "bcdefghijk"]
    sparse = [("a", 9.0)] + [(p, 0.0) for p in "cbdefghijk"]
    k60 = rrf([dense, sparse], 60)
    assert max(k60, key=k60.get) in {"b", "c"}  # ranked well by both beats a first place
    assert k60["a"] < k60["d"]
    k1 = rrf([dense, sparse], 1)
    assert k1["a"] > k1["d"]  # with a small cushion, first place in one list counts


def test_convex_divides_each_list_by_its_best_score():
    scores = convex([("a", 0.8), ("b", 0.4)], [("b", 20.0), ("c", 10.0)], dense_weight=0.5)
    assert scores == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.25})
    assert convex([], [("c", 3.0)], 0.5) == {"c": 1.0}


def test_named_papers_come_first_even_when_neither_list_has_them():
    dense, sparse = [("a", 0.9), ("b", 0.8)], [("b", 5.0), ("a", 1.0)]
    order = [p for p, _ in fuse(dense, sparse, method="rrf", rrf_k=60, dense_weight=0.5,
                                first=["a", "z"])]
    assert order == ["a", "z", "b"]
    with pytest.raises(ValueError):
        fuse(dense, sparse, method="magic", rrf_k=60, dense_weight=0.5)


@pytest.mark.parametrize("title,name", [
    (STEP, "STEP"), ("Chameleon: Plug-and-Play Compositional Reasoning", "Chameleon"),
    ("A-STAR: Test-time Attention Segregation", "A-STAR"),
    ("Deep learning for brain tumor segmentation: a survey of methods", None),
    ("What Regularized Auto-Encoders Learn from the Data Generating Distribution", None),
    ("on the difficulty: lowercase words are not a name", None),
])
def test_title_name(title, name):
    assert title_name(title) == name


def test_named_terms():
    assert named_terms("How many datasets was MLTI evaluated on?") == {"MLTI"}
    assert named_terms("What is meta-learning, and Which paper?") == set()


def test_a_name_found_in_one_paper_puts_that_paper_first(fake_settings):
    """"STEP" is a common English word to both retrievers; the title's name is decisive."""
    top = rag.retrieve("What does STEP achieve?", k=5)
    assert top[0].title == STEP
    plain = rag.retrieve("What does STEP achieve?", k=5,
                         settings=fake_settings.with_overrides(name_first=False))
    assert [s.title for s in plain] != [s.title for s in top]


def test_a_name_in_several_papers_is_not_pinned(fake_settings):
    from rag.retrieval import candidates, papers_with

    assert len(papers_with("MAML", fake_settings)) >= 2
    assert candidates("What accuracy does MAML reach?", fake_settings).named == []
