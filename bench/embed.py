"""What ingest embeds, and what embedding costs: `python -m bench.embed`.

* **Tokens embedded per paper vs the paper's own tokens.** Chunks of 160 tokens overlapping by
  32, each embedded with its paper's title, embed some text more than once. Reported in
  tiktoken cl100k tokens (how chunking counts) — the corpus's title + abstract against the sum
  over its chunks of title + chunk — and in MiniLM WordPiece tokens actually fed to the model.
* **Raw encoding vs ingest.** The same chunk texts encoded by ONNX Runtime in corpus order and
  sorted by length (a batch is padded to its longest text), by torch + sentence-transformers
  (which sorts within each call), and a full `ingest()` into a temporary Chroma with its stage
  timings. Wall and CPU seconds (all threads) are both reported: CPU is the steadier figure on a
  loaded machine.

Writes ``bench/results/embed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from llama_index.core.schema import MetadataMode

from rag.corpus import load_corpus
from rag.ingestion import chunk_papers, ingest
from rag.onnxmodel import OnnxMiniLM
from rag.settings import Settings, get_settings
from rag.tokens import token_len


def _timed(fn) -> tuple[object, dict]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"wall_s": round(time.perf_counter() - w, 2),
                 "cpu_s": round(time.process_time() - c, 2)}


def tokens_report(settings: Settings, model: OnnxMiniLM | None) -> tuple[dict, list[str]]:
    papers = load_corpus(settings.corpus_dir)
    nodes = chunk_papers(papers, settings)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    own = {p.paper_id: token_len(f"{p.title}\n{p.abstract}") for p in papers}
    embedded: dict[str, int] = defaultdict(int)
    n_chunks: dict[str, int] = defaultdict(int)
    for n, t in zip(nodes, texts):
        embedded[n.metadata["paper_id"]] += token_len(t)
        n_chunks[n.metadata["paper_id"]] += 1
    ratios = [embedded[p] / own[p] for p in own]
    out = {
        "papers": len(papers), "chunks": len(nodes),
        "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
        "chunks_per_paper": round(len(nodes) / len(papers), 2),
        "corpus_tokens_per_paper_cl100k": round(sum(own.values()) / len(own), 1),
        "embedded_tokens_per_paper_cl100k": round(sum(embedded.values()) / len(own), 1),
        "ratio_embedded_over_corpus": round(sum(embedded.values()) / sum(own.values()), 3),
        "ratio_per_paper_median": round(statistics.median(ratios), 3),
        "ratio_per_paper_max": round(max(ratios), 3),
        "single_chunk_papers": sum(1 for p in papers if n_chunks[p.paper_id] == 1),
    }
    if model is not None:
        wp = model.token_counts(texts)
        out["embedded_wordpiece_tokens_per_paper"] = round(sum(wp) / len(papers), 1)
        out["chunks_truncated_at_256"] = sum(1 for n in wp if n >= 256)
    return out, texts


def encode_report(texts: list[str], settings: Settings, model: OnnxMiniLM,
                  torch_too: bool) -> dict:
    bs = settings.embed_batch_size
    out: dict = {"texts": len(texts), "batch_size": bs, "threads": os.cpu_count()}
    _, out["onnx_corpus_order"] = _timed(lambda: model.encode(texts, bs, sort=False))
    _, out["onnx_length_sorted"] = _timed(lambda: model.encode(texts, bs, sort=True))
    for k in ("wall_s", "cpu_s"):
        out[f"sorting_speedup_{k[:-2]}"] = round(
            out["onnx_corpus_order"][k] / max(out["onnx_length_sorted"][k], 1e-9), 2)
    if torch_too:
        from rag.embeddings import MiniLMEmbedding

        st = MiniLMEmbedding(embed_batch_size=bs)
        st._st()  # load outside the timing
        _, out["torch_sentence_transformers"] = _timed(lambda: st._get_text_embeddings(texts))
        for k in ("wall_s", "cpu_s"):
            out[f"onnx_sorted_vs_torch_{k[:-2]}"] = round(
                out["torch_sentence_transformers"][k] / max(out["onnx_length_sorted"][k], 1e-9),
                2)
    return out


def ingest_report(settings: Settings) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        s = settings.with_overrides(chroma_path=Path(tmp) / "chroma")
        report, t = _timed(lambda: ingest(settings=s))
    return {"chunks_embedded": report.chunks_added, **t,  # type: ignore[attr-defined]
            "stages_s": {k: round(v, 2) for k, v in report.timings.items()}}  # type: ignore


def run(torch_too: bool = True, with_ingest: bool = True) -> dict:
    settings = get_settings()
    model = OnnxMiniLM(settings.onnx_dir)
    tokens, texts = tokens_report(settings, model)
    result: dict[str, Any] = {"load_avg_at_start": os.getloadavg(), "tokens": tokens,
              "encoding": encode_report(texts, settings, model, torch_too)}
    if with_ingest:
        result["ingest"] = ingest_report(settings)
        enc = result["encoding"]["onnx_length_sorted"]["wall_s"]
        result["ingest"]["ingest_over_raw_encoding_wall"] = round(
            result["ingest"]["wall_s"] / max(enc, 1e-9), 2)
    result["load_avg_at_end"] = os.getloadavg()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    p.add_argument("--no-ingest", action="store_true", help="skip the full ingest")
    p.add_argument("--out", default="bench/results/embed.json")
    a = p.parse_args()
    result = run(not a.no_torch, not a.no_ingest)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
