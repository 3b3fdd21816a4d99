"""What `rag serve` adds to an answer's latency, and how it holds 20 clients at once.

Usage: .venv/bin/python -m bench.serve_latency [--questions 20] [--out bench/results/serve.json]

The fake LLM (RAG_PROVIDER=fake) is forced so the numbers measure the server, not the model;
retrieval is whatever the environment points at (by default the real index and the real
embedding model). It starts `rag serve` in a child process on a free port, then for each of the
first N dev questions of eval/data/questions.jsonl times `rag.ask` in this process and the same
question through the `openai` client against the server, interleaved (paired, so load drift
hits both), and reports p50 of each and of the per-question difference. Then 20 clients ask 20
different questions at the same moment (half streamed); it reports how many were answered with
their own question's text and the latency p50/p95. One run; writes JSON, prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.timing import free_port

ROOT = Path(__file__).resolve().parents[1]


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def _questions(n: int, offset: int = 0) -> list[str]:
    rows = [json.loads(line) for line in
            (ROOT / "eval" / "data" / "questions.jsonl").read_text().splitlines() if line]
    return [r["question"] for r in rows if r["split"] == "dev"][offset:offset + n]


def _start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ, RAG_PROVIDER="fake", RAG_SERVE_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("rag serve exited") from None
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("rag serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--out", default="bench/results/serve.json")
    args = ap.parse_args()
    os.environ["RAG_PROVIDER"] = "fake"

    import openai

    import rag
    from rag.openai_api import same_words
    from rag.render import text_with_references
    from rag.settings import get_settings

    settings = get_settings()
    port = free_port()
    proc = _start_server(port)
    client: Any = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0,
                           timeout=300)
    msgs = [{"role": "user", "content": "What is meta-learning?"}]
    try:
        rag.ask("What is meta-learning?", settings=settings)  # warm both sides up
        client.chat.completions.create(model=settings.serve_model, messages=msgs)
        direct, served = [], []
        for q in _questions(args.questions):
            t = time.perf_counter()
            rag.ask(q, settings=settings)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.chat.completions.create(model=settings.serve_model,
                                           messages=[{"role": "user", "content": q}])
            served.append(time.perf_counter() - t)

        crowd = _questions(args.clients, offset=args.questions)
        expected = {q: text_with_references(rag.ask(q, settings=settings)) for q in crowd}

        def one(i_q: tuple[int, str]) -> tuple[str, str, float]:
            i, q = i_q
            m = [{"role": "user", "content": q}]
            t = time.perf_counter()
            if i % 2:
                text = "".join(c.choices[0].delta.content or "" for c in
                               client.chat.completions.create(model=settings.serve_model,
                                                              messages=m, stream=True))
            else:
                text = client.chat.completions.create(model=settings.serve_model, messages=m
                                                      ).choices[0].message.content or ""
            return q, text, time.perf_counter() - t

        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(crowd)) as pool:
            results = list(pool.map(one, enumerate(crowd)))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    diffs = [s - d for s, d in zip(served, direct)]
    own = sum(1 for q, text, _ in results if same_words(text, expected[q]))
    lat = [t for _, _, t in results]
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "questions": len(direct), "index": str(settings.chroma_dir),
        "embed_model": settings.embed_model,
        "direct_p50_s": statistics.median(direct), "served_p50_s": statistics.median(served),
        "added_p50_s": statistics.median(diffs),
        "clients": len(crowd), "answered_own_question": own,
        "concurrent_p50_s": statistics.median(lat), "concurrent_p95_s": _pct(lat, 0.95),
        "concurrent_wall_s": wall,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"| rag.ask p50 | via server p50 | added p50 | {len(crowd)} clients: answered (own "
          "question) | p50 / p95 | wall |\n|---|---|---|---|---|---|\n"
          f"| {out['direct_p50_s'] * 1000:.0f} ms | {out['served_p50_s'] * 1000:.0f} ms | "
          f"{out['added_p50_s'] * 1000:.1f} ms | {own} of {len(crowd)} | "
          f"{out['concurrent_p50_s']:.2f} / {out['concurrent_p95_s']:.2f} s | {wall:.2f} s |")


if __name__ == "__main__":
    main()
