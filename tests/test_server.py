"""`rag serve` through the official `openai` client: the server runs in a thread on a free
127.0.0.1 port over the fake-embedded index with the fake LLM (deterministic, so the in-process
`rag.ask` answer says exactly what the server must return)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

import rag
from conftest import free_port
from rag.feedback import FeedbackStore
from rag.openai_api import same_words, stream_tail
from rag.render import text_with_references

QUESTION = "Which paper interpolates tasks for meta-learning?"
FOLLOW_UP = "How many tasks does it need?"
MODEL = "rag-papers"


def _start(settings):
    import uvicorn

    from rag.server import create_app

    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.serve_port,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return server, thread


@pytest.fixture
def api(fake_settings, tmp_path):
    settings = fake_settings.with_overrides(serve_port=free_port(),
                                            feedback_path=tmp_path / "feedback.jsonl")
    server, thread = _start(settings)
    try:
        yield f"http://127.0.0.1:{settings.serve_port}/v1", settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def client(api):
    return openai.OpenAI(base_url=api[0], api_key="unused", max_retries=0, timeout=60)


def test_models_lists_the_bot(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_plain_completion_carries_markers_references_and_the_structured_answer(client,
                                                                                fake_settings):
    expected = rag.ask(QUESTION, settings=fake_settings)
    r = client.chat.completions.create(model=MODEL,
                                       messages=[{"role": "user", "content": QUESTION}])
    content = r.choices[0].message.content
    assert content == text_with_references(expected)
    assert "[1]" in content and content.rstrip().endswith(f"[1] {expected.citations[0].title}")
    extra = r.model_extra["rag"]
    assert extra["refused"] is False and extra["completion_id"] == r.id
    assert extra["sources"][0]["title"] == expected.citations[0].title
    assert "listing_date" in extra["sources"][0]  # many listing pages carry no date
    assert extra["text"] == expected.text and r.choices[0].finish_reason == "stop"


def test_streaming_is_token_by_token_and_ends_with_the_structured_chunk(client, fake_settings):
    expected = rag.ask(QUESTION, settings=fake_settings)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(deltas) > 5, "the answer should arrive in many deltas, not one"
    # The checks may move a marker past the full stop ("tasks. [1]" -> "tasks [1]."): the
    # streamed draft stands then, and the final chunk's extra field has the checked text.
    assert same_words("".join(deltas), text_with_references(expected))
    assert "".join(deltas).endswith(f"\n\n[1] {expected.citations[0].title}")
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["rag"]["text"] == expected.text
    assert last.model_extra["rag"]["sources"][0]["title"] == expected.citations[0].title


def test_raw_stream_ends_with_done(api):
    url, _ = api
    with httpx.stream("POST", f"{url}/chat/completions", timeout=60, json={
            "model": MODEL, "stream": True,
            "messages": [{"role": "user", "content": QUESTION}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert any(line.startswith(": Searching") for line in lines)  # progress as SSE comments


def test_follow_up_uses_the_conversation_like_the_ui(client, fake_settings, llm):
    first = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "You are a pirate."},  # ignored: the bot's prompt rules
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": FOLLOW_UP},
    ])
    assert r.model_extra["rag"]["standalone_question"] == f"{QUESTION} {FOLLOW_UP}"
    prompt = llm.history[-1]
    assert f"Earlier question: {QUESTION}" in prompt[-1]["content"]
    assert "pirate" not in json.dumps(prompt)


def test_refusal_is_marked(client, llm):
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": "zzqx blorf wibble"}])
    extra = r.model_extra["rag"]
    assert extra["refused"] is True and extra["sources"] == [] and extra["searched"]
    assert "don't say" in r.choices[0].message.content and llm.history == []
    # The model saying so is a refusal too, streamed like any answer.
    llm.enqueue("The papers in this collection don't say.")
    chunks = list(client.chat.completions.create(model=MODEL, stream=True, messages=[
        {"role": "user", "content": "What GPU did the task interpolation paper use?"}]))
    assert chunks[-1].model_extra["rag"]["refused"] is True
    assert "don't say" in "".join(c.choices[0].delta.content or "" for c in chunks)


@pytest.mark.parametrize("body, status, param", [
    ({"model": MODEL, "messages": []}, 400, "messages"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, 400,
     "messages[0].role"),
    ({"model": MODEL, "messages": [{"role": "user", "content": 42}]}, 400,
     "messages[0].content"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "messages[0].content[0]"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
    ({"model": MODEL, "messages": [{"role": "assistant", "content": "hi"}]}, 400,
     "messages[0].role"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
])
def test_bad_requests_get_openai_errors(client, body, status, param):
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as e:
            client.chat.completions.create(**body, stream=stream)
        assert e.value.status_code == status
        err = e.value.body
        assert err["param"] == param and err["message"] and err["type"]
        assert "Traceback" not in err["message"]


def test_unknown_route_and_bad_json(api):
    url, _ = api
    r = httpx.get(f"{url}/engines")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"
    r = httpx.post(f"{url}/chat/completions", content=b"{nope",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(f"{url}/chat/completions", json={"model": MODEL})  # no messages at all
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = httpx.post(f"{url}/chat/completions", json={"messages": [{"role": "user",
                                                                   "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_missing_index_is_503_with_the_library_message(empty_settings):
    settings = empty_settings.with_overrides(serve_port=free_port())
    server, thread = _start(settings)
    try:
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{settings.serve_port}/v1", api_key="x",
                          max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as e:
                c.chat.completions.create(model=MODEL, stream=stream,
                                          messages=[{"role": "user", "content": QUESTION}])
            assert e.value.status_code == 503
            assert "rag ingest" in e.value.body["message"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_api_key_is_checked_when_set(fake_settings, tmp_path):
    settings = fake_settings.with_overrides(serve_port=free_port(), api_key="s3cret")
    server, thread = _start(settings)
    url = f"http://127.0.0.1:{settings.serve_port}/v1"
    try:
        wrong = openai.OpenAI(base_url=url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as e:
            wrong.chat.completions.create(model=MODEL,
                                          messages=[{"role": "user", "content": QUESTION}])
        assert e.value.body["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0)
        assert [m.id for m in right.models.list()] == [MODEL]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _questions(settings, n: int) -> list[str]:
    """n distinct questions whose fake answers differ (each names its own paper)."""
    from rag.corpus import load_corpus

    papers = load_corpus(settings.corpus_dir)
    return [f"What does the paper '{p.title}' propose?" for p in papers[:: len(papers) // n]][:n]


def test_twenty_concurrent_clients_all_answered_none_mixed(client, fake_settings):
    questions = _questions(fake_settings, 20)
    expected = {q: text_with_references(rag.ask(q, settings=fake_settings)) for q in questions}
    assert len(set(expected.values())) == 20

    def one(i_q):
        i, q = i_q
        msgs = [{"role": "user", "content": q}]
        if i % 2:  # half stream, half don't
            return q, "".join(c.choices[0].delta.content or "" for c in
                              client.chat.completions.create(model=MODEL, messages=msgs,
                                                             stream=True))
        return q, client.chat.completions.create(model=MODEL, messages=msgs
                                                 ).choices[0].message.content

    with ThreadPoolExecutor(20) as pool:
        got = dict(pool.map(one, enumerate(questions)))
    assert set(got) == set(questions)
    for q in questions:  # each client got its own question's answer, whole
        assert same_words(got[q], expected[q]), q


def test_stream_tail_never_drops_the_checked_text():
    from rag.types import Answer, Citation

    a = Answer(question="q", text="X is Y [1].", citations=[Citation(1, "p", "T", "", 1)])
    assert stream_tail(a, "") == "X is Y [1].\n\n[1] T"
    assert stream_tail(a, "X is Y. [1]") == "\n\n[1] T"
    assert stream_tail(a, "X is") == " Y [1].\n\n[1] T"
    refused = Answer(question="q", text="The papers don't say.", refused=True)
    assert "replaces the draft" in stream_tail(refused, "X is Z [1].")


def test_feedback_on_a_completion_is_stored(client, api):
    url, settings = api
    r = client.chat.completions.create(model=MODEL,
                                       messages=[{"role": "user", "content": QUESTION}])
    fb = httpx.post(f"{url}/feedback", json={"completion_id": r.id, "rating": "down",
                                             "comment": "should cite MLTI"})
    assert fb.status_code == 200, fb.text
    items = FeedbackStore(settings.feedback_file).items()
    assert len(items) == 1
    item = items[0]
    assert item["rating"] == "down" and item["comment"] == "should cite MLTI"
    assert item["question"] == QUESTION and item["completion_id"] == r.id
    assert item["cited"][0]["title"] == r.model_extra["rag"]["sources"][0]["title"]
    assert item["settings"] and item["model"] and item["client"] == "api"
    bad = httpx.post(f"{url}/feedback", json={"completion_id": "chatcmpl-nope",
                                              "rating": "up"})
    assert bad.status_code == 404 and bad.json()["error"]["param"] == "completion_id"
    bad = httpx.post(f"{url}/feedback", json={"completion_id": r.id, "rating": "meh"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rating"
