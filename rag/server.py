"""`rag serve`: the paper bot as an OpenAI-compatible HTTP server (FastAPI on uvicorn).

Routes: ``POST /v1/chat/completions`` (plain and ``stream: true``), ``GET /v1/models``,
``POST /v1/feedback``. The conversation is the request's ``messages``: earlier user/assistant
turns are the history `rag.ask_stream` uses for follow-ups, exactly as the web UI passes it.
The answer's content carries the ``[n]`` markers and ends with the numbered references; the
structured answer (sources, citations, claims, refused, unsupported) travels in the extra field
``rag`` of the completion and of the final stream chunk (rag/openai_api.py has the format).

Concurrency: `ask_stream` is synchronous, so each answer runs in a worker thread (at most
RAG_SERVE_THREADS at once); a stream is advanced one event at a time in the pool, so the event
loop only moves bytes. Each request owns its generator and its completion id, which is how
answers never mix between clients.

Errors are OpenAI-shaped JSON and never a traceback: 400 for a bad request (naming the field),
401 for a wrong key (``RAG_API_KEY``), 404 for an unknown model or route, 503 with the library's
message when the index or the model is unavailable. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Generator
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag import openai_api as oa
from rag.errors import RagError
from rag.feedback import FeedbackStore, item_from_answer
from rag.memory import release_free_memory
from rag.settings import Settings, get_settings
from rag.types import Answer, Status

log = logging.getLogger(__name__)
_END = object()
#: Answers kept for POST /v1/feedback (by completion id); older ones can no longer be rated.
RECENT_ANSWERS = 2000


class _Recent:
    """A bounded, thread-safe map completion id -> Answer."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict[str, Answer](), threading.Lock()

    def put(self, key: str, answer: Answer) -> None:
        with self._lock:
            self._items[key] = answer
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: str) -> Answer | None:
        with self._lock:
            return self._items.get(key)


