"""The web UI's handlers (ui/handlers.py), formatters and server, with the fake LLM and the
fake-embedded index.

What a user sees is asserted on the values the handlers yield (chat messages, sources panel);
the named API endpoint is exercised through gradio_client against a real local server.
"""

from __future__ import annotations

import socket

import pytest

import rag
from rag.errors import LLMUnavailable
from rag.types import Answer, Citation, Paper, Source
from ui import app as ui
from ui import format as fmt
from ui import handlers

QUESTION = "Which paper interpolates tasks for meta-learning?"


def run(message, chat=None, conv=None, **kw):
    """All yields of one chat turn; each is (textbox, chat, panel, conv, answer)."""
    return list(handlers.respond(message, chat or [], conv or [], **kw))


def _source(n, title, passages=("A passage.",), cited=True, score=0.03, sim=0.6):
    return Source(number=n, paper_id=f"id-{n}", title=title, score=score, similarity=sim,
                  passages=list(passages), abstract=" ".join(passages), shown_to_llm=cited)


# --- the chat handler over the real pipeline (fake LLM)

class StepClock:
    """A clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_streamed_answer_ends_with_final_text_and_cited_sources(fake_settings):
    steps = run(QUESTION, settings=fake_settings, clock=StepClock(1.0))
    first_chat = steps[0][1]
    assert first_chat[0] == {"role": "user", "content": QUESTION}
    assert first_chat[-1]["content"].startswith(fmt.WORKING)  # never blank

    answer = steps[-1][4]
    assert isinstance(answer, Answer) and not answer.refused and answer.citations
    partials = [s[1][-1]["content"] for s in steps[1:-1]
                if not s[1][-1]["content"].startswith(fmt.WORKING)]
    assert len(partials) > 1, "the answer should arrive in several pieces"
    assert all(len(a) <= len(b) for a, b in zip(partials, partials[1:]))

    final_chat, panel = steps[-1][1][-1]["content"], steps[-1][2]
    assert final_chat == fmt.answer_markdown(answer)
    assert "[1]" in final_chat
    cited = answer.citations[0]
    assert f"**[1] {fmt.md_escape(cited.title)}**" in panel
    assert "> " + fmt.md_escape(" ".join(cited.snippet.split())) in panel
    assert "score " in panel
    assert steps[-1][0]["interactive"] is True  # the textbox is usable again
    assert steps[-1][3][-1] == {"role": "assistant", "content": answer.text}


def _partials(steps):
    return [s[1][-1]["content"] for s in steps[1:-1]
            if not s[1][-1]["content"].startswith(fmt.WORKING)]


def test_streamed_text_is_sent_in_batches_not_per_token(fake_settings):
    every_token = _partials(run(QUESTION, settings=fake_settings, clock=StepClock(1.0)))
    # tokens 30 ms apart: about one update per STREAM_EVERY_S (every 9th token), the first at once
    batched = _partials(run(QUESTION, settings=fake_settings, clock=StepClock(0.03)))
    assert len(every_token) >= 8, "the fake answer should stream in many tokens"
    assert batched[0] == every_token[0]
    assert len(batched) <= len(every_token) // 3 + 1
    assert all(b in every_token for b in batched)  # same text, fewer updates
    # and nothing is lost: the final message is the whole answer either way
    final = run(QUESTION, settings=fake_settings, clock=StepClock(0.03))[-1]
    assert final[1][-1]["content"] == fmt.answer_markdown(final[4])


def test_text_held_for_a_batch_goes_out_when_a_check_starts(fake_settings, llm):
    # The asked check (rag/asked.py) runs after the text, for seconds: its status must not keep
    # the last batch of the answer back.
    llm.enqueue("MLTI generates additional tasks by interpolating the features and labels of a "
                "pair of tasks [1].", "yes")
    steps = run("How does MLTI augment the meta-learning task set?",
                settings=fake_settings.with_overrides(check_asked=True), clock=StepClock(0.03))
    checking = [s for s in steps if "Checking that the paper" in s[2]]
    assert checking, "the asked check shows its status in the panel"
    shown = checking[0][1][-1]["content"]
    assert "pair of tasks" in shown and not shown.startswith(fmt.WORKING)


def test_a_turn_shows_its_own_progress_not_gradios_overlay(fake_settings):
    # Gradio's overlay (a running timer over every output) would repeat the turn's own status
    # and make the browser redraw while the model generates on the same cores.
    app = ui.build_app(fake_settings)
    chat_id = next(c["id"] for c in app.config["components"]
                   if c.get("props", {}).get("elem_id") == "chat")
    turns = [d for d in app.config["dependencies"] if chat_id in d["outputs"] and d["queue"]
             is not False and len(d["outputs"]) == 5]
    assert len(turns) >= 2  # Enter, the Ask button (and the examples)
    assert {d["show_progress"] for d in turns} == {"hidden"}


def test_unsupported_sentence_is_marked_in_the_chat(fake_settings, llm):
    base = rag.ask(QUESTION, settings=fake_settings).text
    invented = "It reached 97.3% accuracy on 412 benchmarks [1]."
    llm.enqueue(f"{base} {invented}")
    answer = run(QUESTION, settings=fake_settings)[-1][4]
    shown = fmt.answer_markdown(answer)
    assert answer.unsupported and "97.3" in answer.flagged_numbers
    assert "⚠ <mark" in shown and "97.3% accuracy on 412 benchmarks" in shown.split("<mark")[1]
    assert shown.count("<mark") == 1  # the supported first sentence stays unmarked
    assert "`97.3`" in shown  # flagged numbers are listed


def test_refusal_is_shown_as_such_with_what_was_searched(fake_settings, llm):
    llm.enqueue("The papers in this collection don't say.")
    *_, (_, chat, panel, _, answer) = run(QUESTION, settings=fake_settings)
    assert answer.refused
    assert "Not in these papers" in chat[-1]["content"]
    assert "Not in these papers" in panel and "Papers searched" in panel
    assert fmt.md_escape(answer.sources[0].title) in panel
    assert "[1]" not in panel  # nothing is cited, so no number may suggest otherwise


def test_settings_top_k_and_mode_reach_retrieval(fake_settings, monkeypatch):
    from rag import turns

    calls, real = [], turns.retrieve

    def spy(query, k, **kw):
        calls.append((k, kw.get("mode")))
        return real(query, k, **kw)

    monkeypatch.setattr(turns, "retrieve", spy)
    answer = run(QUESTION, top_k=2.0, mode="bm25", settings=fake_settings)[-1][4]
    assert calls == [(2, "bm25")]  # the slider's float as an int, the dropdown's mode as is
    assert answer is not None and len(answer.sources) <= 2


def test_follow_up_sends_the_conversation(fake_settings, llm):
    first = run(QUESTION, settings=fake_settings)[-1]
    steps = run("How many does it need?", first[1], first[3], settings=fake_settings)
    prompt = llm.history[-1][-1]["content"]
    assert f"Earlier question: {QUESTION}" in prompt
    assert len(steps[-1][1]) == 4 and len(steps[-1][3]) == 4
    assert "Searched for:" in steps[-1][2]


@pytest.mark.parametrize("question, words", [
    ("   ", "empty"),
    ("x" * 5000, "limit"),
])
def test_bad_question_becomes_a_chat_message(fake_settings, question, words):
    *_, (box, chat, panel, conv, answer) = run(question, settings=fake_settings)
    assert "Could not answer" in chat[-1]["content"] and words in chat[-1]["content"]
    assert answer is None and conv == [] and box["interactive"] is True


def test_llm_down_becomes_a_chat_message(fake_settings, monkeypatch):
    def down(*a, **kw):
        raise LLMUnavailable("Cannot reach the model endpoint http://127.0.0.1:9/v1.")
        yield  # pragma: no cover

    monkeypatch.setattr(rag, "ask_stream", down)
    chat = run(QUESTION, settings=fake_settings)[-1][1]
    assert "Cannot reach the model endpoint" in chat[-1]["content"]


def test_unexpected_bug_shows_no_traceback(fake_settings, monkeypatch):
    def broken(*a, **kw):
        raise KeyError("internal")
        yield  # pragma: no cover

    monkeypatch.setattr(rag, "ask_stream", broken)
    msg = run(QUESTION, settings=fake_settings)[-1][1][-1]["content"]
    assert "went wrong" in msg and "Traceback" not in msg and "KeyError" not in msg


def test_missing_index_is_reported_in_chat_and_header(empty_settings):
    msg = run(QUESTION, settings=empty_settings)[-1][1][-1]["content"]
    assert "rag ingest" in msg
    assert "not available" in handlers.header(empty_settings)


def test_new_chat_resets_chat_and_panel(fake_settings):
    done = run(QUESTION, settings=fake_settings)[-1]
    assert done[1] and done[4] is not None
    box, chat, panel, conv, last = handlers.new_chat()
    assert chat == [] and conv == [] and last is None and panel == fmt.EMPTY_PANEL


def test_header_shows_model_and_index_size(fake_settings):
    line = handlers.header(fake_settings)
    assert "fake model" in line and "papers" in line and "chunks" in line


# --- pure formatters

def _answer(**kw) -> Answer:
    sources = [_source(1, "Cited Paper", ["Cited passage one."]),
               _source(2, "Other [Bracketed] Paper", cited=False, sim=0.1)]
    base = dict(question="q", text="Claim one [1]. Claim two.", sources=sources,
                citations=[Citation(1, "id-1", "Cited Paper", "Cited passage one.", 1)])
    base.update(kw)
    return Answer(**base)


def test_mark_unsupported_marks_only_the_listed_sentence():
    marked, missing = fmt.mark_unsupported("Claim one [1]. Claim two.", ["Claim two."])
    assert marked.startswith("Claim one [1].")
    assert '⚠ <mark title="not supported by the cited papers">Claim two.</mark>' in marked
    assert missing == []
    # A sentence the checks reported but that is not in the text is listed, not lost.
    shown = fmt.answer_markdown(_answer(unsupported=["Claim three."]))
    assert "Not supported:* Claim three." in shown


def test_a_sentence_restating_the_question_is_muted_not_warned():
    q = "Is there a paper that trains one optimizer on thousands of tasks?"
    text = ("Yes, there is a paper that trains one optimizer on thousands of tasks [1]. "
            "VeLO meta-trains on 4000 TPU-months [1]. It cures cancer.")
    restated = "Yes, there is a paper that trains one optimizer on thousands of tasks."
    marked, _ = fmt.mark_unsupported(text, [restated, "It cures cancer."], q)
    assert '↺ <mark class="restated"' in marked and "⚠ <mark" in marked
    assert marked.index("↺") < marked.index("VeLO") < marked.index("⚠")
    shown = fmt.answer_markdown(_answer(question=q, text=text, unsupported=[restated]))
    assert "restate your question" in shown and "⚠" not in shown
    # Without the question every unsupported sentence keeps the warning.
    assert "↺" not in fmt.mark_unsupported(text, [restated])[0]


def test_mark_unsupported_keeps_the_answers_lines():
    marked, _ = fmt.mark_unsupported("Papers on X:\n- Alpha [1]\n- Beta [2]. Gamma.", ["Gamma."])
    lines = marked.split("\n")
    assert lines[:2] == ["Papers on X:", "- Alpha [1]"]
    assert lines[2].startswith("- Beta [2]. ⚠ <mark")


def test_panel_keeps_uncited_papers_apart_and_collapsed():
    panel = fmt.sources_markdown(_answer(), show_uncited=True)
    cited, uncited = panel.split("<details><summary>Retrieved but not cited")
    assert "**[1] Cited Paper**" in cited and "> Cited passage one." in cited
    assert "Other \\[Bracketed\\] Paper" in uncited and "[2]" not in panel
    assert "Retrieved but not cited" not in fmt.sources_markdown(_answer(), show_uncited=False)
    assert handlers.rerender_panel(False, _answer()).count("Retrieved but not cited") == 0
    assert fmt.sources_markdown(None) == fmt.EMPTY_PANEL


def test_answer_json_is_plain_data():
    data = fmt.answer_json(_answer())
    assert data["sources"] == [{"number": 1, "title": "Cited Paper", "paper_id": "id-1",
                                "snippet": "Cited passage one.", "listing_date": None,
                                "quotes": [], "score": 0.03, "similarity": 0.6}]
    assert data["refused"] is False and data["searched"][0]["title"].startswith("Other")


def test_plain_content_reads_gradio6_messages():
    conv = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": "There [1]."}]
    assert handlers._history_for_rag(conv) == [{"role": "user", "content": "Hi"},
                                         {"role": "assistant", "content": "There [1]."}]


def test_papers_filter_and_abstract():
    papers = [Paper("p1", "Task Interpolation", "We propose MLTI.", "Mar 11"),
              Paper("p2", "Diffusion", "Sampling fast.")]
    assert fmt.filter_papers(papers) == [["Task Interpolation", "Mar 11"], ["Diffusion", ""]]
    assert fmt.filter_papers(papers, "mlti") == [["Task Interpolation", "Mar 11"]]
    assert "We propose MLTI." in fmt.paper_markdown(papers[0])


def test_eval_tab_reads_latest_report(tmp_path):
    assert fmt.eval_report(tmp_path) == (fmt.NO_EVAL, [])
    run_dir = fmt.eval_dir(tmp_path)
    run_dir.mkdir(parents=True)
    (run_dir / "report.md").write_text("# Eval\n\nRecall@5: 0.9\n\n![latency](latency.png)\n")
    (run_dir / "latency.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text, pngs = fmt.eval_report(tmp_path)
    assert "Recall@5: 0.9" in text and "latency.png" not in text
    assert pngs == [run_dir / "latency.png"]


# --- serving

def test_handlers_are_still_importable_from_ui_app():
    # They lived in ui/app.py before ui/handlers.py; callers of ui.app.respond keep working.
    assert ui.respond is handlers.respond and ui.api_ask is handlers.api_ask
    assert ui.restore is handlers.restore and ui.header is handlers.header



def test_launch_binds_locally_never_shares_and_uses_auth(fake_settings, monkeypatch):
    seen = {}
    monkeypatch.setattr(ui.gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    ui.launch(fake_settings.with_overrides(ui_auth="alice:secret"), share=True)
    assert seen["share"] is False and seen["server_name"] == "127.0.0.1"
    assert seen["server_port"] == 7860 and seen["auth"] == ("alice", "secret")


def test_a_taken_port_is_a_clear_error_not_a_traceback(fake_settings):
    from rag.errors import PortInUse

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse, match=f"Port {port} .* RAG_UI_PORT"):
            ui.launch(fake_settings.with_overrides(ui_port=port), prevent_thread_lock=True,
                      quiet=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_named_api_endpoint_returns_text_and_structured_sources(fake_settings):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    settings = fake_settings.with_overrides(ui_port=_free_port())
    app = ui.launch(settings, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{settings.ui_port}/", verbose=False)
        result = client.predict(QUESTION, api_name="/ask")
        expected = rag.ask(QUESTION, settings=settings)
        assert result["text"] == expected.text and result["refused"] is False
        assert result["sources"] and result["sources"][0]["number"] == 1
        assert set(result["sources"][0]) >= {"number", "title", "paper_id", "snippet", "score"}
        assert result["sources"][0]["title"] == expected.citations[0].title
        assert "[1]" in result["text"]

        with pytest.raises(AppError, match="question is empty"):
            client.predict("  ", api_name="/ask")
    finally:
        app.close()


def test_eval_tab_falls_back_to_the_most_complete_recorded_report(tmp_path):
    import json

    for name, n in (("2026-01-01-full", 156), ("2026-01-02-slice", 24)):
        d = tmp_path / "eval" / "reports" / name
        d.mkdir(parents=True)
        (d / "report.md").write_text(f"# Eval {name}\n")
        (d / "summary.json").write_text(json.dumps({"overall": {"n": n}}))
    text, _ = fmt.eval_report(tmp_path)
    assert "2026-01-01-full" in text
    # A run on the held-out test split beats a bigger run of all items; a judged one beats both.
    for name, judge in (("2026-01-03-test", None), ("2026-01-04-test-judged", "qwen")):
        d = tmp_path / "eval" / "reports" / name
        d.mkdir(parents=True)
        (d / "report.md").write_text(f"# Eval {name}\n")
        (d / "summary.json").write_text(json.dumps({"overall": {"n": 100},
                                                    "meta": {"split": "test", "judge": judge}}))
        assert name in fmt.eval_report(tmp_path)[0]
    latest = tmp_path / "eval" / "runs" / "latest"
    latest.mkdir(parents=True)
    (latest / "report.md").write_text("# Eval mine\n")
    assert "mine" in fmt.eval_report(tmp_path)[0]  # a local run wins


def test_eval_tab_prefers_a_complete_judged_test_run_to_a_partial_one(tmp_path):
    import json

    runs = (("2026-01-03-test-judged-partial", 18, True), ("2026-01-01-test-judged", 10, False),
            ("2026-01-02-dev", 220, False))
    for name, n, partial in runs:
        d = tmp_path / "eval" / "reports" / name
        d.mkdir(parents=True)
        (d / "report.md").write_text(f"# Eval {name}\n")
        split = "dev" if "dev" in name else "test"
        (d / "summary.json").write_text(json.dumps({"overall": {"n": n}, "meta": {
            "split": split, "judge": "local", "partial": partial}}))
    text, _ = fmt.eval_report(tmp_path)
    assert "2026-01-01-test-judged" in text
