"""Mechanical checks of the evaluation data set (eval/data/*.jsonl) against the bundled corpus.

Fast and offline: only parses the corpus and the two JSONL files. Gold labels are checked for
form (kinds, counts, ids, fields) and for grounding (gold titles exist, key facts and calibration
passages are verbatim in the right abstracts); whether a question is *good* is not testable here.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The package is normally installed; this keeps a bare checkout working.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.corpus import load_corpus, paper_id  # noqa: E402

DATA = ROOT / "eval" / "data"
QUESTIONS = DATA / "questions.jsonl"
CALIBRATION = DATA / "judge_calibration.jsonl"
CORPUS = ROOT / "data" / "corpus"

MIN_PER_KIND = {
    "fact": 60,
    "paraphrase": 65,
    "title": 35,
    "named": 25,
    "comparison": 45,
    "listing": 35,
    "out_of_scope": 40,
    "false_premise": 40,
    "injection": 25,
}
ANSWERABLE_KINDS = {"fact", "paraphrase", "title", "named", "comparison", "listing"}
SINGLE_PAPER_KINDS = {"fact", "paraphrase", "title", "named"}
MIN_TOTAL = 400
MIN_CALIBRATION = 200
MIN_PER_LABEL = 100
# The test split's size is fixed by its freeze (184 items on 2026-12-01, 46 % of the set then);
# dev grows after it (2026-12-07: 104 independently written dev items), so the floor is a count.
MIN_TEST_ITEMS = 180
MIN_TEST_PER_KIND = 15
FROZEN = DATA / "frozen_test_split.json"


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"{path.name}:{lineno}: blank line"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:  # pragma: no cover - failure path
            pytest.fail(f"{path.name}:{lineno}: invalid JSON ({e.msg})")
        assert isinstance(rec, dict), f"{path.name}:{lineno}: not a JSON object"
        rows.append(rec)
    return rows


@pytest.fixture(scope="module")
def papers():
    return {p.paper_id: p for p in load_corpus(CORPUS)}


@pytest.fixture(scope="module")
def questions():
    return _read_jsonl(QUESTIONS)


@pytest.fixture(scope="module")
def calibration():
    return _read_jsonl(CALIBRATION)


def _gold_papers(item, papers):
    return [papers[paper_id(t)] for t in item["gold_titles"]]


# ------------------------------------------------------------------------------ questions.jsonl


def test_question_fields_and_types(questions):
    for q in questions:
        where = q.get("id", q)
        for field, typ in [("id", str), ("kind", str), ("question", str), ("answerable", bool),
                           ("gold_titles", list), ("key_facts", list)]:
            assert isinstance(q.get(field), typ), \
                f"{where}: field {field!r} missing or not {typ.__name__}"
        assert q["question"].strip(), f"{where}: empty question"
        assert all(isinstance(t, str) and t.strip() for t in q["gold_titles"]), where
        assert all(isinstance(k, str) and k.strip() for k in q["key_facts"]), where
        if "notes" in q:
            assert isinstance(q["notes"], str), where
        if "forbidden" in q:
            assert isinstance(q["forbidden"], list), where
        assert q.get("split") in {"dev", "test"}, f"{where}: split must be dev or test"


def test_question_ids_unique_and_well_formed(questions):
    ids = [q["id"] for q in questions]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    for q in questions:
        assert re.fullmatch(rf"{re.escape(q['kind'])}-\d{{3}}", q["id"]), \
            f"bad id {q['id']!r} for kind {q['kind']!r}"


def test_questions_not_duplicated(questions):
    texts = Counter(" ".join(q["question"].casefold().split()) for q in questions)
    assert not [t for t, n in texts.items() if n > 1]


def test_kinds_and_counts(questions):
    kinds = Counter(q["kind"] for q in questions)
    unknown = set(kinds) - set(MIN_PER_KIND)
    assert not unknown, f"unknown kinds: {unknown}"
    for kind, minimum in MIN_PER_KIND.items():
        assert kinds[kind] >= minimum, f"{kind}: {kinds[kind]} < {minimum}"
    assert len(questions) >= MIN_TOTAL


def test_answerable_flag_matches_kind(questions):
    for q in questions:
        assert q["answerable"] is (q["kind"] in ANSWERABLE_KINDS), \
            f"{q['id']}: answerable={q['answerable']}"


def test_gold_titles_exist_in_corpus(questions, papers):
    for q in questions:
        for title in q["gold_titles"]:
            pid = paper_id(title)
            assert pid in papers, f"{q['id']}: gold title not in corpus: {title!r}"
            assert papers[pid].title == title, \
                f"{q['id']}: title not spelled as in corpus: {title!r}"
        assert len(set(map(paper_id, q["gold_titles"]))) == len(q["gold_titles"]), \
            f"{q['id']}: repeated gold"


def test_key_facts_are_verbatim_in_gold_abstracts(questions, papers):
    for q in questions:
        abstracts = [p.abstract for p in _gold_papers(q, papers)]
        for fact in q["key_facts"]:
            assert any(fact in a for a in abstracts), \
                f"{q['id']}: key fact not verbatim in a gold abstract: {fact!r}"


def test_answerable_items_have_gold_and_key_facts(questions):
    for q in questions:
        if not q["answerable"]:
            continue
        n_gold, n_facts = len(q["gold_titles"]), len(q["key_facts"])
        assert n_gold >= 1, f"{q['id']}: no gold titles"
        # A listing item may carry one short phrase per gold paper; everything else 1-3 facts.
        max_facts = max(3, n_gold) if q["kind"] == "listing" else 3
        assert 1 <= n_facts <= max_facts, f"{q['id']}: {n_facts} key facts"


def test_gold_counts_per_kind(questions):
    for q in questions:
        n = len(q["gold_titles"])
        if q["kind"] in SINGLE_PAPER_KINDS:
            assert n == 1, f"{q['id']}: single-paper kind with {n} gold titles"
        elif q["kind"] == "comparison":
            assert 2 <= n <= 3, f"{q['id']}: comparison with {n} gold titles"
        elif q["kind"] == "listing":
            assert 2 <= n <= 6, f"{q['id']}: listing with {n} gold titles"


def test_multi_paper_items_cover_every_gold_paper(questions, papers):
    """Comparison and listing key facts come from each of the gold papers, not just one."""
    for q in questions:
        if q["kind"] not in {"comparison", "listing"}:
            continue
        for p in _gold_papers(q, papers):
            assert any(f in p.abstract for f in q["key_facts"]), \
                f"{q['id']}: no key fact from {p.title!r}"


def test_unanswerable_items(questions):
    for q in questions:
        if q["answerable"]:
            continue
        assert q["key_facts"] == [], f"{q['id']}: unanswerable item with key facts"
        if q["kind"] in {"out_of_scope", "injection"}:
            assert q["gold_titles"] == [], f"{q['id']}: {q['kind']} item with gold titles"
        if q["kind"] == "false_premise":
            assert len(q["gold_titles"]) >= 1, \
                f"{q['id']}: false premise needs the paper it is about"
            assert q.get("notes", "").strip(), f"{q['id']}: false premise should say what is false"


def test_injection_items_have_forbidden_strings(questions):
    for q in questions:
        if q["kind"] == "injection":
            forbidden = q.get("forbidden")
            assert isinstance(forbidden, list) and forbidden, f"{q['id']}: missing forbidden list"
            assert all(isinstance(s, str) and s.strip() for s in forbidden), q["id"]


def test_named_items_name_a_term_of_exactly_one_paper(questions, papers):
    """A `named` question's coined name or acronym occurs in exactly one paper (its gold)."""
    from rag.names import mentions

    texts = {pid: f"{p.title} {p.abstract}" for pid, p in papers.items()}
    for q in questions:
        if q["kind"] != "named":
            continue
        m = re.search(r"'([^']+)' occurs in exactly 1 paper", q.get("notes", ""))
        assert m, f"{q['id']}: notes must record \"'NAME' occurs in exactly 1 paper\""
        name = m.group(1)
        assert mentions(q["question"], name), f"{q['id']}: question does not name {name!r}"
        hits = [pid for pid, t in texts.items() if mentions(t, name)]
        assert hits == [paper_id(q["gold_titles"][0])], f"{q['id']}: {name!r} in {len(hits)} papers"


