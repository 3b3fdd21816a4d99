"""`kill PID` (SIGTERM, as systemd, docker or a supervisor send it) and SIGHUP of `rag ui` stop
the embedded llama.cpp server it started: that server runs in its own session (Ctrl-C in a
terminal must not kill it mid-answer) and holds ~2 GB, so nothing else would stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPUS, GGUF, ROOT, free_port, subprocess_env
from test_cold_start import _wait_for_port

pytestmark = pytest.mark.integration


def _server_pids(llm_port: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in cmd and str(llm_port).encode() in cmd:
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_the_embedded_model_server(real_home, tmp_path, sig):
    from gradio_client import Client

    ui_port, llm_port = free_port(), free_port()
    env = subprocess_env(RAG_HOME=str(real_home), RAG_CHROMA_PATH=str(real_home / "chroma"),
                         RAG_CORPUS_PATH=str(CORPUS), RAG_MODEL_PATH=str(GGUF),
                         RAG_LLM_PORT=str(llm_port), RAG_UI_PORT=str(ui_port))
    with open(tmp_path / "ui.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_for_port(ui_port, proc)
            r = Client(f"http://127.0.0.1:{ui_port}/", verbose=False).predict(
                "What does AutoClip choose automatically?", api_name="/ask")
            assert r["sources"], r
            assert _server_pids(llm_port), "the answer should have started the local server"
            proc.send_signal(sig)
            assert proc.wait(timeout=60) == 128 + sig
        finally:
            if proc.poll() is None:
                proc.kill()
    deadline = time.monotonic() + 20
    while _server_pids(llm_port) and time.monotonic() < deadline:
        time.sleep(0.25)
    left = _server_pids(llm_port)
    for pid in left:  # do not leak 2 GB into the rest of the test run
        os.kill(pid, signal.SIGKILL)
    assert not left, f"llama.cpp server still running after {sig.name}: {left}"
