"""Timing helpers the benches share: a free port, the model server's cold start and one timed
answer."""

from __future__ import annotations

import socket
import time

from rag.settings import Settings


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for a server the bench starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_start_s(settings: Settings) -> float | None:
    """Make sure the embedded model server is up; seconds it took to start, None if it was
    already running or the endpoint is not ours (cold start is reported apart from latency)."""
    from rag.llm import local_server

    if not settings.uses_local_llm:
        return None
    srv = local_server(settings)
    t0 = time.perf_counter()
    was_up = srv.healthy()
    srv.ensure()
    return None if was_up else round(time.perf_counter() - t0, 2)


def timed_answer(question: str, settings: Settings, history=None):
    """(final Answer, seconds to the first non-blank text delta or None, total seconds)."""
    from rag.answer import ask_stream
    from rag.types import Answer

    t0 = time.perf_counter()
    first = None
    answer = None
    for ev in ask_stream(question, history=history, settings=settings):
        if isinstance(ev, str) and first is None and ev.strip():
            first = time.perf_counter() - t0
        elif isinstance(ev, Answer):
            answer = ev
    return answer, first, time.perf_counter() - t0
