"""A fresh `rag ui` process, hit the way a new user's browser hits it: the page loads (header,
papers, evaluation) while five questions arrive at once, before anything was warmed up.

Real embedding model and real Chroma (embedded, and a `chroma run` server); the fake LLM, since
the model is not what is under test. This is the start that failed in two of two tries: the
header said the index "cannot be opened … Delete that folder" and the first question failed.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import CORPUS, FLAGS, ROOT, fake_env, free_port, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.browser]

QUESTIONS = [
    "What does AutoClip choose automatically?",
    "Which paper interpolates tasks for meta-learning?",
    "Which papers use Barlow Twins?",
    "Which papers study learned optimizers?",
    "How does MLTI generate new tasks?",
]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listened on port {port} within {timeout:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env(home: Path, **extra: str) -> dict[str, str]:
    return subprocess_env(RAG_HOME=str(home), RAG_CORPUS_PATH=str(CORPUS), RAG_PROVIDER="fake",
                          RAG_CHROMA_PATH=str(home / "chroma"), **extra)


@pytest.fixture
def chroma_server(real_home, tmp_path):
    """`chroma run` serving a copy of the real index."""
    data = tmp_path / "server-data"
    shutil.copytree(real_home / "chroma", data)
    exe = Path(sys.executable).with_name("chroma")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe if exe.exists() else shutil.which("chroma")), "run", "--path", str(data),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_port(port, proc, timeout=60)
    yield port
    _stop(proc)


def _cold_start(chromium: str, env: dict[str, str], tmp_path: Path) -> None:
    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    env = dict(env, RAG_UI_PORT=str(port))
    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_port(port, proc)

        def ask(question: str) -> dict:
            return Client(url, verbose=False).predict(question, api_name="/ask")

        with ThreadPoolExecutor(len(QUESTIONS)) as pool, sync_playwright() as p:
            answers = [pool.submit(ask, q) for q in QUESTIONS]  # no wait, no warm-up
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                header = page.locator("#header-line")
                # Imports and the index's first open happen now, while the questions run.
                expect(header).to_contain_text("449 papers", timeout=180_000)
                assert "not available" not in header.inner_text()
            finally:
                browser.close()
            results = [f.result(timeout=300) for f in answers]
        for question, r in zip(QUESTIONS, results):
            assert r["text"].strip(), question
            assert "Could not answer" not in r["text"] and "cannot be opened" not in r["text"]
            assert not r["refused"] and r["sources"], f"{question}: {r['text'][:200]}"
    finally:
        _stop(proc)
        log.close()
    text = (tmp_path / "ui.log").read_text()
    assert "Traceback" not in text, text[-3000:]


def test_cold_start_embedded_index(chromium, real_home, tmp_path):
    _cold_start(chromium, _env(real_home), tmp_path)


def test_cold_start_chroma_server(chromium, real_home, chroma_server, tmp_path):
    env = _env(real_home, RAG_CHROMA_HOST="127.0.0.1", RAG_CHROMA_PORT=str(chroma_server))
    _cold_start(chromium, env, tmp_path)


def _python_passes(code: str, tmp_path: Path) -> None:
    """Run ``code`` in a fresh interpreter (fresh imports) with the fake models; exit 0."""
    env = subprocess_env(**fake_env(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_ui_serves_first_then_imports_the_answer_path_before_it_blocks(tmp_path):
    """The page is served before the answer path is imported (so it is up ~1.5 s sooner), and
    launch() imports it right after, before it blocks: the first requests of a fresh page arrive
    together (header, tabs, question), and if they were the first to import llama-index, one of
    them got "cannot import name … from partially initialized module" (a fresh `make run`)."""
    code = (
        "import sys, gradio\n"
        "need = ['rag.answer', 'rag.retrieval', 'rag.ingestion', 'llama_index.core']\n"
        "seen = {}\n"
        "def fake_launch(self, **kw):\n"
        "    seen['at_launch'] = [m for m in need if m in sys.modules]\n"
        "    seen['prevent_thread_lock'] = kw.get('prevent_thread_lock')\n"
        "def fake_block(self):\n"
        "    seen['at_block'] = [m for m in need if m not in sys.modules]\n"
        "gradio.Blocks.launch = fake_launch\n"
        "gradio.Blocks.block_thread = fake_block\n"
        "from ui import app\n"
        "app.launch()\n"
        "print(seen)\n"
        "ok = (seen['at_launch'] == [] and seen['at_block'] == []\n"
        "      and seen['prevent_thread_lock'] is True)\n"
        "sys.exit(0 if ok else 1)\n"
    )
    _python_passes(code, tmp_path)


def test_requests_wait_for_an_import_in_progress_instead_of_racing_it(tmp_path):
    """While one thread is inside rag.preload() (holding the import lock), another thread's
    `rag.ask_stream` waits for it instead of importing llama-index at the same time."""
    code = (
        "import sys, threading, time\n"
        "import rag\n"
        "got = []\n"
        "rag._import_lock.acquire()\n"
        "t = threading.Thread(target=lambda: got.append(rag.ask_stream))\n"
        "t.start(); time.sleep(1.0)\n"
        "waited = t.is_alive() and 'rag.answer' not in sys.modules\n"
        "rag._import_lock.release(); t.join(120)\n"
        "print(waited, bool(got))\n"
        "sys.exit(0 if waited and got else 1)\n"
    )
    _python_passes(code, tmp_path)
