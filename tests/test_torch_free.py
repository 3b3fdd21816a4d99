"""The query path never imports torch: importing torch + sentence-transformers and loading MiniLM
was ~97% of the ~12 s `rag retrieve` took before printing anything (rag/onnxmodel.py). Nor
llama-index's core, ~1.3 s of the ~2.6 s left (rag/encoders.py, the BM25 in rag/retrieval.py).
Each check runs in a fresh interpreter, where `sys.modules` shows everything the path pulled
in."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, fake_env, subprocess_env
from rag import onnxmodel
from rag.settings import Settings

HEAVY = ("torch", "sentence_transformers", "transformers")
ONNX_DIR = Settings(home=ROOT).onnx_dir


def _loaded(code: str, env: dict[str, str], heavy: tuple[str, ...] = HEAVY) -> dict:
    script = code + (
        "\nimport json, sys\n"
        f"print(json.dumps({{m: m in sys.modules for m in {heavy!r}}}))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cli_and_ui_modules_import_no_torch():
    """`rag retrieve | ask | ui` load these modules before any command runs."""
    got = _loaded("import rag, rag.cli, rag.retrieval, rag.answer, rag.ingestion, rag.embeddings,"
                  " rag.remote_embed, ui.app", subprocess_env())
    assert not any(got.values()), got


def test_retrieve_and_answer_import_no_llama_index_core(fake_index_home):
    """Retrieval (dense, BM25, fusion, passages) and the answer path's modules run without
    `llama_index.core`; ingest still uses it (SentenceSplitter, the Chroma vector store)."""
    got = _loaded("import rag, rag.answer, rag.cli\n"
                  "assert rag.retrieve('task interpolation MLTI')[0].title.startswith('Meta')",
                  subprocess_env(**fake_env(fake_index_home)),
                  heavy=HEAVY + ("llama_index.core",))
    assert not any(got.values()), got


def _need_onnx():
    if not onnxmodel.is_ready(ONNX_DIR):
        pytest.fail(f"no exported ONNX model in {ONNX_DIR}: run `rag prepare-model` (make model)")


@pytest.mark.integration
def test_retrieve_with_minilm_imports_no_torch(tmp_path):
    """A small index built with the real model, queried from a fresh process."""
    _need_onnx()
    corpus = tmp_path / "papers.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in [
        {"title": "STEP: Learning N:M Structured Sparsity Masks from Scratch",
         "abstract": "STEP learns N:M sparsity masks with a preconditioner, recovering accuracy."},
        {"title": "AutoClip: Adaptive Gradient Clipping",
         "abstract": "AutoClip picks a clipping threshold from the history of gradient norms."},
    ]) + "\n")
    env = subprocess_env(RAG_HOME=str(ROOT), RAG_CHROMA_PATH=str(tmp_path / "chroma"),
                         RAG_CORPUS_PATH=str(corpus))
    got = _loaded("import rag\nrag.ingest()\n"
                  "assert rag.retrieve('What does STEP achieve?')[0].title.startswith('STEP')",
                  env)
    assert not any(got.values()), got


@pytest.mark.integration
def test_onnx_vectors_match_torch():
    """Same vectors as sentence-transformers (so an index built by either stays valid), on
    texts of every length, batched and padded, including one past the 256-token limit."""
    _need_onnx()
    from rag.corpus import load_corpus
    from rag.embeddings import MiniLMEmbedding

    papers = load_corpus(ROOT / "data" / "corpus")[:40]
    texts = [f"{p.title}\n\n{p.abstract}" for p in papers] + ["STEP", "word " * 500]
    want = np.asarray(MiniLMEmbedding()._get_text_embeddings(texts))
    have = onnxmodel.OnnxMiniLM(ONNX_DIR).encode(texts, batch_size=16)
    assert np.abs(want - have).max() < 1e-5


def test_without_the_export_auto_falls_back_to_torch_and_onnx_says_what_to_run(tmp_path,
                                                                             caplog):
    from rag.embeddings import MiniLMEmbedding, get_embedder
    from rag.errors import ModelNotPrepared

    with caplog.at_level("WARNING"):
        e = get_embedder(Settings(home=tmp_path, embed_batch_size=7))  # nothing loaded yet
    assert isinstance(e, MiniLMEmbedding)
    assert "rag prepare-model" in caplog.text
    with pytest.raises(ModelNotPrepared, match="rag prepare-model"):
        get_embedder(Settings(home=tmp_path, embed_backend="onnx", embed_batch_size=7))