# Written before the 2026-12-01 split, when paraphrases were not yet checked for shared rare words.
PRE_SPLIT_PARAPHRASES = {"paraphrase-003", "paraphrase-011", "paraphrase-014", "paraphrase-016",
                         "paraphrase-017", "paraphrase-026", "paraphrase-028", "paraphrase-030",
                         "paraphrase-031"}


def test_paraphrases_share_no_rare_word_with_their_paper(questions, papers):
    """A paraphrase avoids its paper's distinctive words: no word of 6+ letters that occurs in at
    most 3 papers is in both the question and the gold title + abstract. Otherwise BM25 finds
    the paper by that word and the item measures lexical retrieval, not paraphrase."""
    words = {pid: set(re.findall(r"[a-z0-9]+", f"{p.title} {p.abstract}".lower()))
             for pid, p in papers.items()}
    df = Counter(w for ws in words.values() for w in ws)
    for q in questions:
        if q["kind"] != "paraphrase" or q["id"] in PRE_SPLIT_PARAPHRASES:
            continue
        gold = words[paper_id(q["gold_titles"][0])]
        shared = {w for w in set(re.findall(r"[a-z0-9]+", q["question"].lower())) & gold
                  if len(w) >= 6 and df[w] <= 3}
        assert not shared, f"{q['id']}: shares rare words with its paper: {sorted(shared)}"


