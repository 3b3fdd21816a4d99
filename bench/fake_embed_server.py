"""A small OpenAI-compatible `/v1/embeddings` server on 127.0.0.1, for tests and benchmarks.

A real HTTP server (Starlette under uvicorn, both already installed with gradio), so the
`openai` client, its retries and its timeouts are exercised as against TEI or vLLM. Its
behaviour is switched at run time through ``FakeEmbedServer.state``:

* ``mode``: ``"ok"``, ``"error"`` (HTTP 500), ``"slow"`` (sleeps ``delay`` s first);
* ``dim``: the vectors' length (change it to simulate a different model);
* ``fail_first``: that many requests get HTTP 503 before the server behaves (a transient fault);
* ``vectors``: ``"words"`` — hashed bag of words, so texts sharing words are similar and
  retrieval is meaningful — or ``"fast"`` — one hash per text, for throughput benchmarks.

Requests are counted in ``state["requests"]``. Run on its own (``python -m
bench.fake_embed_server --port N``) for a benchmark, so serving does not share a GIL with the
ingest under test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import threading
import time
import zlib

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")


def _words_vec(text: str, dim: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    for w in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        v[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    if not v.any():
        v[0] = 1.0
    return v


def _fast_vecs(texts: list[str], dim: int) -> np.ndarray:
    seeds = np.array([zlib.crc32(t.encode()) for t in texts], dtype=np.uint64)
    cols = np.arange(1, dim + 1, dtype=np.uint64)
    # A cheap deterministic pseudo-random matrix: no per-text Python loop beyond the crc.
    x = (seeds[:, None] * np.uint64(2654435761) + cols[None, :] * np.uint64(40503)) % np.uint64(
        1 << 16)
    return x.astype(np.float32) - 32768.0


def make_app(state: dict):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def embeddings(request: Request):
        state["requests"] += 1
        if state["fail_first"] > 0:
            state["fail_first"] -= 1
            return JSONResponse({"error": {"message": "warming up"}}, status_code=503)
        if state["mode"] == "error":
            return JSONResponse({"error": {"message": "model crashed"}}, status_code=500)
        if state["mode"] == "slow":
            await asyncio.sleep(state["delay"])
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = state["dim"]
        vecs = (_fast_vecs(texts, dim) if state["vectors"] == "fast"
                else np.stack([_words_vec(t, dim) for t in texts]))
        b64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.tobytes()).decode() if b64 else v.tolist()}
                for i, v in enumerate(vecs)]
        state["texts"] += len(texts)
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", ""),
                             "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])


def default_state(**kw) -> dict:
    state = {"mode": "ok", "delay": 2.0, "dim": 64, "fail_first": 0, "vectors": "words",
             "requests": 0, "texts": 0}
    state.update(kw)
    return state


class FakeEmbedServer:
    """``with FakeEmbedServer(port) as srv: srv.base_url …`` — uvicorn in a thread."""

    def __init__(self, port: int, **state):
        import uvicorn

        self.port = port
        self.state = default_state(**state)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(make_app(self.state), host="127.0.0.1", port=port,
                                log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> FakeEmbedServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake embeddings server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--vectors", choices=["words", "fast"], default="fast")
    a = p.parse_args()
    uvicorn.run(make_app(default_state(dim=a.dim, vectors=a.vectors)), host="127.0.0.1",
                port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