def _error(e: oa.ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


def _sse(data: Any) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="rag-papers", docs_url=None, redoc_url=None, openapi_url=None)
    limiter = anyio.CapacityLimiter(settings.serve_threads)
    recent = _Recent(RECENT_ANSWERS)
    store = FeedbackStore(settings.feedback_file)
    model_id = settings.serve_model
    created = int(time.time())

    async def in_thread(fn, *args):
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    # --- errors: always OpenAI's shape
    @app.exception_handler(oa.ApiError)
    async def _api_error(request: Request, e: oa.ApiError):
        return _error(e)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, e: RagError):
        return _error(oa.from_rag_error(e))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        if e.status_code == 404:
            err = oa.ApiError(404, f"Unknown route {request.method} {request.url.path}; this "
                              "server has POST /v1/chat/completions, GET /v1/models and POST "
                              "/v1/feedback.", type_="not_found_error", code="unknown_url")
        else:
            err = oa.ApiError(e.status_code, str(e.detail), code=f"http_{e.status_code}")
        return _error(err)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception):
        log.exception("unexpected error in %s", request.url.path)
        return _error(oa.ApiError(500, "Something went wrong inside the server (details are in "
                                  "its log).", type_="server_error", code="internal_error"))

    def check_key(request: Request) -> None:
        # A key set in RAG_API_KEY is required on every route, as OpenAI's API does.
        if settings.api_key:
            header = request.headers.get("authorization", "")
            sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(sent.encode(), settings.api_key.encode()):
                raise oa.ApiError(401, "Incorrect API key provided. Send the key set in "
                                  "RAG_API_KEY as 'Authorization: Bearer <key>'.",
                                  code="invalid_api_key")

    app.router.dependencies.append(Depends(check_key))

    async def body_of(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"null")
        except ValueError:
            raise oa.ApiError(400, "The request body is not valid JSON.",
                              code="invalid_json") from None

    # --- routes
    def model_card() -> dict:
        return {"id": model_id, "object": "model", "created": created, "owned_by": "rag-papers"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        if name != model_id:
            raise oa.ApiError(404, f"The model {name!r} does not exist; this server serves "
                              f"{model_id!r}.", type_="not_found_error", param="model",
                              code="model_not_found")
        return model_card()

    def answer_stream(req: oa.ChatRequest) -> Generator[Any, None, None]:
        import rag

        return rag.ask_stream(req.question, history=req.history, top_k=req.top_k,
                              mode=req.mode, settings=settings)

    def ask(req: oa.ChatRequest) -> Answer:
        try:
            for event in answer_stream(req):
                if isinstance(event, Answer):
                    return event
            raise AssertionError("ask_stream ended without an Answer")  # pragma: no cover
        finally:
            release_free_memory()  # a long-running server: see rag/memory.py

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        req = oa.parse_chat_request(await body_of(request), model_id)
        cid = oa.new_id()
        if not req.stream:
            answer = await in_thread(ask, req)
            recent.put(cid, answer)
            return oa.completion(answer, cid, model_id)

        events = answer_stream(req)
        # Read up to the first text (or the Answer) before sending headers: a missing index, an
        # unreachable model or a bad question is then a proper 4xx/5xx, not a broken stream.
        first: list[Any] = []
        try:
            while True:
                ev = await in_thread(next, events, _END)
                first.append(ev)
                if not isinstance(ev, Status):
                    break
        except BaseException:
            await in_thread(events.close)
            raise
        return StreamingResponse(stream(req, cid, events, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stream(req: oa.ChatRequest, cid: str, events: Generator[Any, None, None],
                     first: list[Any]
                     ) -> AsyncIterator[bytes]:
        made = int(time.time())
        yield _sse(oa.chunk(cid, model_id, made, {"role": "assistant", "content": ""}))
        streamed = ""
        pending = list(first)
        try:
            while True:
                ev = pending.pop(0) if pending else await in_thread(next, events, _END)
                if ev is _END:
                    raise RuntimeError("ask_stream ended without an Answer")
                if isinstance(ev, Status):
                    # SSE comments: progress for a reader of the raw stream, ignored by clients.
                    yield f": {ev.message}\n\n".encode()
                elif isinstance(ev, str):
                    streamed += ev
                    yield _sse(oa.chunk(cid, model_id, made, {"content": ev}))
                elif isinstance(ev, Answer):
                    recent.put(cid, ev)
                    tail = oa.stream_tail(ev, streamed)
                    more: dict[str, Any] = {oa.EXTRA: oa.extra(ev, cid)}
                    if req.include_usage:
                        more["usage"] = oa.usage(ev)
                    yield _sse(oa.chunk(cid, model_id, made, {"content": tail} if tail else {},
                                        "stop", **more))
                    break
        except RagError as e:
            # Headers are gone: the error travels as an event, as OpenAI's API sends it.
            yield _sse(oa.from_rag_error(e).body())
        except Exception:
            log.exception("unexpected error while streaming %s", cid)
            yield _sse(oa.ApiError(500, "Something went wrong inside the server (details are "
                                   "in its log).", type_="server_error",
                                   code="internal_error").body())
        finally:
            # Also on a client that hung up: stop the model's stream for this request.
            with anyio.CancelScope(shield=True):
                await in_thread(events.close)
                await in_thread(release_free_memory)
        yield b"data: [DONE]\n\n"

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        body = await body_of(request)
        if not isinstance(body, dict):
            raise oa.ApiError(400, "The request body must be a JSON object.", code="invalid_json")
        cid = body.get("completion_id")
        answer = recent.get(cid) if isinstance(cid, str) else None
        if answer is None:
            raise oa.ApiError(404, "Unknown completion_id: rate an answer this server gave "
                              "(the id of its chat completion).", type_="not_found_error",
                              param="completion_id", code="completion_not_found")
        try:
            rec = await in_thread(lambda: store.record(
                item_from_answer(answer), body.get("rating"), settings,
                comment=body.get("comment"), client="api", completion_id=cid))
        except RagError as e:
            raise oa.ApiError(400, str(e), param="rating" if "rating" in str(e) else "comment",
                              code="invalid_value") from None
        return {"id": rec["id"], "object": "feedback", "completion_id": cid,
                "rating": rec["rating"], "comment": rec["comment"]}

    return app


def serve(settings: Settings | None = None, host: str | None = None,
          port: int | None = None) -> None:
    """Run the server in the foreground (Ctrl-C or SIGTERM stops it)."""
    import uvicorn

    from rag import warmup

    settings = settings or get_settings()
    warmup.prepare_server(settings)
    uvicorn.run(create_app(settings), host=host or settings.serve_host,
                port=port or settings.serve_port, log_level="warning", access_log=False)
