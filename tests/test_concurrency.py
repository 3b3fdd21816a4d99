"""Many threads touching the index at the same moment, in a fresh process.

The Gradio page fires its header, tabs and the first question at once; a fresh process that
built one Chroma client per call failed 1–8 of 8 such calls ("'RustBindingsAPI' object has no
attribute 'bindings'", "Could not connect to tenant default_tenant") and told the user to delete
a good index. Each run here is a new Python process, because the race is in first-time setup.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, fake_env, subprocess_env

THREADS = 16

RACE = textwrap.dedent("""
    import json, sys, threading, traceback
    import rag
    from rag import store
    from rag.ingestion import index_stats
    from rag.settings import get_settings

    n = int(sys.argv[1])
    barrier = threading.Barrier(n)
    errors, results = [], []

    def work(i):
        barrier.wait()
        try:
            settings = get_settings()
            if i % 3 == 0:
                results.append(store.collection(settings).count())
            elif i % 3 == 1:
                results.append(index_stats(settings)["papers"])
            else:
                results.append(len(rag.retrieve("What does STEP achieve?", k=3)))
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"errors": errors, "results": len(results)}))
""")


def race(env: dict[str, str], threads: int = THREADS) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", RACE, str(threads)], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(home) -> dict[str, str]:
    return subprocess_env(**fake_env(home))


@pytest.mark.parametrize("run", range(3))
def test_sixteen_threads_open_the_index_at_once(fake_index_home, run):
    got = race(_env(fake_index_home))
    assert got["errors"] == [] and got["results"] == THREADS


@pytest.mark.integration
def test_sixteen_threads_with_the_real_embedder(real_home):
    """The same race with MiniLM: its lazy load must happen once, not in every thread."""
    env = _env(real_home)
    env.pop("RAG_EMBED_MODEL")
    env["RAG_CHROMA_PATH"] = str(real_home / "chroma")
    for _ in range(2):
        got = race(env)
        assert got["errors"] == [] and got["results"] == THREADS


def test_an_ingest_by_another_process_shows_up_here(empty_settings, tmp_path):
    """The UI keeps one client; `rag ingest` in another shell must still reach its answers.
    Before, the new paper's vectors were invisible here and fetching its ids raised
    `InternalError: Error finding id` inside Chroma."""
    import rag
    from rag.ingestion import ingest

    papers = [{"title": f"Paper {i} on topic {i}", "abstract": f"We study topic {i} in depth. "
               f"Our method improves results by {i}% on several benchmarks."} for i in range(6)]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in papers) + "\n")
    ingest(corpus)
    assert rag.retrieve("topic 3", k=1)[0].title == "Paper 3 on topic 3"

    new = {"title": "Zorblat Networks for tide forecasting", "abstract": "Zorblat Networks "
           "forecast coastal tides from sparse buoy readings with quasi-lattice attention."}
    # An update that keeps the chunk count: only the ingest stamp can tell it changed.
    papers[0]["abstract"] = "We study topic zero with a completely rewritten abstract."
    corpus.write_text("\n".join(json.dumps(p) for p in papers + [new]) + "\n")
    env = _env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(corpus)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for mode in ("dense", "bm25", "hybrid"):
        top = rag.retrieve("Zorblat Networks tide forecasting buoy", k=1, mode=mode)
        assert top[0].title == new["title"], mode
    assert "rewritten" in rag.retrieve("topic zero rewritten abstract", k=1)[0].abstract
