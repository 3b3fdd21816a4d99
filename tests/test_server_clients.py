"""A real third-party client against `rag serve`: Simon Willison's `llm` CLI, configured the way
its documentation says for an OpenAI-compatible endpoint (extra-openai-models.yaml in a temporary
LLM_USER_PATH). Marked integration because it starts two real processes; the server side uses the
fake LLM and the fake-embedded index, so it needs neither the real model nor its memory."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import CORPUS, fake_env, free_port, subprocess_env
from rag.corpus import load_corpus

pytestmark = pytest.mark.integration
QUESTION = "Which paper interpolates tasks for meta-learning?"


@pytest.fixture
def rag_serve(fake_index_home, tmp_path):
    port = free_port()
    env = subprocess_env(**fake_env(fake_index_home), RAG_SERVE_PORT=str(port),
                         RAG_FEEDBACK_PATH=str(tmp_path / "feedback.jsonl"))
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                break
        except OSError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "rag serve did not start"
            time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _llm(tmp_path, url, *args: str) -> str:
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: papers\n  model_name: rag-papers\n  api_base: \"{url}\"\n")
    env = subprocess_env(LLM_USER_PATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "llm", *args], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_llm_cli_answers_with_a_citation_and_follows_up(rag_serve, tmp_path):
    titles = {p.title for p in load_corpus(CORPUS)}
    out = _llm(tmp_path, rag_serve, "-m", "papers", QUESTION)
    body, refs = out.strip().split("\n\n", 1)
    assert "[1]" in body  # the marker in the text, and its paper in the reference list
    assert refs.startswith("[1] ") and refs.splitlines()[0][4:] in titles
    # `llm -c` continues the conversation: it sends the earlier turns as messages.
    follow = _llm(tmp_path, rag_serve, "-c", "How many tasks does it need?")
    assert "[1]" in follow and follow.strip().splitlines()[-1][4:] in titles
    # --no-stream takes the plain completion path
    plain = _llm(tmp_path, rag_serve, "-m", "papers", "--no-stream", QUESTION)
    assert plain.strip().splitlines()[-1].startswith("[1] ")
