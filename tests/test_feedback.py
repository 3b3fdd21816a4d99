"""Feedback storage (append-only JSONL, crash-safe) and its export as draft eval records."""

from __future__ import annotations

import json
import threading

import pytest

import rag
from rag.errors import BadInput
from rag.feedback import FeedbackStore, export_drafts, item_from_answer, settings_fingerprint

QUESTION = "Which paper interpolates tasks for meta-learning?"


def test_ratings_and_comments_are_appended_and_merged(fake_settings, tmp_path):
    store = FeedbackStore(tmp_path / "fb" / "feedback.jsonl")
    answer = rag.ask(QUESTION, settings=fake_settings)
    rec = store.record(item_from_answer(answer), "down", fake_settings)
    store.add_comment(rec["id"], "  should cite   MLTI ")
    store.record(item_from_answer(answer), "👍", fake_settings, client="api")
    items = store.items()
    assert [i["rating"] for i in items] == ["down", "up"]
    down = items[0]
    assert down["comment"] == "should cite MLTI" and down["question"] == QUESTION
    assert down["cited"][0]["title"] == answer.citations[0].title
    assert down["model"] == answer.model and down["settings"] == settings_fingerprint(
        fake_settings)
    lines = (tmp_path / "fb" / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == 3  # append-only: the comment is its own line


def test_a_torn_last_line_loses_only_itself(tmp_path, fake_settings):
    path = tmp_path / "feedback.jsonl"
    store = FeedbackStore(path)
    store.record({"question": "q1", "answer": "a"}, "down", fake_settings)
    with open(path, "a") as f:
        f.write('{"id": "fb-torn", "rating": "do')  # a crash mid-write
    assert [i["question"] for i in store.items()] == ["q1"]
    store.record({"question": "q2", "answer": "a"}, "up", fake_settings)
    # The torn line has no newline; the next record starts on a line of its own.
    assert [i["question"] for i in store.items()] == ["q1", "q2"]


def test_concurrent_writers_never_interleave(tmp_path, fake_settings):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    long = "x" * 1500

    def write(i):
        store.record({"question": f"q{i}", "answer": long}, "down", fake_settings)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i["question"] for i in store.items()) == sorted(f"q{i}" for i in range(20))


def test_bad_ratings_and_comments_are_refused(tmp_path, fake_settings):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    with pytest.raises(BadInput, match="rating"):
        store.record({"question": "q"}, "meh", fake_settings)
    with pytest.raises(BadInput, match="comment"):
        store.record({"question": "q"}, "up", fake_settings, comment=5)


def test_fingerprint_follows_answer_shaping_settings_only(fake_settings):
    fp = settings_fingerprint(fake_settings)
    assert settings_fingerprint(fake_settings.with_overrides(ui_port=9999)) == fp
    assert settings_fingerprint(fake_settings.with_overrides(top_k=7)) != fp


def test_export_makes_dev_drafts_from_thumbs_down_only():
    items = [
        {"id": "fb-1", "rating": "down", "question": "What does X do?", "answer": "Y [1]",
         "cited": [{"title": "Paper A"}], "comment": "wrong paper", "model": "m",
         "settings": "abc", "time": "t"},
        {"id": "fb-2", "rating": "up", "question": "Fine question?"},
        {"id": "fb-3", "rating": "down", "question": "what does  X do?"},  # same question
        {"id": "fb-4", "rating": "down", "question": "Already in the eval set?"},
    ]
    drafts = export_drafts(items, known_questions=["Already in the eval set?"])
    assert len(drafts) == 1
    d = drafts[0]
    assert d["split"] == "dev" and d["draft"] is True
    assert d["question"] == "What does X do?" and d["gold_titles"] == [] and d["key_facts"] == []
    assert "Paper A" in d["notes"] and "wrong paper" in d["notes"]
    assert set(d) >= {"id", "kind", "question", "answerable", "gold_titles", "key_facts",
                      "split"}


def test_cli_exports_drafts(fake_settings, tmp_path, monkeypatch, capsys):
    from rag.cli import main

    path = tmp_path / "feedback.jsonl"
    monkeypatch.setenv("RAG_FEEDBACK_PATH", str(path))
    FeedbackStore(path).record({"question": "Is this a new question?", "answer": "no"}, "down",
                               fake_settings)
    out = tmp_path / "drafts.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["question"] for r in rows] == ["Is this a new question?"]
    assert "1 draft eval records" in capsys.readouterr().err
