"""The OpenAI-compatible client against a misbehaving fake server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag import llm as llm_mod
from rag.errors import LLMUnavailable
from rag.llm import OpenAIChat
from rag.settings import Settings

MSG = [{"role": "user", "content": "hi"}]


def chunk(text=None, finish=None):
    return "data: " + json.dumps({
        "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text} if text else {},
                     "finish_reason": finish}]}) + "\n\n"


class Handler(BaseHTTPRequestHandler):
    mode = "ok"
    calls = 0

    def log_message(self, *a):
        pass

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = type(self).mode
        if mode in ("500", "429"):
            self.send_response(int(mode))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "boom"}}')
            return
        if mode == "slow":
            import time

            time.sleep(3)  # longer than the client's timeout below
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode in ("ok", "slow"):
            body = chunk("Hello ") + chunk("world.") + chunk(finish="stop") + "data: [DONE]\n\n"
        elif mode == "cut":
            body = chunk("Half an ans")  # connection closes with no finish_reason
        elif mode == "badjson":
            body = "data: {not json\n\n"
        self.wfile.write(body.encode())


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    Handler.calls = 0
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def client(url, retries=0, timeout=5.0):
    s = Settings(openai_base_url=url, llm_retries=retries, llm_timeout=timeout)
    return OpenAIChat(s, url, "k")


def test_stream_ok(server):
    Handler.mode = "ok"
    assert client(server).complete(MSG, max_tokens=10) == "Hello world."


def test_http_500_is_retried_then_clear_error(server):
    Handler.mode = "500"
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        client(server, retries=2).complete(MSG, max_tokens=10)
    assert Handler.calls == 3  # bounded retries with backoff


def test_rate_limited(server):
    Handler.mode = "429"
    with pytest.raises(LLMUnavailable, match="429"):
        client(server, retries=1).complete(MSG, max_tokens=10)


def test_stream_cut_mid_answer_is_not_a_complete_answer(server):
    Handler.mode = "cut"
    with pytest.raises(LLMUnavailable, match="ended before the answer was complete"):
        client(server).complete(MSG, max_tokens=10)


def test_malformed_stream(server):
    Handler.mode = "badjson"
    with pytest.raises(LLMUnavailable):
        client(server).complete(MSG, max_tokens=10)


def test_endpoint_down():
    with pytest.raises(LLMUnavailable, match="Cannot reach"):
        client("http://127.0.0.1:9/v1").complete(MSG, max_tokens=10)


def test_ask_surfaces_endpoint_down_as_llm_unavailable(fake_settings, monkeypatch):
    import rag
    from rag.settings import get_settings

    monkeypatch.setenv("RAG_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RAG_LLM_RETRIES", "0")
    get_settings.cache_clear()
    llm_mod.use_model(None)  # the endpoint the settings name, not the injected fake
    with pytest.raises(LLMUnavailable):
        rag.ask("meta-learning with task interpolation")


def test_lost_server_before_first_token_is_restarted_once(server):
    Handler.mode = "cut"
    restarts = []

    def restart():
        restarts.append(1)
        Handler.mode = "ok"

    s = Settings(openai_base_url=server, llm_retries=0, llm_timeout=5)
    chat = OpenAIChat(s, server, "k", restart=restart)
    # "cut" sends text before dying, so no retry: a partial answer must not be completed.
    with pytest.raises(LLMUnavailable):
        chat.complete(MSG, max_tokens=10)
    assert restarts == []
    Handler.mode = "500"
    assert chat.complete(MSG, max_tokens=10) == "Hello world."
    assert restarts == [1]


def test_slow_endpoint_times_out_with_a_clear_error(server):
    Handler.mode = "slow"
    with pytest.raises(LLMUnavailable) as e:
        client(server, retries=1, timeout=1.0).complete(MSG, max_tokens=10)
    assert "timed out" in str(e.value).lower() or "timeout" in str(e.value).lower()
    assert Handler.calls == 2  # one retry, then give up


class BusyModels(BaseHTTPRequestHandler):
    """A model server busy with someone else's answer: /v1/models waits for the model lock."""

    delay = 3.0

    def log_message(self, *a):
        pass

    def do_GET(self):
        import time

        time.sleep(type(self).delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"object": "list", "data": [{"id": "m"}]}')


def test_a_busy_server_on_the_port_is_waited_for_not_replaced(tmp_path):
    """Two rag processes share the embedded server; the second must not take a slow health
    check for a dead server and start another on the same port (it exits: "port taken")."""
    from rag.llm import LocalServer

    srv = ThreadingHTTPServer(("127.0.0.1", 0), BusyModels)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        s = Settings(home=tmp_path, llm_port=srv.server_address[1])
        local = LocalServer(s)
        assert not local.healthy()  # the 1-s check times out: it looks dead
        assert local.ensure(wait=20).endswith("/v1")
        assert local.proc is None  # no second server was started (none is prepared anyway)
    finally:
        srv.shutdown()


def test_a_port_held_by_something_else_gets_a_clear_error(tmp_path):
    import socket

    from rag.llm import LocalServer

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        s = Settings(home=tmp_path, llm_port=holder.getsockname()[1])
        with pytest.raises(LLMUnavailable, match="RAG_LLM_PORT"):
            LocalServer(s).ensure(wait=3)
    finally:
        holder.close()


def test_a_changed_retry_count_gets_its_own_client():
    from rag.llm import get_model

    s = Settings(openai_base_url="http://127.0.0.1:9/v1", llm_retries=1)
    one, five = get_model(s), get_model(s.with_overrides(llm_retries=5))
    assert one is not five and five.client.max_retries == 5
    assert get_model(s) is one