# ------------------------------------------------------------------------------ the split


def test_test_split_size_and_kinds(questions):
    test = [q for q in questions if q["split"] == "test"]
    assert len(test) >= MIN_TEST_ITEMS, f"test split {len(test)} < {MIN_TEST_ITEMS}"
    per_kind = Counter(q["kind"] for q in test)
    for kind in MIN_PER_KIND:
        assert per_kind[kind] >= MIN_TEST_PER_KIND, f"test split has {per_kind[kind]} {kind}"


def test_splits_are_disjoint(questions):
    """No question (by id or by wording) is in both splits."""
    seen: dict[str, str] = {}
    for q in questions:
        for key in (q["id"], " ".join(q["question"].casefold().split())):
            assert seen.setdefault(key, q["split"]) == q["split"], f"{key!r} in both splits"


def test_test_split_is_frozen(questions, calibration):
    """The test items are exactly those frozen on 2026-12-01: editing, adding or removing one
    changes the hash. Tuning happens on dev; a new test split is a new, dated freeze."""
    from eval.splits import fingerprint

    frozen = json.loads(FROZEN.read_text())
    assert fingerprint(questions) == frozen["questions.jsonl"]
    assert fingerprint(calibration) == frozen["judge_calibration.jsonl"]


def test_calibration_split(calibration):
    for half in ("dev", "test"):
        rows = [c for c in calibration if c.get("split") == half]
        labels = Counter(c["supported"] for c in rows)
        assert labels[True] >= 50 and labels[False] >= 50, (half, labels)
    assert all(c.get("split") in {"dev", "test"} for c in calibration)


# ------------------------------------------------------------------------- judge_calibration.jsonl


def test_calibration_fields_and_ids(calibration):
    ids = [c.get("id") for c in calibration]
    assert len(ids) == len(set(ids)), "duplicate calibration ids"
    for c in calibration:
        assert isinstance(c.get("id"), str) and re.fullmatch(r"cal-\d{3}", c["id"]), c
        for field in ("claim", "passage", "title", "why"):
            assert isinstance(c.get(field), str) and c[field].strip(), f"{c['id']}: bad {field!r}"
        assert isinstance(c.get("supported"), bool), f"{c['id']}: supported must be a bool"


def test_calibration_size_and_balance(calibration):
    assert len(calibration) >= MIN_CALIBRATION
    labels = Counter(c["supported"] for c in calibration)
    assert labels[True] >= MIN_PER_LABEL and labels[False] >= MIN_PER_LABEL, labels


def test_calibration_passages_verbatim(calibration, papers):
    for c in calibration:
        pid = paper_id(c["title"])
        assert pid in papers, f"{c['id']}: title not in corpus: {c['title']!r}"
        assert c["passage"] in papers[pid].abstract, \
            f"{c['id']}: passage not verbatim in the abstract"
        assert c["claim"] != c["passage"], f"{c['id']}: claim copies the passage"
