"""Ingest throughput through an embeddings endpoint: `python -m bench.embed_endpoint --papers N`.

N synthetic papers (deterministic; abstracts of about the corpus's length, ~180 words, so
chunking produces a realistic number of chunks) are ingested through `RAG_EMBED_BASE_URL`
into a temporary local Chroma, with the fake OpenAI-compatible server of
`bench/fake_embed_server.py` running as its own process on 127.0.0.1 (384-d vectors, one hash
per text, so the server is never the bottleneck being measured). Reports papers/s end to end
and where the time went — parsing + chunking, embedding requests, Chroma adds — from
`IngestReport.timings`. Writes ``bench/results/embed_endpoint.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.timing import free_port
from rag.ingestion import ingest
from rag.settings import Settings

_WORDS = ("model learning training data network attention graph sparse gradient loss "
          "optimizer benchmark transformer language vision policy reward robust scaling "
          "inference latency memory retrieval embedding token layer convolution diffusion "
          "sampling prior posterior bayesian kernel regression classification dataset "
          "accuracy baseline ablation pretraining finetuning alignment reasoning agent").split()


def synthetic_corpus(path: Path, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            title = f"Synthetic study {i}: " + " ".join(rnd.choices(_WORDS, k=6))
            sents = [" ".join(rnd.choices(_WORDS, k=rnd.randint(12, 24))).capitalize() + "."
                     for _ in range(10)]
            f.write(json.dumps({"title": title, "abstract": " ".join(sents) + f" Id {i}."})
                    + "\n")


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the fake embeddings server exited")
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return  # it answers (405 for GET): up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the fake embeddings server did not start")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def run(papers: int, batch_size: int) -> dict:
    load_start = os.getloadavg()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_embed_server", "--port", str(port), "--dim", "384"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        _wait_up(base + "/embeddings", server)
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "synthetic.jsonl"
            synthetic_corpus(corpus, papers)
            s = Settings(home=Path(tmp), chroma_path=Path(tmp) / "chroma", provider="fake",
                         embed_base_url=base, embed_api_model="fake-384",
                         embed_batch_size=batch_size)
            t0, c0 = time.perf_counter(), time.process_time()
            report = ingest(corpus, settings=s)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        server.terminate()
        server.wait(timeout=20)
    st = report.timings
    server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_all = cpu + server_cpu.ru_utime + server_cpu.ru_stime
    return {
        "papers": report.papers, "chunks": report.chunks, "batch_size": batch_size,
        "wall_s": round(wall, 1), "papers_per_s": round(report.papers / wall, 1),
        "chunks_per_s": round(report.chunks / wall, 1),
        # On a shared, loaded machine wall time mostly measures the other processes; CPU
        # seconds (ingest process, all threads, + the server) are what this ingest cost.
        "ingest_cpu_s": round(cpu, 1), "server_cpu_s": round(cpu_all - cpu, 1),
        "papers_per_cpu_s": round(report.papers / max(cpu_all, 1e-9), 1),
        "stages_s": {k: round(v, 1) for k, v in st.items()},
        "stages_share": {k: round(v / max(sum(st.values()), 1e-9), 2) for k, v in st.items()},
        "papers_per_s_by_stage": {k: round(report.papers / v, 1) for k, v in st.items() if v},
        "load_avg_start": load_start, "load_avg": os.getloadavg(), "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--papers", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=256, help="texts per embeddings request")
    p.add_argument("--out", default="bench/results/embed_endpoint.json")
    p.add_argument("--label", default="", help="a note stored with the result (e.g. the commit)")
    a = p.parse_args()
    result = run(a.papers, a.batch_size)
    if a.label:
        result["label"] = a.label
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
