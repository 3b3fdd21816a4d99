"""Past chats in the browser store (ui/chats.py), feedback from the chat, Markdown export."""

from __future__ import annotations

import json

import rag
from rag.feedback import FeedbackStore
from rag.render import answer_from_dict, answer_markdown, answer_to_dict
from ui import chats, handlers
from ui import format as fmt

QUESTION = "Which paper interpolates tasks for meta-learning?"


def _turn(settings):
    answer = rag.ask(QUESTION, settings=settings)
    chat = [{"role": "user", "content": QUESTION},
            {"role": "assistant", "content": fmt.answer_markdown(answer)}]
    conv = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": answer.text}]
    return answer, chat, conv


def test_an_answer_survives_json(fake_settings):
    answer = rag.ask(QUESTION, settings=fake_settings)
    back = answer_from_dict(json.loads(json.dumps(answer_to_dict(answer))))
    assert back.text == answer.text and back.citations == answer.citations
    assert fmt.sources_markdown(back) == fmt.sources_markdown(answer)  # same panel after reload


def test_save_restore_list_and_delete(fake_settings):
    answer, chat, conv = _turn(fake_settings)
    store, cid, answers = chats.save(chats.empty(), None, chat, conv, {}, answer)
    assert store["current"] == cid and list(answers) == ["1"]
    store = json.loads(json.dumps(store))  # what localStorage gives back
    restored = handlers.restore(store, True)
    r_chat, r_conv, panel, last, r_id = restored[:5]
    assert r_chat == chat and r_conv == conv and r_id == cid
    assert f"[1] {fmt.md_escape(answer.citations[0].title)}" in panel
    assert last.text == answer.text
    assert QUESTION in restored[-1]  # the Markdown export of the restored answer
    assert [label for label, _ in chats.choices(store)][0].startswith(QUESTION[:40])
    store2, *_ = chats.save(store, None, chat, conv, {}, answer)  # a second chat
    assert len(store2["chats"]) == 2
    store3 = chats.delete(store2, cid)
    assert [c["id"] for c in store3["chats"]] != [cid] and len(store3["chats"]) == 1


def test_a_foreign_or_old_store_is_ignored():
    assert chats.valid({"something": "else"}) == chats.empty()
    assert handlers.restore(None, True)[0] == []


def test_the_browser_secret_outlives_the_process(tmp_path):
    assert chats.secret(tmp_path) == chats.secret(tmp_path)


class _Like:
    def __init__(self, index, liked):
        self.index, self.liked = index, liked


def test_thumbs_down_from_the_chat_is_stored_with_its_comment(fake_settings, tmp_path):
    settings = fake_settings.with_overrides(feedback_path=tmp_path / "fb.jsonl")
    answer, chat, conv = _turn(settings)
    _, _, answers = chats.save(chats.empty(), None, chat, conv, {}, answer)
    note, fb_id = handlers.record_feedback(_Like(1, False), answers, settings)
    assert fb_id and "Recorded" in note["value"]
    handlers.add_comment("cite the MLTI paper", fb_id, settings)
    (item,) = FeedbackStore(settings.feedback_file).items()
    assert item["rating"] == "down" and item["comment"] == "cite the MLTI paper"
    assert item["question"] == QUESTION and item["client"] == "ui"
    _, none = handlers.record_feedback(_Like(0, True), answers, settings)  # the user's message
    assert none is None


def test_markdown_export_has_references_with_listing_dates(fake_settings, capsys):
    from rag.cli import main

    answer = rag.ask(QUESTION, settings=fake_settings)
    md = answer_markdown(answer)
    assert md.startswith(f"**Q:** {QUESTION}") and "**References**" in md
    assert f"[1] {answer.citations[0].title}" in md
    src = next(s for s in answer.sources if s.number == answer.citations[0].source_number)
    if src.listing_date:
        assert f"(listed {src.listing_date})" in md
    assert main(["ask", "--markdown", QUESTION]) == 0
    assert capsys.readouterr().out == md


def test_header_says_what_is_loading():
    text = fmt.header_loading("fake model", "opening the index at /x…")
    assert "loading — opening the index" in text and "not available" not in text
